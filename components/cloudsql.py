"""CloudSqlPostgres: Cloud SQL for PostgreSQL with a private IP on a GKE cluster's network, with pulumi_gcp alone.

Private services access peers Google's service network with the cluster's (one reserved range per network:
`PrivateServicesAccess`); the instance takes a private IP from that range and none on the internet. Its server
certificate comes from Google's CA Service (`server_ca_mode` GOOGLE_MANAGED_CAS_CA) and names the instance's DNS
name (`dns_name`), which a private DNS zone of the cluster's network resolves to the private IP: the pods connect to
that name and verify the certificate (`sslmode=verify-full`) against the instance's server CA (`server_ca_certs`).
The instance refuses unencrypted connections (`ssl_mode` ENCRYPTED_ONLY). Backups with point-in-time recovery,
deletion protection on both sides (Pulumi and the API), and IAM database authentication enabled
(`cloudsql.iam_authentication`) beside the built-in user, which the roles Job signs in as to make the application's
own role (components/database_roles.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import compute, dns, servicenetworking, sql

from components.password import GeneratedPassword

PORT = 5432
BACKUP_DAYS = 7
DEFAULT_SIZE = "db-f1-micro"
SERVICES_ADDRESS = "10.60.0.0"
SERVICES_PREFIX = 20
SERVICES_CIDR = f"{SERVICES_ADDRESS}/{SERVICES_PREFIX}"
"""The range reserved for Google's managed services on the cluster's network: Cloud SQL's private IPs."""


class PrivateServicesAccess(pulumi.ComponentResource):
    """A reserved internal range and the peering to Google's service producer network (once per network)."""

    def __init__(
        self, name: str, network: pulumi.Input[str], provider_opts: pulumi.ResourceOptions, protect: bool = True
    ) -> None:
        super().__init__("kubeport:gcp:PrivateServicesAccess", name, None, None)
        # Protected like the database: deleting the range or the peering cuts every instance off the network.
        child = pulumi.ResourceOptions.merge(provider_opts, pulumi.ResourceOptions(parent=self, protect=protect))
        self.range = compute.GlobalAddress(
            f"{name}-range",
            compute.GlobalAddressArgs(
                purpose="VPC_PEERING",
                address_type="INTERNAL",
                address=SERVICES_ADDRESS,
                prefix_length=SERVICES_PREFIX,
                network=network,
            ),
            opts=child,
        )
        self.connection = servicenetworking.Connection(
            f"{name}-peering",
            servicenetworking.ConnectionArgs(
                network=network,
                service="servicenetworking.googleapis.com",
                reserved_peering_ranges=[self.range.name],
                # Protected: never torn down, a delete only forgets it. Released (a teardown): the connection is
                # deleted, and when Google still holds the deleted instances' resources (Cloud SQL keeps them for
                # a while, to restore from) the peering is removed from the network, so the network can go too.
                deletion_policy="ABANDON" if protect else "REMOVE_PEERING",
            ),
            opts=child,
        )
        self.cidr = SERVICES_CIDR
        self.register_outputs({})


@dataclass(frozen=True, kw_only=True)
class CloudSqlPostgresArgs:
    """Inputs of CloudSqlPostgres."""

    provider_opts: pulumi.ResourceOptions
    """The cluster's Google Cloud provider (its project and region)."""
    region: str
    network: pulumi.Input[str]
    """The cluster's VPC network (its id)."""
    access: PrivateServicesAccess
    database: str
    """Database name, and the built-in user that owns it."""
    size: str = DEFAULT_SIZE
    version: str = "17"
    storage_gb: int = 10
    high_availability: bool = False
    """A regional instance: a standby in another zone of the region."""
    protect: bool = True


