"""Target gke: Google Kubernetes Engine. pulumi_gcp is imported here only, when this target is selected."""

from __future__ import annotations

from components.gke import GkeCluster, GkeClusterArgs
from components.platform import IngressRoute, Platform
from stacks.cloud import cloud_platform
from stacks.config import Settings

# Backend-service-based external passthrough load balancer, GKE's current L4 implementation.
SERVICE_ANNOTATIONS = {"cloud.google.com/l4-rbs": "enabled"}
# GKE's built-in Ingress controller goes by the class annotation (it ignores spec.ingressClassName) and, with
# network policy on, needs the Service's container-native load balancing asked for explicitly.
INGRESS = IngressRoute(
    class_name=None,
    annotations={"kubernetes.io/ingress.class": "gce"},
    service_annotations={"cloud.google.com/neg": '{"ingress": true}'},
)


def platform(settings: Settings) -> Platform:
    cluster = GkeCluster(
        "gke",
        GkeClusterArgs(
            project=settings.project,
            region=settings.region,
            allowed_cidrs=settings.allowed_cidrs,
            private_api=settings.private_api,
            node_count=settings.node_count,
            node_size=settings.node_size,
            protect=not settings.release_protection,
        ),
    )
    # GKE's controller is built in: a cluster stack always offers it to its app stacks.
    offers_ingress = bool(settings.host) or settings.part == "cluster"
    return cloud_platform(settings, cluster, SERVICE_ANNOTATIONS, INGRESS if offers_ingress else None)
