"""ElastiCacheRedis: an Amazon ElastiCache for Valkey replication group in an EKS cluster's VPC, for a `redis`
resource.

Private subnets only (a cache subnet group of the nodes' subnets; ElastiCache has no public address), a security
group that admits the cache's port from the nodes' security group and nothing else, encryption at rest with the
cluster's KMS key and in transit required (TLS only), and an AUTH token generated once (components.password) that
the pods' Secret takes. The server's certificate is Amazon's (Amazon Root CA 1), which the pods verify. Nothing of
a cache is kept: no snapshots, and it is not protected (a cache is rebuilt by its clients).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.password import GeneratedPassword

PORT = 6379
DEFAULT_SIZE = "cache.t4g.micro"
ENGINE = "valkey"
ENGINE_VERSION = "8.0"
CA_BUNDLE = Path(__file__).parent / "ca" / "amazon-root-ca-1.pem"
"""Amazon Root CA 1 (components/ca/README.md): ElastiCache's in-transit certificates chain to it."""


@dataclass(frozen=True, kw_only=True)
class ElastiCacheRedisArgs:
    """Inputs of ElastiCacheRedis."""

    aws_provider: aws.Provider
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    """The nodes' private subnets."""
    client_security_group_id: pulumi.Input[str]
    """The only security group admitted on the cache's port: the nodes'."""
    kms_key_arn: pulumi.Input[str]
    """Encrypts the cache at rest: the cluster's key."""
    size: str = DEFAULT_SIZE


class ElastiCacheRedis(pulumi.ComponentResource):
    """A private, encrypted, password-protected ElastiCache for Valkey replication group of one node."""

    address: pulumi.Output[str]
    """The primary endpoint's DNS name (private; the certificate names it)."""
    password: pulumi.Output[str]
    """Secret: the AUTH token."""
    ca: str

    def __init__(self, name: str, args: ElastiCacheRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:aws:ElastiCacheRedis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            aws.elasticache.SubnetGroupArgs(description=f"{name}: the cluster's private subnets",
                                            subnet_ids=args.subnet_ids),
            opts=child,
        )  # fmt: skip
        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            aws.ec2.SecurityGroupArgs(
                description=f"{name}: Redis from the cluster's nodes only",
                vpc_id=args.vpc_id,
                ingress=[
                    aws.ec2.SecurityGroupIngressArgs(
                        description="Redis (TLS) from the EKS nodes",
                        protocol="tcp",
                        from_port=PORT,
                        to_port=PORT,
                        security_groups=[args.client_security_group_id],
                    )
                ],
                egress=[],
            ),
            opts=child,
        )
        token = GeneratedPassword(f"{name}-auth-token", purpose=f"{name} cache", opts=child)
        self.password = pulumi.Output.secret(token.value)
        self.group = aws.elasticache.ReplicationGroup(
            f"{name}-cache",
            aws.elasticache.ReplicationGroupArgs(
                description=f"{name}: a kubeport application's cache",
                engine=ENGINE,
                engine_version=ENGINE_VERSION,
                node_type=args.size,
                num_cache_clusters=1,
                port=PORT,
                subnet_group_name=subnets.name,
                security_group_ids=[security_group.id],
                at_rest_encryption_enabled=True,
                kms_key_id=args.kms_key_arn,
                transit_encryption_enabled=True,
                transit_encryption_mode="required",
                auth_token=self.password,
                auto_minor_version_upgrade=True,
                apply_immediately=True,
                snapshot_retention_limit=0,
            ),
            opts=child,
        )
        self.address = self.group.primary_endpoint_address
        self.ca = CA_BUNDLE.read_text()
        self.register_outputs({"address": self.address})
