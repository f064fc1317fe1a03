"""Run the real program for one stack under Pulumi's mock monitor: no CLI, no cluster, no cloud.

The one mock implementation of the project: tests, `render` and `check` use it. The fake engine
answers with plausible outputs (a LoadBalancer address, an image digest, cloud ids) and records every
registration with its parent, provider and protect flag, which the mock API alone does not expose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
PROJECT = "kubeport"
SECRET_PLACEHOLDER = "[secret]"
ACCOUNT = "123456789012"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n").decode()
AKS_USER_KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: aks-cluster
  cluster:
    server: https://aks-fake.hcp.westeurope.azmk8s.io:443
    certificate-authority-data: {FAKE_CA}
contexts:
- name: aks-cluster
  context: {{cluster: aks-cluster, user: clusterUser_aks-cluster}}
current-context: aks-cluster
users:
- name: clusterUser_aks-cluster
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,
             --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, 11111111-2222-3333-4444-555555555555,
             --login, devicecode]
"""


@dataclass
class Registered:
    """One resource registration as the engine saw it."""

    urn: str
    id: str
    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    provider: str
    """Provider reference `<provider urn>::<id>`; empty when none was given (default provider)."""
    parent: str
    protect: bool
    custom: bool
    dependencies: list[str] = field(default_factory=list)
    secret_inputs: list[str] = field(default_factory=list)
    """Paths of inputs sent as secrets, e.g. `registries[0].password`."""
    ignore_changes: list[str] = field(default_factory=list)


@dataclass
class StackOutput:
    value: Any
    secret: bool
    known: bool


@dataclass
class ProgramRun:
    """What one program run registered and exported, or the error that stopped it."""

    stack: str
    resources: list[Registered]
    outputs: dict[str, StackOutput]
    error: BaseException | None
    config: dict[str, str]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registered:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}: {[r.name for r in found]}")
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def kubernetes_objects(self) -> list[Registered]:
        """Kubernetes API objects; a Helm release is a provider operation, not an object."""
        return [
            r
            for r in self.resources
            if r.type.startswith("kubernetes:") and r.custom and not r.type.startswith("kubernetes:helm.sh/")
        ]

    def helm_releases(self) -> list[Registered]:
        return [r for r in self.resources if r.type.startswith("kubernetes:helm.sh/")]


