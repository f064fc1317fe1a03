"""A checked workload converted into what components.ServiceWorkload takes (components/service_spec.py): its
containers with every placeholder filled in from what its resources provide, its ports, routes and probes, and the
peers its NetworkPolicy admits and calls. No resource is created here; stacks/application/deploy.py does that."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.service import service_labels
from components.service_pod import POSTGRES_CA
from components.service_spec import ContainerSpec, FileSpec, HttpCheck, Identity, MountSpec, Peer, PortSpec, RouteSpec
from stacks.application.placeholders import fill, whole_reference
from stacks.application.provisioned import POSTGRES_SSLMODE, Provisioned
from stacks.application.spec import SECRET_OUTPUTS, Application, Container, HttpProbe, Workload

CREDENTIAL_VARIABLE = (
    "the workload file declares the credential as a variable (${resources.<name>.password}, as Score does); "
    "it is read from a Kubernetes Secret, never written into the Deployment"
)


@dataclass
class Provided:
    """What one workload's resources give its containers: each resource's outputs, the Secret (name, key) of each
    credential output, and the CAs of the databases it declares."""

    outputs: dict[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    secrets: dict[str, Mapping[str, tuple[pulumi.Input[str], str]]] = field(default_factory=dict)
    trusted: list[pulumi.Input[str]] = field(default_factory=list)
    claims: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Each `volume` resource's PersistentVolumeClaim, by the resource's name."""
    env: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Variables its provisioned resources give every container (an SDK's), unless the file sets them."""
    secret_env: dict[str, tuple[pulumi.Input[str], str]] = field(default_factory=dict)
    """Such variables read from a Secret: name -> (Secret name, key)."""
    identity: Identity | None = None
    """The cloud identity its ServiceAccount and pods carry, where a resource is reached by one."""

    def take(self, name: str, made: Provisioned) -> None:
        """What the provisioned resource `name` gives the workload."""
        self.outputs[name] = made.outputs
        self.secrets[name] = made.secrets
        if made.claim is not None:
            self.claims[name] = made.claim
        if made.trusted_ca is not None:
            self.trusted.append(made.trusted_ca)
        self.env.update(made.env)
        self.secret_env.update(made.secret_env)
        if made.identity is not None:
            self.identity = Identity(made.identity.account_annotations, made.identity.pod_labels)


def resolve(text: str, workload: str, outputs: Mapping[str, Mapping[str, pulumi.Input[str]]]) -> pulumi.Output[str]:
    """A variable or file with its `${...}` placeholders filled in (the files were checked: each one resolves)."""

    def value(reference: str) -> pulumi.Output[str] | None:
        parts = reference.split(".")
        return pulumi.Output.from_input(workload if parts == ["metadata", "name"] else outputs[parts[1]][parts[2]])

    pieces = fill(text, value)
    if pieces is None:  # parse.py refused the file already
        raise ValueError(f"{workload}: an unresolved placeholder in {text!r}")
    return pulumi.Output.concat(*pieces)


def secret_reference(text: str, workload: Workload) -> tuple[str, str] | None:
    """(resource, output) when the whole value is one credential output."""
    reference = whole_reference(text)
    parts = reference.split(".") if reference is not None else []
    if len(parts) != 3 or parts[0] != "resources":
        return None
    kind = next(r.type for r in workload.resources if r.name == parts[1])
    return (parts[1], parts[2]) if parts[2] in SECRET_OUTPUTS.get(kind, frozenset()) else None


def callees_first(application: Application) -> list[Workload]:
    """The workloads, each after the ones it calls (a call cycle keeps file order for the rest of the cycle)."""
    ordered: list[Workload] = []
    visiting: set[str] = set()
    edges = application.edges()

    def visit(workload: Workload) -> None:
        if workload in ordered or workload.name in visiting:
            return
        visiting.add(workload.name)
        for edge in edges:
            if edge.client == workload.name and "/" not in edge.server:
                visit(application.workload(edge.server))
        ordered.append(workload)

    for workload in application.workloads:
        visit(workload)
    return ordered


def peers(application: Application) -> tuple[dict[str, list[Peer]], dict[str, list[Peer]]]:
    """Per workload, who calls it and what it calls among the workloads (by their pods' labels and the port)."""
    name = application.folder.name
    callers: dict[str, list[Peer]] = {w.name: [] for w in application.workloads}
    calls: dict[str, list[Peer]] = {w.name: [] for w in application.workloads}
    for edge in application.edges():
        if edge.server in callers:
            callers[edge.server].append(Peer(service_labels(name, edge.client), edge.port))
            calls[edge.client].append(Peer(service_labels(name, edge.server), edge.port))
    return callers, calls


def _env(container: Container, workload: Workload, provided: Provided) -> tuple[list[k8s.core.v1.EnvVarArgs], bool]:
    """The container's variables (a credential from its Secret), libpq's own where it declares databases, the AWS
    SDKs' where it declares an object store; and whether a credential is among them."""
    env = []
    credential = False
    for variable, text in sorted(container.variables.items()):
        reference = secret_reference(text, workload)
        if reference is None:
            env.append(k8s.core.v1.EnvVarArgs(name=variable, value=resolve(text, workload.name, provided.outputs)))
            continue
        secret_name, key = provided.secrets[reference[0]][reference[1]]
        credential = True
        env.append(
            k8s.core.v1.EnvVarArgs(
                name=variable,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
                ),
            )
        )
    if workload.resources_of("postgres"):
        # libpq's own variables: any libpq client verifies its databases' servers against their CAs.
        env += [
            k8s.core.v1.EnvVarArgs(name=variable, value=value)
            for variable, value in (("PGSSLMODE", POSTGRES_SSLMODE), ("PGSSLROOTCERT", POSTGRES_CA))
            if variable not in container.variables
        ]
    given = _provided_env(container, provided)
    env += given
    return env, credential or any(e.value_from is not None for e in given)


