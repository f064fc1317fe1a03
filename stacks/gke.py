"""Target gke: Google Kubernetes Engine. pulumi_gcp is imported here only, when this target is selected."""

from __future__ import annotations

from components.gke import GkeCluster, GkeClusterArgs
from components.platform import Platform
from stacks.cloud import cloud_platform
from stacks.config import Settings

# Backend-service-based external passthrough load balancer, GKE's current L4 implementation.
SERVICE_ANNOTATIONS = {"cloud.google.com/l4-rbs": "enabled"}


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
    return cloud_platform(settings, cluster, SERVICE_ANNOTATIONS)