def _fake_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeCloud(pulumi_mocks.Mocks):
    """Answers registrations and invokes with outputs shaped like the real providers' results.

    `references` answers StackReferences: stack name -> (outputs, names of the secret ones).
    """

    def __init__(self, references: Mapping[str, tuple[dict[str, Any], list[str]]] | None = None) -> None:
        self.references = dict(references or {})

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ == "pulumi:pulumi:StackReference":
            name = str(args.inputs.get("name"))
            if name not in self.references:
                raise RuntimeError(f"unknown stack {name!r}")
            outputs, secrets = self.references[name]
            return name, {"name": name, "outputs": outputs, "secretOutputNames": secrets}
        if args.typ == "docker-build:index:Image":
            tags = state.get("tags") or []
            digest = _fake_digest(args.name + json.dumps(tags))
            state["digest"] = digest if state.get("push") else ""
            state["ref"] = f"{tags[0]}@{digest}" if tags and state.get("push") else (tags[0] if tags else "")
        elif args.typ.startswith("kubernetes:") and args.typ != "pulumi:providers:kubernetes":
            metadata = dict(state.get("metadata") or {})
            # Pulumi auto-names objects without a name: logical name plus a random suffix.
            metadata.setdefault("name", f"{args.name}-a1b2c3d4")
            state["metadata"] = metadata
            if args.typ == "kubernetes:core/v1:Service":
                state["status"] = self._service_status(state)
            elif args.typ == "kubernetes:networking.k8s.io/v1:Ingress":
                annotations = metadata.get("annotations") or {}
                # An ALB reports a DNS name; the other controllers an IP.
                address = (
                    {"hostname": "k8s-kubeport-web-0123456789.eu-west-1.elb.example.com"}
                    if any(k.startswith("alb.ingress.kubernetes.io/") for k in annotations)
                    else {"ip": "203.0.113.20"}
                )
                state["status"] = {"loadBalancer": {"ingress": [address]}}
        else:
            resource_id = self._cloud_outputs(args.typ, args.name, state) or resource_id
        return resource_id, state

    @staticmethod
    def _cloud_outputs(typ: str, name: str, state: dict[str, Any]) -> str | None:
        """Fill the computed outputs a cloud provider would return; returns the resource id when it matters."""
        auto_name = f"{name}-1a2b3c4"
        region = "eu-west-1"
        if typ.startswith("aws:"):
            state.setdefault("name", auto_name)
            state.setdefault("arn", f"arn:aws:{typ.split(':')[1].split('/', maxsplit=1)[0]}:{region}:{ACCOUNT}:{name}")
        if typ == "aws:eks/cluster:Cluster":
            state["endpoint"] = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
            state["certificateAuthority"] = {"data": FAKE_CA}
        elif typ == "aws:ecr/repository:Repository":
            state["registryId"] = ACCOUNT
            state["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{state['name']}"
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            state["latestVersion"] = 1
        elif typ.startswith("azure-native:"):
            state.setdefault("name", auto_name.replace("-", ""))
            resource_id = f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/{typ}/{name}"
            if typ == "azure-native:containerservice:ManagedCluster":
                state["identityProfile"] = {
                    "kubeletidentity": {
                        "objectId": "aaaaaaaa-0000-0000-0000-000000000001",
                        "clientId": "aaaaaaaa-0000-0000-0000-000000000002",
                        "resourceId": f"{resource_id}/kubelet",
                    }
                }
                state["fqdn"] = "aks-fake.hcp.westeurope.azmk8s.io"
            elif typ == "azure-native:containerregistry:Registry":
                state["loginServer"] = f"{state['name']}.azurecr.io"
            return resource_id
        elif typ.startswith("gcp:"):
            state.setdefault("name", auto_name)
            resource_id = f"projects/acme/locations/europe-west1/{name}"
            if typ == "gcp:container/cluster:Cluster":
                state["endpoint"] = "34.0.0.1"
                state["masterAuth"] = {**(state.get("masterAuth") or {}), "clusterCaCertificate": FAKE_CA}
            elif typ == "gcp:serviceaccount/account:Account":
                state["email"] = f"{state['accountId']}@acme.iam.gserviceaccount.com"
            return resource_id
        return None

    @staticmethod
    def _service_status(state: Mapping[str, Any]) -> dict[str, Any]:
        spec = state.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            return {"loadBalancer": {}}
        annotations = (state.get("metadata") or {}).get("annotations") or {}
        if any(k.startswith("service.beta.kubernetes.io/aws-") for k in annotations):
            return {"loadBalancer": {"ingress": [{"hostname": "k8s-web-0123456789.elb.example.com"}]}}
        return {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answers: dict[str, dict[str, Any]] = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
                "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"],
            },
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
                "userName": "AWS",
                "password": "fake-ecr-password",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com",
                "authorizationToken": base64.b64encode(b"AWS:fake-ecr-password").decode(),
                "expiresAt": "2099-01-01T00:00:00Z",
            },
            "azure-native:containerservice:listManagedClusterUserCredentials": {
                "kubeconfigs": [
                    {"name": "clusterUser", "value": base64.b64encode(AKS_USER_KUBECONFIG.encode()).decode()}
                ]
            },
            "azure-native:authorization:getClientConfig": {
                "clientId": "bbbbbbbb-0000-0000-0000-000000000001",
                "objectId": "bbbbbbbb-0000-0000-0000-000000000002",
                "subscriptionId": "00000000-0000-0000-0000-000000000000",
                "tenantId": "11111111-2222-3333-4444-555555555555",
            },
            "azure-native:authorization:getClientToken": {"token": "fake-entra-token"},
            "gcp:compute/getZones:getZones": {"names": ["europe-west1-d", "europe-west1-b", "europe-west1-c"]},
            "gcp:organizations/getClientConfig:getClientConfig": {
                "accessToken": "fake-gcp-access-token",
                "project": "acme",
                "region": "europe-west1",
            },
        }
        return answers.get(args.token, {}), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping what each registration asked for (parent, provider, protect)."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        properties = pulumi.runtime.rpc.deserialize_properties(request.object)
        inputs = _plain(properties)
        state = self.resources[response.urn].state if response.urn in self.resources else {}
        self.registered.append(
            Registered(
                urn=response.urn,
                id=response.id,
                type=request.type,
                name=request.name,
                inputs=inputs,
                state=_plain(state),
                provider=request.provider,
                parent=request.parent,
                protect=bool(request.protect),
                custom=bool(request.custom),
                dependencies=list(request.dependencies),
                secret_inputs=_secret_paths(properties),
                ignore_changes=list(request.ignoreChanges),
            )
        )
        return response


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and (
        value.get(pulumi.runtime.rpc._special_sig_key) == pulumi.runtime.rpc._special_secret_sig
    )


def _secret_paths(value: Any, path: str = "") -> list[str]:
    if _is_secret(value):
        return [path]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}[{i}]")]
    return []


def _plain(value: Any) -> Any:
    """Deserialized properties as plain JSON-like data (secrets unwrapped, unknowns as None)."""
    if _is_secret(value):
        return _plain(value.get("value"))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value == pulumi.runtime.rpc.UNKNOWN:
        return None
    return value


