"""Target aks: Azure Kubernetes Service. Its keys and rules, and its Platform: an AksCluster behind the workload.

pulumi_azure_native loads only when `platform()` runs (the target is selected): reading this module's rules does not.
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
from components.pod_parts import HEALTH_PATH
from stacks import cloud
from stacks.config import CloudSettings, Key, Needs, Reader, Settings
from stacks.config.keys import RegistryKind
from stacks.environment import under_mocks

if TYPE_CHECKING:  # pulumi_azure_native only when the target is selected: platform() imports it
    from components.aks import AksCluster

LOCATION = re.compile(r"^[a-z][a-z0-9]{2,30}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

KEYS: tuple[Key, ...] = (
    *cloud.KEYS,
    Key("subscription", "string", "", "Azure subscription id (aks, required).", targets=("aks",)),
    Key(
        "databaseAdmin",
        "string",
        "",
        "With an application on aks (required then): the Entra ID name of the identity running `pulumi up`, made "
        "the managed PostgreSQL's Entra administrator (its role's name): a user's principal name such as "
        "alice@contoso.com, or a service principal's display name.",
        targets=("aks",),
    ),
    Key(
        "databaseAdminType",
        "string",
        "user",
        "With an application on aks: what databaseAdmin is: user | servicePrincipal.",
        targets=("aks",),
    ),
)
ADMIN_TYPES = ("user", "servicePrincipal")
"""The Entra principal types that can run `pulumi up` (and so be the database's Entra administrator)."""
TOOLS = ("az", "kubelogin", "docker")
"""What a real run needs on the machine (stacks.preflight says how to install each)."""
DEFAULT_REGISTRY: RegistryKind = "native"
"""Where the image goes when kubeport:registry is empty."""
SDK = "pulumi_azure_native"
"""The cloud SDK `platform()` imports."""

# The Azure load balancer probes the app's liveness endpoint instead of a bare TCP connect.
SERVICE_ANNOTATIONS = {"service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": HEALTH_PATH}
# Traefik's Service (a canary's routing) keeps Azure's TCP probe: an HTTP probe of any path would ask Traefik for
# a host it does not route and get 404.
# The application routing add-on (managed NGINX), enabled on the cluster when the stack routes a host.
INGRESS = IngressRoute(class_name="webapprouting.kubernetes.azure.com")


AZURE_STORAGE_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767)
"""The storage sizes (GiB) a flexible server offers on Premium SSD."""


def _burstable_has_no_standby(size: str) -> str:
    if size.removeprefix("Standard_").startswith("B"):
        return (
            f"Azure offers no high availability on a Burstable SKU ({size!r}); set kubeport:databaseSize to a "
            "General Purpose or Memory Optimized one such as Standard_D2ds_v5"
        )
    return ""


DATABASE = cloud.DatabaseRules(
    size_default="Standard_B1ms",
    size_form=re.compile(r"^Standard_[BDE][A-Za-z0-9_]+$"),
    size_example="a flexible server SKU such as Standard_B1ms (Burstable), Standard_D2ds_v5 (General Purpose) or "
    "Standard_E2ds_v5 (Memory Optimized)",
    storage_default=32,
    storage_accepted=lambda gib: gib in AZURE_STORAGE_SIZES,
    storage_example=" | ".join(str(s) for s in AZURE_STORAGE_SIZES),
    high_availability_refused=_burstable_has_no_standby,
)
"""Azure Database for PostgreSQL flexible server: the keys' defaults and forms."""


@dataclass(frozen=True)
class AksSettings(CloudSettings):
    """The aks target's settings: the shared cloud ones and the subscription."""

    subscription: str = ""
    """The Azure subscription id (a UUID)."""
    database_admin: str = ""
    """The deploying identity's Entra ID name: the database's Entra administrator (with an application)."""
    database_admin_type: str = "user"
    """user | servicePrincipal."""


