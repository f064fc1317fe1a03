"""The EBS CSI driver on an EKS cluster, which EKS does not install: the managed add-on, its controller reaching
AWS through EKS Pod Identity (a role its service account assumes; no access key anywhere), allowed to make and
attach volumes (AmazonEBSCSIDriverPolicy) and to encrypt them with the cluster's KMS key."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.eks_ingress import pod_identity_trust

AWS_MANAGED = "arn:aws:iam::aws:policy/"
DRIVER_POLICY = AWS_MANAGED + "service-role/AmazonEBSCSIDriverPolicy"
"""AWS's managed policy for the driver: create, attach, snapshot and delete EBS volumes."""
CONTROLLER_ACCOUNT = "ebs-csi-controller-sa"
"""The add-on's controller's service account, in kube-system: the one the role is associated with."""
KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def key_policy(key_arn: str) -> str:
    """Use of the cluster's key for the volumes EBS encrypts with it; grants only for AWS resources (EBS's)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": KEY_ACTIONS, "Resource": key_arn},
                {
                    "Effect": "Allow",
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    "Resource": key_arn,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
            ],
        }
    )


def ebs_csi_driver(
    name: str,
    cluster_name: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    depends_on: Sequence[pulumi.Resource],
    child: pulumi.ResourceOptions,
    *,
    agent: aws.eks.Addon,
) -> aws.eks.Addon:
    """The driver's role, and the aws-ebs-csi-driver add-on associated with it through the Pod Identity `agent`."""
    after_nodes = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(depends_on)))
    role = aws.iam.Role(f"{name}-ebs-csi-role", aws.iam.RoleArgs(assume_role_policy=pod_identity_trust()), opts=child)
    attached = aws.iam.RolePolicyAttachment(
        f"{name}-ebs-csi-policy",
        aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=DRIVER_POLICY),
        opts=child,
    )
    key_use = aws.iam.RolePolicy(
        f"{name}-ebs-csi-key",
        aws.iam.RolePolicyArgs(role=role.id, policy=pulumi.Output.from_input(key_arn).apply(key_policy)),
        opts=child,
    )
    return aws.eks.Addon(
        f"{name}-ebs-csi",
        aws.eks.AddonArgs(
            cluster_name=cluster_name,
            addon_name="aws-ebs-csi-driver",
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(role_arn=role.arn, service_account=CONTROLLER_ACCOUNT)
            ],
        ),
        opts=pulumi.ResourceOptions.merge(after_nodes, pulumi.ResourceOptions(depends_on=[agent, attached, key_use])),
    )
