"""EksCluster: an EKS cluster, its network, node group and ECR repository, with pulumi_aws alone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import ClusterArgs, cluster_provider, exec_kubeconfig
from components.eks_network import VPC_CIDR, vpc_network
from components.eks_storage import ebs_csi_driver
from components.platform import RegistryLogin

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
DEFAULT_NODE_SIZE = "t3.medium"
MANAGED_POLICY = "arn:aws:iam::aws:policy/"
NODE_POLICIES = {
    "worker": "AmazonEKSWorkerNodePolicy",
    "cni": "AmazonEKS_CNI_Policy",
    # ECR read for the node role: how nodes pull the app image.
    "ecr-read": "AmazonEC2ContainerRegistryReadOnly",
}


@dataclass(frozen=True, kw_only=True)
class EksClusterArgs(ClusterArgs):
    """Inputs of EksCluster: the shared ones plus the region and, optionally, an existing VPC."""

    region: str
    """AWS region."""
    vpc_id: str = ""
    """Existing VPC; empty: create one with public and private subnets in two zones."""
    subnet_ids: Sequence[str] = ()
    """Private subnets of `vpc_id` for the nodes (at least two zones)."""
    metrics_server: bool = False
    """Install EKS's metrics-server add-on (a HorizontalPodAutoscaler needs the resource metrics API)."""
    volumes: bool = False
    """Install the EBS CSI driver (components.eks_storage): an application's volumes need it."""
    pod_identity: bool = False
    """Install the Pod Identity agent (for the load balancer controller, an application's buckets); the EBS CSI
    driver installs it too."""


def assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def ecr_lifecycle_policy(keep: int = 20, untagged_days: int = 7) -> str:
    """Expire untagged layers after a week and keep the newest `keep` images."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "expire untagged images",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the newest {keep} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                },
            ]
        }
    )


def eks_kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    """The cluster's kubeconfig (a secret): `aws eks get-token` fetches the credentials at each use."""
    return pulumi.Output.secret(
        pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
            lambda a: exec_kubeconfig(
                name=a[0],
                server=a[1],
                certificate_authority_data=a[2],
                command="aws",
                args=["eks", "get-token", "--cluster-name", a[0], "--region", region, "--output", "json"],
                install_hint="Install the AWS CLI v2 and log in (aws configure or aws sso login).",
            )
        )
    )


