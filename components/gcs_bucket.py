"""GcsBucket: an application's `s3` resource on GKE: a Cloud Storage bucket of its own, reached through GKE
workload identity.

The bucket has uniform bucket-level access (no object ACLs) and public access prevention enforced, keeps object
versions, and encrypts every object with a Cloud KMS key of its own (rotated every 90 days), which only Cloud
Storage's service agent of the project may use. One Google service account may use the bucket's objects (the
`roles/storage.objectUser` role on this bucket alone), and only the declaring workload's Kubernetes
ServiceAccount may act as it (`roles/iam.workloadIdentityUser` for `<project>.svc.id.goog[<namespace>/<name>]`):
the GKE metadata server on the node hands the pods short-lived tokens, and no key exists. The pods use Cloud
Storage's own API (the `gcs` api output): its S3-compatible XML API signs with HMAC keys, which are static keys.
Cloud Storage's bucket names are global and Cloud KMS never deletes a key ring: both carry a digest of the project,
the stack and the resource. A key ring outlives a destroy, so making the same bucket again in the same stack needs
the ring imported (`pulumi import`) or renamed. Pulumi's gcp provider alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
from pulumi_gcp import kms, serviceaccount, storage

ENDPOINT = "https://storage.googleapis.com"
METADATA_SERVER = (("169.254.169.254/32", 80), ("169.254.169.252/32", 988))
"""Where the pods get their workload identity's tokens: the GKE metadata server (Dataplane V2 needs both)."""
HTTPS_ANYWHERE = ("0.0.0.0/0", 443)
"""Cloud Storage's endpoints are public addresses: the pods' egress opens HTTPS to any address."""
KEY_ROTATION = "7776000s"
"""90 days."""
ACCOUNT_ID_LIMIT = 30


def unique_name(name: str, project: str, stack: str, limit: int = 50) -> str:
    """`name` (cut to `limit`) and a digest of the project, the stack and the name: Cloud Storage's names are
    global, and a key ring's last forever in its project, so two stacks of one project never meet."""
    digest = hashlib.sha256(f"{project}/{stack}/{name}".encode()).hexdigest()[:8]
    return f"{name[:limit].rstrip('-')}-{digest}"


def account_id(name: str) -> str:
    """A Google service account id for `name`: 6 to 30 characters, a letter first; a digest keeps long names
    apart."""
    if len(name) <= ACCOUNT_ID_LIMIT:
        return name if len(name) >= 6 else f"{name}-store"
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: ACCOUNT_ID_LIMIT - 7].rstrip('-')}-{digest}"


@dataclass(frozen=True, kw_only=True)
class GcsBucketArgs:
    """Inputs of GcsBucket."""

    provider_opts: pulumi.ResourceOptions
    """The cluster's Google provider."""
    project: str
    region: str
    namespace: pulumi.Input[str]
    service_account: str
    """The declaring workload's Kubernetes ServiceAccount: the one identity granted the bucket."""
    protect: bool = True


class GcsBucket(pulumi.ComponentResource):
    """A private, CMEK-encrypted, versioned Cloud Storage bucket and the workload identity grant of one workload."""

    bucket: pulumi.Output[str]
    account_email: pulumi.Output[str]
    """The Google service account the workload's ServiceAccount acts as (its annotation)."""
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: GcsBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:gcp:GcsBucket", name, None, opts)
        child = pulumi.ResourceOptions.merge(args.provider_opts, pulumi.ResourceOptions(parent=self))
        key, key_use = self._key(name, args, child)
        bucket = storage.Bucket(
            f"{name}-bucket",
            storage.BucketArgs(
                name=unique_name(name, args.project, pulumi.get_stack()),
                location=args.region,
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                versioning=storage.BucketVersioningArgs(enabled=True),
                encryption=storage.BucketEncryptionArgs(default_kms_key_name=key.id),
                force_destroy=False,
            ),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(protect=args.protect, depends_on=[key_use])
            ),
        )
        account = serviceaccount.Account(
            f"{name}-account",
            serviceaccount.AccountArgs(account_id=account_id(name), display_name=f"kubeport {name} bucket"),
            opts=child,
        )
        member = pulumi.Output.concat("serviceAccount:", account.email)
        objects = storage.BucketIAMMember(
            f"{name}-objects",
            storage.BucketIAMMemberArgs(bucket=bucket.name, role="roles/storage.objectUser", member=member),
            opts=child,
        )
        workload = pulumi.Output.concat(
            "serviceAccount:", args.project, ".svc.id.goog[", args.namespace, "/", args.service_account, "]"
        )
        acts_as = serviceaccount.IAMMember(
            f"{name}-workload-identity",
            serviceaccount.IAMMemberArgs(
                service_account_id=account.name, role="roles/iam.workloadIdentityUser", member=workload
            ),
            opts=child,
        )
        self.bucket = bucket.name
        self.account_email = account.email
        self.ready = [bucket, objects, acts_as]
        self.register_outputs({"bucket": self.bucket, "account_email": self.account_email})

    @staticmethod
    def _key(
        name: str, args: GcsBucketArgs, child: pulumi.ResourceOptions
    ) -> tuple[kms.CryptoKey, kms.CryptoKeyIAMMember]:
        """The bucket's key, and Cloud Storage's service agent allowed to use it (nobody else is)."""
        ring = kms.KeyRing(
            f"{name}-keys",
            kms.KeyRingArgs(name=f"{unique_name(name, args.project, pulumi.get_stack())}-keys", location=args.region),
            opts=child,
        )
        key = kms.CryptoKey(
            f"{name}-key",
            kms.CryptoKeyArgs(name=f"{name}-key", key_ring=ring.id, rotation_period=KEY_ROTATION),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
        )
        agent = storage.get_project_service_account_output(
            project=args.project, opts=pulumi.InvokeOutputOptions(parent=child.parent, provider=child.provider)
        )
        use = kms.CryptoKeyIAMMember(
            f"{name}-key-use",
            kms.CryptoKeyIAMMemberArgs(
                crypto_key_id=key.id,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=agent.email_address.apply(lambda email: f"serviceAccount:{email}"),
            ),
            opts=child,
        )
        return key, use
