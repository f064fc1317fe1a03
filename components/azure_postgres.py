"""AzurePostgres: Azure Database for PostgreSQL flexible server with private access, with pulumi_azure_native alone.

Private access (VNet integration): the server lives in a subnet delegated to it in the cluster's virtual network
and is named in a private DNS zone linked to that network, so its name resolves to a private address only and
public network access is off. Entra ID authentication is on beside passwords (the deploying identity, named by
kubeport:databaseAdmin, is its Entra administrator; the walkthrough's client speaks passwords), backups are kept
for a week, and the server is protected like the cluster. Connections are TLS only (`require_secure_transport`),
and the pods verify the server's certificate, for its `*.postgres.database.azure.com` name, against the two roots
Azure's certificates chain to (components/ca).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_azure_native import dbforpostgresql, privatedns

from components.password import GeneratedPassword

PORT = 5432
BACKUP_DAYS = 7
DEFAULT_SIZE = "Standard_B1ms"
CA_ROOTS = Path(__file__).parent / "ca" / "azure-postgres-roots.pem"
"""DigiCert Global Root G2 and Microsoft RSA Root CA 2017 (components/ca/README.md)."""
TIERS = {"B": "Burstable", "D": "GeneralPurpose", "E": "MemoryOptimized"}
"""The compute tier a SKU belongs to, by the letter after `Standard_`."""


def sku_tier(size: str) -> str:
    """Standard_B1ms -> Burstable, Standard_D2ds_v5 -> GeneralPurpose, Standard_E2ds_v5 -> MemoryOptimized."""
    return TIERS.get(size.removeprefix("Standard_")[:1], "")


@dataclass(frozen=True, kw_only=True)
class AzurePostgresArgs:
    """Inputs of AzurePostgres."""

    opts: pulumi.ResourceOptions
    """The cluster's Azure provider (its subscription and location)."""
    resource_group_name: pulumi.Input[str]
    location: str
    vnet_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    """The subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers."""
    tenant_id: pulumi.Input[str]
    administrator_object_id: pulumi.Input[str]
    """The Entra ID principal made the server's Entra administrator (the deploying identity)."""
    administrator_name: str
    """That principal's name (a user's principal name, a service principal's display name): the role's name."""
    administrator_type: str = "user"
    """user | servicePrincipal."""
    database: str
    """Database name, and its owner (the administrator login)."""
    size: str = DEFAULT_SIZE
    version: str = "17"
    storage_gb: int = 32
    high_availability: bool = False
    """Zone-redundant HA: a standby in another zone (General Purpose or Memory Optimized only)."""
    protect: bool = True


