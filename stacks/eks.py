"""Target eks: Amazon EKS. pulumi_aws is imported here only, when this target is selected."""

from __future__ import annotations

from components.eks import EksCluster, EksClusterArgs
from components.platform import Platform
from stacks.cloud import cloud_platform
from stacks.config import Settings

# A Network Load Balancer from the in-tree AWS cloud provider; it reports a DNS name, not an IP.
SERVICE_ANNOTATIONS = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}


def platform(settings: Settings) -> Platform:
    cluster = EksCluster(
        "eks",
        EksClusterArgs(
            region=settings.region,
            allowed_cidrs=settings.allowed_cidrs,
            private_api=settings.private_api,
            node_count=settings.node_count,
            node_size=settings.node_size,
            vpc_id=settings.vpc_id,
            subnet_ids=settings.subnet_ids,
            protect=not settings.release_protection,
        ),
    )
    return cloud_platform(settings, cluster, SERVICE_ANNOTATIONS)
