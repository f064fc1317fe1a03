"""AzureRedis: Azure Cache for Redis reached through a private endpoint in an AKS cluster's virtual network, for a
`redis` resource.

Public network access is off, so the cache answers only on its private endpoint, in the nodes' subnet; a private
DNS zone (privatelink.redis.cache.windows.net) linked to the cluster's network makes the cache's own name resolve
there to that endpoint. The non-TLS port is off and TLS is at least 1.2; the pods verify the certificate against the
two roots Azure's certificates chain to. Azure encrypts the cache's memory-backed data at rest by itself. The pods
sign in with the cache's primary access key, which the pods' Secret takes from Azure at each `up`. Nothing of a
cache is kept, and it is not protected (a cache is rebuilt by its clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_azure_native import network, privatedns, redis

PORT = 6380
"""Azure Cache for Redis's TLS port."""
DEFAULT_SKU = ("Standard", "C", 0)
"""Standard C0: a replicated 250 MB cache, the smallest with an SLA."""
CA_ROOTS = Path(__file__).parent / "ca" / "azure-postgres-roots.pem"
"""DigiCert Global Root G2 and Microsoft RSA Root Certificate Authority 2017: Azure's TLS roots (ca/README.md)."""
PRIVATE_ZONE = "privatelink.redis.cache.windows.net"


@dataclass(frozen=True, kw_only=True)
class AzureRedisArgs:
    """Inputs of AzureRedis."""

    opts: pulumi.ResourceOptions
    """The cluster's Azure provider."""
    resource_group_name: pulumi.Input[str]
    location: str
    vnet_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    """The nodes' subnet: the private endpoint's address is in it."""


class AzureRedis(pulumi.ComponentResource):
    """A private Azure Cache for Redis, TLS only."""

    address: pulumi.Output[str]
    """The cache's host name (it resolves to the private endpoint inside the cluster's network)."""
    password: pulumi.Output[str]
    """Secret: the primary access key."""
    ca: str

    def __init__(self, name: str, args: AzureRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:azure:AzureRedis", name, None, opts)
        child = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(parent=self))
        family, letter, capacity = DEFAULT_SKU
        self.cache = redis.Redis(
            f"{name}-cache",
            redis.RedisArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                sku=redis.SkuArgs(name=family, family=letter, capacity=capacity),
                enable_non_ssl_port=False,
                minimum_tls_version="1.2",
                public_network_access="Disabled",
                redis_version="6",
            ),
            opts=child,
        )
        _private_endpoint(name, args, self.cache, child)
        self.address = self.cache.host_name
        keys = redis.list_redis_keys_output(
            name=self.cache.name,
            resource_group_name=args.resource_group_name,
            opts=pulumi.InvokeOutputOptions(provider=args.opts.provider, parent=self),
        )
        self.password = pulumi.Output.secret(keys.primary_key)
        self.ca = CA_ROOTS.read_text()
        self.register_outputs({"address": self.address})


def _private_endpoint(name: str, args: AzureRedisArgs, cache: redis.Redis, child: pulumi.ResourceOptions) -> None:
    """The cache's private endpoint in the nodes' subnet, and the private DNS zone linked to the cluster's network
    that makes the cache's own name resolve to it there."""
    zone = privatedns.PrivateZone(
        f"{name}-dns",
        privatedns.PrivateZoneArgs(
            resource_group_name=args.resource_group_name, location="global", private_zone_name=PRIVATE_ZONE
        ),
        opts=child,
    )
    privatedns.VirtualNetworkLink(
        f"{name}-dns-link",
        privatedns.VirtualNetworkLinkArgs(
            resource_group_name=args.resource_group_name,
            private_zone_name=zone.name,
            location="global",
            registration_enabled=False,
            virtual_network=privatedns.SubResourceArgs(id=args.vnet_id),
        ),
        opts=child,
    )
    endpoint = network.PrivateEndpoint(
        f"{name}-endpoint",
        network.PrivateEndpointArgs(
            resource_group_name=args.resource_group_name,
            location=args.location,
            subnet=network.SubnetArgs(id=args.subnet_id),
            private_link_service_connections=[
                network.PrivateLinkServiceConnectionArgs(
                    name=f"{name}-cache", private_link_service_id=cache.id, group_ids=["redisCache"]
                )
            ],
        ),
        opts=child,
    )
    network.PrivateDnsZoneGroup(
        f"{name}-endpoint-dns",
        network.PrivateDnsZoneGroupArgs(
            resource_group_name=args.resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(name="redis", private_dns_zone_id=zone.id)],
        ),
        opts=child,
    )
