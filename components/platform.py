"""The Platform: the small record a target hands the portable workload.

Everything that legitimately differs between minikube, a bring-your-own cluster and a cloud lives
here, and nothing else may: `WebApp` and `AppImage` read the target only through this record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.options import PullPolicy, ServiceType


@dataclass(frozen=True)
class Exposure:
    """How the app's Service is reached from outside the cluster."""

    service_type: ServiceType
    """Kubernetes Service type."""
    node_port: int | None = None
    """Fixed node port for a NodePort Service; None lets Kubernetes choose (or is unused)."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Service annotations the cloud's load balancer controller reads."""
    node_address: str | None = None
    """Host or IP where a NodePort is reachable, when the target knows it."""
    address_hint: str = ""
    """Command that prints the address when it cannot be known at deploy time; `{service}`, `{namespace}`,
    `{port}` (the Service's port) and `{node_port}` are filled in."""


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for pushing the image; `password` is always a secret Output."""

    address: pulumi.Input[str]
    """Registry host (and port) the credentials are for, e.g. docker.io."""
    username: pulumi.Input[str]
    """Registry user name."""
    password: pulumi.Output[str]
    """Registry password or token, secret."""


@dataclass(frozen=True)
class ImageDestination:
    """Where the built image goes and how the cluster gets it."""

    repository: pulumi.Input[str]
    """Image name without tag, e.g. docker.io/acme/kubeport-web, or kubeport/web for a local build."""
    push: bool
    """True: push to `repository` and deploy by digest. False: load into the local Docker only."""
    login: RegistryLogin | None = None
    """Push credentials; None for a local build or an anonymous registry."""
    platforms: tuple[str, ...] = ()
    """Target platforms, e.g. ("linux/amd64",); empty builds for the builder's own platform."""


@dataclass(frozen=True)
class IngressRoute:
    """How a target serves an Ingress: the controller that picks it up and what that controller reads."""

    class_name: str | None
    """spec.ingressClassName; None where the controller goes by an annotation instead (GKE's)."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Ingress annotations the controller reads (class on GKE; scheme and target type on EKS)."""
    service_annotations: Mapping[str, str] = field(default_factory=dict)
    """Service annotations the controller needs behind an Ingress (GKE: container-native load balancing)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """The controller itself, where kubeport installs it (EKS): the Ingress waits for it."""
    exposure: Exposure | None = None
    """How the Service is exposed behind this controller; None: as without an Ingress (clouds: ClusterIP, so
    there is no second public load balancer)."""


@dataclass(frozen=True)
class GatewayRoute:
    """How a target splits a host's traffic by weight, for canary releases: a Gateway API controller, its
    metrics, and how the canary's judge reaches the cluster."""

    class_name: str
    """The GatewayClass of the controller; the workload's Gateway names it."""
    metrics: str
    """The controller's Prometheus metrics as `namespace/service:port`, read through the API server's service
    proxy, so the judge needs no route of its own into the cluster."""
    kube_context: str = ""
    """The kubeconfig context the judge reaches the API server through (the provider's own); empty with
    `kubeconfig`."""
    kubeconfig: pulumi.Input[str] | None = None
    """A kubeconfig (secret) for the judge, where the target builds one instead of naming a context."""
    http_port: int = 80
    """The port of the Gateway's HTTP listener: one the controller listens on (Traefik maps a listener to the
    entry point on that port; behind a cloud load balancer, its container port)."""
    https_port: int = 443
    """The port of the Gateway's HTTPS listener, likewise."""
    depends_on: Sequence[pulumi.Resource] = ()
    """The controller and the Gateway API CRDs, where kubeport installs them: the Gateway and routes wait."""
    address: pulumi.Input[str] | None = None
    """The controller's public address (the stack's ingressAddress), where kubeport installs it."""


@dataclass(frozen=True)
class DatabaseRequest:
    """What a workload file's `postgres` resource asks of a managed database."""

    name: str
    """The provisioned resource's name (`<workload>-<resource>`): cloud and in-cluster names derive from it."""
    database: str
    """The database, and the user that owns it."""


@dataclass(frozen=True)
class ManagedDatabase:
    """A cloud's managed PostgreSQL as the application's pods reach it: privately, inside the cluster's network."""

    address: pulumi.Output[str]
    """The DNS name the pods connect to (it resolves to a private address only; the server's certificate names
    it)."""
    port: int
    database: str
    username: str
    """The master user: the roles Job signs in as it to make the application's own role."""
    password: pulumi.Output[str]
    """Secret: the master user's."""
    network: pulumi.Input[str]
    """The CIDR block the database's private address is in: the declaring workload's egress rule admits it."""
    ca: pulumi.Input[str]
    """The CA certificates (PEM) the server's certificate chains to: its clients verify it against these alone."""
    resources: Sequence[pulumi.Resource] = ()
    """What the workload waits for (the database instance)."""


ManagedPostgres = Callable[[DatabaseRequest], ManagedDatabase]
"""How a cloud target makes a managed PostgreSQL (RDS, Azure Database for PostgreSQL, Cloud SQL)."""


