"""The stack configuration model: every `kubeport:*` key, its type, default and meaning.

`parse()` is pure: it turns the raw strings Pulumi hands the program into a typed, validated
`Settings`, or raises `ConfigError` listing every problem at once. `Pulumi.yaml` declares the same
keys for the CLI; a test keeps the two in step.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

NAMESPACE = "kubeport"

Target = Literal["minikube", "existing", "eks", "aks", "gke", "app"]
Part = Literal["all", "cluster"]
RegistryKind = Literal["local", "native", "dockerhub", "server"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]

TARGETS: tuple[Target, ...] = get_args(Target)
PARTS: tuple[Part, ...] = get_args(Part)
CLUSTER_TARGETS: tuple[Target, ...] = ("existing", "eks", "aks", "gke")
"""Targets that can run as a cluster stack (kubeport:part cluster) for app stacks to reference."""
LOCAL_TARGETS: tuple[Target, ...] = ("minikube", "existing")
CLOUD_TARGETS: tuple[Target, ...] = ("eks", "aks", "gke")
REGISTRIES: tuple[RegistryKind, ...] = get_args(RegistryKind)
SERVICE_TYPES: tuple[ServiceType, ...] = get_args(ServiceType)


DEFAULT_REGISTRY: Mapping[Target, RegistryKind] = {
    "minikube": "local",
    "existing": "server",
    "eks": "native",
    "aks": "native",
    "gke": "native",
    "app": "server",
}

NODE_PORT_RANGE = (30000, 32767)
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
SYSTEM_NAMESPACE_PREFIXES = ("kube-", "openshift")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A registry host with an optional port and path: ghcr.io/acme, localhost:5001, harbor.example.com/team.
REGISTRY_SERVER = re.compile(r"^[a-zA-Z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")
# Docker Hub user names: 4-30 lowercase letters and digits (organisations may also use - and _).
DOCKERHUB_USER = re.compile(r"^[a-z0-9][a-z0-9_-]{1,29}$")
BUILD_PLATFORM = re.compile(r"^linux/(amd64|arm64)$")
# An image reference: [registry[:port]/]path[:tag][@sha256:digest], as Docker parses it.
IMAGE_REFERENCE = re.compile(
    r"^(?P<name>(?:[a-zA-Z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
BUILD_KEYS = ("registry", "dockerhubUser", "dockerhubToken", "buildPlatform")
"""The keys that say where and how the image is built and pushed: meaningless with a prebuilt image.
(registryServer, registryUser and registryToken stay: with a prebuilt image they are pull credentials.)"""
APP_KEYS = (
    "replicas", "namespace", "nodePort", "image", "registry", "dockerhubUser", "dockerhubToken", "registryServer",
    "registryUser", "registryToken", "smokeCheck", "buildPlatform", "autoscaling", "minReplicas", "maxReplicas",
    "cpuTarget", "host", "tlsSecret",
)  # fmt: skip
"""The keys of the app side: a cluster stack (kubeport:part cluster) deploys no app, so refuses them."""
STACK_REFERENCE = re.compile(r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")
KUBE_CONTEXT = re.compile(r"^[^\s]{1,253}$")
REGION_FORMS: Mapping[Target, tuple[re.Pattern[str], str]] = {
    "eks": (re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$"), "an AWS region such as eu-west-1"),
    "aks": (re.compile(r"^[a-z][a-z0-9]{2,30}$"), "an Azure location such as westeurope"),
    "gke": (re.compile(r"^[a-z]+-[a-z]+\d+$"), "a Google Cloud region such as europe-west1"),
}
GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NODE_SIZE = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class Key:
    """One declared configuration key (without the `kubeport:` prefix)."""

    name: str
    kind: Literal["string", "integer", "boolean", "array"]
    default: str | int | bool | list[str] | None
    """None means required: there is no sensible default."""
    description: str
    secret: bool = False
    targets: tuple[Target, ...] = TARGETS
    """The targets on which setting the key to a non-default value means something."""


KEYS: tuple[Key, ...] = (
    Key(
        "target",
        "string",
        None,
        "Where the workload runs: minikube | existing | eks | aks | gke | app (the app only, on the cluster of "
        "kubeport:clusterStack).",
    ),
    Key(
        "part",
        "string",
        "all",
        "What this stack deploys: all (cluster and app) | cluster (the cluster side only, for app stacks to "
        "reference).",
        targets=CLUSTER_TARGETS,
    ),
    Key(
        "clusterStack",
        "string",
        "",
        "The cluster stack an app stack deploys onto: <organization>/<project>/<stack> (target app, required).",
        targets=("app",),
    ),
    Key(
        "ingressController",
        "boolean",
        False,
        "A cluster stack prepares an Ingress controller for its app stacks (EKS: installs one; AKS: enables the "
        "application routing add-on).",
        targets=("eks", "aks"),
    ),
    Key("replicas", "integer", 2, "Pods in the Deployment (>= 1)."),
    Key("namespace", "string", "kubeport", "Namespace for the workload: a DNS-1123 label, not a system namespace."),
    Key(
        "nodePort",
        "integer",
        30020,
        "Port (30000-32767) on every node where a NodePort Service listens.",
        targets=(*LOCAL_TARGETS, "app"),
    ),
    Key(
        "kubeContext",
        "string",
        "",
        "kubeconfig context to deploy to (minikube: the profile, default `minikube`; existing: required).",
        targets=LOCAL_TARGETS,
    ),
    Key(
        "image",
        "string",
        "",
        "A prebuilt image to deploy instead of building app/: registry/repository:tag or ...@sha256:<digest> "
        "(never latest; cloud targets need the digest). Empty: kubeport builds and pushes the image.",
    ),
    Key(
        "registry",
        "string",
        "",
        "Where the image goes: local (minikube only) | native (cloud only) | dockerhub | server. "
        "Empty: follows the target (minikube: local, existing: server, clouds: native).",
    ),
    Key("dockerhubUser", "string", "", "Docker Hub account the image is pushed to (registry dockerhub)."),
    Key(
        "dockerhubToken",
        "string",
        "",
        "Docker Hub access token (registry dockerhub); set with `pulumi config set --secret`.",
        secret=True,
    ),
    Key(
        "registryServer",
        "string",
        "",
        "Registry host, optional port and path, e.g. ghcr.io/acme or localhost:5001 (registry server).",
    ),
    Key("registryUser", "string", "", "Registry user name (registry server; empty for an anonymous registry)."),
    Key(
        "registryToken",
        "string",
        "",
        "Registry password or token (registry server); set with `pulumi config set --secret`.",
        secret=True,
    ),
    Key(
        "serviceType",
        "string",
        "",
        "Service exposure on target existing: ClusterIP | NodePort | LoadBalancer (empty: NodePort). "
        "minikube always uses NodePort; clouds use LoadBalancer.",
        targets=("existing",),
    ),
    Key(
        "nodeAddress",
        "string",
        "",
        "Host or IP where a NodePort is reachable on target existing, used for the `url` output.",
        targets=("existing",),
    ),
    Key(
        "smokeCheck",
        "boolean",
        True,
        "Run the in-cluster smoke-check Pod that is Ready only while the app answers through its Service.",
    ),
    Key(
        "buildPlatform",
        "string",
        "",
        "Image platform: linux/amd64 | linux/arm64. Empty: linux/amd64 on clouds, the builder's own elsewhere.",
    ),
    Key(
        "autoscaling",
        "boolean",
        False,
        "Scale the Deployment on CPU with a HorizontalPodAutoscaler (minReplicas..maxReplicas) instead of a fixed "
        "kubeport:replicas.",
    ),
    Key("minReplicas", "integer", 2, "Fewest pods with autoscaling (>= 1; >= 2 on clouds)."),
    Key("maxReplicas", "integer", 5, "Most pods with autoscaling (>= minReplicas)."),
    Key(
        "cpuTarget",
        "integer",
        70,
        "Average CPU utilisation, in % of the pods' CPU request, the autoscaler aims for (1-100).",
    ),
    Key(
        "host",
        "string",
        "",
        "A host name to route to the app through an Ingress (e.g. shop.example.com); empty: no Ingress.",
    ),
    Key("tlsSecret", "string", "", "A kubernetes.io/tls Secret in the namespace to serve the host over HTTPS."),
    Key(
        "ingressClass",
        "string",
        "",
        "IngressClass of the cluster's ingress controller (target existing; required with a host there).",
        targets=("existing",),
    ),
    Key(
        "region",
        "string",
        "",
        "Cloud region: AWS region (eks), Azure location (aks) or Google Cloud region (gke). Required on clouds.",
        targets=CLOUD_TARGETS,
    ),
    Key("project", "string", "", "Google Cloud project id (gke, required).", targets=("gke",)),
    Key("subscription", "string", "", "Azure subscription id (aks, required).", targets=("aks",)),
    Key(
        "allowedCidrs",
        "array",
        [],
        "CIDRs allowed to reach the cluster's Kubernetes API, e.g. [203.0.113.0/24]. Required on clouds "
        "unless privateApi is true.",
        targets=CLOUD_TARGETS,
    ),
    Key(
        "privateApi",
        "boolean",
        False,
        "Reach the Kubernetes API only from inside the cloud network (no public endpoint).",
        targets=CLOUD_TARGETS,
    ),
    Key("nodeCount", "integer", 2, "Worker nodes (1-100).", targets=CLOUD_TARGETS),
    Key(
        "nodeSize",
        "string",
        "",
        "Node machine type. Empty: t3.medium (eks), Standard_D2s_v5 (aks), e2-standard-2 (gke).",
        targets=CLOUD_TARGETS,
    ),
    Key("vpcId", "string", "", "Existing VPC to use instead of creating one (eks).", targets=("eks",)),
    Key(
        "subnetIds",
        "array",
        [],
        "Private subnets of vpcId in at least two availability zones, for the nodes (eks).",
        targets=("eks",),
    ),
    Key(
        "releaseProtection",
        "boolean",
        False,
        "Drop protect from the cluster and registry so a deliberate teardown or migration can delete them.",
        targets=CLOUD_TARGETS,
    ),
)

KEYS_BY_NAME: Mapping[str, Key] = {k.name: k for k in KEYS}


@dataclass(frozen=True)
class SecretValue:
    """A configuration value that must stay encrypted; its repr never shows the value."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "SecretValue(***)"


