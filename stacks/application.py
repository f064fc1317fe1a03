"""An application of workload files (kubeport:application): read, checked for the target, then deployed.

`load()` reads the folder's Score files and checks that the target can provision every resource they
declare and that their routes fit the stack's host name, stopping the program with one message before any
resource. `deploy()` wires the rest: one namespace, one image per service built from its folder, the
provisioned resources (stacks.provisioners), and a ServiceWorkload per file whose variables get the resources'
outputs and whose NetworkPolicy admits exactly the calls the files declare.

`route` and `dns` map to what the single web app has: with kubeport:host, the public workload's `dns`
resources resolve to that host and its routes become an Ingress for it, on the Platform's controller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.exposure import NoIngressError, ingress_route
from components.image import AppImage, AppImageArgs
from components.platform import Platform
from components.pod_parts import LOCAL_IMAGE_WAIVERS, pod_security_labels
from components.pull import pull_secret
from components.service import POSTGRES_CA, ContainerSpec, Peer, ServiceWorkload, ServiceWorkloadArgs, service_labels
from stacks import ROOT, provisioners, stop
from stacks.config.settings import ConfigError, Settings
from stacks.score import PLACEHOLDER, SECRET_OUTPUTS, Application, ScoreError, Workload, read_application

WEB_APP = ROOT / "app"
"""The web app's folder: a service built from it takes kubeport:baseImage; the others kubeport:serviceBaseImage."""


CREDENTIAL_VARIABLE = (
    "the workload file declares the credential as a variable (${resources.<name>.password}, as Score does); "
    "it is read from a Kubernetes Secret, never written into the Deployment"
)


def load(settings: Settings) -> Application:
    """The application's files, checked alone, together and against the target; raises ScoreError."""
    application = read_application(ROOT / settings.application, ROOT)
    found = provisioners.problems(application, settings.target) + route_problems(application, settings.host)
    if found:
        raise ScoreError(found)
    return application


def route_host(text: str, workload: Workload, host: str) -> str | None:
    """A route's `params.host` as kubeport fills it in with the stack's host name: `${metadata.name}` and the
    workload's `dns` hosts; None when it names anything else (no other output is a host name to route)."""
    known = {"metadata.name": workload.name} | {f"resources.{r.name}.host": host for r in workload.resources_of("dns")}
    pieces = []
    last = 0
    for match in PLACEHOLDER.finditer(text):
        pieces.append(text[last : match.start()])
        if match.group(0) == "$${":
            pieces.append("${")
        elif match.group(1) in known:
            pieces.append(known[match.group(1)])
        else:
            return None
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def route_problems(application: Application, host: str) -> list[str]:
    """With kubeport:host: each route of the public workload goes to that host, on a path an Ingress takes, and
    some workload has one. Without a host nothing is checked here (routes then only make the workload public)."""
    if not host:
        return []
    public = [w for w in application.workloads if w.public]
    if not public:
        return [f"kubeport:host: {host!r} routes to nothing: no workload file declares a route resource"]
    found = []
    (workload,) = public  # the files were checked: at most one public workload
    paths: dict[str, str] = {}
    for resource in workload.resources_of("route"):
        where = f"{workload.file.name}: resources.{resource.name}.params"
        text = resource.params.get("host")
        resolved = route_host(text, workload, host) if isinstance(text, str) else None
        if resolved != host:
            shown = resolved if resolved is not None else text
            found.append(
                f"{where}.host: {shown!r} is not the stack's host {host!r} (kubeport:host): the application's "
                "Ingress serves that host only; write it, or ${resources.<dns resource>.host}"
            )
        path = resource.params.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            found.append(f"{where}.path: {path!r} is not a path for the Ingress; expected one starting with /")
        elif path in paths:
            found.append(f"{where}.path: {path!r} is routed already by resources.{paths[path]}")
        else:
            paths[path] = resource.name
    return found


@dataclass(frozen=True)
class Deployed:
    """What the stack exports for an application."""

    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    """The public workload's URL (or the command that prints it); with kubeport:host, http(s)://<host>."""
    ingress_address: pulumi.Output[str] | None
    """With kubeport:host: the address the Ingress controller reports, where the host's DNS record must point."""
    services: Mapping[str, pulumi.Output[str]]
    """Each workload's URL: public, or in-cluster."""
    images: Mapping[str, pulumi.Input[str]]