def _config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def stack_names(root: Path = ROOT) -> list[str]:
    """Every stack that has a `Pulumi.<stack>.yaml` file."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))


def app_stack_names(root: Path = ROOT) -> list[str]:
    """The stacks that deploy the app: every stack but the cluster stacks (kubeport:part cluster)."""
    return [s for s in stack_names(root) if stack_file_config(s, root)[0].get(f"{PROJECT}:part", "all") != "cluster"]


def project_defaults(root: Path = ROOT) -> dict[str, str]:
    """Config values `Pulumi.yaml` supplies: declared defaults and plain values of other namespaces."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(decl, Mapping) and ("type" in decl or "default" in decl or "value" in decl):
            if "default" in decl:
                config[full_key] = _config_string(decl["default"])
            elif "value" in decl:
                config[full_key] = _config_string(decl["value"])
        else:
            config[full_key] = _config_string(decl)
    return config


def stack_file_config(stack: str, root: Path = ROOT) -> tuple[dict[str, str], set[str]]:
    """What `Pulumi.<stack>.yaml` itself sets, and which of those values are encrypted.

    Encrypted values cannot be decrypted offline: they become a placeholder, marked secret.
    """
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise FileNotFoundError(f"no stack file {stack_file.name}")
    config: dict[str, str] = {}
    secrets: set[str] = set()
    values = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for key, value in values.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            config[full_key] = SECRET_PLACEHOLDER
            secrets.add(full_key)
        else:
            config[full_key] = _config_string(value)
    return config, secrets


def stack_config(stack: str, root: Path = ROOT) -> tuple[dict[str, str], set[str]]:
    """The config the CLI would hand the program: project defaults, then `Pulumi.<stack>.yaml`."""
    values, secrets = stack_file_config(stack, root)
    return {**project_defaults(root), **values}, secrets


def run_program(
    stack: str,
    overrides: Mapping[str, str | None] | None = None,
    secret_overrides: Mapping[str, str] | None = None,
    *,
    preview: bool = False,
    program: Path = PROGRAM,
    config_root: Path = ROOT,
    mocks: pulumi_mocks.Mocks | None = None,
) -> ProgramRun:
    """Run `program` for `stack` under mocks and return what it registered and exported.

    The stack's config comes from `config_root` (the repo: `Pulumi.yaml` and `Pulumi.<stack>.yaml`).

    `overrides` replace stack values (full or bare `kubeport` keys); `secret_overrides` do the same as
    encrypted values. A value of None in `overrides` removes the key.
    """
    config, secrets = stack_config(stack, config_root)
    changes: dict[str, str | None] = {**(overrides or {}), **(secret_overrides or {})}
    for key, value in changes.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        secrets.discard(full_key)
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    secrets |= {k if ":" in k else f"{PROJECT}:{k}" for k in (secret_overrides or {})}

    monitor = RecordingMonitor(mocks or FakeCloud(references=cluster_references(config, config_root)))
    pulumi_settings.ROOT.set(None)
    set_all_config(config, sorted(secrets))
    pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    def main() -> None:
        runpy.run_path(str(program), run_name="__main__")

    error: BaseException | None = None
    try:
        _sync_await(run_pulumi_func(main))
    except Exception as err:
        error = err

    outputs: dict[str, StackOutput] = {}
    root = pulumi_settings.get_root_resource()
    if error is None and root is not None:
        for name, value in getattr(root, "outputs", {}).items():
            outputs[name] = _resolve(value)
    return ProgramRun(stack=stack, resources=list(monitor.registered), outputs=outputs, error=error, config=config)


def cluster_references(config: Mapping[str, str], root: Path) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """For an app stack: its cluster stack's outputs, from that stack's own file run offline first."""
    reference = config.get(f"{PROJECT}:clusterStack", "")
    stack_file = root / f"Pulumi.{reference.rsplit('/', 1)[-1]}.yaml"
    if config.get(f"{PROJECT}:target") != "app" or not reference or not stack_file.exists():
        return {}
    cluster = run_program(reference.rsplit("/", 1)[-1], config_root=root)
    if cluster.error is not None:
        return {}
    outputs = {name: output.value for name, output in cluster.outputs.items()}
    return {reference: (outputs, [name for name, output in cluster.outputs.items() if output.secret])}


def _resolve(value: Any) -> StackOutput:
    output = pulumi.Output.from_input(value)

    async def read() -> StackOutput:
        known = await output.is_known()
        secret = await output.is_secret()
        resolved = await output.future(with_unknowns=True) if known else None
        return StackOutput(value=_plain(resolved), secret=secret, known=known)

    return _sync_await(read())
