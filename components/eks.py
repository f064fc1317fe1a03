"""EksCluster: an EKS cluster, its network, node group and ECR repository, with pulumi_aws alone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import ClusterArgs, cluster_provider, exec_kubeconfig
from components.platform import RegistryLogin

VPC_CIDR = "10.0.0.0/16"
PUBLIC_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")
PRIVATE_CIDRS = ("10.0.128.0/20", "10.0.144.0/20")
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
        private_subnets = list(args.subnet_ids) if args.vpc_id else self._network(name, child)

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

        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            aws.kms.KeyArgs(
                description="Encrypts the EKS cluster's Kubernetes Secrets",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            ),
            opts=child,
        )

        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            aws.eks.ClusterArgs(
                role_arn=cluster_role.arn,
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
                    provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(guarded, pulumi.ResourceOptions(depends_on=[cluster_policy])),
        )

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

        launch_template = aws.ec2.LaunchTemplate(
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

        # The VPC CNI as a managed add-on with its network policy agent on: without it EKS admits NetworkPolicies and
        # enforces none (AKS's Cilium and GKE's Dataplane V2 enforce them as created). It takes over the self-managed
        # plugin EKS installs; the nodes join only after it, so no pod runs before the rules hold.
        network = aws.eks.Addon(
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

        node_group = aws.eks.NodeGroup(
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

        # ECR tokens last 12 hours; `pulumi refresh --run-program` fetches a fresh one for a refresh.
        token = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws)
        )
        self.registry_login = RegistryLogin(
            address=token.proxy_endpoint.apply(lambda e: e.removeprefix("https://")),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
        )
        self.repository = repository.repository_url
        self.cluster_name = cluster.name
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
                lambda a: exec_kubeconfig(
                    name=a[0],
                    server=a[1],
                    certificate_authority_data=a[2],
                    command="aws",
                    args=["eks", "get-token", "--cluster-name", a[0], "--region", args.region, "--output", "json"],
                    install_hint="Install the AWS CLI v2 and log in (aws configure or aws sso login).",
                )
            )
        )
        self.identity = cluster.arn
        self.provider = cluster_provider(f"{name}-k8s", self.kubeconfig, self.identity, self, teardown=not args.protect)
        if args.metrics_server:
            aws.eks.Addon(
                f"{name}-metrics-server",
                aws.eks.AddonArgs(cluster_name=cluster.name, addon_name="metrics-server"),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[node_group])),
            )
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

    def vpc_cidr(self) -> pulumi.Input[str]:
        """The VPC's address block (looked up only for an existing VPC, and only when asked)."""
        if self._own_vpc:
            return VPC_CIDR
        return aws.ec2.get_vpc_output(
            id=self._existing_vpc_id, opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws)
        ).cidr_block

    def _network(self, name: str, child: pulumi.ResourceOptions) -> list[pulumi.Input[str]]:
        """A VPC with a public and a private subnet in each of two zones; nodes egress through one NAT gateway."""
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self, provider=self.aws)
        )
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            aws.ec2.VpcArgs(cidr_block=VPC_CIDR, enable_dns_hostnames=True, enable_dns_support=True),
            opts=child,
        )
        # The default security group of a new VPC allows all traffic between members: close it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", aws.ec2.DefaultSecurityGroupArgs(vpc_id=vpc.id), opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", aws.ec2.InternetGatewayArgs(vpc_id=vpc.id), opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            aws.ec2.RouteTableArgs(
                vpc_id=vpc.id, routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)]
            ),
            opts=child,
        )

        def zone(index: int) -> pulumi.Output[str]:
            return zones.names.apply(lambda names: names[index])

        public, private = [], []
        for i, (public_cidr, private_cidr) in enumerate(zip(PUBLIC_CIDRS, PRIVATE_CIDRS, strict=True)):
            public_subnet = aws.ec2.Subnet(
                f"{name}-public-{i}",
                aws.ec2.SubnetArgs(
                    vpc_id=vpc.id,
                    cidr_block=public_cidr,
                    availability_zone=zone(i),
                    map_public_ip_on_launch=False,
                    tags={"kubernetes.io/role/elb": "1"},
                ),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}",
                aws.ec2.RouteTableAssociationArgs(subnet_id=public_subnet.id, route_table_id=public_routes.id),
                opts=child,
            )
            public.append(public_subnet)
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i}",
                    aws.ec2.SubnetArgs(
                        vpc_id=vpc.id,
                        cidr_block=private_cidr,
                        availability_zone=zone(i),
                        tags={"kubernetes.io/role/internal-elb": "1"},
                    ),
                    opts=child,
                )
            )
        nat_ip = aws.ec2.Eip(f"{name}-nat", aws.ec2.EipArgs(domain="vpc"), opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            aws.ec2.NatGatewayArgs(subnet_id=public[0].id, allocation_id=nat_ip.id),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[gateway])),
        )
        private_routes = aws.ec2.RouteTable(
            f"{name}-private",
            aws.ec2.RouteTableArgs(
                vpc_id=vpc.id, routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)]
            ),
            opts=child,
        )
        for i, subnet in enumerate(private):
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}",
                aws.ec2.RouteTableAssociationArgs(subnet_id=subnet.id, route_table_id=private_routes.id),
                opts=child,
            )
        return [s.id for s in private]