@dataclass(frozen=True)
class ManagedCache:
    """A cloud's managed Redis as the application's pods reach it: privately, over TLS, with an AUTH password."""

    address: pulumi.Output[str]
    """The DNS name the pods connect to (a private address only; the server's certificate names it)."""
    port: int
    username: str
    """The user the password signs in as (`default`: the clouds' AUTH token or access key is that user's)."""
    password: pulumi.Output[str]
    """Secret: the AUTH token or access key."""
    network: pulumi.Input[str]
    """The CIDR block the cache's private address is in: the declaring workload's egress rule admits it."""
    ca: pulumi.Input[str]
    """The CA certificates (PEM) the server's certificate chains to."""
    resources: Sequence[pulumi.Resource] = ()
    """What the workload waits for (the cache itself)."""


ManagedRedis = Callable[[str], ManagedCache]
"""How a cloud target makes a managed Redis (ElastiCache, Azure Cache for Redis, Memorystore), named by the
provisioned resource's name (`<workload>-<resource>`)."""


@dataclass(frozen=True)
class BucketRequest:
    """What a workload file's `s3` resource asks of a cloud's object store."""

    name: str
    """The provisioned resource's name (`<workload>-<resource>`): the bucket's and its identity's names derive from
    it."""
    namespace: pulumi.Input[str]
    service_account: str
    """The declaring workload's ServiceAccount, in `namespace`: the one identity granted the bucket."""


@dataclass(frozen=True)
class ManagedBucket:
    """A cloud's bucket as the declaring workload's pods reach it: by the cloud's workload identity, no key."""

    endpoint: pulumi.Input[str]
    bucket: pulumi.Input[str]
    region: pulumi.Input[str]
    api: str
    """`s3`, or `gcs` where the cloud's identity signs only its own API's requests."""
    egress: Sequence[tuple[str, int]]
    """(CIDR, port) the pods must reach: the store's API (public addresses) and the identity's token endpoint."""
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Variables the cloud's SDKs read (`AWS_REGION`), beside what the cloud's identity webhook injects."""
    account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """On the workload's ServiceAccount: what binds it to the cloud's identity (AKS, GKE)."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """On the workload's pods: what the cloud's identity webhook selects (AKS)."""
    resources: Sequence[pulumi.Resource] = ()
    """What the workload waits for (the bucket and its identity's grant)."""


ManagedObjectStore = Callable[[BucketRequest], ManagedBucket]
"""How a cloud target makes a bucket reached by workload identity (S3 through EKS Pod Identity, ...)."""


@dataclass(frozen=True)
class Platform:
    """What one target provides; produced by `stacks.<target>.platform(settings)`."""

    target: str
    """The target's name (minikube, existing, eks, aks, gke)."""
    provider: k8s.Provider
    """Explicit Kubernetes provider for every Kubernetes object of the workload."""
    image: ImageDestination | None
    """Where the image is built to; None when the stack deploys a prebuilt image (nothing is built)."""
    exposure: Exposure
    """How the Service is exposed."""
    image_pull_policy: PullPolicy
    """imagePullPolicy for the app's containers."""
    rollout_timeout: str = "10m"
    """How long Pulumi waits for the Deployment, Service and smoke Pod to become ready."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the workload must wait for (node pools, pull-right grants)."""
    ingress: IngressRoute | None = None
    """How an Ingress is served here; set when the stack routes a host name (or a cluster stack offers one)."""
    gateway: GatewayRoute | None = None
    """How a host's traffic is split by weight here; set when the stack releases by canary."""
    pull_login: RegistryLogin | None = None
    """Credentials the nodes need to pull the image, which WebApp turns into an image pull secret; None where
    they may pull already (the cloud's own registry, granted to the nodes) or the registry is anonymous."""
    cluster_identity: pulumi.Input[str] = ""
    """The provider's clusterIdentifier: what app stacks on this cluster give theirs."""
    kubeconfig: pulumi.Input[str] | None = None
    """A kubeconfig for the cluster (secret), exported by a cluster stack for its app stacks."""
    nodes_pull_from: Sequence[pulumi.Input[str]] = ()
    """Registry hosts the nodes may pull from without credentials (the cloud's own registry)."""
    storage_class: str | None = None
    """StorageClass for the volumes of in-cluster databases and of an application's `volume` resources (a cloud's
    target module makes its own when the files declare one); None: the cluster's default class."""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """Extra stack outputs the target adds (cluster, registry, kubeconfig)."""
    postgres: ManagedPostgres | None = None
    """The cloud's managed PostgreSQL for an application's `postgres` resources; None: the target has none (local
    targets run PostgreSQL in the cluster)."""
    redis: ManagedRedis | None = None
    """The cloud's managed Redis for an application's `redis` resources; None: the target has none (local targets
    run Redis in the cluster)."""
    object_store: ManagedObjectStore | None = None
    """The cloud's object store for an application's `s3` resources, reached by workload identity; None: the
    target has none (local targets run versitygw in the cluster)."""
