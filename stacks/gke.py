"""Target gke: Google Kubernetes Engine. Its keys and rules, and its Platform: a GkeCluster behind the workload.

pulumi_gcp loads only when `platform()` runs (the target is selected): reading this module's rules does not.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.platform import (
    BucketRequest,
    DatabaseRequest,
    IngressRoute,
    ManagedBucket,
    ManagedCache,
    ManagedDatabase,
    Platform,
)
from stacks import cloud
from stacks.config import CloudSettings, Key, Needs, Reader, Settings
from stacks.config.keys import RegistryKind

if TYPE_CHECKING:  # pulumi_gcp only when the target is selected: platform() imports it
    from components.cloudsql import PrivateServicesAccess
    from components.gke import GkeCluster

REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")

KEYS: tuple[Key, ...] = (
    *cloud.KEYS,
    Key("project", "string", "", "Google Cloud project id (gke, required).", targets=("gke",)),
)
TOOLS = ("gke-gcloud-auth-plugin", "docker")
"""What a real run needs on the machine (stacks.preflight says how to install each)."""
DEFAULT_REGISTRY: RegistryKind = "native"
"""Where the image goes when kubeport:registry is empty."""
SDK = "pulumi_gcp"
"""The cloud SDK `platform()` imports."""

# Backend-service-based external passthrough load balancer, GKE's current L4 implementation.
SERVICE_ANNOTATIONS = {"cloud.google.com/l4-rbs": "enabled"}
# GKE's built-in Ingress controller goes by the class annotation (it ignores spec.ingressClassName) and, with
# network policy on, needs the Service's container-native load balancing asked for explicitly.
INGRESS = IngressRoute(
    class_name=None,
    annotations={"kubernetes.io/ingress.class": "gce"},
    service_annotations={"cloud.google.com/neg": '{"ingress": true}'},
)


DATABASE = cloud.DatabaseRules(
    size_default="db-f1-micro",
    size_form=re.compile(r"^db-(f1-micro|g1-small|custom-\d{1,2}-\d{3,6}|perf-optimized-N-\d{1,3})$"),
    size_example="a Cloud SQL tier such as db-f1-micro, db-g1-small or db-custom-2-7680",
    storage_default=10,
    storage_accepted=lambda gib: 10 <= gib <= 65536,
    storage_example="10 to 65536",
)
"""Cloud SQL for PostgreSQL: the keys' defaults and forms."""


@dataclass(frozen=True)
class GkeSettings(CloudSettings):
    """The gke target's settings: the shared cloud ones and the project."""

    project: str = ""
    """The Google Cloud project id."""


def check(r: Reader, settings: Settings) -> Settings:
    """GKE's own rules: a Google Cloud region, the API's reach, a project id."""
    shared = cloud.read_cloud(r, "gke", REGION, "a Google Cloud region such as europe-west1")
    project = r.string("project")
    if not project:
        r.problem("project", "is required with target 'gke'; expected a Google Cloud project id")
    elif not GCP_PROJECT.match(project):
        r.problem("project", f"{project!r} is not a Google Cloud project id (6-30 lowercase letters, digits, -)")
    own = GkeSettings(**dataclasses.asdict(shared), project=project)
    own = dataclasses.replace(own, database=cloud.read_database(r, settings, DATABASE))
    return dataclasses.replace(settings, cloud=own)


def _memorystore(name: str, cluster: GkeCluster, access: PrivateServicesAccess) -> ManagedCache:
    """An application's `redis`: Memorystore for Redis on the cluster's network through private services access."""
    from components.memorystore import PORT, MemorystoreRedis, MemorystoreRedisArgs  # noqa: PLC0415

    made = MemorystoreRedis(
        name,
        MemorystoreRedisArgs(
            provider_opts=cluster.gcp_opts, region=cluster.region, network=cluster.network_id, access=access
        ),
    )
    return cloud.managed_cache(
        made, address=made.address, port=PORT, password=made.password, network=access.cidr, ca=made.ca
    )


def _gcs_bucket(request: BucketRequest, own: GkeSettings, cluster: GkeCluster) -> ManagedBucket:
    """An application's `s3`: a private Cloud Storage bucket encrypted with a key of its own, granted to the
    declaring workload's ServiceAccount alone through GKE workload identity."""
    from components.gcs_bucket import ENDPOINT, HTTPS_ANYWHERE, METADATA_SERVER, GcsBucket, GcsBucketArgs  # noqa: PLC0415

    made = GcsBucket(
        request.name,
        GcsBucketArgs(
            provider_opts=cluster.gcp_opts,
            project=own.project,
            region=cluster.region,
            namespace=request.namespace,
            service_account=request.service_account,
            protect=not own.release_protection,
        ),
    )
    return ManagedBucket(
        endpoint=ENDPOINT,
        bucket=made.bucket,
        region=cluster.region,
        api="gcs",
        egress=[HTTPS_ANYWHERE, *METADATA_SERVER],
        account_annotations={"iam.gke.io/gcp-service-account": made.account_email},
        resources=made.ready,
    )


def platform(settings: Settings, needs: Needs) -> Platform:
    from components.gke import GkeCluster, GkeClusterArgs  # noqa: PLC0415 - pulumi_gcp only when selected

    own = settings.cloud
    assert isinstance(own, GkeSettings), "stacks.gke.check fills the gke settings"
    cluster = GkeCluster(
        "gke",
        GkeClusterArgs(
            **cloud.shared_cluster_args(own),
            project=own.project,
            region=own.region,
        ),
    )
    # GKE's controller is built in: a cluster stack always offers it to its app stacks.
    offers_ingress = cloud.host_by_ingress(settings) or settings.part == "cluster"
    platform = cloud.cloud_platform(settings, cluster, SERVICE_ANNOTATIONS, INGRESS if offers_ingress else None)
    if needs.volumes:
        from components.volume_class import pd_balanced  # noqa: PLC0415

        platform = cloud.with_volume_class(platform, pd_balanced())
    if needs.buckets:
        platform = dataclasses.replace(platform, object_store=lambda request: _gcs_bucket(request, own, cluster))
    database = own.database if needs.database else None
    if database is None and not needs.cache:
        return platform
    from components.cloudsql import CloudSqlPostgres, CloudSqlPostgresArgs, PrivateServicesAccess  # noqa: PLC0415

    # One reserved range and peering per network, for every database and cache of the stack.
    access = PrivateServicesAccess(
        "gke-services", cluster.network_id, cluster.gcp_opts, protect=not own.release_protection
    )
    if needs.cache:
        platform = dataclasses.replace(platform, redis=lambda name: _memorystore(name, cluster, access))
    if database is None:
        return platform

    def postgres(request: DatabaseRequest) -> ManagedDatabase:
        assert database is not None
        made = CloudSqlPostgres(
            request.name,
            CloudSqlPostgresArgs(
                provider_opts=cluster.gcp_opts,
                region=cluster.region,
                network=cluster.network_id,
                access=access,
                database=request.database,
                size=database.size,
                version=database.version,
                storage_gb=database.storage_gb,
                high_availability=database.high_availability,
                protect=not own.release_protection,
            ),
        )
        return cloud.managed_database(
            request, made, address=made.address, password=made.password, network=access.cidr, ca=made.ca
        )

    return dataclasses.replace(platform, postgres=postgres)