def read_database_admin(r: Reader, settings: Settings) -> tuple[str, str]:
    """The deploying identity's Entra name and type, which the flexible server needs for its Entra administrator."""
    if not settings.application:
        for name in ("databaseAdmin", "databaseAdminType"):
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:application (an application's postgres resources)")
        return "", "user"
    admin = r.string("databaseAdmin")
    admin_type = r.choice("databaseAdminType", ADMIN_TYPES) or "user"
    if not admin:
        r.problem(
            "databaseAdmin",
            "is required with kubeport:application on target 'aks'; expected the Entra ID name of the identity "
            "running pulumi up: a user's principal name (az ad signed-in-user show --query userPrincipalName -o "
            "tsv) or, with kubeport:databaseAdminType servicePrincipal, the service principal's display name",
        )
    elif admin_type == "user" and "@" not in admin:
        r.problem(
            "databaseAdmin",
            f"{admin!r} is not a user principal name (name@domain); for a service principal set "
            "kubeport:databaseAdminType servicePrincipal",
        )
    return admin, admin_type


def check(r: Reader, settings: Settings) -> Settings:
    """AKS's own rules: an Azure location, the API's reach, a subscription id."""
    shared = cloud.read_cloud(r, "aks", LOCATION, "an Azure location such as westeurope")
    subscription = r.string("subscription").lower()
    if not subscription:
        r.problem("subscription", "is required with target 'aks'; expected an Azure subscription id (a UUID)")
    elif not UUID.match(subscription):
        r.problem("subscription", f"{subscription!r} is not an Azure subscription id (a UUID)")
    admin, admin_type = read_database_admin(r, settings)
    own = AksSettings(
        **dataclasses.asdict(shared),
        subscription=subscription,
        database_admin=admin,
        database_admin_type=admin_type,
    )
    own = dataclasses.replace(own, database=cloud.read_database(r, settings, DATABASE))
    return dataclasses.replace(settings, cloud=own)


def _azure_redis(name: str, cluster: AksCluster) -> ManagedCache:
    """An application's `redis`: Azure Cache for Redis behind a private endpoint in the nodes' subnet."""
    from components.aks import NODES_CIDR  # noqa: PLC0415
    from components.azure_redis import PORT, AzureRedis, AzureRedisArgs  # noqa: PLC0415

    made = AzureRedis(
        name,
        AzureRedisArgs(
            opts=cluster.azure_opts,
            resource_group_name=cluster.resource_group_name,
            location=cluster.location,
            vnet_id=cluster.vnet_id,
            subnet_id=cluster.nodes_subnet_id,
        ),
    )
    return cloud.managed_cache(
        made, address=made.address, port=PORT, password=made.password, network=NODES_CIDR, ca=made.ca
    )


def _blob_container(request: BucketRequest, own: AksSettings, cluster: AksCluster) -> ManagedBucket:
    """An application's `s3`: a Blob container in a storage account of its own (Entra ID only, no anonymous
    access), granted to the declaring workload's ServiceAccount alone through Azure workload identity."""
    from components.azure_blob import HTTPS_ANYWHERE, AzureBlobContainer, AzureBlobContainerArgs  # noqa: PLC0415

    made = AzureBlobContainer(
        request.name,
        AzureBlobContainerArgs(
            opts=cluster.azure_opts,
            resource_group_name=cluster.resource_group_name,
            location=cluster.location,
            subscription_id=own.subscription,
            oidc_issuer=cluster.oidc_issuer,
            namespace=request.namespace,
            service_account=request.service_account,
            protect=not own.release_protection,
        ),
    )
    return ManagedBucket(
        endpoint=made.endpoint,
        bucket=made.container,
        region=cluster.location,
        api="azure-blob",
        egress=[HTTPS_ANYWHERE],
        account_annotations={"azure.workload.identity/client-id": made.client_id},
        pod_labels={"azure.workload.identity/use": "true"},
        resources=made.ready,
    )


def _with_storage(platform: Platform, needs: Needs, own: AksSettings, cluster: AksCluster) -> Platform:
    """The Platform with what the files' volumes, caches and buckets need: the disks' class, Azure Cache for
    Redis, Blob containers."""
    if needs.volumes:
        from components.volume_class import azure_disk  # noqa: PLC0415

        platform = cloud.with_volume_class(platform, azure_disk())
    if needs.cache:
        platform = dataclasses.replace(platform, redis=lambda name: _azure_redis(name, cluster))
    if needs.buckets:
        platform = dataclasses.replace(platform, object_store=lambda request: _blob_container(request, own, cluster))
    return platform


def platform(settings: Settings, needs: Needs) -> Platform:
    from components.aks import AksCluster, AksClusterArgs, acr_refresh_token  # noqa: PLC0415 - only when selected

    own = settings.cloud
    assert isinstance(own, AksSettings), "stacks.aks.check fills the aks settings"
    offers_ingress = cloud.host_by_ingress(settings) or settings.ingress_controller
    database = own.database if needs.database else None
    cluster = AksCluster(
        "aks",
        AksClusterArgs(
            **cloud.shared_cluster_args(own),
            location=own.region,
            subscription_id=own.subscription,
            # Offline runs must not call the registry.
            token_exchange=None if under_mocks() else acr_refresh_token,
            app_routing=offers_ingress,
            database_network=database is not None or needs.cache,
        ),
    )
    platform = cloud.cloud_platform(
        settings, cluster, SERVICE_ANNOTATIONS, INGRESS if offers_ingress else None, gateway_annotations={}
    )
    platform = _with_storage(platform, needs, own, cluster)
    if database is None:
        return platform

    def postgres(request: DatabaseRequest) -> ManagedDatabase:
        from components.aks import DATABASE_CIDR  # noqa: PLC0415
        from components.azure_postgres import AzurePostgres, AzurePostgresArgs  # noqa: PLC0415

        assert database is not None
        made = AzurePostgres(
            request.name,
            AzurePostgresArgs(
                opts=cluster.azure_opts,
                resource_group_name=cluster.resource_group_name,
                location=cluster.location,
                vnet_id=cluster.vnet_id,
                subnet_id=cluster.database_subnet_id,
                tenant_id=cluster.tenant_id,
                administrator_object_id=cluster.deployer_object_id,
                administrator_name=own.database_admin,
                administrator_type=own.database_admin_type,
                database=request.database,
                size=database.size,
                version=database.version,
                storage_gb=database.storage_gb,
                high_availability=database.high_availability,
                protect=not own.release_protection,
            ),
        )
        return cloud.managed_database(
            request, made, address=made.address, password=made.password, network=DATABASE_CIDR, ca=made.ca
        )

    return dataclasses.replace(platform, postgres=postgres)
