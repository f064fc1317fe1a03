"""What the three cloud targets share: their common keys and rules, and turning a ManagedCluster into the
workload's Platform. Each cloud's own module (stacks.eks, aks, gke) adds its scope and cluster component."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi

from components.cluster import ManagedCluster
from components.platform import (
    DatabaseRequest,
    Exposure,
    GatewayRoute,
    ImageDestination,
    IngressRoute,
    ManagedCache,
    ManagedDatabase,
    Platform,
)
from components.volume_class import VolumeClassSpec, volume_class
from stacks import registry
from stacks.config import CLOUD_TARGETS, CloudSettings, DatabaseSettings, Key, Reader, Settings

CLOUD_BUILD_PLATFORM = ("linux/amd64",)
"""Cloud nodes run amd64; building for it explicitly keeps an Apple-silicon laptop from shipping arm64."""
ROLLOUT_TIMEOUT = "15m"
"""A new cluster's first nodes and load balancer take longer than Pulumi's 10-minute default."""
NODE_SIZE = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")

KEYS: tuple[Key, ...] = (
    Key(
        "region",
        "string",
        "",
        "Cloud region: AWS region (eks), Azure location (aks) or Google Cloud region (gke). Required on clouds.",
        targets=CLOUD_TARGETS,
    ),
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
        "Reach the Kubernetes API only from inside the cloud network (no public endpoint; run Pulumi from there).",
        targets=CLOUD_TARGETS,
    ),
    Key(
        "nodeCount",
        "integer",
        2,
        "Worker nodes (1-100; GKE spreads them over two zones).",
        targets=CLOUD_TARGETS,
        bounds=(1, 100),
    ),
    Key(
        "nodeSize",
        "string",
        "",
        "Node machine type. Empty: t3.medium (eks), Standard_D2s_v5 (aks), e2-standard-2 (gke).",
        targets=CLOUD_TARGETS,
    ),
    Key(
        "releaseProtection",
        "boolean",
        False,
        "Drop protect from the cluster, registry and managed databases so a deliberate teardown or migration can "
        "delete them.",
        targets=CLOUD_TARGETS,
    ),
    Key(
        "databaseSize",
        "string",
        "",
        "With an application on a cloud: the managed PostgreSQL's machine: an RDS instance class (eks), a flexible "
        "server SKU (aks), a Cloud SQL tier (gke). Empty: db.t4g.micro, Standard_B1ms, db-f1-micro.",
        targets=CLOUD_TARGETS,
        shown_default="the cloud's smallest",
    ),
    Key(
        "databaseVersion",
        "string",
        "17",
        "With an application on a cloud: the managed PostgreSQL's major version (14-17).",
        targets=CLOUD_TARGETS,
    ),
    Key(
        "databaseStorage",
        "integer",
        0,
        "With an application on a cloud: the managed PostgreSQL's storage in GiB (eks 20-65536; aks 32, 64, 128, "
        "... 32767; gke 10-65536). 0: the cloud's smallest (20, 32, 10).",
        targets=CLOUD_TARGETS,
        shown_default="the cloud's smallest",
        bounds=(0, None),
    ),
    Key(
        "databaseHighAvailability",
        "boolean",
        False,
        "With an application on a cloud: a standby in another zone (RDS Multi-AZ, zone-redundant HA on a General "
        "Purpose or Memory Optimized SKU, a regional Cloud SQL instance).",
        targets=CLOUD_TARGETS,
    ),
)
"""The keys every cloud reads; each cloud module lists them first in its own KEYS."""
DATABASE_KEYS = ("databaseSize", "databaseVersion", "databaseStorage", "databaseHighAvailability")
DATABASE_VERSIONS = ("14", "15", "16", "17")
"""PostgreSQL majors all three clouds offer (RDS, Azure flexible server, Cloud SQL) in 2026."""
DATABASE_PORT = 5432


def managed_database(
    request: DatabaseRequest,
    made: pulumi.Resource,
    *,
    address: pulumi.Output[str],
    password: pulumi.Output[str],
    network: pulumi.Input[str],
    ca: pulumi.Input[str],
) -> ManagedDatabase:
    """A cloud's database (`made`: RDS, Azure's or Cloud SQL's component) as the pods reach it: its private name on
    the standard port, its master user named after its database with the password it was made with, and the CA its
    certificate chains to."""
    return ManagedDatabase(
        address=address,
        port=DATABASE_PORT,
        database=request.database,
        username=request.database,
        password=password,
        network=network,
        ca=ca,
        resources=[made],
    )


CACHE_USER = "default"
"""The user a cloud's AUTH token or access key signs in as (Redis 6 and later take `AUTH default <token>` for
`AUTH <token>`)."""


def managed_cache(
    made: pulumi.Resource,
    *,
    address: pulumi.Output[str],
    port: int,
    password: pulumi.Output[str],
    network: pulumi.Input[str],
    ca: pulumi.Input[str],
) -> ManagedCache:
    """A cloud's cache (`made`: ElastiCache's, Azure's or Memorystore's component) as the pods reach it: its private
    name on its TLS port, the default user with the AUTH token the cloud keeps, and the CA its certificate chains
    to."""
    return ManagedCache(
        address=address, port=port, username=CACHE_USER, password=password, network=network, ca=ca, resources=[made]
    )


@dataclass(frozen=True)
class DatabaseRules:
    """What one cloud accepts for its managed PostgreSQL."""

    size_default: str
    size_form: re.Pattern[str]
    size_example: str
    storage_default: int
    storage_accepted: Callable[[int], bool]
    storage_example: str
    high_availability_refused: Callable[[str], str] = lambda _size: ""
    """The reason a size cannot have a standby, or ""."""


def read_database(r: Reader, settings: Settings, rules: DatabaseRules) -> DatabaseSettings | None:
    """The managed database's keys, checked; they mean something only with an application (kubeport:application)."""
    if not settings.application:
        for name in DATABASE_KEYS:
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:application (an application's postgres resources)")
        return None
    size = r.string("databaseSize") or rules.size_default
    if not rules.size_form.match(size):
        r.problem("databaseSize", f"{size!r} is not accepted on target {settings.target!r}; expected "
                                  f"{rules.size_example}")  # fmt: skip
    version = r.string("databaseVersion")
    if version not in DATABASE_VERSIONS:
        r.problem("databaseVersion", f"{version!r} is not accepted; expected one of: {' | '.join(DATABASE_VERSIONS)}")
    storage = r.integer("databaseStorage") or rules.storage_default
    if not rules.storage_accepted(storage):
        r.problem("databaseStorage", f"{storage} GiB is not accepted on target {settings.target!r}; expected "
                                     f"{rules.storage_example}")  # fmt: skip
    high_availability = r.boolean("databaseHighAvailability")
    refused = rules.high_availability_refused(size) if high_availability else ""
    if refused:
        r.problem("databaseHighAvailability", refused)
    return DatabaseSettings(size=size, version=version, storage_gb=storage, high_availability=high_availability)


def read_cloud(r: Reader, target: str, region_form: re.Pattern[str], example: str) -> CloudSettings:
    """The keys every cloud shares, checked: a region of the cloud's form, the API's reach, the nodes."""
    region = r.string("region")
    if not region:
        r.problem("region", f"is required with target {target!r}; expected {example}")
    elif not region_form.match(region):
        r.problem("region", f"{region!r} is not accepted; expected {example}")

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

    node_count = r.integer("nodeCount")
    node_size = r.string("nodeSize")
    if node_size and not NODE_SIZE.match(node_size):
        r.problem("nodeSize", f"{node_size!r} is not a machine type name")
    return CloudSettings(
        region=region,
        allowed_cidrs=allowed_cidrs,
        private_api=private_api,
        node_count=node_count,
        node_size=node_size,
        release_protection=r.boolean("releaseProtection"),
    )


class SharedClusterArgs(TypedDict):
    """The `components.cluster.ClusterArgs` fields every cloud fills in from the same keys."""

    allowed_cidrs: Sequence[str]
    private_api: bool
    node_count: int
    node_size: str
    protect: bool


def shared_cluster_args(own: CloudSettings) -> SharedClusterArgs:
    """The shared cluster inputs from the shared cloud keys; protection follows kubeport:releaseProtection."""
    return {
        "allowed_cidrs": own.allowed_cidrs,
        "private_api": own.private_api,
        "node_count": own.node_count,
        "node_size": own.node_size,
        "protect": not own.release_protection,
    }


def with_volume_class(platform: Platform, spec: VolumeClassSpec, driver: Sequence[pulumi.Resource] = ()) -> Platform:
    """The Platform with the cloud's StorageClass for an application's volumes (made here, after `driver`), which
    the workloads wait for."""
    made = volume_class(spec, platform.provider, driver)
    return dataclasses.replace(platform, storage_class=spec.name, depends_on=[*platform.depends_on, made])


def cloud_platform(
    settings: Settings,
    cluster: ManagedCluster,
    annotations: Mapping[str, str],
    ingress: IngressRoute | None = None,
    gateway_annotations: Mapping[str, str] | None = None,
) -> Platform:
    """The cloud's Platform. Behind an Ingress the Service is ClusterIP: no second public load balancer. With a
    canary, the host is routed by Traefik, whose Service takes `gateway_annotations` (default: `annotations`)."""
    image: ImageDestination | None
    if settings.image or settings.part == "cluster":
        image = None  # a prebuilt image (by digest: config.parse insists), or no app here at all
    elif settings.registry == "native":
        image = ImageDestination(
            repository=cluster.repository,
            push=True,
            login=cluster.registry_login,
            platforms=registry.build_platforms(settings, CLOUD_BUILD_PLATFORM),
        )
    else:
        # Docker Hub or another registry: the nodes have no rights there; a private one gets a pull secret.
        image = registry.pushed(settings, CLOUD_BUILD_PLATFORM)
    own_registry = cluster.repository.apply(lambda repository: repository.split("/", 1)[0])
    return Platform(
        target=settings.target,
        provider=cluster.provider,
        image=image,
        exposure=Exposure(
            service_type="LoadBalancer",
            annotations=dict(annotations),
            address_hint="pulumi stack output kubeconfig --show-secrets > kubeconfig && "
            "kubectl --kubeconfig kubeconfig --namespace {namespace} get service {service}",
        ),
        ingress=dataclasses.replace(ingress, exposure=Exposure(service_type="ClusterIP")) if ingress else None,
        gateway=(
            canary_gateway(cluster, annotations if gateway_annotations is None else gateway_annotations)
            if settings.canary is not None
            else None
        ),
        image_pull_policy="IfNotPresent",
        rollout_timeout=ROLLOUT_TIMEOUT,
        depends_on=list(cluster.ready),
        pull_login=registry.pull_login(settings, image),
        cluster_identity=cluster.identity,
        kubeconfig=cluster.kubeconfig,
        nodes_pull_from=[own_registry],
        outputs={
            "cluster": cluster.cluster_name,
            "registry": image.repository if image else cluster.repository,
            "kubeconfig": cluster.kubeconfig,
        },
    )


def host_by_ingress(settings: Settings) -> bool:
    """Whether the stack's host is routed through an Ingress: with a canary it goes through the Gateway instead."""
    return bool(settings.host) and settings.canary is None


def canary_gateway(cluster: ManagedCluster, annotations: Mapping[str, str]) -> GatewayRoute:
    """A canary's weighted routing on a cloud: Traefik and the Gateway API CRDs in the cluster, behind the cloud's
    layer-4 load balancer (components.traefik_gateway says why not the cloud's own L7 routing); the judge reads
    Traefik's metrics through the API server with the cluster's kubeconfig."""
    from components.traefik_gateway import TraefikGateway, TraefikGatewayArgs  # noqa: PLC0415 - with a canary only

    traefik = TraefikGateway(
        "canary-gateway",
        TraefikGatewayArgs(provider=cluster.provider, service_annotations=annotations, waits_for=list(cluster.ready)),
    )
    return GatewayRoute(
        class_name=traefik.class_name,
        metrics=traefik.metrics,
        kubeconfig=cluster.kubeconfig,
        http_port=traefik.http_port,
        https_port=traefik.https_port,
        depends_on=traefik.ready,
        address=traefik.address,
    )
