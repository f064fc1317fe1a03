"""Target aks: Azure Kubernetes Service. pulumi_azure_native is imported here only, when this target is selected."""

from __future__ import annotations

from components.aks import AksCluster, AksClusterArgs, acr_refresh_token
from components.platform import IngressRoute, Platform
from components.webapp import HEALTH_PATH
from stacks.cloud import cloud_platform
from stacks.config import Settings
from stacks.environment import under_mocks

# The Azure load balancer probes the app's liveness endpoint instead of a bare TCP connect.
SERVICE_ANNOTATIONS = {"service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": HEALTH_PATH}
# The application routing add-on (managed NGINX), enabled on the cluster when the stack routes a host.
INGRESS = IngressRoute(class_name="webapprouting.kubernetes.azure.com")


def platform(settings: Settings) -> Platform:
    cluster = AksCluster(
        "aks",
        AksClusterArgs(
            location=settings.region,
            subscription_id=settings.subscription,
            allowed_cidrs=settings.allowed_cidrs,
            private_api=settings.private_api,
            node_count=settings.node_count,
            node_size=settings.node_size,
            protect=not settings.release_protection,
            # Offline runs must not call the registry.
            token_exchange=None if under_mocks() else acr_refresh_token,
            app_routing=bool(settings.host) or settings.ingress_controller,
        ),
    )
    offers_ingress = bool(settings.host) or settings.ingress_controller
    return cloud_platform(settings, cluster, SERVICE_ANNOTATIONS, INGRESS if offers_ingress else None)
