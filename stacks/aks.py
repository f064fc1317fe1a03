"""Target aks: Azure Kubernetes Service. Its keys and rules, and its Platform: an AksCluster behind the workload.

pulumi_azure_native loads only when `platform()` runs (the target is selected): reading this module's rules does not.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from components.platform import IngressRoute, Platform
from components.pod_parts import HEALTH_PATH
from stacks import cloud
from stacks.config import CloudSettings, Key, Reader, Settings
from stacks.config.keys import RegistryKind
from stacks.environment import under_mocks

LOCATION = re.compile(r"^[a-z][a-z0-9]{2,30}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

KEYS: tuple[Key, ...] = (
    *cloud.KEYS,
    Key("subscription", "string", "", "Azure subscription id (aks, required).", targets=("aks",)),
)
TOOLS = ("az", "kubelogin", "docker")
"""What a real run needs on the machine (stacks.preflight says how to install each)."""
DEFAULT_REGISTRY: RegistryKind = "native"
"""Where the image goes when kubeport:registry is empty."""
SDK = "pulumi_azure_native"
"""The cloud SDK `platform()` imports."""

# The Azure load balancer probes the app's liveness endpoint instead of a bare TCP connect.
SERVICE_ANNOTATIONS = {"service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": HEALTH_PATH}
# The application routing add-on (managed NGINX), enabled on the cluster when the stack routes a host.
INGRESS = IngressRoute(class_name="webapprouting.kubernetes.azure.com")


@dataclass(frozen=True)
class AksSettings(CloudSettings):
    """The aks target's settings: the shared cloud ones and the subscription."""

    subscription: str = ""
    """The Azure subscription id (a UUID)."""


def check(r: Reader, settings: Settings) -> Settings:
    """AKS's own rules: an Azure location, the API's reach, a subscription id."""
    shared = cloud.read_cloud(r, "aks", LOCATION, "an Azure location such as westeurope")
    subscription = r.string("subscription").lower()
    if not subscription:
        r.problem("subscription", "is required with target 'aks'; expected an Azure subscription id (a UUID)")
    elif not UUID.match(subscription):
        r.problem("subscription", f"{subscription!r} is not an Azure subscription id (a UUID)")
    return dataclasses.replace(settings, cloud=AksSettings(**dataclasses.asdict(shared), subscription=subscription))


def platform(settings: Settings) -> Platform:
    from components.aks import AksCluster, AksClusterArgs, acr_refresh_token  # noqa: PLC0415 - only when selected

    own = settings.cloud
    assert isinstance(own, AksSettings), "stacks.aks.check fills the aks settings"
    offers_ingress = bool(settings.host) or settings.ingress_controller
    cluster = AksCluster(
        "aks",
        AksClusterArgs(
            **cloud.shared_cluster_args(own),
            location=own.region,
            subscription_id=own.subscription,
            # Offline runs must not call the registry.
            token_exchange=None if under_mocks() else acr_refresh_token,
            app_routing=offers_ingress,
        ),
    )
    return cloud.cloud_platform(settings, cluster, SERVICE_ANNOTATIONS, INGRESS if offers_ingress else None)
