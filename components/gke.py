"""GkeCluster: a GKE cluster with its own node pool, service account and Artifact Registry, with pulumi_gcp."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
from pulumi_gcp import artifactregistry, compute, container, organizations, projects, serviceaccount

from components.cluster import ClusterArgs, cluster_provider, exec_kubeconfig
from components.platform import RegistryLogin

DEFAULT_NODE_SIZE = "e2-standard-2"
NODE_ZONES = 2
SUBNET_CIDR = "10.10.0.0/20"
PODS_CIDR = "10.20.0.0/16"
SERVICES_CIDR = "10.30.0.0/20"
MASTER_CIDR = "172.16.0.32/28"
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
"""The least-privilege role GKE documents for node service accounts (logging, monitoring, metadata)."""


@dataclass(frozen=True, kw_only=True)
class GkeClusterArgs(ClusterArgs):
    """Inputs of GkeCluster: the shared ones (allowed CIDRs become master authorized networks, nodes are
    spread over two zones) plus the project and region."""

    project: str
    """Google Cloud project id."""
    region: str
    """Region of the (regional) cluster and the registry."""


def gcp_id(*parts: str, limit: int = 30) -> str:
    """A lowercase id from parts (e.g. component and stack name) within GCP's length limit."""
    text = "-".join(parts).lower()
    text = "".join(c if c.isalnum() else "-" for c in text).strip("-")
    while "--" in text:
        text = text.replace("--", "-")
    return text[:limit].rstrip("-")


def nodes_per_zone(node_count: int, zones: int = NODE_ZONES) -> int:
    """GKE sizes a pool per zone; at least `node_count` nodes in total."""
    return max(1, math.ceil(node_count / zones))


def gke_kubeconfig(cluster: container.Cluster) -> pulumi.Output[str]:
    """The cluster's kubeconfig (a secret): gke-gcloud-auth-plugin fetches the credentials at each use."""
    return pulumi.Output.secret(
        pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
            lambda a: exec_kubeconfig(
                name=a[0],
                server=f"https://{a[1]}",
                certificate_authority_data=a[2] or "",
                command="gke-gcloud-auth-plugin",
                install_hint="Install it with: gcloud components install gke-gcloud-auth-plugin",
                provide_cluster_info=True,
            )
        )
    )


