"""Target eks: Amazon EKS. Its keys and rules, and its Platform: an EksCluster behind the workload.

pulumi_aws loads only when `platform()` runs (the target is selected): reading this module's rules does not.
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
from components.pod_parts import READY_PATH
from stacks import cloud
from stacks.config import CloudSettings, Key, Needs, Reader, Settings
from stacks.config.keys import RegistryKind

if TYPE_CHECKING:  # pulumi_aws only when the target is selected: platform() imports it
    from components.eks import EksCluster

VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")

KEYS: tuple[Key, ...] = (
    *cloud.KEYS,
    Key("vpcId", "string", "", "Existing VPC to use instead of creating one (eks).", targets=("eks",)),
    Key(
        "subnetIds",
        "array",
        [],
        "Private subnets of vpcId in at least two availability zones, for the nodes (eks).",
        targets=("eks",),
    ),
)
TOOLS = ("aws", "docker")
"""What a real run needs on the machine (stacks.preflight says how to install each)."""
DEFAULT_REGISTRY: RegistryKind = "native"
"""Where the image goes when kubeport:registry is empty."""
SDK = "pulumi_aws"
"""The cloud SDK `platform()` imports."""

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


DATABASE = cloud.DatabaseRules(
    size_default="db.t4g.micro",
    size_form=re.compile(r"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$"),
    size_example="an RDS instance class such as db.t4g.micro or db.m7g.large",
    storage_default=20,
    storage_accepted=lambda gib: 20 <= gib <= 65536,
    storage_example="20 to 65536 (gp3)",
)
"""RDS for PostgreSQL: the keys' defaults and forms."""


@dataclass(frozen=True)
class EksSettings(CloudSettings):
    """The eks target's settings: the shared cloud ones and an optional existing VPC."""

    vpc_id: str = ""
    """An existing VPC; empty: kubeport creates one."""
    subnet_ids: tuple[str, ...] = ()
    """The existing VPC's private subnets for the nodes."""


def check(r: Reader, settings: Settings) -> Settings:
    """EKS's own rules: an AWS region, the API's reach, and an existing VPC given whole."""
    shared = cloud.read_cloud(r, "eks", REGION, "an AWS region such as eu-west-1")
    vpc_id = r.string("vpcId")
    subnet_ids = r.strings("subnetIds")
    if vpc_id and not VPC_ID.match(vpc_id):
        r.problem("vpcId", f"{vpc_id!r} is not a VPC id (vpc-...)")
    for subnet in subnet_ids:
        if not SUBNET_ID.match(subnet):
            r.problem("subnetIds", f"{subnet!r} is not a subnet id (subnet-...)")
    if bool(vpc_id) != bool(subnet_ids):
        r.problem(
            "subnetIds" if vpc_id else "vpcId", "vpcId and subnetIds go together (an existing VPC and its subnets)"
        )
    elif subnet_ids and len(subnet_ids) < 2:
        r.problem("subnetIds", "needs at least two private subnets, in different availability zones")
    own = EksSettings(**dataclasses.asdict(shared), vpc_id=vpc_id, subnet_ids=subnet_ids)
    own = dataclasses.replace(own, database=cloud.read_database(r, settings, DATABASE))
    return dataclasses.replace(settings, cloud=own)


def _alb_route(settings: Settings, own: EksSettings, cluster: EksCluster) -> IngressRoute:
    """The AWS Load Balancer Controller on the cluster, and the route an Ingress takes through it."""
    from components.eks_ingress import AwsLoadBalancerController, AwsLoadBalancerControllerArgs  # noqa: PLC0415

    assert cluster.identity_agent is not None, "a cluster that offers an Ingress has the Pod Identity agent"
    controller = AwsLoadBalancerController(
        "alb-controller",
        AwsLoadBalancerControllerArgs(
            cluster_name=cluster.cluster_name,
            vpc_id=cluster.vpc_id,
            region=own.region,
            aws_provider=cluster.aws,
            k8s_provider=cluster.provider,
            nodes=cluster.node_group,
            identity_agent=cluster.identity_agent,
        ),
    )
    annotations = {**INGRESS_ANNOTATIONS, **(TLS_ANNOTATIONS if settings.tls_secret else {})}
    return IngressRoute(class_name=controller.ingress_class, annotations=annotations, depends_on=[controller.release])