def resolve(text: str, workload: str, outputs: Mapping[str, Mapping[str, pulumi.Input[str]]]) -> pulumi.Output[str]:
    """A variable or file with its `${...}` placeholders filled in (the files were checked: each one resolves)."""
    pieces: list[pulumi.Input[str]] = []
    last = 0
    for match in PLACEHOLDER.finditer(text):
        pieces.append(text[last : match.start()])
        if match.group(0) == "$${":
            pieces.append("${")
        else:
            parts = match.group(1).split(".")
            pieces.append(workload if parts == ["metadata", "name"] else outputs[parts[1]][parts[2]])
        last = match.end()
    pieces.append(text[last:])
    return pulumi.Output.concat(*pieces)


def _secret_reference(text: str, workload: Workload) -> tuple[str, str] | None:
    """(resource, output) when the whole value is one credential output."""
    match = PLACEHOLDER.fullmatch(text)
    if match is None or match.group(0) == "$${":
        return None
    parts = match.group(1).split(".")
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


def deploy(application: Application, settings: Settings, platform: Platform) -> Deployed:
    try:
        ingress_route(platform, settings.host)
    except NoIngressError as err:
        stop(ConfigError([f"kubeport:host: {err}"]))
    name = application.folder.name
    opts = pulumi.ResourceOptions(provider=platform.provider, depends_on=list(platform.depends_on))
    namespace = k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=settings.namespace,
            labels={
                "app.kubernetes.io/part-of": name,
                "app.kubernetes.io/managed-by": "pulumi",
                **pod_security_labels(),
            },
        ),
        opts=opts,
    ).metadata.apply(lambda m: m.name or settings.namespace)
    # Nothing in the namespace talks, or is talked to, unless a file declares it: each workload's, database's and
    # Job's own policy admits what it needs. A pod the files do not declare gets nothing, not even DNS, and on a
    # cloud it cannot reach the managed database's address block either (which only egress rules can hold back).
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="default-deny",
            namespace=namespace,
            labels={"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "pulumi"},
        ),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
        ),
        opts=opts,
    )
    pull_secrets = pull_secret(
        name,
        login=platform.pull_login,
        namespace=namespace,
        labels={"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "pulumi"},
        opts=opts,
    )
    if platform.image is None:
        raise ValueError("an application builds its images: the Platform must say where they go")
    destination = platform.image
    local_build = not destination.push
    platform = dataclasses.replace(platform, storage_class=settings.storage_class or platform.storage_class)

    images: dict[str, pulumi.Input[str]] = {}
    for workload in application.workloads:
        if workload.build is not None:
            images[workload.name] = AppImage(
                f"{workload.name}-image",
                AppImageArgs(
                    context=workload.build,
                    destination=destination,
                    base_image=settings.base_image if workload.build == WEB_APP else settings.service_base_image,
                    builder=settings.builder,
                    tag_prefix=workload.name,
                ),
            ).ref

    callers: dict[str, list[Peer]] = {w.name: [] for w in application.workloads}
    calls: dict[str, list[Peer]] = {w.name: [] for w in application.workloads}
    edges = application.edges()
    for edge in edges:
        if edge.server in callers:
            callers[edge.server].append(Peer(service_labels(name, edge.client), edge.port))
            calls[edge.client].append(Peer(service_labels(name, edge.server), edge.port))

    deployed: dict[str, pulumi.Output[str]] = {}
    created: dict[str, ServiceWorkload] = {}
    public_url: pulumi.Output[str] | None = None
    ingress_address: pulumi.Output[str] | None = None
    for workload in callees_first(application):
        outputs: dict[str, Mapping[str, pulumi.Input[str]]] = {}
        secrets: dict[str, Mapping[str, tuple[pulumi.Input[str], str]]] = {}
        waits: list[pulumi.Resource] = []
        trusted: list[pulumi.Input[str]] = []
        for resource in workload.resources:
            if resource.type == "service-port":
                server = application.workload(str(resource.params["workload"]))
                port = server.port(str(resource.params["port"]))
                outputs[resource.name] = {"hostname": f"{server.name}.{settings.namespace}.svc", "port": str(port.port)}
            elif resource.type == "dns":
                routed = settings.host if workload.public else ""
                outputs[resource.name] = {"host": routed or f"{workload.name}.{settings.namespace}.svc"}
            elif resource.type in provisioners.PROVISIONERS:
                provisioned = provisioners.provision(
                    provisioners.Request(
                        application=name,
                        workload=workload,
                        resource=resource,
                        settings=settings,
                        platform=platform,
                        namespace=namespace,
                        client_labels=service_labels(name, workload.name),
                        pull_secrets=pull_secrets,
                        opts=pulumi.ResourceOptions(),
                    )
                )
                outputs[resource.name] = provisioned.outputs
                secrets[resource.name] = provisioned.secrets
                waits += provisioned.depends_on
                if provisioned.trusted_ca is not None:
                    trusted.append(provisioned.trusted_ca)
                if provisioned.peer is not None:
                    calls[workload.name].append(provisioned.peer)
        containers = []
        waivers = dict(LOCAL_IMAGE_WAIVERS) if local_build else {}
        for container in workload.containers:
            env = []
            for variable, text in sorted(container.variables.items()):
                reference = _secret_reference(text, workload)
                if reference is None:
                    env.append(k8s.core.v1.EnvVarArgs(name=variable, value=resolve(text, workload.name, outputs)))
                else:
                    secret_name, key = secrets[reference[0]][reference[1]]
                    waivers["CKV_K8S_35"] = CREDENTIAL_VARIABLE
                    env.append(
                        k8s.core.v1.EnvVarArgs(
                            name=variable,
                            value_from=k8s.core.v1.EnvVarSourceArgs(
                                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
                            ),
                        )
                    )
            files: dict[str, tuple[pulumi.Input[str], int]] = {
                f.target: (f.content if f.no_expand else resolve(f.content, workload.name, outputs), int(f.mode, 8))
                for f in container.files
            }
            if trusted:
                # libpq's own variables: any libpq client verifies its databases' servers against their CAs.
                env += [
                    k8s.core.v1.EnvVarArgs(name=variable, value=value)
                    for variable, value in (
                        ("PGSSLMODE", provisioners.POSTGRES_SSLMODE),
                        ("PGSSLROOTCERT", POSTGRES_CA),
                    )
                    if variable not in container.variables
                ]
            containers.append(
                ContainerSpec(
                    name=container.name,
                    image=images[workload.name] if container.image == "." else container.image,
                    env=env,
                    command=container.command,
                    args=container.args,
                    files=files,
                    liveness=(container.liveness.path, container.liveness.port) if container.liveness else None,
                    readiness=(container.readiness.path, container.readiness.port) if container.readiness else None,
                    requests=container.requests,
                    limits=container.limits,
                )
            )
        service = ServiceWorkload(
            workload.name,
            ServiceWorkloadArgs(
                application=name,
                platform=platform,
                namespace=namespace,
                containers=containers,
                ports=[(p.name, p.port, p.target_port) for p in workload.ports],
                public=workload.public,
                host=settings.host if workload.public else "",
                tls_secret=settings.tls_secret if workload.public else "",
                routes=[(str(r.params["path"]), int(r.params["port"])) for r in workload.resources_of("route")],
                callers=callers[workload.name],
                calls=calls[workload.name],
                replicas=settings.replicas,
                pull_secrets=pull_secrets,
                waivers=waivers,
                trusted_ca=pulumi.Output.all(*trusted).apply("".join) if trusted else None,
                # What it calls exists first: a proxy (web's nginx) resolves its upstream's name when it starts.
                depends_on=[
                    *waits,
                    *(created[e.server] for e in edges if e.client == workload.name and e.server in created),
                ],
            ),
        )
        created[workload.name] = service
        deployed[workload.name] = service.url
        if workload.public:
            public_url = service.url
            ingress_address = service.ingress_address
    return Deployed(
        namespace=namespace,
        url=public_url if public_url is not None else pulumi.Output.from_input(""),
        ingress_address=ingress_address,
        services=deployed,
        images=images,
    )
