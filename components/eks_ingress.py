"""AwsLoadBalancerController: what serves an Ingress on EKS, with the least AWS rights it needs.

EKS has no Ingress controller of its own. This installs the AWS Load Balancer Controller from its Helm
chart, which turns each Ingress of class `alb` into an Application Load Balancer. Its AWS rights reach it
through EKS Pod Identity (the agent add-on and an association for its service account: no long-lived keys,
no OIDC provider to manage), and they are only what it uses here: describe the network, manage load
balancers, target groups, listeners and rules it tagged itself, and security groups it created, plus ACM
certificate discovery for TLS hosts. WAF, Shield and Cognito integration are switched off in the chart and
left out of the policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

CHART = "aws-load-balancer-controller"
CHART_VERSION = "1.14.0"
CHART_REPOSITORY = "https://aws.github.io/eks-charts"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
INGRESS_CLASS = "alb"
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
"""The tag the controller puts on every load balancer, target group and security group it creates."""

DESCRIBE = [
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
]
"""Read-only discovery: subnets to place a load balancer in, what exists, which ACM certificate fits a host."""


def _tagged_by_the_controller(key: str = "aws:ResourceTag/elbv2.k8s.aws/cluster") -> dict[str, Any]:
    return {"Null": {key: "false"}}


def _security_group_statements() -> list[dict[str, Any]]:
    """EC2: create security groups tagged as the controller's, change only those, open target ports."""
    return [
        {"Sid": "CreateSecurityGroups", "Effect": "Allow", "Action": "ec2:CreateSecurityGroup", "Resource": "*"},
        {
            "Sid": "TagNewSecurityGroups",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "arn:aws:ec2:*:*:security-group/*",
            "Condition": {
                "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                "Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"},
            },
        },
        {
            "Sid": "ManageOwnSecurityGroups",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateTags",
                "ec2:DeleteTags",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
            ],
            "Resource": "arn:aws:ec2:*:*:security-group/*",
            "Condition": _tagged_by_the_controller(),
        },
        {
            # The nodes' security group is not the controller's: it may only open the target port on it.
            "Sid": "OpenTargetPortsToTheLoadBalancer",
            "Effect": "Allow",
            "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
            "Resource": "arn:aws:ec2:*:*:security-group/*",
        },
    ]


def _load_balancer_statements() -> list[dict[str, Any]]:
    """ELBv2: create load balancers and target groups tagged as the controller's, change only those."""
    return [
        {
            "Sid": "CreateTaggedLoadBalancers",
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            "Resource": "*",
            "Condition": {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"}},
        },
        {
            "Sid": "TagOnCreate",
            "Effect": "Allow",
            "Action": "elasticloadbalancing:AddTags",
            "Resource": [
                "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
                "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
                "arn:aws:elasticloadbalancing:*:*:loadbalancer/net/*/*",
            ],
            "Condition": {
                "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
                "Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"},
            },
        },
        {
            "Sid": "ManageOwnLoadBalancers",
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:DeleteTargetGroup",
            ],
            "Resource": "*",
            "Condition": _tagged_by_the_controller(),
        },
    ]


def _listener_statements() -> list[dict[str, Any]]:
    """ELBv2: listeners, rules and target registrations of application load balancers."""
    return [
        {
            "Sid": "ListenersRulesAndTargets",
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyListenerAttributes",
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:DeregisterTargets",
            ],
            "Resource": [
                "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener/app/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
            ],
        },
    ]


def controller_policy() -> dict[str, Any]:
    """The controller's IAM policy: discovery anywhere, changes only to what it created and tagged itself."""
    statements: list[dict[str, Any]] = [
        {"Sid": "Discover", "Effect": "Allow", "Action": DESCRIBE, "Resource": "*"},
        {
            "Sid": "ServiceLinkedRoleForLoadBalancing",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        },
        *_security_group_statements(),
        *_load_balancer_statements(),
        *_listener_statements(),
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def pod_identity_trust() -> str:
    """Who may assume the controller's role: EKS Pod Identity, on behalf of one service account."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "pods.eks.amazonaws.com"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


def chart_values(cluster_name: str, region: str, vpc_id: str) -> dict[str, Any]:
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": 2,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        # Only Ingresses: LoadBalancer Services stay with EKS's own cloud provider, as without the controller.
        "enableServiceMutatorWebhook": False,
        "enableWaf": False,
        "enableWafv2": False,
        "enableShield": False,
    }


@dataclass(frozen=True)
class AwsLoadBalancerControllerArgs:
    """Inputs of AwsLoadBalancerController."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster's name."""
    vpc_id: pulumi.Input[str]
    """The cluster's VPC (the controller places load balancers in its subnets)."""
    region: str
    """AWS region."""
    aws_provider: aws.Provider
    """The cluster component's explicit AWS provider."""
    k8s_provider: k8s.Provider
    """The cluster's Kubernetes provider."""
    nodes: pulumi.Resource
    """The node group the controller's pods need."""
    identity_agent: pulumi.Resource
    """The cluster's Pod Identity agent add-on, which the controller's association needs."""


class AwsLoadBalancerController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller, its IAM role and policy, and its Pod Identity association."""

    ingress_class: str = INGRESS_CLASS
    release: k8s.helm.v3.Release
    """The Helm release; an Ingress waits for it (the controller's webhook must be up to admit one)."""

    def __init__(
        self, name: str, args: AwsLoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kubeport:aws:AwsLoadBalancerController", name, None, opts)
        on_aws = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)
        role = aws.iam.Role(f"{name}-role", aws.iam.RoleArgs(assume_role_policy=pod_identity_trust()), opts=on_aws)
        policy = aws.iam.Policy(
            f"{name}-policy",
            aws.iam.PolicyArgs(
                description="AWS Load Balancer Controller for kubeport: ALBs for Ingresses, nothing else",
                policy=json.dumps(controller_policy()),
            ),
            opts=on_aws,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-policy-attachment",
            aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=policy.arn),
            opts=on_aws,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            aws.eks.PodIdentityAssociationArgs(
                cluster_name=args.cluster_name,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                role_arn=role.arn,
            ),
            opts=pulumi.ResourceOptions.merge(on_aws, pulumi.ResourceOptions(depends_on=[args.identity_agent])),
        )
        values = pulumi.Output.all(args.cluster_name, args.vpc_id).apply(
            lambda v: chart_values(cluster_name=v[0], region=args.region, vpc_id=v[1])
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-chart",
            k8s.helm.v3.ReleaseArgs(
                chart=CHART,
                version=CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
                namespace=NAMESPACE,
                values=values,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.k8s_provider, depends_on=[association, attachment, args.nodes]
            ),
        )
        self.register_outputs({"ingress_class": INGRESS_CLASS})
