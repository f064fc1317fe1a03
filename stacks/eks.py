"""Target eks: Amazon EKS. pulumi_aws is imported here only, when this target is selected."""

from __future__ import annotations

from components.eks import EksCluster, EksClusterArgs
from components.eks_ingress import AwsLoadBalancerController, AwsLoadBalancerControllerArgs
from components.platform import IngressRoute, Platform
from components.webapp import READY_PATH
from stacks.cloud import cloud_platform
from stacks.config import Settings

# A Network Load Balancer from the in-tree AWS cloud provider; it reports a DNS name, not an IP.
SERVICE_ANNOTATIONS = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
# An internet-facing ALB sending to the pods' own IPs (the Service stays ClusterIP), health-checked on readiness.
INGRESS_ANNOTATIONS = {
    "alb.ingress.kubernetes.io/scheme": "internet-facing",
    "alb.ingress.kubernetes.io/target-type": "ip",
    "alb.ingress.kubernetes.io/healthcheck-path": READY_PATH,
}
# With TLS the ALB listens on 443 too (its certificate comes from ACM, found by the host name) and redirects 80.
TLS_ANNOTATIONS = {
    "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
    "alb.ingress.kubernetes.io/ssl-redirect": "443",
}


def ingress_route(settings: Settings, cluster: EksCluster) -> IngressRoute:
    controller = AwsLoadBalancerController(
        "alb-controller",
        AwsLoadBalancerControllerArgs(
            cluster_name=cluster.cluster_name,
            vpc_id=cluster.vpc_id,
            region=settings.region,
            aws_provider=cluster.aws,
            k8s_provider=cluster.provider,
            nodes=cluster.node_group,
        ),
    )
    annotations = {**INGRESS_ANNOTATIONS, **(TLS_ANNOTATIONS if settings.tls_secret else {})}
    return IngressRoute(class_name=controller.ingress_class, annotations=annotations, depends_on=[controller.release])


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
            # A cluster stack prepares metrics for whichever app stack turns its autoscaler on.
            metrics_server=settings.autoscaling is not None or settings.part == "cluster",
        ),
    )
    route = ingress_route(settings, cluster) if settings.host or settings.ingress_controller else None
    return cloud_platform(settings, cluster, SERVICE_ANNOTATIONS, route)
