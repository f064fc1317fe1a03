"""MemorystoreRedis: Memorystore for Redis on the GKE cluster's network through private services access, for a
`redis` resource.

The instance has a private address only, in the range private services access reserves (components.cloudsql's
PrivateServicesAccess, shared with Cloud SQL), and the nodes reach it over the peering. In-transit encryption is on
(`SERVER_AUTHENTICATION`: TLS only, on port 6378), and the pods verify the instance's certificate against its own
server CA (`server_ca_certs`). AUTH is on: the pods sign in with the instance's AUTH string, which the pods' Secret
takes from Google at each `up`. Google encrypts the instance's data at rest by itself. Nothing of a cache is kept
(no persistence), and it is not protected (a cache is rebuilt by its clients).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import redis

from components.cloudsql import PrivateServicesAccess

PORT = 6378
"""Memorystore's port with in-transit encryption on."""
DEFAULT_MEMORY_GB = 1
VERSION = "REDIS_7_2"


@dataclass(frozen=True, kw_only=True)
class MemorystoreRedisArgs:
    """Inputs of MemorystoreRedis."""

    provider_opts: pulumi.ResourceOptions
    """The cluster's Google provider."""
    region: str
    network: pulumi.Input[str]
    access: PrivateServicesAccess
    """The network's reserved range and peering."""


class MemorystoreRedis(pulumi.ComponentResource):
    """A private Memorystore for Redis instance, TLS only, with AUTH."""

    address: pulumi.Output[str]
    """The instance's private IP address: Memorystore gives no DNS name, so a client checking the certificate's
    name checks it against this address (not verified here: no real run reaches Google)."""
    password: pulumi.Output[str]
    """Secret: the AUTH string."""
    ca: pulumi.Output[str]
    """The instance's server CA certificates (PEM)."""

    def __init__(self, name: str, args: MemorystoreRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:gcp:MemorystoreRedis", name, None, opts)
        child = pulumi.ResourceOptions.merge(
            args.provider_opts, pulumi.ResourceOptions(parent=self, depends_on=[args.access.connection])
        )
        self.instance = redis.Instance(
            f"{name}-cache",
            redis.InstanceArgs(
                tier="BASIC",
                memory_size_gb=DEFAULT_MEMORY_GB,
                region=args.region,
                redis_version=VERSION,
                authorized_network=args.network,
                connect_mode="PRIVATE_SERVICE_ACCESS",
                reserved_ip_range=args.access.range.name,
                transit_encryption_mode="SERVER_AUTHENTICATION",
                auth_enabled=True,
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(additional_secret_outputs=["authString"])),
        )
        self.address = self.instance.host
        self.password = pulumi.Output.secret(self.instance.auth_string)
        self.ca = self.instance.server_ca_certs.apply(lambda certs: "".join(c.cert or "" for c in certs or []))
        self.register_outputs({"address": self.address})
