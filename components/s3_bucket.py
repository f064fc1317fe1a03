"""S3Bucket: an application's `s3` resource on EKS: a bucket of its own, reached through EKS Pod Identity.

The bucket blocks every kind of public access (its public access block, all four settings), disables ACLs
(BucketOwnerEnforced), encrypts every object with the cluster's KMS key (SSE-KMS, with an S3 bucket key), keeps
versions (an overwritten or deleted object can be restored), and refuses any request not made over TLS (its
policy). One IAM role may use it: the role EKS Pod Identity gives the declaring workload's ServiceAccount, allowed
to list the bucket, read, write and delete its objects, and use the key for them; nothing else. No access key
exists anywhere: the pods' SDK fetches short-lived credentials from the Pod Identity agent on its node. Pulumi's
aws provider alone, pulumi_aws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.eks_ingress import pod_identity_trust

POD_IDENTITY_AGENT = ("169.254.170.23/32", 80)
"""Where the EKS Pod Identity agent serves a pod's credentials (the node's link-local address)."""
HTTPS_ANYWHERE = ("0.0.0.0/0", 443)
"""S3's endpoints: public addresses in ranges AWS changes, so the pods' egress opens HTTPS to any address."""


BUCKET_PREFIX_LIMIT = 37
"""S3's bound on a bucket name's prefix; S3 adds a unique suffix up to the 63 characters of a name."""


def bucket_prefix(name: str) -> str:
    """The bucket's name prefix: `<workload>-<resource>-`, cut to S3's bound."""
    return f"{name[: BUCKET_PREFIX_LIMIT - 1].rstrip('-')}-"


def bucket_policy(bucket_arn: str) -> str:
    """Refuse every request to the bucket or its objects not made over TLS."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    })  # fmt: skip


def access_policy(bucket_arn: str, key_arn: str) -> str:
    """What the workload's role may do: list the bucket, read, write and delete its objects, and use the key for
    them; nothing else."""
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": f"{bucket_arn}/*",
        },
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True)
class S3BucketArgs:
    """Inputs of S3Bucket."""

    aws_provider: aws.Provider
    cluster_name: pulumi.Input[str]
    region: str
    kms_key_arn: pulumi.Input[str]
    """The cluster's KMS key: it encrypts the objects."""
    namespace: pulumi.Input[str]
    service_account: str
    """The declaring workload's ServiceAccount: the one identity granted the bucket."""
    protect: bool = True
    identity_agent: pulumi.Resource | None = None
    """The Pod Identity agent add-on the association needs."""


class S3Bucket(pulumi.ComponentResource):
    """A private, KMS-encrypted, versioned S3 bucket and the Pod Identity grant of one workload to it."""

    bucket: pulumi.Output[str]
    endpoint: str
    region: str
    ready: list[pulumi.Resource]
    """The bucket's settings and the grant: the workload's pods wait for them."""

    def __init__(self, name: str, args: S3BucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:aws:S3Bucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            aws.s3.BucketArgs(bucket_prefix=bucket_prefix(name), force_destroy=False),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
        )
        settings = self._settings(name, args, bucket, child)
        self.ready = [*settings, self._grant(name, args, bucket, child)]
        self.bucket = bucket.bucket
        self.endpoint = f"https://s3.{args.region}.amazonaws.com"
        self.region = args.region
        self.register_outputs({"bucket": self.bucket})

    @staticmethod
    def _settings(
        name: str, args: S3BucketArgs, bucket: aws.s3.Bucket, child: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """What makes the bucket private, encrypted, versioned and TLS only."""
        on_bucket = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[bucket]))
        return [
            aws.s3.BucketPublicAccessBlock(
                f"{name}-public-access-block",
                aws.s3.BucketPublicAccessBlockArgs(
                    bucket=bucket.id,
                    block_public_acls=True,
                    block_public_policy=True,
                    ignore_public_acls=True,
                    restrict_public_buckets=True,
                ),
                opts=on_bucket,
            ),
            aws.s3.BucketOwnershipControls(
                f"{name}-ownership",
                aws.s3.BucketOwnershipControlsArgs(
                    bucket=bucket.id,
                    rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                ),
                opts=on_bucket,
            ),
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-encryption",
                aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                    bucket=bucket.id,
                    rules=[
                        aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                            apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
                            ),
                            bucket_key_enabled=True,
                        )
                    ],
                ),
                opts=on_bucket,
            ),
            aws.s3.BucketVersioning(
                f"{name}-versioning",
                aws.s3.BucketVersioningInitArgs(
                    bucket=bucket.id,
                    versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                ),
                opts=on_bucket,
            ),
            aws.s3.BucketPolicy(
                f"{name}-policy",
                aws.s3.BucketPolicyArgs(bucket=bucket.id, policy=bucket.arn.apply(bucket_policy)),
                opts=on_bucket,
            ),
        ]

    def _grant(
        self, name: str, args: S3BucketArgs, bucket: aws.s3.Bucket, child: pulumi.ResourceOptions
    ) -> aws.eks.PodIdentityAssociation:
        """The workload's role (Pod Identity may assume it for its ServiceAccount alone), its access, and the
        association."""
        role = aws.iam.Role(f"{name}-role", aws.iam.RoleArgs(assume_role_policy=pod_identity_trust()), opts=child)
        access = aws.iam.RolePolicy(
            f"{name}-access",
            aws.iam.RolePolicyArgs(
                role=role.id,
                policy=pulumi.Output.all(bucket.arn, args.kms_key_arn).apply(lambda v: access_policy(v[0], v[1])),
            ),
            opts=child,
        )
        agent = [args.identity_agent] if args.identity_agent is not None else []
        return aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            aws.eks.PodIdentityAssociationArgs(
                cluster_name=args.cluster_name,
                namespace=args.namespace,
                service_account=args.service_account,
                role_arn=role.arn,
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[access, *agent])),
        )