@dataclass(frozen=True)
class Autoscaling:
    """A HorizontalPodAutoscaler's bounds and CPU target."""

    min_replicas: int
    max_replicas: int
    cpu_target: int
    """Average CPU utilisation, in percent of the pods' request."""


@dataclass(frozen=True)
class Settings:
    """The validated stack configuration, read once per program run."""

    target: Target
    replicas: int
    namespace: str
    node_port: int
    kube_context: str
    """Empty when not set (clouds build their own kubeconfig)."""
    registry: RegistryKind
    dockerhub_user: str
    dockerhub_token: SecretValue | None
    registry_server: str
    registry_user: str
    registry_token: SecretValue | None
    service_type: ServiceType | None
    """Only set on target existing; other targets fix their exposure."""
    node_address: str
    smoke_check: bool
    build_platform: str
    """Empty: the target decides."""
    image: str = ""
    """A prebuilt image reference to deploy; empty: build app/ and push it as the registry keys say."""
    part: Part = "all"
    """all: cluster and app in this stack; cluster: the cluster side only."""
    cluster_stack: str = ""
    """Target app: the stack reference of its cluster stack."""
    ingress_controller: bool = False
    """A cluster stack prepares an Ingress controller for its app stacks."""
    autoscaling: Autoscaling | None = None
    """The autoscaler's bounds and target; None: a fixed `replicas`."""
    host: str = ""
    """Host name routed through an Ingress; empty: no Ingress."""
    tls_secret: str = ""
    ingress_class: str = ""
    """Only on target existing: the IngressClass to use."""
    region: str = ""
    project: str = ""
    subscription: str = ""
    allowed_cidrs: tuple[str, ...] = ()
    private_api: bool = False
    node_count: int = 2
    node_size: str = ""
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    release_protection: bool = False