def _elasticache(name: str, cluster: EksCluster) -> ManagedCache:
    """An application's `redis`: ElastiCache for Valkey in the cluster's private subnets, encrypted with its key."""
    from components.elasticache import PORT, ElastiCacheRedis, ElastiCacheRedisArgs  # noqa: PLC0415

    made = ElastiCacheRedis(
        name,
        ElastiCacheRedisArgs(
            aws_provider=cluster.aws,
            vpc_id=cluster.vpc_id,
            subnet_ids=cluster.private_subnet_ids,
            client_security_group_id=cluster.node_security_group_id,
            kms_key_arn=cluster.secrets_key_arn,
        ),
    )
    return cloud.managed_cache(
        made, address=made.address, port=PORT, password=made.password, network=cluster.vpc_cidr(), ca=made.ca
    )


def _s3_bucket(request: BucketRequest, own: EksSettings, cluster: EksCluster) -> ManagedBucket:
    """An application's `s3`: a private bucket encrypted with the cluster's key, granted to the declaring
    workload's ServiceAccount alone through EKS Pod Identity."""
    from components.s3_bucket import HTTPS_ANYWHERE, POD_IDENTITY_AGENT, S3Bucket, S3BucketArgs  # noqa: PLC0415

    made = S3Bucket(
        request.name,
        S3BucketArgs(
            aws_provider=cluster.aws,
            cluster_name=cluster.cluster_name,
            region=own.region,
            kms_key_arn=cluster.secrets_key_arn,
            namespace=request.namespace,
            service_account=request.service_account,
            protect=not own.release_protection,
            identity_agent=cluster.identity_agent,
        ),
    )
    return ManagedBucket(
        endpoint=made.endpoint,
        bucket=made.bucket,
        region=made.region,
        api="s3",
        egress=[HTTPS_ANYWHERE, POD_IDENTITY_AGENT],
        env={"AWS_REGION": made.region},
        resources=made.ready,
    )


def platform(settings: Settings, needs: Needs) -> Platform:
    from components.eks import EksCluster, EksClusterArgs  # noqa: PLC0415 - pulumi_aws only when selected

    own = settings.cloud
    assert isinstance(own, EksSettings), "stacks.eks.check fills the eks settings"
    offers_ingress = cloud.host_by_ingress(settings) or settings.ingress_controller
    cluster = EksCluster(
        "eks",
        EksClusterArgs(
            **cloud.shared_cluster_args(own),
            region=own.region,
            vpc_id=own.vpc_id,
            subnet_ids=own.subnet_ids,
            # A cluster stack prepares metrics for whichever app stack turns its autoscaler on.
            metrics_server=settings.autoscaling is not None or settings.part == "cluster",
            volumes=needs.volumes,
            pod_identity=offers_ingress or needs.buckets,
        ),
    )
    route = _alb_route(settings, own, cluster) if offers_ingress else None
    platform = cloud.cloud_platform(settings, cluster, SERVICE_ANNOTATIONS, route)
    if cluster.volume_driver is not None:
        from components.volume_class import ebs_gp3  # noqa: PLC0415

        platform = cloud.with_volume_class(platform, ebs_gp3(cluster.secrets_key_arn), [cluster.volume_driver])
    if needs.cache:
        platform = dataclasses.replace(platform, redis=lambda name: _elasticache(name, cluster))
    if needs.buckets:
        platform = dataclasses.replace(platform, object_store=lambda request: _s3_bucket(request, own, cluster))
    database = own.database if needs.database else None
    if database is None:
        return platform

    def postgres(request: DatabaseRequest) -> ManagedDatabase:
        from components.rds import RdsPostgres, RdsPostgresArgs  # noqa: PLC0415

        assert database is not None
        made = RdsPostgres(
            request.name,
            RdsPostgresArgs(
                aws_provider=cluster.aws,
                vpc_id=cluster.vpc_id,
                subnet_ids=cluster.private_subnet_ids,
                client_security_group_id=cluster.node_security_group_id,
                kms_key_arn=cluster.secrets_key_arn,
                database=request.database,
                size=database.size,
                version=database.version,
                storage_gb=database.storage_gb,
                high_availability=database.high_availability,
                protect=not own.release_protection,
            ),
        )
        return cloud.managed_database(
            request, made, address=made.address, password=made.password, network=cluster.vpc_cidr(), ca=made.ca
        )

    return dataclasses.replace(platform, postgres=postgres)