class GkeCluster(pulumi.ComponentResource):
    """VPC network, regional private-node cluster without default pool, managed node pool, Artifact Registry."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    repository: pulumi.Output[str]

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:gcp:GkeCluster", name, None, opts)
        self.gcp = gcp.Provider(
            f"{name}-gcp",
            gcp.ProviderArgs(project=args.project, region=args.region),
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.gcp)
        guarded = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=self.gcp)

        network, subnet = self._network(name, args, child)
        node_account, node_member = self._node_account(name, args, child)
        cluster = self._cluster(name, args, network, subnet, guarded)
        node_pool = self._node_pool(name, args, cluster, node_account, child=child, invoke=invoke)
        registry, reader = self._registry(name, args, node_member, child, guarded)

        registry_host = f"{args.region}-docker.pkg.dev"
        client = organizations.get_client_config_output(opts=invoke)
        self.registry_login = RegistryLogin(
            address=registry_host,
            username="oauth2accesstoken",
            # A short-lived OAuth token of the deploying identity (refreshed on every run).
            password=pulumi.Output.secret(client.access_token),
        )
        self.repository = registry.repository_id.apply(
            lambda repo: f"{registry_host}/{args.project}/{repo}/kubeport-web"
        )
        self.cluster_name = cluster.name
        self.kubeconfig = gke_kubeconfig(cluster)
        self.network_id = network.id
        """The cluster's VPC network: where a managed database of the cluster's gets its private IP."""
        self.gcp_opts = child
        self.region = args.region
        self.identity = cluster.id
        self.provider = cluster_provider(f"{name}-k8s", self.kubeconfig, self.identity, self, teardown=not args.protect)
        self.ready: list[pulumi.Resource] = [node_pool, reader]
        self.register_outputs(
            {"cluster_name": self.cluster_name, "kubeconfig": self.kubeconfig, "repository": self.repository}
        )

    def _network(
        self, name: str, args: GkeClusterArgs, child: pulumi.ResourceOptions
    ) -> tuple[compute.Network, compute.Subnetwork]:
        """A VPC network and the nodes' subnetwork, with secondary ranges for pods and services."""
        network = compute.Network(f"{name}-network", compute.NetworkArgs(auto_create_subnetworks=False), opts=child)
        subnet = compute.Subnetwork(
            f"{name}-nodes",
            compute.SubnetworkArgs(
                network=network.id,
                region=args.region,
                ip_cidr_range=SUBNET_CIDR,
                # Private nodes reach Google APIs (Artifact Registry included) without public addresses.
                private_ip_google_access=True,
                secondary_ip_ranges=[
                    compute.SubnetworkSecondaryIpRangeArgs(range_name="pods", ip_cidr_range=PODS_CIDR),
                    compute.SubnetworkSecondaryIpRangeArgs(range_name="services", ip_cidr_range=SERVICES_CIDR),
                ],
            ),
            opts=child,
        )
        return network, subnet

    def _node_account(
        self, name: str, args: GkeClusterArgs, child: pulumi.ResourceOptions
    ) -> tuple[serviceaccount.Account, pulumi.Output[str]]:
        """The nodes' service account, with the project roles of NODE_ROLES; returns it and its IAM member."""
        node_account = serviceaccount.Account(
            f"{name}-nodes",
            serviceaccount.AccountArgs(
                account_id=gcp_id("kp", name, pulumi.get_stack()), display_name="kubeport GKE nodes"
            ),
            opts=child,
        )
        node_member = node_account.email.apply(lambda email: f"serviceAccount:{email}")
        for role in NODE_ROLES:
            projects.IAMMember(
                f"{name}-nodes-{role.rsplit('.', 1)[-1]}",
                projects.IAMMemberArgs(project=args.project, role=role, member=node_member),
                opts=child,
            )
        return node_account, node_member

    def _cluster(
        self,
        name: str,
        args: GkeClusterArgs,
        network: compute.Network,
        subnet: compute.Subnetwork,
        guarded: pulumi.ResourceOptions,
    ) -> container.Cluster:
        """The regional cluster: private nodes, Dataplane V2, workload identity, no default node pool."""
        return container.Cluster(
            f"{name}-cluster",
            container.ClusterArgs(
                location=args.region,
                network=network.id,
                subnetwork=subnet.id,
                # The default pool cannot be configured well; a separately managed pool replaces it.
                remove_default_node_pool=True,
                initial_node_count=1,
                deletion_protection=args.protect,
                release_channel=container.ClusterReleaseChannelArgs(channel="REGULAR"),
                workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(
                    workload_pool=f"{args.project}.svc.id.goog"
                ),
                enable_shielded_nodes=True,
                # Dataplane V2 enforces NetworkPolicy natively.
                datapath_provider="ADVANCED_DATAPATH",
                ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                    cluster_secondary_range_name="pods", services_secondary_range_name="services"
                ),
                private_cluster_config=container.ClusterPrivateClusterConfigArgs(
                    enable_private_nodes=True,
                    enable_private_endpoint=args.private_api,
                    master_ipv4_cidr_block=MASTER_CIDR,
                ),
                master_authorized_networks_config=container.ClusterMasterAuthorizedNetworksConfigArgs(
                    cidr_blocks=[
                        container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                            cidr_block=cidr, display_name=f"allowed-{i}"
                        )
                        for i, cidr in enumerate(args.allowed_cidrs)
                    ]
                ),
                master_auth=container.ClusterMasterAuthArgs(
                    client_certificate_config=container.ClusterMasterAuthClientCertificateConfigArgs(
                        issue_client_certificate=False
                    )
                ),
                logging_config=container.ClusterLoggingConfigArgs(
                    enable_components=["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS"]
                ),
            ),
            opts=guarded,
        )

    def _node_pool(
        self,
        name: str,
        args: GkeClusterArgs,
        cluster: container.Cluster,
        node_account: serviceaccount.Account,
        *,
        child: pulumi.ResourceOptions,
        invoke: pulumi.InvokeOutputOptions,
    ) -> container.NodePool:
        """The managed node pool over NODE_ZONES zones: shielded COS nodes under the nodes' service account."""
        zones = compute.get_zones_output(region=args.region, status="UP", opts=invoke)
        return container.NodePool(
            f"{name}-pool",
            container.NodePoolArgs(
                cluster=cluster.id,
                location=args.region,
                node_locations=zones.names.apply(lambda names: sorted(names)[:NODE_ZONES]),
                node_count=nodes_per_zone(args.node_count),
                management=container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
                node_config=container.NodePoolNodeConfigArgs(
                    machine_type=args.node_size or DEFAULT_NODE_SIZE,
                    image_type="COS_CONTAINERD",
                    service_account=node_account.email,
                    # Access is decided by the service account's IAM roles, not by legacy scopes.
                    oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                    shielded_instance_config=container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                        enable_secure_boot=True, enable_integrity_monitoring=True
                    ),
                    workload_metadata_config=container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                        mode="GKE_METADATA"
                    ),
                    metadata={"disable-legacy-endpoints": "true"},
                ),
            ),
            opts=child,
        )

    def _registry(
        self,
        name: str,
        args: GkeClusterArgs,
        node_member: pulumi.Output[str],
        child: pulumi.ResourceOptions,
        guarded: pulumi.ResourceOptions,
    ) -> tuple[artifactregistry.Repository, artifactregistry.RepositoryIamMember]:
        """The Artifact Registry repository of the app image, and read access to it for the nodes."""
        registry = artifactregistry.Repository(
            f"{name}-registry",
            artifactregistry.RepositoryArgs(
                repository_id=gcp_id("kubeport", pulumi.get_stack(), limit=63),
                location=args.region,
                format="DOCKER",
                docker_config=artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
                cleanup_policies=[
                    artifactregistry.RepositoryCleanupPolicyArgs(
                        id="keep-recent",
                        action="KEEP",
                        most_recent_versions=artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                            keep_count=20
                        ),
                    )
                ],
            ),
            opts=guarded,
        )
        reader = artifactregistry.RepositoryIamMember(
            f"{name}-nodes-registry-reader",
            artifactregistry.RepositoryIamMemberArgs(
                repository=registry.name,
                location=args.region,
                role="roles/artifactregistry.reader",
                member=node_member,
            ),
            opts=child,
        )
        return registry, reader
