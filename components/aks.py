"""AksCluster: an AKS cluster and an Azure Container Registry, with pulumi_azure_native.

The registry's admin user stays off. Pushes use the deploying identity's own Entra ID token, exchanged
for an ACR refresh token (what `az acr login --expose-token` does): azure-native cannot generate
passwords for ACR scope-map tokens, and the admin user is a shared, all-powerful credential.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native
import yaml
from pulumi_azure_native import authorization, containerregistry, containerservice, network, resources

from components.cluster import ClusterArgs, cluster_provider
from components.platform import RegistryLogin

DEFAULT_NODE_SIZE = "Standard_D2s_v5"
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
"""Built-in role definition id of AcrPull."""
ACR_PUSH_ROLE = "8311e382-0749-4cb8-b61a-304f252e45ec"
"""Built-in role definition id of AcrPush."""
AKS_RBAC_CLUSTER_ADMIN_ROLE = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
"""Built-in role definition id of Azure Kubernetes Service RBAC Cluster Admin."""
NETWORK_CONTRIBUTOR_ROLE = "4d97b98b-1d4f-4787-a291-c67834d212e7"
"""Built-in role definition id of Network Contributor: the cluster's identity manages its subnet's load balancers."""
VNET_CIDR = "10.40.0.0/16"
NODES_CIDR = "10.40.0.0/20"
DATABASE_CIDR = "10.40.16.0/24"
"""The subnet delegated to Azure Database for PostgreSQL flexible servers (private access)."""
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"
"""The user name ACR expects with a refresh token obtained by exchange."""

Post = Callable[[str, dict[str, str]], dict[str, object]]


def _post_form(url: str, form: dict[str, str]) -> dict[str, object]:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def acr_refresh_token(
    login_server: str, tenant_id: str, access_token: str, post: Post = _post_form, base_url: str = ""
) -> str:
    """Exchange an Entra ID access token for an ACR refresh token usable as a `docker login` password."""
    url = f"{base_url or 'https://' + login_server}/oauth2/exchange"
    answer = post(
        url,
        {"grant_type": "access_token", "service": login_server, "tenant": tenant_id, "access_token": access_token},
    )
    token = answer.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise RuntimeError(f"{login_server} did not return a refresh token; is the registry's Entra ID auth enabled?")
    return token


def azurecli_kubeconfig(encoded: str) -> str:
    """AKS's exec-format user kubeconfig, switched from interactive device-code login to the Azure CLI's.

    Pulumi runs without a terminal to answer a device-code prompt; `kubelogin --login azurecli` reuses
    `az login` (what `kubelogin convert-kubeconfig -l azurecli` does).
    """
    config = yaml.safe_load(base64.b64decode(encoded).decode())
    for user in config.get("users") or []:
        exec_config = (user.get("user") or {}).get("exec") or {}
        if exec_config.get("command") != "kubelogin":
            continue
        args = list(exec_config.get("args") or [])
        server_id = args[args.index("--server-id") + 1] if "--server-id" in args else ""
        exec_config["args"] = ["get-token", "--login", "azurecli", "--server-id", server_id]
        exec_config["interactiveMode"] = "Never"
        exec_config["installHint"] = "Install kubelogin with `az aks install-cli`, then `az login`."
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True, kw_only=True)
class AksClusterArgs(ClusterArgs):
    """Inputs of AksCluster: the shared ones (allowed CIDRs become authorized IP ranges, a private API a
    private cluster) plus the location, the subscription and how push tokens are obtained."""

    location: str
    """Azure location, e.g. westeurope."""
    subscription_id: str
    """Subscription to create everything in."""
    token_exchange: Callable[[str, str, str], str] | None = acr_refresh_token
    """(login server, tenant, Entra token) -> ACR refresh token; None yields a placeholder (offline runs)."""
    app_routing: bool = False
    """Enable the application routing add-on (managed NGINX Ingress controller)."""
    database_network: bool = False
    """Put the nodes in a virtual network of kubeport's with a subnet delegated to PostgreSQL flexible servers
    (an application's managed database; a managed cache's private endpoint goes into the nodes' subnet); False:
    AKS's own managed network, as without an application."""


def role_definition(subscription_id: str, role_id: str) -> str:
    """The id of the built-in role definition `role_id` in the subscription."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"


def system_pool(
    args: AksClusterArgs, nodes_subnet: network.Subnet | None
) -> containerservice.ManagedClusterAgentPoolProfileArgs:
    """The cluster's system node pool: Azure Linux nodes without public IPs, in kubeport's subnet if any."""
    return containerservice.ManagedClusterAgentPoolProfileArgs(
        name="system",
        mode="System",
        count=args.node_count,
        vm_size=args.node_size or DEFAULT_NODE_SIZE,
        os_type="Linux",
        os_sku="AzureLinux",
        type="VirtualMachineScaleSets",
        enable_node_public_ip=False,
        vnet_subnet_id=nodes_subnet.id if nodes_subnet is not None else None,
    )


class AksCluster(pulumi.ComponentResource):
    """Resource group, Entra-integrated AKS with workload identity, ACR, and AcrPull for the kubelet identity."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    repository: pulumi.Output[str]

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:azure:AksCluster", name, None, opts)
        self.azure = azure_native.Provider(
            f"{name}-azure",
            azure_native.ProviderArgs(subscription_id=args.subscription_id, location=args.location),
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.azure)
        guarded = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=self.azure)

        group = resources.ResourceGroup(f"{name}-rg", resources.ResourceGroupArgs(location=args.location), opts=child)
        self.azure_opts = child
        self.location = args.location
        self.resource_group_name = group.name
        nodes_subnet = self._network(name, group, args.location, child) if args.database_network else None
        cluster = self._cluster(name, args, group, nodes_subnet, guarded)
        registry = self._registry(name, args, group, guarded)

        client = authorization.get_client_config_output(opts=invoke)
        acr_pull, cluster_admin = self._access(name, args, cluster, registry, client=client, child=child)

        # Exec-format user credentials: kubelogin fetches an Entra token at each use; nothing expires into a diff.
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=group.name, resource_name=cluster.name, format="exec", opts=invoke
        )
        self.kubeconfig = pulumi.Output.secret(credentials.kubeconfigs.apply(lambda k: azurecli_kubeconfig(k[0].value)))
        self.tenant_id = client.tenant_id
        self.deployer_object_id = client.object_id
        """The deploying identity: Entra ID administrator of an application's managed database."""
        if nodes_subnet is not None:
            self._subnet_access(name, args, cluster, nodes_subnet, child)

        self.registry_login = self._registry_login(args, registry, client, invoke)
        self.repository = registry.login_server.apply(lambda server: f"{server}/kubeport-web")
        self.cluster_name = cluster.name
        self.oidc_issuer = cluster.oidc_issuer_profile.apply(lambda p: (p.issuer_url if p else None) or "")
        """The cluster's OIDC issuer, which Entra ID trusts for workload identity."""
        self.identity = cluster.id
        self.provider = cluster_provider(f"{name}-k8s", self.kubeconfig, self.identity, self, teardown=not args.protect)
        self.ready: list[pulumi.Resource] = [acr_pull, cluster_admin]
        self.register_outputs(
            {"cluster_name": self.cluster_name, "kubeconfig": self.kubeconfig, "repository": self.repository}
        )

    def _cluster(
        self,
        name: str,
        args: AksClusterArgs,
        group: resources.ResourceGroup,
        nodes_subnet: network.Subnet | None,
        guarded: pulumi.ResourceOptions,
    ) -> containerservice.ManagedCluster:
        """The Entra-integrated AKS cluster with workload identity, Cilium and automatic upgrades."""
        return containerservice.ManagedCluster(
            f"{name}-cluster",
            containerservice.ManagedClusterArgs(
                resource_group_name=group.name,
                location=args.location,
                dns_prefix=name,
                identity=containerservice.ManagedClusterIdentityArgs(
                    type=containerservice.ResourceIdentityType.SYSTEM_ASSIGNED
                ),
                agent_pool_profiles=[system_pool(args, nodes_subnet)],
                # Entra ID sign-in and Azure RBAC; no local admin account to leak.
                enable_rbac=True,
                disable_local_accounts=True,
                aad_profile=containerservice.ManagedClusterAADProfileArgs(managed=True, enable_azure_rbac=True),
                oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
                security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                    workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
                ),
                auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                    upgrade_channel="stable", node_os_upgrade_channel="NodeImage"
                ),
                network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                    network_plugin="azure",
                    network_plugin_mode="overlay",
                    network_dataplane="cilium",
                    network_policy="cilium",
                    load_balancer_sku="standard",
                ),
                ingress_profile=containerservice.ManagedClusterIngressProfileArgs(
                    web_app_routing=containerservice.ManagedClusterIngressProfileWebAppRoutingArgs(enabled=True)
                )
                if args.app_routing
                else None,
                api_server_access_profile=containerservice.ManagedClusterAPIServerAccessProfileArgs(
                    enable_private_cluster=args.private_api,
                    authorized_ip_ranges=None if args.private_api else list(args.allowed_cidrs),
                ),
            ),
            opts=guarded,
        )

    def _registry(
        self, name: str, args: AksClusterArgs, group: resources.ResourceGroup, guarded: pulumi.ResourceOptions
    ) -> containerregistry.Registry:
        """The Azure Container Registry of the app image, without admin user or anonymous pull."""
        return containerregistry.Registry(
            f"{name}registry",
            containerregistry.RegistryArgs(
                resource_group_name=group.name,
                location=args.location,
                sku=containerregistry.SkuArgs(name="Standard"),
                admin_user_enabled=False,
                anonymous_pull_enabled=False,
            ),
            opts=guarded,
        )

    def _access(
        self,
        name: str,
        args: AksClusterArgs,
        cluster: containerservice.ManagedCluster,
        registry: containerregistry.Registry,
        *,
        client: pulumi.Output[authorization.GetClientConfigResult],
        child: pulumi.ResourceOptions,
    ) -> tuple[authorization.RoleAssignment, authorization.RoleAssignment]:
        """AcrPull for the kubelet identity, AcrPush and cluster admin for the deploying identity."""
        kubelet_object_id = cluster.identity_profile.apply(
            lambda profile: (profile or {})["kubeletidentity"].object_id or ""
        )
        # Pull rights for the nodes: the kubelet identity pulls the app image.
        acr_pull = authorization.RoleAssignment(
            f"{name}-kubelet-acrpull",
            authorization.RoleAssignmentArgs(
                principal_id=kubelet_object_id,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition(args.subscription_id, ACR_PULL_ROLE),
                scope=registry.id,
            ),
            opts=child,
        )
        # The deploying identity pushes the image and, with Azure RBAC and no local accounts, needs
        # Kubernetes rights of its own to create the workload.
        authorization.RoleAssignment(
            f"{name}-deployer-acrpush",
            authorization.RoleAssignmentArgs(
                principal_id=client.object_id,
                role_definition_id=role_definition(args.subscription_id, ACR_PUSH_ROLE),
                scope=registry.id,
            ),
            opts=child,
        )
        cluster_admin = authorization.RoleAssignment(
            f"{name}-deployer-cluster-admin",
            authorization.RoleAssignmentArgs(
                principal_id=client.object_id,
                role_definition_id=role_definition(args.subscription_id, AKS_RBAC_CLUSTER_ADMIN_ROLE),
                scope=cluster.id,
            ),
            opts=child,
        )
        return acr_pull, cluster_admin

    def _subnet_access(
        self,
        name: str,
        args: AksClusterArgs,
        cluster: containerservice.ManagedCluster,
        nodes_subnet: network.Subnet,
        child: pulumi.ResourceOptions,
    ) -> None:
        """Network Contributor on the nodes' subnet for the cluster's identity."""
        # With its nodes in kubeport's network, the cluster's identity manages that subnet's load balancers.
        authorization.RoleAssignment(
            f"{name}-cluster-network",
            authorization.RoleAssignmentArgs(
                principal_id=cluster.identity.apply(lambda i: i.principal_id if i else ""),
                principal_type="ServicePrincipal",
                role_definition_id=role_definition(args.subscription_id, NETWORK_CONTRIBUTOR_ROLE),
                scope=nodes_subnet.id,
            ),
            opts=child,
        )

    def _registry_login(
        self,
        args: AksClusterArgs,
        registry: containerregistry.Registry,
        client: pulumi.Output[authorization.GetClientConfigResult],
        invoke: pulumi.InvokeOutputOptions,
    ) -> RegistryLogin:
        """The push credentials of the registry: the deploying identity's Entra token exchanged for an ACR one."""
        entra_token = authorization.get_client_token_output(opts=invoke).token
        exchange = args.token_exchange

        def push_password(values: list[str]) -> str:
            login_server, tenant, token = values
            if exchange is None or pulumi.runtime.is_dry_run():
                return "preview-no-token"
            return exchange(login_server, tenant, token)

        return RegistryLogin(
            address=registry.login_server,
            username=ACR_TOKEN_USER,
            password=pulumi.Output.secret(
                pulumi.Output.all(registry.login_server, client.tenant_id, entra_token).apply(push_password)
            ),
        )

    def _network(
        self, name: str, group: resources.ResourceGroup, location: str, child: pulumi.ResourceOptions
    ) -> network.Subnet:
        """A virtual network: the nodes' subnet, and one delegated to PostgreSQL flexible servers."""
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            network.VirtualNetworkInitArgs(
                resource_group_name=group.name,
                location=location,
                address_space=network.AddressSpaceArgs(address_prefixes=[VNET_CIDR]),
            ),
            # Subnets are their own resources: the network must not remove them on its next update.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=["subnets"])),
        )
        self.vnet_id = vnet.id
        nodes = network.Subnet(
            f"{name}-nodes",
            network.SubnetInitArgs(
                resource_group_name=group.name, virtual_network_name=vnet.name, address_prefix=NODES_CIDR
            ),
            opts=child,
        )
        database = network.Subnet(
            f"{name}-databases",
            network.SubnetInitArgs(
                resource_group_name=group.name,
                virtual_network_name=vnet.name,
                address_prefix=DATABASE_CIDR,
                delegations=[
                    network.DelegationArgs(
                        name="postgres-flexible", service_name="Microsoft.DBforPostgreSQL/flexibleServers"
                    )
                ],
            ),
            # One subnet operation at a time on a network: Azure refuses concurrent ones.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[nodes])),
        )
        self.database_subnet_id = database.id
        self.nodes_subnet_id = nodes.id
        return nodes