class AzurePostgres(pulumi.ComponentResource):
    """A private flexible server, its private DNS zone and link, its database and Entra administrator."""

    address: pulumi.Output[str]
    """The server's name, which the linked private DNS zone resolves to its private address; its certificate names
    it."""
    ca: str
    """The roots its certificate chains to (PEM)."""
    password: pulumi.Output[str]
    """Secret: the administrator's generated password."""

    def __init__(self, name: str, args: AzurePostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:azure:AzurePostgres", name, None, opts)
        child = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(parent=self))
        zone = _private_zone(name, args, child)
        link = _zone_link(name, args, zone, child)
        password = GeneratedPassword(f"{name}-password", purpose=f"{name} database", opts=child)
        self.password = pulumi.Output.secret(password.value)
        self.server = self._server(name, args, zone, link, child)
        dbforpostgresql.Database(
            f"{name}-database",
            dbforpostgresql.DatabaseArgs(
                resource_group_name=args.resource_group_name,
                server_name=self.server.name,
                database_name=args.database,
                charset="UTF8",
                collation="en_US.utf8",
            ),
            opts=child,
        )
        self._entra_administrator(name, args, child)
        self._tls_only(name, args, child)
        self.address = self.server.fully_qualified_domain_name
        self.ca = CA_ROOTS.read_text()
        self.register_outputs({"address": self.address})

    def _server(
        self,
        name: str,
        args: AzurePostgresArgs,
        zone: privatedns.PrivateZone,
        link: privatedns.VirtualNetworkLink,
        opts: pulumi.ResourceOptions,
    ) -> dbforpostgresql.Server:
        """The flexible server: in the delegated subnet, named in the private zone, no public access."""
        return dbforpostgresql.Server(
            f"{name}-server",
            dbforpostgresql.ServerArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                version=args.version,
                sku=dbforpostgresql.SkuArgs(name=args.size, tier=sku_tier(args.size)),
                storage=dbforpostgresql.StorageArgs(storage_size_gb=args.storage_gb, auto_grow="Enabled"),
                administrator_login=args.database,
                administrator_login_password=self.password,
                auth_config=dbforpostgresql.AuthConfigArgs(
                    active_directory_auth="Enabled", password_auth="Enabled", tenant_id=args.tenant_id
                ),
                network=dbforpostgresql.NetworkArgs(
                    delegated_subnet_resource_id=args.subnet_id,
                    private_dns_zone_arm_resource_id=zone.id,
                    public_network_access="Disabled",
                ),
                backup=dbforpostgresql.BackupArgs(backup_retention_days=BACKUP_DAYS, geo_redundant_backup="Disabled"),
                high_availability=dbforpostgresql.HighAvailabilityArgs(
                    mode="ZoneRedundant" if args.high_availability else "Disabled"
                ),
                # Storage is always encrypted at rest; the service-managed key, stated so a policy can see it.
                data_encryption=dbforpostgresql.DataEncryptionArgs(type="SystemAssigned"),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect, depends_on=[link])),
        )

    def _entra_administrator(self, name: str, args: AzurePostgresArgs, opts: pulumi.ResourceOptions) -> None:
        """The server's Entra ID administrator: the deploying identity."""
        dbforpostgresql.AdministratorsMicrosoftEntra(
            f"{name}-entra-admin",
            dbforpostgresql.AdministratorsMicrosoftEntraArgs(
                resource_group_name=args.resource_group_name,
                server_name=self.server.name,
                object_id=args.administrator_object_id,
                principal_name=args.administrator_name,
                principal_type=args.administrator_type,
                tenant_id=args.tenant_id,
            ),
            opts=opts,
        )

    def _tls_only(self, name: str, args: AzurePostgresArgs, opts: pulumi.ResourceOptions) -> None:
        """The server's `require_secure_transport` setting: TLS only."""
        # TLS only (the service's default, stated so it is kubeport's).
        dbforpostgresql.Configuration(
            f"{name}-tls-only",
            dbforpostgresql.ConfigurationArgs(
                resource_group_name=args.resource_group_name,
                server_name=self.server.name,
                configuration_name="require_secure_transport",
                value="ON",
                source="user-override",
            ),
            opts=opts,
        )


def _private_zone(name: str, args: AzurePostgresArgs, opts: pulumi.ResourceOptions) -> privatedns.PrivateZone:
    """The private DNS zone the server is named in."""
    return privatedns.PrivateZone(
        f"{name}-dns",
        privatedns.PrivateZoneArgs(
            resource_group_name=args.resource_group_name,
            location="global",
            private_zone_name=f"{name}.private.postgres.database.azure.com",
        ),
        opts=opts,
    )


def _zone_link(
    name: str, args: AzurePostgresArgs, zone: privatedns.PrivateZone, opts: pulumi.ResourceOptions
) -> privatedns.VirtualNetworkLink:
    """The zone's link to the cluster's virtual network, so the server's name resolves there (and only there)."""
    return privatedns.VirtualNetworkLink(
        f"{name}-dns-link",
        privatedns.VirtualNetworkLinkArgs(
            resource_group_name=args.resource_group_name,
            private_zone_name=zone.name,
            location="global",
            registration_enabled=False,
            virtual_network=privatedns.SubResourceArgs(id=args.vnet_id),
        ),
        opts=opts,
    )