class EksCluster(pulumi.ComponentResource):
    """VPC (or an existing one), IAM roles, KMS-encrypted EKS cluster, IMDSv2 node group, ECR repository."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    repository: pulumi.Output[str]

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:aws:EksCluster", name, None, opts)
        self.aws = aws.Provider(
            f"{name}-aws", aws.ProviderArgs(region=args.region), opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.aws)
        guarded = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))

        # An existing VPC is used through its private subnets; EKS finds the VPC from them.
        private_subnets = (
            list(args.subnet_ids)
            if args.vpc_id
            else vpc_network(name, child, pulumi.InvokeOutputOptions(parent=self, provider=self.aws))
        )
        cluster_role, cluster_policy = self._cluster_role(name, child)
        secrets_key = self._secrets_key(name, child)
        cluster = self._cluster(
            name, args, private_subnets, role=cluster_role, policy=cluster_policy, key=secrets_key, opts=guarded
        )
        node_group = self._node_group(name, args, cluster, private_subnets, child)
        repository = self._repository(name, args, child, guarded)

        self.registry_login = self._registry_login(repository)
        self.repository = repository.repository_url
        self.cluster_name = cluster.name
        self.kubeconfig = eks_kubeconfig(cluster, args.region)
        self.identity = cluster.arn
        self.provider = cluster_provider(f"{name}-k8s", self.kubeconfig, self.identity, self, teardown=not args.protect)
        if args.metrics_server:
            aws.eks.Addon(
                f"{name}-metrics-server",
                aws.eks.AddonArgs(cluster_name=cluster.name, addon_name="metrics-server"),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[node_group])),
            )
        self.identity_agent = (
            self._identity_agent(name, cluster, node_group, child) if (args.pod_identity or args.volumes) else None
        )
        """EKS Pod Identity's agent: one per cluster, whatever needs it (an add-on exists once)."""
        self.volume_driver = (
            ebs_csi_driver(name, cluster.name, secrets_key.arn, [node_group], child, agent=self.identity_agent)
            if self.identity_agent is not None and args.volumes
            else None
        )
        """The EBS CSI add-on, when asked for: what the volumes' StorageClass waits for."""
        self.vpc_id = cluster.vpc_config.apply(lambda config: config.vpc_id or "")
        self.private_subnet_ids: list[pulumi.Input[str]] = list(private_subnets)
        """The nodes' private subnets: where a managed database of the cluster's goes."""
        self.secrets_key_arn = secrets_key.arn
        """The cluster's KMS key (rotation on): it encrypts Secrets, and a managed database's storage."""
        self.node_security_group_id = cluster.vpc_config.apply(lambda config: config.cluster_security_group_id or "")
        """The cluster security group EKS puts on the managed node group's nodes (the launch template names none)."""
        self._own_vpc = not args.vpc_id
        self._existing_vpc_id = args.vpc_id
        self.node_group = node_group
        self.ready: list[pulumi.Resource] = [node_group]
        self.register_outputs(
            {"cluster_name": self.cluster_name, "kubeconfig": self.kubeconfig, "repository": self.repository}
        )

    @staticmethod
    def _identity_agent(
        name: str, cluster: aws.eks.Cluster, node_group: aws.eks.NodeGroup, child: pulumi.ResourceOptions
    ) -> aws.eks.Addon:
        """The Pod Identity agent add-on. It was the load balancer controller's own before a cluster could need it
        for more than one thing: the alias keeps such a cluster's agent in place."""
        controller = pulumi.create_urn("alb-controller", "kubeport:aws:AwsLoadBalancerController")
        return aws.eks.Addon(
            f"{name}-pod-identity-agent",
            aws.eks.AddonArgs(cluster_name=cluster.name, addon_name="eks-pod-identity-agent"),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[node_group],
                    aliases=[pulumi.Alias(name="alb-controller-pod-identity-agent", parent=controller)],
                ),
            ),
        )

    def vpc_cidr(self) -> pulumi.Input[str]:
        """The VPC's address block (looked up only for an existing VPC, and only when asked)."""
        if self._own_vpc:
            return VPC_CIDR
        return aws.ec2.get_vpc_output(
            id=self._existing_vpc_id, opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws)
        ).cidr_block

    def _cluster_role(
        self, name: str, child: pulumi.ResourceOptions
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        """The control plane's IAM role and its attached AmazonEKSClusterPolicy."""
        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            aws.iam.RoleArgs(assume_role_policy=assume_role_policy("eks.amazonaws.com")),
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            aws.iam.RolePolicyAttachmentArgs(
                role=cluster_role.name, policy_arn=MANAGED_POLICY + "AmazonEKSClusterPolicy"
            ),
            opts=child,
        )
        return cluster_role, cluster_policy

    def _secrets_key(self, name: str, child: pulumi.ResourceOptions) -> aws.kms.Key:
        """The rotating KMS key that encrypts the cluster's Kubernetes Secrets."""
        return aws.kms.Key(
            f"{name}-secrets-key",
            aws.kms.KeyArgs(
                description="Encrypts the EKS cluster's Kubernetes Secrets",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            ),
            opts=child,
        )

    def _cluster(
        self,
        name: str,
        args: EksClusterArgs,
        private_subnets: Sequence[pulumi.Input[str]],
        *,
        role: aws.iam.Role,
        policy: aws.iam.RolePolicyAttachment,
        key: aws.kms.Key,
        opts: pulumi.ResourceOptions,
    ) -> aws.eks.Cluster:
        """The EKS control plane in the private subnets, with API authentication, logs and envelope encryption."""
        return aws.eks.Cluster(
            f"{name}-cluster",
            aws.eks.ClusterArgs(
                role_arn=role.arn,
                vpc_config=aws.eks.ClusterVpcConfigArgs(
                    subnet_ids=private_subnets,
                    endpoint_private_access=True,
                    endpoint_public_access=not args.private_api,
                    public_access_cidrs=None if args.private_api else list(args.allowed_cidrs),
                ),
                access_config=aws.eks.ClusterAccessConfigArgs(
                    authentication_mode="API",
                    bootstrap_cluster_creator_admin_permissions=True,
                ),
                enabled_cluster_log_types=CONTROL_PLANE_LOGS,
                encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                    resources=["secrets"],
                    provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy])),
        )

    def _node_group(
        self,
        name: str,
        args: EksClusterArgs,
        cluster: aws.eks.Cluster,
        private_subnets: Sequence[pulumi.Input[str]],
        child: pulumi.ResourceOptions,
    ) -> aws.eks.NodeGroup:
        """The managed node group, with its role, launch template and the VPC CNI it waits for."""
        node_role, node_policies = self._node_role(name, child)
        launch_template = self._launch_template(name, child)
        network = self._vpc_cni(name, cluster, child)
        return aws.eks.NodeGroup(
            f"{name}-nodes",
            aws.eks.NodeGroupArgs(
                cluster_name=cluster.name,
                node_role_arn=node_role.arn,
                subnet_ids=private_subnets,
                instance_types=[args.node_size or DEFAULT_NODE_SIZE],
                ami_type="AL2023_x86_64_STANDARD",
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    desired_size=args.node_count, min_size=args.node_count, max_size=args.node_count + 1
                ),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                    id=launch_template.id, version=launch_template.latest_version.apply(str)
                ),
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[*node_policies, network])),
        )

    def _node_role(
        self, name: str, child: pulumi.ResourceOptions
    ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """The nodes' IAM role and its attached managed policies (NODE_POLICIES)."""
        node_role = aws.iam.Role(
            f"{name}-node-role",
            aws.iam.RoleArgs(assume_role_policy=assume_role_policy("ec2.amazonaws.com")),
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{short}",
                aws.iam.RolePolicyAttachmentArgs(role=node_role.name, policy_arn=MANAGED_POLICY + policy),
                opts=child,
            )
            for short, policy in NODE_POLICIES.items()
        ]
        return node_role, node_policies

    def _launch_template(self, name: str, child: pulumi.ResourceOptions) -> aws.ec2.LaunchTemplate:
        """The nodes' launch template: IMDSv2 only, encrypted root volume."""
        return aws.ec2.LaunchTemplate(
            f"{name}-nodes",
            aws.ec2.LaunchTemplateArgs(
                description="kubeport EKS nodes: IMDSv2 only, encrypted root volume",
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",
                    # One hop: pods cannot borrow the node's credentials from the metadata service.
                    http_put_response_hop_limit=1,
                ),
                block_device_mappings=[
                    aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name="/dev/xvda",
                        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_size=20, volume_type="gp3", encrypted="true", delete_on_termination="true"
                        ),
                    )
                ],
            ),
            opts=child,
        )

    def _vpc_cni(self, name: str, cluster: aws.eks.Cluster, child: pulumi.ResourceOptions) -> aws.eks.Addon:
        """The VPC CNI managed add-on, with its network policy agent on."""
        # The VPC CNI as a managed add-on with its network policy agent on: without it EKS admits NetworkPolicies and
        # enforces none (AKS's Cilium and GKE's Dataplane V2 enforce them as created). It takes over the self-managed
        # plugin EKS installs; the nodes join only after it, so no pod runs before the rules hold.
        return aws.eks.Addon(
            f"{name}-vpc-cni",
            aws.eks.AddonArgs(
                cluster_name=cluster.name,
                addon_name="vpc-cni",
                configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
            ),
            opts=child,
        )

    def _repository(
        self, name: str, args: EksClusterArgs, child: pulumi.ResourceOptions, guarded: pulumi.ResourceOptions
    ) -> aws.ecr.Repository:
        """The ECR repository of the app image, and its lifecycle policy."""
        repository = aws.ecr.Repository(
            f"{name}-repository",
            aws.ecr.RepositoryArgs(
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
                # Only a deliberate teardown (protection released) may delete a repository holding images.
                force_delete=not args.protect,
            ),
            opts=guarded,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repository-lifecycle",
            aws.ecr.LifecyclePolicyArgs(repository=repository.name, policy=ecr_lifecycle_policy()),
            opts=child,
        )
        return repository

    def _registry_login(self, repository: aws.ecr.Repository) -> RegistryLogin:
        """The push credentials of the ECR registry: a token the deploying identity gets from ECR."""
        # ECR tokens last 12 hours; `pulumi refresh --run-program` fetches a fresh one for a refresh.
        token = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws)
        )
        return RegistryLogin(
            address=token.proxy_endpoint.apply(lambda e: e.removeprefix("https://")),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
        )