def _provided_env(container: Container, provided: Provided) -> list[k8s.core.v1.EnvVarArgs]:
    """The variables the workload's provisioned resources give its containers (the AWS SDKs' for an `s3`: its
    region, the CA bundle, a static key pair from its Secret where the target has no workload identity); none the
    file sets itself."""
    env = [k8s.core.v1.EnvVarArgs(name=name, value=value) for name, value in sorted(provided.env.items())]
    env += [
        k8s.core.v1.EnvVarArgs(
            name=name,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key)
            ),
        )
        for name, (secret, key) in sorted(provided.secret_env.items())
    ]
    return [e for e in env if e.name not in container.variables]


def _check(probe: HttpProbe | None) -> HttpCheck | None:
    return HttpCheck(probe.path, probe.port) if probe is not None else None


def container_spec(
    container: Container, workload: Workload, image: pulumi.Input[str] | None, provided: Provided
) -> tuple[ContainerSpec, bool]:
    """One container of the workload, placeholders filled in; and whether it reads a credential from a Secret.
    `image` is the workload's build, for a container whose image is `.`."""
    env, credential = _env(container, workload, provided)
    files = {
        f.target: FileSpec(
            f.content if f.no_expand else resolve(f.content, workload.name, provided.outputs), int(f.mode, 8)
        )
        for f in container.files
    }
    spec = ContainerSpec(
        name=container.name,
        image=container.image if container.image != "." else _built(image, workload),
        env=env,
        command=container.command,
        args=container.args,
        files=files,
        mounts=[MountSpec(m.source, m.target, m.path, m.read_only) for m in container.volumes],
        liveness=_check(container.liveness),
        readiness=_check(container.readiness),
        requests=container.requests,
        limits=container.limits,
    )
    return spec, credential


def _built(image: pulumi.Input[str] | None, workload: Workload) -> pulumi.Input[str]:
    if image is None:  # parse.py refuses `image: .` without a folder to build
        raise ValueError(f"{workload.name}: `image: .` without a build")
    return image


def ports(workload: Workload) -> list[PortSpec]:
    return [PortSpec(p.name, p.port, p.target_port) for p in workload.ports]


def routes(workload: Workload) -> list[RouteSpec]:
    return [RouteSpec(str(r.params["path"]), int(r.params["port"])) for r in workload.resources_of("route")]