class ConfigError(Exception):
    """Raised with every problem found in one stack configuration."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(self.message())

    def message(self) -> str:
        lines = ["invalid stack configuration; nothing was created:"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append("Fix it with `pulumi config set kubeport:<key> <value>` (or edit Pulumi.<stack>.yaml).")
        return "\n".join(lines)


def full(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def _suggest(unknown: str) -> str:
    names = list(KEYS_BY_NAME)
    lowered = {n.lower(): n for n in names}
    if unknown.lower() in lowered:
        return f"; did you mean {full(lowered[unknown.lower()])}?"
    close = difflib.get_close_matches(unknown, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {full(close[0])}?"
    return f"; known keys: {', '.join(names)}"


class _Reader:
    """Collects problems while converting raw strings; every conversion returns a usable fallback."""

    def __init__(self, raw: Mapping[str, str], secret_keys: set[str]) -> None:
        self.raw = raw
        self.secret_keys = secret_keys
        self.problems: list[str] = []

    def problem(self, name: str, text: str) -> None:
        self.problems.append(f"{full(name)}: {text}")

    def is_set(self, name: str) -> bool:
        """True when the key holds a value other than its declared default."""
        key = KEYS_BY_NAME[name]
        if name not in self.raw:
            return False
        value = self.raw[name]
        if key.kind == "string":
            return value != (key.default or "")
        if key.kind == "array":
            try:
                return bool(json.loads(value) != key.default)
            except ValueError:
                return True
        return value.strip().lower() != str(key.default).lower()

    def string(self, name: str) -> str:
        key = KEYS_BY_NAME[name]
        value = self.raw.get(name)
        if value is None:
            return "" if key.default is None else str(key.default)
        return value.strip()

    def integer(self, name: str, low: int, high: int | None = None) -> int:
        key = KEYS_BY_NAME[name]
        default = cast(int, key.default)
        text = self.raw.get(name)
        if text is None:
            return default
        accepted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
        try:
            value = int(text.strip(), 10)
        except ValueError:
            self.problem(name, f"{text!r} is not accepted; expected {accepted}")
            return default
        if value < low or (high is not None and value > high):
            self.problem(name, f"{value} is out of range; expected {accepted}")
            return default
        return value

    def boolean(self, name: str) -> bool:
        key = KEYS_BY_NAME[name]
        text = self.raw.get(name)
        if text is None:
            return bool(key.default)
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        self.problem(name, f"{text!r} is not accepted; expected true or false")
        return bool(key.default)

    def strings(self, name: str) -> tuple[str, ...]:
        """An array of strings; Pulumi hands structured values to the program as JSON."""
        text = self.raw.get(name)
        if text is None or not text.strip():
            return ()
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(name, f'{text!r} is not accepted; expected a list of strings, e.g. ["a", "b"]')
            return ()
        return tuple(v.strip() for v in value)

    def choice(self, name: str, allowed: Sequence[str]) -> str | None:
        value = self.string(name)
        if not value:
            return None
        if value not in allowed:
            self.problem(name, f"{value!r} is not accepted; expected one of: {' | '.join(allowed)}")
            return None
        return value

    def secret(self, name: str) -> SecretValue | None:
        value = self.string(name)
        if not value:
            return None
        if full(name) not in self.secret_keys:
            self.problem(
                name,
                "is stored in plain text; set it with `pulumi config set --secret "
                f"{full(name)} <value>` so it is encrypted",
            )
        return SecretValue(value)


def parse(raw_config: Mapping[str, str], secret_keys: set[str] | frozenset[str] = frozenset()) -> Settings:
    """Validate the `kubeport:*` configuration; raise ConfigError naming every bad key.

    `raw_config` maps full keys (`kubeport:replicas`) or bare keys (`replicas`) to the string values
    Pulumi passes the program. Keys of other namespaces are ignored; `secret_keys` lists the full
    names of values that were stored encrypted.
    """
    raw: dict[str, str] = {}
    problems: list[str] = []
    for key, value in raw_config.items():
        namespace, _, name = key.rpartition(":")
        if namespace not in ("", NAMESPACE):
            continue
        if name not in KEYS_BY_NAME:
            problems.append(f"{full(name)} is not a known key{_suggest(name)}")
            continue
        raw[name] = value if isinstance(value, str) else str(value)

    r = _Reader(raw, set(secret_keys))
    r.problems.extend(problems)

    target_text = r.string("target")
    target: Target = "minikube"
    if not target_text:
        r.problem("target", f"is required; expected one of: {' | '.join(TARGETS)}")
    elif target_text not in TARGETS:
        r.problem("target", f"{target_text!r} is not accepted; expected one of: {' | '.join(TARGETS)}")
    else:
        target = target_text
    target_known = bool(target_text) and target_text in TARGETS

    replicas = r.integer("replicas", 1)
    node_port = r.integer("nodePort", *NODE_PORT_RANGE)
    smoke_check = r.boolean("smokeCheck")

    namespace = r.string("namespace")
    if not DNS1123_LABEL.match(namespace) or len(namespace) > 63:
        r.problem(
            "namespace",
            f"{namespace!r} is not a DNS-1123 label; expected at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    elif namespace in SYSTEM_NAMESPACES or namespace.startswith(SYSTEM_NAMESPACE_PREFIXES):
        r.problem("namespace", f"{namespace!r} is a system namespace; choose one of your own")

    # Keys that only mean something on some targets: reject them elsewhere rather than ignore them.
    if target_known:
        for declared in KEYS:
            if target not in declared.targets and r.is_set(declared.name):
                only = ", ".join(declared.targets)
                r.problem(declared.name, f"does not apply to target {target!r} (only to: {only})")

    part = cast(Part, r.choice("part", PARTS) or "all")
    if part == "cluster":
        for name in APP_KEYS:
            if r.is_set(name):
                r.problem(name, "belongs to an app stack: a cluster stack (kubeport:part cluster) deploys no app")
    elif r.is_set("ingressController"):
        r.problem("ingressController", "only applies to a cluster stack (kubeport:part cluster); "
                  "in a stack with the app, kubeport:host brings what the Ingress needs")  # fmt: skip
    cluster_stack = r.string("clusterStack")
    if target == "app":
        if not cluster_stack:
            r.problem(
                "clusterStack",
                "is required with target app: the cluster stack to deploy onto, e.g. organization/kubeport/eks-cluster",
            )
        elif not STACK_REFERENCE.match(cluster_stack):
            r.problem(
                "clusterStack", f"{cluster_stack!r} is not a stack name such as organization/kubeport/eks-cluster"
            )

    image = r.string("image")
    if image:
        _check_image(r, image, target)
        for name in BUILD_KEYS:
            if r.is_set(name):
                r.problem(name, "does not apply with kubeport:image (a prebuilt image is neither built nor pushed)")

    registry_text = None if image else r.choice("registry", REGISTRIES)
    registry: RegistryKind = cast(RegistryKind, registry_text) if registry_text else DEFAULT_REGISTRY[target]
    if target_known and registry_text:
        if registry == "local" and target != "minikube":
            r.problem("registry", "'local' builds into minikube's Docker and needs target minikube")
        if registry == "native" and target == "app":
            r.problem(
                "registry",
                "an app stack pushes with credentials of its own: use registry server with the cluster stack's "
                "registry (its `registry` output) and a push token, or deploy a prebuilt kubeport:image",
            )
        elif registry == "native" and target not in CLOUD_TARGETS:
            r.problem(
                "registry",
                f"'native' means the cloud's own registry; target {target!r} has none (use dockerhub or server)",
            )

    dockerhub_user = r.string("dockerhubUser")
    dockerhub_token = r.secret("dockerhubToken")
    registry_server = r.string("registryServer")
    registry_user = r.string("registryUser")
    registry_token = r.secret("registryToken")

    if image or part == "cluster":
        pass  # nothing is pushed: the registry keys were rejected above if set
    elif registry == "dockerhub":
        if not dockerhub_user:
            r.problem("dockerhubUser", "is required with registry dockerhub; expected your Docker Hub user name")
        elif not DOCKERHUB_USER.match(dockerhub_user):
            r.problem("dockerhubUser", f"{dockerhub_user!r} is not a Docker Hub user name")
        if dockerhub_token is None:
            r.problem("dockerhubToken", "is required with registry dockerhub; expected a secret access token")
    else:
        for name in ("dockerhubUser", "dockerhubToken"):
            if r.is_set(name):
                r.problem(name, f"only applies with registry dockerhub (registry is {registry!r})")

    if image:
        _check_pull_credentials(r, image, registry_server, registry_user, registry_token)
    elif part == "cluster":
        pass  # no app, no image: the app keys were refused above
    elif registry == "server":
        if not registry_server:
            hint = " (target existing pushes to a registry the cluster can pull from)" if target == "existing" else ""
            r.problem("registryServer", f"is required with registry server{hint}; expected e.g. ghcr.io/acme")
        elif not REGISTRY_SERVER.match(registry_server):
            r.problem("registryServer", f"{registry_server!r} is not a registry host[:port][/path]")
        if bool(registry_user) != (registry_token is not None):
            r.problem(
                "registryUser" if not registry_user else "registryToken",
                "registryUser and registryToken go together (both for a private registry, neither for an "
                "anonymous one)",
            )
    else:
        for name in ("registryServer", "registryUser", "registryToken"):
            if r.is_set(name):
                r.problem(name, f"only applies with registry server (registry is {registry!r})")

    service_type: ServiceType | None = None
    if target == "existing":
        service_type = cast(ServiceType, r.choice("serviceType", SERVICE_TYPES) or "NodePort")

    kube_context = r.string("kubeContext")
    if kube_context and not KUBE_CONTEXT.match(kube_context):
        r.problem("kubeContext", f"{kube_context!r} is not a kubeconfig context name")
    if target == "existing" and not kube_context:
        r.problem(
            "kubeContext",
            "is required with target existing (deploying to whatever context is current is how workloads "
            "land on the wrong cluster); expected a context from `kubectl config get-contexts`",
        )

    node_address = r.string("nodeAddress")
    if node_address and not _is_host(node_address):
        r.problem("nodeAddress", f"{node_address!r} is not a host name or IP address")

    build_platform = r.string("buildPlatform")
    if build_platform and not BUILD_PLATFORM.match(build_platform):
        r.problem("buildPlatform", f"{build_platform!r} is not accepted; expected linux/amd64 or linux/arm64")

    # A cluster stack has no app to scale or route to (its app keys were refused above).
    autoscaling = _autoscaling(r, target) if part == "all" else None
    if part == "all":
        host, tls_secret, ingress_class = _routing(r, target)
    else:
        # On an existing cluster, the IngressClass its controller serves is a cluster fact app stacks inherit.
        host, tls_secret, ingress_class = "", "", r.string("ingressClass")
        if ingress_class and not DNS1123_SUBDOMAIN.match(ingress_class):
            r.problem("ingressClass", f"{ingress_class!r} is not an IngressClass name")

    cloud = _cloud_settings(r, target) if target in CLOUD_TARGETS and target_known else {}

    if r.problems:
        raise ConfigError(r.problems)

    return Settings(
        target=target,
        replicas=replicas,
        namespace=namespace,
        node_port=node_port,
        kube_context=kube_context,
        registry=registry,
        dockerhub_user=dockerhub_user,
        dockerhub_token=dockerhub_token,
        registry_server=registry_server,
        registry_user=registry_user,
        registry_token=registry_token,
        service_type=service_type,
        node_address=node_address,
        smoke_check=smoke_check,
        build_platform=build_platform,
        image=image,
        part=part,
        cluster_stack=cluster_stack,
        ingress_controller=r.boolean("ingressController"),
        autoscaling=autoscaling,
        host=host,
        tls_secret=tls_secret,
        ingress_class=ingress_class,
        **cloud,
    )


AUTOSCALING_KEYS = ("minReplicas", "maxReplicas", "cpuTarget")
DNS1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _autoscaling(r: _Reader, target: Target) -> Autoscaling | None:
    """The autoscaler's settings, or None; the bounds only mean something with autoscaling on."""
    if not r.boolean("autoscaling"):
        for name in AUTOSCALING_KEYS:
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:autoscaling true")
        return None
    if r.is_set("replicas"):
        r.problem(
            "replicas",
            "is fixed while kubeport:autoscaling is true, and the two would fight; remove it and set "
            "kubeport:minReplicas / kubeport:maxReplicas instead",
        )
    floor = 2 if target in CLOUD_TARGETS else 1
    low = r.integer("minReplicas", 1)
    if target in CLOUD_TARGETS and low < floor and r.is_set("minReplicas"):
        r.problem("minReplicas", f"{low} is below {floor}: cloud stacks keep at least 2 pods (a node can fail)")
    high = r.integer("maxReplicas", 1)
    if high < low:
        r.problem("maxReplicas", f"{high} is below kubeport:minReplicas ({low}); expected at least {low}")
    cpu = r.integer("cpuTarget", 1, 100)
    return Autoscaling(min_replicas=low, max_replicas=high, cpu_target=cpu)


