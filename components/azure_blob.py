"""AzureBlobContainer: an application's `s3` resource on AKS: a Blob container of its own, in a storage account of
its own, reached through Azure workload identity.

The account allows no anonymous access to any blob and no Shared Key (every request is signed by Entra ID), takes
HTTPS only with TLS 1.2 at least, and encrypts every blob twice (the service's encryption and the infrastructure's
second layer); its blobs keep versions. The container grants no public access. One user-assigned managed identity
may read, write and delete its blobs (Storage Blob Data Contributor on this container alone), and a federated
credential lets only the declaring workload's Kubernetes ServiceAccount, as the cluster's OIDC issuer signs it,
act as that identity: the workload identity webhook projects the token into the pods, which exchange it with Entra
ID. No key exists. Pulumi's azure-native provider alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity, storage

BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Azure's built-in role Storage Blob Data Contributor."""
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
HTTPS_ANYWHERE = ("0.0.0.0/0", 443)
"""Blob storage and Entra ID's token endpoint are public addresses: the pods' egress opens HTTPS to any address."""


def account_name(name: str, subscription: str, stack: str) -> str:
    """A storage account name (3-24 lowercase letters and digits, global): the resource's name's letters and a
    digest of the subscription, the stack and the name."""
    digest = hashlib.sha256(f"{subscription}/{stack}/{name}".encode()).hexdigest()[:8]
    letters = "".join(c for c in name if c.isalnum()).lower()
    return f"{letters[:16]}{digest}"


@dataclass(frozen=True, kw_only=True)
class AzureBlobContainerArgs:
    """Inputs of AzureBlobContainer."""

    opts: pulumi.ResourceOptions
    """The cluster's Azure provider."""
    resource_group_name: pulumi.Input[str]
    location: str
    subscription_id: str
    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer: it signs the ServiceAccount tokens Entra ID trusts."""
    namespace: pulumi.Input[str]
    service_account: str
    """The declaring workload's Kubernetes ServiceAccount: the one identity granted the container."""
    protect: bool = True


class AzureBlobContainer(pulumi.ComponentResource):
    """A private, Entra-ID-only storage account, its container, and the workload identity grant of one workload."""

    endpoint: pulumi.Output[str]
    container: pulumi.Output[str]
    client_id: pulumi.Output[str]
    """The managed identity the workload's ServiceAccount acts as (its annotation)."""
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: AzureBlobContainerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:azure:AzureBlobContainer", name, None, opts)
        child = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(parent=self))
        guarded = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        blob = storage.EncryptionServiceArgs(enabled=True, key_type="Account")
        account = storage.StorageAccount(
            f"{name}-account",
            storage.StorageAccountArgs(
                account_name=account_name(name, args.subscription_id, pulumi.get_stack()),
                resource_group_name=args.resource_group_name,
                location=args.location,
                kind="StorageV2",
                sku=storage.SkuArgs(name="Standard_LRS"),
                allow_blob_public_access=False,
                allow_shared_key_access=False,
                default_to_o_auth_authentication=True,
                enable_https_traffic_only=True,
                minimum_tls_version="TLS1_2",
                encryption=storage.EncryptionArgs(
                    key_source="Microsoft.Storage",
                    require_infrastructure_encryption=True,
                    services=storage.EncryptionServicesArgs(blob=blob),
                ),
            ),
            opts=guarded,
        )
        versions = storage.BlobServiceProperties(
            f"{name}-versions",
            storage.BlobServicePropertiesArgs(
                account_name=account.name,
                resource_group_name=args.resource_group_name,
                blob_services_name="default",
                is_versioning_enabled=True,
            ),
            opts=child,
        )
        container = storage.BlobContainer(
            f"{name}-container",
            storage.BlobContainerArgs(
                account_name=account.name,
                resource_group_name=args.resource_group_name,
                container_name=name,
                public_access=storage.PublicAccess.NONE,
            ),
            opts=guarded,
        )
        self.ready = [versions, *self._grant(name, args, container, child)]
        self.endpoint = pulumi.Output.concat("https://", account.name, ".blob.core.windows.net")
        self.container = container.name
        self.register_outputs({"endpoint": self.endpoint, "container": self.container, "client_id": self.client_id})

    def _grant(
        self, name: str, args: AzureBlobContainerArgs, container: storage.BlobContainer, child: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """The workload's managed identity, its role on the container alone, and the federated credential that
        lets only the workload's ServiceAccount act as it."""
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            managedidentity.UserAssignedIdentityArgs(
                resource_group_name=args.resource_group_name, location=args.location
            ),
            opts=child,
        )
        self.client_id = identity.client_id
        role = authorization.RoleAssignment(
            f"{name}-blob-data",
            authorization.RoleAssignmentArgs(
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=(
                    f"/subscriptions/{args.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/"
                    f"{BLOB_DATA_CONTRIBUTOR}"
                ),
                scope=container.id,
            ),
            opts=child,
        )
        # The keyword form: this SDK's FederatedIdentityCredentialArgs passes its `resource_name` (the identity's
        # name) where the resource's own name goes, and fails with "multiple values for argument".
        federated = managedidentity.FederatedIdentityCredential(
            f"{name}-federated",
            resource_group_name=args.resource_group_name,
            resource_name_=identity.name,
            issuer=args.oidc_issuer,
            subject=pulumi.Output.concat("system:serviceaccount:", args.namespace, ":", args.service_account),
            audiences=[TOKEN_AUDIENCE],
            opts=child,
        )
        return [role, federated]
