"""RdsPostgres: Amazon RDS for PostgreSQL in an EKS cluster's VPC, with pulumi_aws alone.

Private subnets only (a DB subnet group of the nodes' subnets, never publicly accessible), a security group that
admits PostgreSQL from the nodes' security group and nothing else, storage encrypted with the cluster's KMS key,
automated backups, deletion protection, and the master password made and kept by RDS in Secrets Manager
(`manage_master_user_password`): kubeport reads it from there for the pods' Secret and never chooses one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

PORT = 5432
BACKUP_DAYS = 7
DEFAULT_SIZE = "db.t4g.micro"


@dataclass(frozen=True, kw_only=True)
class RdsPostgresArgs:
    """Inputs of RdsPostgres."""

    aws_provider: aws.Provider
    """The cluster's AWS provider (its region)."""
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets in at least two zones (the nodes')."""
    client_security_group_id: pulumi.Input[str]
    """The only security group admitted on the database's port: the nodes'."""
    kms_key_arn: pulumi.Input[str]
    """Encrypts the storage, the snapshots and the Secrets Manager secret: the cluster's key."""
    database: str
    """Database name, and its owner (the master user)."""
    size: str = DEFAULT_SIZE
    version: str = "17"
    storage_gb: int = 20
    high_availability: bool = False
    """Multi-AZ: a synchronous standby in another zone."""
    protect: bool = True
    """Protect the instance (Pulumi) and turn on deletion protection (RDS); off only for a deliberate teardown."""


class RdsPostgres(pulumi.ComponentResource):
    """A private, encrypted, backed-up RDS for PostgreSQL instance."""

    address: pulumi.Output[str]
    """The instance's DNS name (resolves to its private address)."""
    password: pulumi.Output[str]
    """Secret: the master password, read from the Secrets Manager secret RDS manages."""

    def __init__(self, name: str, args: RdsPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:aws:RdsPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            aws.rds.SubnetGroupArgs(description=f"{name}: the cluster's private subnets", subnet_ids=args.subnet_ids),
            opts=child,
        )
        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            aws.ec2.SecurityGroupArgs(
                description=f"{name}: PostgreSQL from the cluster's nodes only",
                vpc_id=args.vpc_id,
                ingress=[
                    aws.ec2.SecurityGroupIngressArgs(
                        description="PostgreSQL from the EKS nodes",
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
        self.instance = aws.rds.Instance(
            f"{name}-instance",
            aws.rds.InstanceArgs(
                engine="postgres",
                engine_version=args.version,
                instance_class=args.size,
                allocated_storage=args.storage_gb,
                storage_type="gp3",
                storage_encrypted=True,
                kms_key_id=args.kms_key_arn,
                db_name=args.database,
                username=args.database,
                manage_master_user_password=True,
                master_user_secret_kms_key_id=args.kms_key_arn,
                iam_database_authentication_enabled=True,
                db_subnet_group_name=subnets.name,
                vpc_security_group_ids=[security_group.id],
                publicly_accessible=False,
                port=PORT,
                multi_az=args.high_availability,
                backup_retention_period=BACKUP_DAYS,
                copy_tags_to_snapshot=True,
                auto_minor_version_upgrade=True,
                enabled_cloudwatch_logs_exports=["postgresql"],
                deletion_protection=args.protect,
                # A protected database leaves a final snapshot; a released one (deliberate teardown) does not.
                skip_final_snapshot=not args.protect,
                final_snapshot_identifier=f"{name}-final" if args.protect else None,
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
        )
        secret_arn = self.instance.master_user_secrets.apply(lambda s: s[0].secret_arn if s else "")
        secret = aws.secretsmanager.get_secret_version_output(
            secret_id=secret_arn, opts=pulumi.InvokeOutputOptions(parent=self, provider=args.aws_provider)
        )
        self.address = self.instance.address
        self.password = pulumi.Output.secret(secret.secret_string.apply(lambda s: str(json.loads(s)["password"])))
        self.register_outputs({"address": self.address})