def _routing(r: _Reader, target: Target) -> tuple[str, str, str]:
    """The host name, TLS secret and (on existing) IngressClass of the Ingress; empty strings without a host."""
    host = r.string("host").lower()
    tls_secret = r.string("tlsSecret")
    ingress_class = r.string("ingressClass")
    if not host:
        for name in ("tlsSecret", "ingressClass"):
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:host (no Ingress without a host name)")
        return "", "", ""
    if not DNS1123_SUBDOMAIN.match(host) or "." not in host:
        r.problem("host", f"{host!r} is not a fully qualified host name such as shop.example.com")
    if tls_secret and not DNS1123_SUBDOMAIN.match(tls_secret):
        r.problem("tlsSecret", f"{tls_secret!r} is not a Secret name (lowercase letters, digits, '-' and '.')")
    if target == "existing" and not ingress_class:
        r.problem(
            "ingressClass",
            "is required with kubeport:host on target existing: the IngressClass of the cluster's ingress "
            "controller (`kubectl get ingressclass`)",
        )
    elif ingress_class and not DNS1123_SUBDOMAIN.match(ingress_class):
        r.problem("ingressClass", f"{ingress_class!r} is not an IngressClass name")
    return host, tls_secret, ingress_class


def _check_pull_credentials(r: _Reader, image: str, server: str, user: str, token: SecretValue | None) -> None:
    """With a prebuilt image, registryServer/User/Token are the credentials to pull it from a private registry."""
    if not (server or user or token):
        return
    if not (server and user and token):
        missing = [
            n for n, v in (("registryServer", server), ("registryUser", user), ("registryToken", token)) if not v
        ]
        r.problem(
            missing[0],
            "with kubeport:image, registryServer, registryUser and registryToken go together: the registry the "
            "image is pulled from and credentials for it",
        )
        return
    host = server.split("/", 1)[0]
    if image.split("/", 1)[0] != host:
        r.problem("registryServer", f"{server!r} is not the registry of kubeport:image ({image.split('/', 1)[0]!r})")


