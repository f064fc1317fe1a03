"""The validated stack configuration: what the program reads once and hands to the target and the components."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from components.options import Autoscaling, Canary, ServiceType
from stacks.config.keys import Part, RegistryKind, Target


@dataclass(frozen=True)
class SecretValue:
    """A configuration value that must stay encrypted; its repr never shows the value."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "SecretValue(***)"


@dataclass(frozen=True)
class Needs:
    """What the deployed workload asks of a target beyond a cluster, known once its files are read: a target
    builds the rest of its Platform (a cloud's managed database, its network) only when asked."""

    database: bool = False
    """A managed PostgreSQL: the application's workload files declare a `postgres` resource."""
    volumes: bool = False
    """A StorageClass for the application's volumes: its workload files declare a `volume` resource."""
    cache: bool = False
    """A managed Redis: the application's workload files declare a `redis` resource."""
    buckets: bool = False
    """An object store reached by workload identity: the application's workload files declare an `s3` resource."""


@dataclass(frozen=True)
class DatabaseSettings:
    """A cloud's managed PostgreSQL for an application's `postgres` resources (the database keys, checked)."""

    size: str
    """Instance class (eks), SKU (aks) or tier (gke); the cloud's cheap default filled in."""
    version: str
    """PostgreSQL major version, e.g. "17"."""
    storage_gb: int
    """Storage in GiB; the cloud's smallest filled in."""
    high_availability: bool
    """A standby in another zone (Multi-AZ, zone-redundant HA, a regional instance)."""


@dataclass(frozen=True)
class CloudSettings:
    """What every cloud target reads; each cloud's module extends it with its own scope (stacks.eks, aks, gke)."""

    region: str
    """AWS region, Azure location or Google Cloud region."""
    allowed_cidrs: tuple[str, ...] = ()
    """CIDRs allowed to reach the public Kubernetes API."""
    private_api: bool = False
    """No public Kubernetes API endpoint."""
    node_count: int = 2
    node_size: str = ""
    """Machine type; empty: the cloud's default."""
    release_protection: bool = False
    """Drop `protect` from the cluster and registry (a deliberate teardown or migration)."""
    database: DatabaseSettings | None = None
    """With an application: its managed PostgreSQL; None without one."""


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
    registry_pull_user: str
    """A login that may only pull, for the pull Secret (empty: the push login is the pull login)."""
    registry_pull_token: SecretValue | None
    service_type: ServiceType | None
    """Only set on target existing; other targets fix their exposure."""
    node_address: str
    smoke_check: bool
    build_platform: str
    """Empty: the target decides."""
    image: str = ""
    """A prebuilt image reference to deploy; empty: build app/ and push it as the registry keys say."""
    base_image: str = ""
    """What app/Dockerfile builds FROM; empty: the Dockerfile's own pinned base."""
    builder: str = ""
    """The buildx builder to build with; empty: pulumi-docker-build's default."""
    rollout_timeout: str = ""
    """How long Pulumi waits for the workload (e.g. 90s, 10m); empty: the target's own."""
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
    canary: Canary | None = None
    """kubeport:releaseStrategy canary: how a release is judged; None: rolling updates."""
    gateway_class: str = ""
    """Only on target existing: the GatewayClass whose controller splits a canary's traffic."""
    controller_metrics: str = ""
    """Only on target existing: the controller's Prometheus metrics as `namespace/service:port`."""
    application: str = ""
    """A folder of Score workload files deployed as one application; empty: the single web app."""
    service_base_image: str = ""
    """What the application's own services build FROM; empty: their Dockerfiles' pinned base."""
    postgres_image: str = ""
    """The image in-cluster postgres resources run; empty: the pinned official one."""
    redis_image: str = ""
    """The image in-cluster redis resources run; empty: the pinned official one."""
    s3_image: str = ""
    """The image in-cluster s3 resources run (versitygw); empty: the pinned official one."""
    storage_class: str = ""
    """StorageClass of in-cluster database volumes and of the files' volumes; empty: the target's choice."""
    cloud: CloudSettings | None = None
    """The cloud's own settings on eks, aks and gke (a CloudSettings of that cloud's module); None elsewhere."""
    notices: tuple[str, ...] = ()
    """What the stack file says in an old way that is still read (a renamed target): warned about on every run."""


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
