"""RdsPostgres: Amazon RDS for PostgreSQL in an EKS cluster's VPC, with pulumi_aws alone.

Private subnets only (a DB subnet group of the nodes' subnets, never publicly accessible), a security group that
admits PostgreSQL from the nodes' security group and nothing else, storage encrypted with the cluster's KMS key,
automated backups, deletion protection and a final snapshot. Connections are TLS only (`rds.force_ssl` in a
parameter group of kubeport's), with a certificate from RDS's `rds-ca-rsa2048-g1`, which the pods verify against
RDS's published bundle (components/ca). The master password is generated once
(components.password) and kept in a Secrets Manager secret of kubeport's, encrypted with the same key, from which
the pods' Secret takes it. No automatic rotation: a password RDS rotated would leave the pods' Secret behind until
the next `pulumi up`; rotating needs the Secret synced in the cluster (the External Secrets Operator), not built.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.password import GeneratedPassword

PORT = 5432
BACKUP_DAYS = 7
DEFAULT_SIZE = "db.t4g.micro"
CA_IDENTIFIER = "rds-ca-rsa2048-g1"
"""The CA RDS signs the instance's certificate with (RDS rotates the certificate under it by itself)."""
CA_BUNDLE = Path(__file__).parent / "ca" / "rds-global-bundle.pem"
"""RDS's published global bundle (components/ca/README.md): the pods trust it, and nothing else, for RDS."""


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
    """Encrypts the storage, the snapshots (the final one too) and the Secrets Manager secret: the cluster's key."""
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
    """The instance's DNS name (resolves to its private address; its certificate names it)."""
    ca: str
    """RDS's CA bundle (PEM)."""
    password: pulumi.Output[str]
    """Secret: the master password, as kept in kubeport's Secrets Manager secret."""

    def __init__(self, name: str, args: RdsPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:aws:RdsPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            aws.rds.SubnetGroupArgs(description=f"{name}: the cluster's private subnets", subnet_ids=args.subnet_ids),
            opts=child,
        )
        security_group = _security_group(name, args, child)
        parameters = _parameter_group(name, args, child)
        password = GeneratedPassword(f"{name}-password", purpose=f"{name} database", opts=child)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            aws.secretsmanager.SecretArgs(
                description=f"{name}: the RDS master user's credentials (kubeport's; not rotated automatically)",
                kms_key_id=args.kms_key_arn,
                recovery_window_in_days=30,
            ),
            opts=child,
        )
        self.instance = _instance(
            name, args, child, subnets=subnets, parameters=parameters, security_group=security_group, password=password
        )
        version = self._secret_version(name, args, password, child)
        self.address = self.instance.address
        self.ca = CA_BUNDLE.read_text()
        # The pods' Secret takes the password from the Secrets Manager secret, the one place it is kept.
        kept = version.secret_string.apply(lambda s: str(json.loads(s or "{}")["password"]))
        self.password = pulumi.Output.secret(kept)
        self.register_outputs({"address": self.address})

    def _secret_version(
        self, name: str, args: RdsPostgresArgs, password: GeneratedPassword, opts: pulumi.ResourceOptions
    ) -> aws.secretsmanager.SecretVersion:
        """The master user's credentials, with the instance's address, as the Secrets Manager secret's value."""
        return aws.secretsmanager.SecretVersion(
            f"{name}-secret-version",
            aws.secretsmanager.SecretVersionArgs(
                secret_id=self.secret.id,
                secret_string=pulumi.Output.secret(
                    pulumi.Output.json_dumps(
                        {
                            "engine": "postgres",
                            "host": self.instance.address,
                            "port": PORT,
                            "dbname": args.database,
                            "username": args.database,
                            "password": password.value,
                        }
                    )
                ),
            ),
            opts=opts,
        )


def _security_group(name: str, args: RdsPostgresArgs, opts: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
    """The instance's security group: PostgreSQL from the nodes' security group, nothing else in or out."""
    return aws.ec2.SecurityGroup(
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
        opts=opts,
    )


def _parameter_group(name: str, args: RdsPostgresArgs, opts: pulumi.ResourceOptions) -> aws.rds.ParameterGroup:
    """The instance's parameter group, kubeport's own: TLS only (`rds.force_ssl`)."""
    # TLS only: RDS refuses a client that does not encrypt (PostgreSQL 15 and later default to it; stated here so
    # the setting is kubeport's, not the family's). Static on some engine versions: applied at the next reboot,
    # and at create.
    return aws.rds.ParameterGroup(
        f"{name}-parameters",
        aws.rds.ParameterGroupArgs(
            family=f"postgres{args.version}",
            description=f"{name}: TLS only",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1", apply_method="pending-reboot")
            ],
        ),
        opts=opts,
    )


def _instance(
    name: str,
    args: RdsPostgresArgs,
    opts: pulumi.ResourceOptions,
    *,
    subnets: aws.rds.SubnetGroup,
    parameters: aws.rds.ParameterGroup,
    security_group: aws.ec2.SecurityGroup,
    password: GeneratedPassword,
) -> aws.rds.Instance:
    """The RDS instance: private, encrypted, backed up, protected, and leaving a final snapshot when deleted."""
    return aws.rds.Instance(
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
            password=pulumi.Output.secret(password.value),
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name,
            parameter_group_name=parameters.name,
            ca_cert_identifier=CA_IDENTIFIER,
            vpc_security_group_ids=[security_group.id],
            publicly_accessible=False,
            port=PORT,
            multi_az=args.high_availability,
            backup_retention_period=BACKUP_DAYS,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            deletion_protection=args.protect,
            # Every delete leaves a final snapshot (encrypted with kms_key_id) and keeps the automated backups.
            # Its name must be new in the account: the password's id (random, fixed at create) makes it unique
            # per database, and stable, so no `up` changes it.
            skip_final_snapshot=False,
            final_snapshot_identifier=pulumi.Output.concat(name, "-final-", password.id),
            delete_automated_backups=False,
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect)),
    )