def _check_image(r: _Reader, image: str, target: Target) -> None:
    """A prebuilt image reference: well formed, never `latest` (named or implied), by digest on clouds."""
    match = IMAGE_REFERENCE.match(image)
    if not match:
        r.problem(
            "image", f"{image!r} is not an image reference; expected registry/repository:tag or ...@sha256:<digest>"
        )
        return
    tag, digest = match.group("tag"), match.group("digest")
    if tag == "latest":
        r.problem("image", f"{image!r} uses the tag latest, which moves; pin a version tag or a digest")
    elif not tag and not digest:
        r.problem("image", f"{image!r} has neither tag nor digest, so it means latest; pin a version tag or a digest")
    if target in CLOUD_TARGETS and not digest:
        r.problem(
            "image",
            f"{image!r} has no digest; cloud targets deploy by digest: expected ...@sha256:<64 hex digits> "
            "(e.g. from `docker buildx imagetools inspect <image>`)",
        )


def _cloud_settings(r: _Reader, target: Target) -> dict[str, Any]:
    """The cloud keys, validated for `target`; only called for eks, aks and gke."""
    region = r.string("region")
    form, example = REGION_FORMS[target]
    if not region:
        r.problem("region", f"is required with target {target!r}; expected {example}")
    elif not form.match(region):
        r.problem("region", f"{region!r} is not accepted; expected {example}")

    project = r.string("project")
    if target == "gke":
        if not project:
            r.problem("project", "is required with target 'gke'; expected a Google Cloud project id")
        elif not GCP_PROJECT.match(project):
            r.problem("project", f"{project!r} is not a Google Cloud project id (6-30 lowercase letters, digits, -)")

    subscription = r.string("subscription").lower()
    if target == "aks":
        if not subscription:
            r.problem("subscription", "is required with target 'aks'; expected an Azure subscription id (a UUID)")
        elif not UUID.match(subscription):
            r.problem("subscription", f"{subscription!r} is not an Azure subscription id (a UUID)")

    private_api = r.boolean("privateApi")
    allowed_cidrs = r.strings("allowedCidrs")
    for cidr in allowed_cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            r.problem("allowedCidrs", f"{cidr!r} is not a CIDR block such as 203.0.113.0/24")
            continue
        if network.version != 4:
            r.problem("allowedCidrs", f"{cidr!r}: only IPv4 CIDR blocks are accepted by every cloud's API filter")
    if not allowed_cidrs and not private_api:
        r.problem(
            "allowedCidrs",
            "is required with a public Kubernetes API; expected the CIDRs allowed to reach it, e.g. "
            '["203.0.113.0/24"] (["0.0.0.0/0"] opens it to the internet), or set kubeport:privateApi true',
        )

    node_count = r.integer("nodeCount", 1, 100)
    node_size = r.string("nodeSize")
    if node_size and not NODE_SIZE.match(node_size):
        r.problem("nodeSize", f"{node_size!r} is not a machine type name")

    vpc_id = r.string("vpcId")
    subnet_ids = r.strings("subnetIds")
    if vpc_id and not VPC_ID.match(vpc_id):
        r.problem("vpcId", f"{vpc_id!r} is not a VPC id (vpc-...)")
    for subnet in subnet_ids:
        if not SUBNET_ID.match(subnet):
            r.problem("subnetIds", f"{subnet!r} is not a subnet id (subnet-...)")
    if bool(vpc_id) != bool(subnet_ids):
        r.problem(
            "subnetIds" if vpc_id else "vpcId", "vpcId and subnetIds go together (an existing VPC and its subnets)"
        )
    elif subnet_ids and len(subnet_ids) < 2:
        r.problem("subnetIds", "needs at least two private subnets, in different availability zones")

    return {
        "region": region,
        "project": project,
        "subscription": subscription,
        "allowed_cidrs": allowed_cidrs,
        "private_api": private_api,
        "node_count": node_count,
        "node_size": node_size,
        "vpc_id": vpc_id,
        "subnet_ids": subnet_ids,
        "release_protection": r.boolean("releaseProtection"),
    }


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(text))
