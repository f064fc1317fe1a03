"""What the three cloud targets share: turning a ManagedCluster into the workload's Platform."""

from __future__ import annotations

from collections.abc import Mapping

from components.cluster import ManagedCluster
from components.platform import Exposure, ImageDestination, IngressRoute, Platform
from stacks import registry
from stacks.config import Settings

CLOUD_BUILD_PLATFORM = ("linux/amd64",)
"""Cloud nodes run amd64; building for it explicitly keeps an Apple-silicon laptop from shipping arm64."""
ROLLOUT_TIMEOUT = "15m"
"""A new cluster's first nodes and load balancer take longer than Pulumi's 10-minute default."""


def cloud_platform(
    settings: Settings,
    cluster: ManagedCluster,
    annotations: Mapping[str, str],
    ingress: IngressRoute | None = None,
) -> Platform:
    """The cloud's Platform; with an Ingress, the Service stays ClusterIP (no second public load balancer)."""
    image: ImageDestination | None
    if settings.image:
        image = None  # a prebuilt image, pinned by digest (config.parse insists)
    elif settings.registry == "native":
        image = ImageDestination(
            repository=cluster.repository,
            push=True,
            login=cluster.registry_login,
            platforms=registry.build_platforms(settings, CLOUD_BUILD_PLATFORM),
        )
    else:
        # Docker Hub or another registry: the nodes pull without credentials, so the repository must be public.
        image = registry.pushed(settings, CLOUD_BUILD_PLATFORM)
    return Platform(
        target=settings.target,
        provider=cluster.provider,
        image=image,
        exposure=Exposure(
            service_type="LoadBalancer",
            annotations=dict(annotations),
            address_hint="pulumi stack output kubeconfig --show-secrets > kubeconfig && "
            "kubectl --kubeconfig kubeconfig --namespace {namespace} get service {service}",
        )
        if ingress is None
        else Exposure(service_type="ClusterIP"),
        ingress=ingress,
        image_pull_policy="IfNotPresent",
        rollout_timeout=ROLLOUT_TIMEOUT,
        depends_on=list(cluster.ready),
        outputs={
            "cluster": cluster.cluster_name,
            "registry": image.repository if image else cluster.repository,
            "kubeconfig": cluster.kubeconfig,
        },
    )