class CloudSqlPostgres(pulumi.ComponentResource):
    """A private Cloud SQL for PostgreSQL instance, its database and user, and its private DNS name."""

    address: pulumi.Output[str]
    """The instance's DNS name, which its certificate names and the network's private DNS zone resolves to its
    private IP."""
    ca: pulumi.Output[str]
    """The instance's server CA certificates (PEM)."""
    password: pulumi.Output[str]
    """Secret: the built-in user's generated password."""

    def __init__(self, name: str, args: CloudSqlPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:gcp:CloudSqlPostgres", name, None, opts)
        child = pulumi.ResourceOptions.merge(args.provider_opts, pulumi.ResourceOptions(parent=self))
        self.instance = _instance(name, args, child)
        sql.Database(
            f"{name}-database",
            sql.DatabaseArgs(instance=self.instance.name, name=args.database),
            opts=child,
        )
        password = GeneratedPassword(f"{name}-password", purpose=f"{name} database", opts=child)
        self.password = pulumi.Output.secret(password.value)
        self._user(name, args, child)
        record = self._private_name(name, args, child)
        self.address = record.name.apply(lambda n: n.rstrip("."))
        self.ca = self.instance.server_ca_certs.apply(lambda certs: "".join(c.cert or "" for c in certs or []))
        self.register_outputs({"address": self.address})

    def _user(self, name: str, args: CloudSqlPostgresArgs, opts: pulumi.ResourceOptions) -> None:
        """The built-in user that owns the database: the roles Job signs in as it."""
        sql.User(
            f"{name}-user",
            sql.UserArgs(
                instance=self.instance.name,
                name=args.database,
                password=self.password,
                type="BUILT_IN",
                # The roles Job grants it the application's role: Cloud SQL refuses to drop a role that owns objects or
                # holds grants, so a delete forgets the user and the instance's deletion takes it along.
                deletion_policy="ABANDON",
            ),
            opts=opts,
        )

    def _private_name(self, name: str, args: CloudSqlPostgresArgs, opts: pulumi.ResourceOptions) -> dns.RecordSet:
        """A private DNS zone of the instance's DNS name on the cluster's network, and its A record."""
        # The instance's DNS name (`<uid>.<project>.<region>.sql-psa.goog.`) is what its certificate is for; a zone
        # of exactly that name, private to the cluster's network, resolves it (nothing else of sql-psa.goog. is
        # hidden by it).
        fqdn = self.instance.dns_name.apply(lambda n: n if n.endswith(".") else f"{n}.")
        zone = dns.ManagedZone(
            f"{name}-dns",
            dns.ManagedZoneArgs(
                dns_name=fqdn,
                description=f"{name}: the Cloud SQL instance's private name",
                visibility="private",
                private_visibility_config=dns.ManagedZonePrivateVisibilityConfigArgs(
                    networks=[dns.ManagedZonePrivateVisibilityConfigNetworkArgs(network_url=args.network)]
                ),
            ),
            opts=opts,
        )
        return dns.RecordSet(
            f"{name}-dns-record",
            dns.RecordSetArgs(
                managed_zone=zone.name,
                name=zone.dns_name,
                type="A",
                ttl=300,
                rrdatas=[self.instance.private_ip_address],
            ),
            opts=opts,
        )


def _instance(name: str, args: CloudSqlPostgresArgs, opts: pulumi.ResourceOptions) -> sql.DatabaseInstance:
    """The Cloud SQL instance: a private IP only, TLS only, backups with point-in-time recovery, protected."""
    return sql.DatabaseInstance(
        f"{name}-instance",
        sql.DatabaseInstanceArgs(
            region=args.region,
            database_version=f"POSTGRES_{args.version}",
            deletion_protection=args.protect,
            settings=sql.DatabaseInstanceSettingsArgs(
                tier=args.size,
                # Shared-core tiers exist in the Enterprise edition only (PostgreSQL 16+ defaults to Plus).
                edition="ENTERPRISE",
                availability_type="REGIONAL" if args.high_availability else "ZONAL",
                disk_type="PD_SSD",
                disk_size=args.storage_gb,
                disk_autoresize=True,
                deletion_protection_enabled=args.protect,
                backup_configuration=sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    point_in_time_recovery_enabled=True,
                    transaction_log_retention_days=BACKUP_DAYS,
                    backup_retention_settings=sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                        retained_backups=BACKUP_DAYS
                    ),
                ),
                ip_configuration=sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False,
                    private_network=args.network,
                    ssl_mode="ENCRYPTED_ONLY",
                    server_ca_mode="GOOGLE_MANAGED_CAS_CA",
                ),
                database_flags=[
                    sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="cloudsql.iam_authentication", value="on")
                ],
            ),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=args.protect, depends_on=[args.access.connection])
        ),
    )
