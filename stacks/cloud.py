"""What the three cloud targets share: turning a ManagedCluster into the workload's Platform."""

from __future__ import annotations

import dataclasses
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
    """The cloud's Platform. Behind an Ingress the Service is ClusterIP: no second public load balancer."""
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
