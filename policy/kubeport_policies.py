"""kubeport's CrossGuard policies, importable (and unit-tested) without the Pulumi CLI.

`__main__.py` builds the pack from `POLICIES`; `pulumi preview --policy-pack policy` runs it.
Kubernetes properties arrive in their API spelling (camelCase), exactly as the program registers them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

CLOUD_TARGETS = ("eks", "aks", "gke")
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:Pod")
PROTECTED_TYPES = (
    "aws:eks/cluster:Cluster",
    "aws:ecr/repository:Repository",
    "azure-native:containerservice:ManagedCluster",
    "azure-native:containerregistry:Registry",
    "gcp:container/cluster:Cluster",
    "gcp:artifactregistry/repository:Repository",
    "aws:rds/instance:Instance",
    "azure-native:dbforpostgresql:Server",
    "gcp:sql/databaseInstance:DatabaseInstance",
)
RDS = "aws:rds/instance:Instance"
AZURE_POSTGRES = "azure-native:dbforpostgresql:Server"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLOUD_DISK_DRIVERS = ("ebs.csi.aws.com", "disk.csi.azure.com", "pd.csi.storage.gke.io")


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a Deployment, a StatefulSet or a bare Pod; None for anything else."""
    if resource_type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
        spec = _get(props, "spec", "template", "spec")
    elif resource_type == "kubernetes:core/v1:Pod":
        spec = _get(props, "spec")
    else:
        return None
    return spec if isinstance(spec, Mapping) else {}


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def target_of(spec: Mapping[str, Any]) -> str | None:
    """The kubeport target, from the KUBEPORT_TARGET the Platform puts into the app's environment."""
    for container in containers(spec):
        for env in container.get("env") or []:
            if env.get("name") == "KUBEPORT_TARGET" and isinstance(env.get("value"), str):
                return str(env["value"])
    return None


# --- resource policies ----------------------------------------------------------------------------


def explicit_providers(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type.startswith("pulumi:providers:"):
        return
    provider = args.provider
    if provider is not None and provider.name.startswith("default"):
        report(
            f"{args.resource_type} {args.name} uses the default provider {provider.name!r}; pass an explicit "
            "provider (the ambient kubeconfig or cloud login is how resources land in the wrong place)",
            None,
        )


def image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    cloud = target_of(spec) in CLOUD_TARGETS
    for container in containers(spec):
        image = str(container.get("image") or "")
        name_and_tag = image.split("@", 1)[0]
        tag = name_and_tag.rsplit(":", 1)[1] if ":" in name_and_tag.rsplit("/", 1)[-1] else ""
        if not tag and "@sha256:" not in image:
            report(f"container {container.get('name')!r}: image {image!r} has no tag", None)
        elif tag == "latest":
            report(f"container {container.get('name')!r}: image {image!r} uses the mutable tag 'latest'", None)
        if cloud and "@sha256:" not in image:
            report(f"container {container.get('name')!r}: cloud stacks run images by digest, got {image!r}", None)


def restricted_pod_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    pod = spec.get("securityContext") or {}
    if _get(pod, "seccompProfile", "type") not in ("RuntimeDefault", "Localhost"):
        report("pod securityContext.seccompProfile.type must be RuntimeDefault", None)
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        report("pods may not share the host's network, PID or IPC namespaces", None)
    for container in containers(spec):
        name = container.get("name")
        sc = container.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or pod.get("runAsNonRoot")):
            report(f"container {name!r}: runAsNonRoot must be true", None)
        if sc.get("allowPrivilegeEscalation") is not False:
            report(f"container {name!r}: allowPrivilegeEscalation must be false", None)
        if sc.get("privileged"):
            report(f"container {name!r}: privileged is not allowed", None)
        if "ALL" not in (_get(sc, "capabilities", "drop") or []):
            report(f"container {name!r}: capabilities.drop must include ALL", None)
        if _get(sc, "capabilities", "add"):
            report(f"container {name!r}: capabilities.add is not allowed", None)
        if sc.get("readOnlyRootFilesystem") is not True:
            report(f"container {name!r}: readOnlyRootFilesystem must be true", None)


def probes_and_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for container in spec.get("containers") or []:
        name = container.get("name")
        if not container.get("readinessProbe"):
            report(f"container {name!r}: no readinessProbe", None)
        # A Deployment's or StatefulSet's containers serve traffic and must be restarted when stuck; the smoke Pod
        # only checks.
        if args.resource_type in WORKLOADS[:2] and not container.get("livenessProbe"):
            report(f"container {name!r}: no livenessProbe", None)
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            missing = [r for r in ("cpu", "memory") if r not in (resources.get(kind) or {})]
            if missing:
                report(f"container {name!r}: resources.{kind} lacks {', '.join(missing)}", None)


def protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in PROTECTED_TYPES and not args.opts.protect:
        report(
            f"{args.resource_type} {args.name} is not protected: only a deliberate teardown or migration "
            "(kubeport:releaseProtection true) should remove protection",
            None,
        )


def _require(report: ReportViolation, ok: bool, message: str) -> None:
    if not ok:
        report(message, None)


def eks_cluster(args: ResourceValidationArgs, report: ReportViolation) -> None:
    p = args.props
    if args.resource_type == "aws:eks/cluster:Cluster":
        logs = set(p.get("enabledClusterLogTypes") or [])
        _require(report, {"api", "audit", "authenticator"} <= logs, "EKS: enable api, audit and authenticator logs")
        encryption = p.get("encryptionConfig") or {}
        _require(
            report,
            "secrets" in (encryption.get("resources") or []) and bool(_get(encryption, "provider", "keyArn")),
            "EKS: encrypt Kubernetes Secrets with a KMS key (encryptionConfig)",
        )
        vpc = p.get("vpcConfig") or {}
        public = vpc.get("endpointPublicAccess", True)
        _require(report, not public or bool(vpc.get("publicAccessCidrs")), "EKS: limit the public endpoint to CIDRs")
    elif args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        _require(report, _get(p, "metadataOptions", "httpTokens") == "required", "EKS nodes: require IMDSv2")
    elif args.resource_type == "aws:ecr/repository:Repository":
        _require(report, _get(p, "imageScanningConfiguration", "scanOnPush") is True, "ECR: scan images on push")
        _require(report, p.get("imageTagMutability") == "IMMUTABLE", "ECR: tags must be immutable")


def aks_cluster(args: ResourceValidationArgs, report: ReportViolation) -> None:
    p = args.props
    if args.resource_type == "azure-native:containerservice:ManagedCluster":
        _require(report, p.get("enableRBAC") is True, "AKS: enable Kubernetes RBAC")
        _require(report, p.get("disableLocalAccounts") is True, "AKS: disable local accounts")
        _require(report, _get(p, "aadProfile", "managed") is True, "AKS: integrate Entra ID (aadProfile.managed)")
        _require(report, _get(p, "oidcIssuerProfile", "enabled") is True, "AKS: enable the OIDC issuer")
        _require(
            report,
            _get(p, "securityProfile", "workloadIdentity", "enabled") is True,
            "AKS: enable workload identity",
        )
        _require(report, bool(_get(p, "networkProfile", "networkPolicy")), "AKS: enforce NetworkPolicy")
        channel = _get(p, "autoUpgradeProfile", "upgradeChannel")
        _require(report, channel not in (None, "none"), "AKS: choose an auto-upgrade channel")
    elif args.resource_type == "azure-native:containerregistry:Registry":
        _require(report, p.get("adminUserEnabled") is not True, "ACR: keep the admin user off")


def gke_cluster(args: ResourceValidationArgs, report: ReportViolation) -> None:
    p = args.props
    if args.resource_type == "gcp:container/cluster:Cluster":
        _require(report, bool(_get(p, "workloadIdentityConfig", "workloadPool")), "GKE: enable workload identity")
        _require(report, p.get("enableShieldedNodes") is not False, "GKE: use shielded nodes")
        _require(
            report,
            _get(p, "releaseChannel", "channel") not in (None, "UNSPECIFIED"),
            "GKE: enrol the cluster in a release channel",
        )
        _require(report, p.get("removeDefaultNodePool") is True, "GKE: manage node pools separately")
        _require(
            report,
            p.get("datapathProvider") == "ADVANCED_DATAPATH" or _get(p, "networkPolicy", "enabled") is True,
            "GKE: enforce NetworkPolicy (Dataplane V2 or network policy enabled)",
        )
        _require(report, _get(p, "privateClusterConfig", "enablePrivateNodes") is True, "GKE: use private nodes")
    elif args.resource_type == "gcp:container/nodePool:NodePool":
        management = p.get("management") or {}
        _require(
            report,
            management.get("autoRepair") is True and management.get("autoUpgrade") is True,
            "GKE node pool: enable auto-repair and auto-upgrade",
        )
        config = p.get("nodeConfig") or {}
        _require(
            report,
            _get(config, "shieldedInstanceConfig", "enableSecureBoot") is True,
            "GKE node pool: enable secure boot",
        )
        _require(
            report,
            _get(config, "workloadMetadataConfig", "mode") == "GKE_METADATA",
            "GKE node pool: use the GKE metadata server",
        )
        _require(report, bool(config.get("serviceAccount")), "GKE node pool: run as a dedicated service account")
    elif args.resource_type == "gcp:artifactregistry/repository:Repository":
        _require(report, _get(p, "dockerConfig", "immutableTags") is True, "Artifact Registry: immutable tags")


def no_public_database(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A managed database is reached from inside the cluster's network only: no public address, in private
    subnets (RDS), a delegated subnet with public access off (Azure), a private IP only (Cloud SQL)."""
    p = args.props
    if args.resource_type == RDS:
        _require(report, p.get("publiclyAccessible") is False, "RDS: the instance must not be publicly accessible")
        # The group's subnets are other resources: this policy sees only that there is one (kubeport's holds the
        # cluster's private subnets, which the wiring tests check); without one RDS picks the default VPC's.
        _require(
            report,
            bool(p.get("dbSubnetGroupName")),
            "RDS: set a DB subnet group (dbSubnetGroupName) of private subnets; without one RDS uses the default VPC",
        )
    elif args.resource_type == AZURE_POSTGRES:
        network = p.get("network") or {}
        _require(
            report,
            network.get("publicNetworkAccess") == "Disabled",
            "Azure PostgreSQL: public network access must be Disabled",
        )
        _require(
            report,
            bool(network.get("delegatedSubnetResourceId")) and bool(network.get("privateDnsZoneArmResourceId")),
            "Azure PostgreSQL: private access needs a delegated subnet and a private DNS zone",
        )
    elif args.resource_type == CLOUD_SQL:
        ip = _get(p, "settings", "ipConfiguration") or {}
        _require(report, ip.get("ipv4Enabled") is False, "Cloud SQL: no public IP (ipConfiguration.ipv4Enabled false)")
        _require(report, bool(ip.get("privateNetwork")), "Cloud SQL: a private IP on the cluster's network")
        _require(report, not ip.get("authorizedNetworks"), "Cloud SQL: no authorized networks")


def encrypted_database_storage(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A managed database's storage is encrypted at rest: RDS by a KMS key (the cluster's); Azure by the service's
    key or one of Key Vault; Cloud SQL always, by Google's key or a customer-managed one."""
    p = args.props
    if args.resource_type == RDS:
        _require(report, p.get("storageEncrypted") is True, "RDS: encrypt the storage (storageEncrypted)")
        _require(report, bool(p.get("kmsKeyId")), "RDS: encrypt with the cluster's KMS key (kmsKeyId)")
    elif args.resource_type == AZURE_POSTGRES:
        _require(
            report,
            _get(p, "dataEncryption", "type") in ("SystemAssigned", "AzureKeyVault"),
            "Azure PostgreSQL: state the storage's encryption key (dataEncryption.type)",
        )


def cloud_volumes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A StorageClass on a cloud's disk driver keeps the disk when its claim goes (Retain), and its disks are not
    left unencrypted (EBS: encrypted with a KMS key; Azure and Google disks always are) nor exportable or public
    (Azure: no SAS export, no public endpoint)."""
    p = args.props
    driver = p.get("provisioner")
    if args.resource_type != STORAGE_CLASS or driver not in CLOUD_DISK_DRIVERS:
        return
    parameters = p.get("parameters") or {}
    _require(report, p.get("reclaimPolicy") == "Retain", f"{driver}: keep the disk when its claim goes (Retain)")
    if driver == "ebs.csi.aws.com":
        _require(report, parameters.get("encrypted") == "true", 'EBS volumes: encrypted "true"')
        _require(report, bool(parameters.get("kmsKeyId")), "EBS volumes: encrypted with the cluster's KMS key")
    elif driver == "disk.csi.azure.com":
        _require(
            report,
            parameters.get("networkAccessPolicy") == "DenyAll" and parameters.get("publicNetworkAccess") == "Disabled",
            "Azure disks: no SAS export (networkAccessPolicy DenyAll), no public endpoint (publicNetworkAccess "
            "Disabled)",
        )


ELASTICACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
AZURE_REDIS = "azure-native:redis:Redis"
MEMORYSTORE = "gcp:redis/instance:Instance"


def cloud_caches(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A managed Redis is private, encrypted and password-protected: ElastiCache in a subnet group of private
    subnets, TLS required, encrypted at rest with a KMS key, an AUTH token; Azure Cache for Redis without public
    network access or its non-TLS port, TLS 1.2 at least; Memorystore through private services access, TLS, AUTH."""
    p = args.props
    if args.resource_type == ELASTICACHE:
        _require(report, bool(p.get("subnetGroupName")), "ElastiCache: a subnet group of the cluster's private subnets")
        _require(
            report,
            p.get("transitEncryptionEnabled") is True and p.get("transitEncryptionMode", "required") == "required",
            "ElastiCache: TLS required (transitEncryptionEnabled, transitEncryptionMode required)",
        )
        _require(
            report,
            p.get("atRestEncryptionEnabled") is True and bool(p.get("kmsKeyId")),
            "ElastiCache: encrypted at rest with the cluster's KMS key (atRestEncryptionEnabled, kmsKeyId)",
        )
        _require(report, bool(p.get("authToken")), "ElastiCache: an AUTH token (authToken)")
    elif args.resource_type == AZURE_REDIS:
        _require(
            report,
            p.get("publicNetworkAccess") == "Disabled",
            "Azure Cache for Redis: public network access must be Disabled (a private endpoint only)",
        )
        _require(report, p.get("enableNonSslPort") is not True, "Azure Cache for Redis: the non-TLS port must be off")
        _require(report, p.get("minimumTlsVersion") == "1.2", "Azure Cache for Redis: TLS 1.2 at least")
    elif args.resource_type == MEMORYSTORE:
        _require(
            report,
            p.get("connectMode") == "PRIVATE_SERVICE_ACCESS",
            "Memorystore: connect through private services access (connectMode PRIVATE_SERVICE_ACCESS)",
        )
        _require(
            report,
            p.get("transitEncryptionMode") == "SERVER_AUTHENTICATION",
            "Memorystore: TLS (transitEncryptionMode SERVER_AUTHENTICATION)",
        )
        _require(report, p.get("authEnabled") is True, "Memorystore: AUTH on (authEnabled)")


S3_BUCKET = "aws:s3/bucket:Bucket"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_ACL = "aws:s3/bucketAcl:BucketAcl"
AZURE_STORAGE = "azure-native:storage:StorageAccount"
AZURE_CONTAINER = "azure-native:storage:BlobContainer"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCS_GRANTS = ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding")
ANYONE_ON_GOOGLE = ("allUsers", "allAuthenticatedUsers")
STATIC_KEYS = {
    "aws:iam/accessKey:AccessKey": "an IAM access key",
    "gcp:storage/hmacKey:HmacKey": "a Cloud Storage HMAC key",
    "gcp:serviceaccount/key:Key": "a Google service account key",
}
"""Cloud keys that never expire: kubeport's pods reach a cloud's object store by workload identity instead."""
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


def cloud_buckets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A bucket is private, encrypted with a KMS key and reached without a static key: every public access block
    setting on, no ACL or policy statement that grants anyone, SSE-KMS; no IAM access key or HMAC key at all."""
    p = args.props
    if args.resource_type == S3_PUBLIC_ACCESS_BLOCK:
        settings = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        off = [s for s in settings if p.get(s) is not True]
        _require(report, not off, f"S3: the public access block must have every setting on (off: {', '.join(off)})")
    elif args.resource_type == S3_ENCRYPTION:
        for rule in p.get("rules") or []:
            by_default = rule.get("applyServerSideEncryptionByDefault") or {}
            _require(
                report,
                str(by_default.get("sseAlgorithm", "")).startswith("aws:kms")
                and bool(by_default.get("kmsMasterKeyId")),
                "S3: objects encrypted with the cluster's KMS key (sseAlgorithm aws:kms, kmsMasterKeyId)",
            )
    elif args.resource_type == S3_POLICY and isinstance(p.get("policy"), str):
        statements = json.loads(p["policy"]).get("Statement") or []
        public = [s for s in statements if s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"})]
        _require(report, not public, "S3: no bucket policy statement may allow anyone (Principal *)")
    elif args.resource_type == S3_ACL:
        _require(report, p.get("acl") not in PUBLIC_ACLS, f"S3: no public ACL ({p.get('acl')})")
    elif args.resource_type == GCS_BUCKET:
        _gcs_bucket(p, report)
    elif args.resource_type == AZURE_STORAGE:
        _azure_storage(p, report)
    elif args.resource_type == AZURE_CONTAINER:
        _require(report, p.get("publicAccess") in (None, "None"), "Azure Blob: the container grants no public access")
    elif args.resource_type in GCS_GRANTS:
        members = [p.get("member"), *(p.get("members") or [])]
        _require(report, not set(members) & set(ANYONE_ON_GOOGLE), "Cloud Storage: no grant to allUsers or "
                 "allAuthenticatedUsers")  # fmt: skip
    elif args.resource_type in STATIC_KEYS:
        report(f"{STATIC_KEYS[args.resource_type]}: pods reach the cloud's object store by workload identity", None)


def _gcs_bucket(p: Mapping[str, Any], report: ReportViolation) -> None:
    _require(report, p.get("uniformBucketLevelAccess") is True, "Cloud Storage: uniform bucket-level access (no ACLs)")
    _require(report, p.get("publicAccessPrevention") == "enforced", "Cloud Storage: public access prevention enforced")
    _require(
        report,
        bool(_get(p, "encryption", "defaultKmsKeyName")),
        "Cloud Storage: objects encrypted with a Cloud KMS key of the stack's (encryption.defaultKmsKeyName)",
    )


def _azure_storage(p: Mapping[str, Any], report: ReportViolation) -> None:
    _require(report, p.get("allowBlobPublicAccess") is False, "Azure Storage: no anonymous access to any blob")
    _require(
        report,
        p.get("allowSharedKeyAccess") is False,
        "Azure Storage: no Shared Key (a static key): requests signed by Entra ID, the workload's identity",
    )
    _require(
        report,
        p.get("enableHttpsTrafficOnly", True) is True and p.get("minimumTlsVersion") == "TLS1_2",
        "Azure Storage: HTTPS only, TLS 1.2 at least",
    )
    _require(
        report,
        _get(p, "encryption", "requireInfrastructureEncryption") is True,
        "Azure Storage: encrypted twice (encryption.requireInfrastructureEncryption)",
    )


def complete_buckets(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each S3 bucket has its public access block and its KMS encryption (kubeport makes them one to one), and on a
    cloud no pod or Secret carries a static AWS key: the cloud's workload identity stands for it."""
    count = Counter(r.resource_type for r in args.resources)
    for kind, what in ((S3_PUBLIC_ACCESS_BLOCK, "public access block"), (S3_ENCRYPTION, "KMS encryption")):
        if count[kind] < count[S3_BUCKET]:
            report(f"S3: {count[S3_BUCKET]} buckets, {count[kind]} with a {what}", None)
    if not any(r.resource_type.split(":")[0] in ("aws", "azure-native", "gcp") for r in args.resources):
        return
    for res in args.resources:
        spec = pod_spec(res.resource_type, res.props) or {}
        named = {e.get("name") for c in containers(spec) for e in c.get("env") or []}
        keys = set((res.props.get("stringData") or {}) | (res.props.get("data") or {}))
        if res.resource_type != "kubernetes:core/v1:Secret":
            keys = set()
        if "AWS_SECRET_ACCESS_KEY" in named or keys & {"secretAccessKey", "AWS_SECRET_ACCESS_KEY"}:
            report(f"{res.name}: a static AWS key on a cloud: the workload's identity reaches the bucket", res.urn)


# --- stack policies -------------------------------------------------------------------------------


def _stack_target(args: StackValidationArgs) -> str | None:
    for res in args.resources:
        spec = pod_spec(res.resource_type, res.props)
        if spec is not None and (target := target_of(spec)):
            return target
    return None


def cloud_availability(args: StackValidationArgs, report: ReportViolation) -> None:
    if _stack_target(args) not in CLOUD_TARGETS:
        return
    budgets = [r for r in args.resources if r.resource_type == "kubernetes:policy/v1:PodDisruptionBudget"]
    # An autoscaler owns its Deployment's replica count: then its minimum is what must be at least 2.
    autoscaled = {
        _get(r.props, "spec", "scaleTargetRef", "name"): _get(r.props, "spec", "minReplicas") or 1
        for r in args.resources
        if r.resource_type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
        and _get(r.props, "spec", "scaleTargetRef", "kind") == "Deployment"
    }
    for res in args.resources:
        if res.resource_type != "kubernetes:apps/v1:Deployment":
            continue
        name = _get(res.props, "metadata", "name")
        fewest = autoscaled[name] if name in autoscaled else _get(res.props, "spec", "replicas") or 1
        if fewest < 2:
            report(f"Deployment {res.name}: cloud stacks run at least 2 replicas", res.urn)
        labels = _get(res.props, "spec", "template", "metadata", "labels") or {}
        covered = any(
            (selector := _get(b.props, "spec", "selector", "matchLabels") or {})
            and all(labels.get(k) == v for k, v in selector.items())
            for b in budgets
        )
        if not covered:
            report(f"Deployment {res.name}: no PodDisruptionBudget selects its pods", res.urn)


def eks_network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    """An EKS cluster kubeport creates enforces NetworkPolicies: the vpc-cni add-on with its network policy agent."""
    clusters = [r for r in args.resources if r.resource_type == "aws:eks/cluster:Cluster"]
    addons = [
        r.props
        for r in args.resources
        if r.resource_type == "aws:eks/addon:Addon" and r.props.get("addonName") == "vpc-cni"
    ]
    enforced = False
    for props in addons:
        try:
            values = json.loads(props.get("configurationValues") or "{}")
        except ValueError:
            values = {}
        enforced = enforced or str(values.get("enableNetworkPolicy", "")).lower() == "true"
    for cluster in clusters:
        if not enforced:
            report(
                f"EKS cluster {cluster.name}: NetworkPolicies are admitted but not enforced; add the vpc-cni "
                'add-on with configurationValues {"enableNetworkPolicy": "true"}',
                cluster.urn,
            )


def no_load_balancer_on_minikube(args: StackValidationArgs, report: ReportViolation) -> None:
    if _stack_target(args) != "minikube":
        return
    for res in args.resources:
        if res.resource_type == "kubernetes:core/v1:Service" and _get(res.props, "spec", "type") == "LoadBalancer":
            report(f"Service {res.name}: a LoadBalancer never gets an address on minikube; use NodePort", res.urn)


MANDATORY = EnforcementLevel.MANDATORY

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="explicit-providers",
        description="Every resource uses an explicit provider, never a default one.",
        validate=explicit_providers,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="images-pinned",
        description="No untagged or `latest` images; cloud stacks run images by digest.",
        validate=image_pinned,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="pod-security-restricted",
        description="Pods meet Pod Security 'restricted': non-root, no escalation, no capabilities, seccomp, "
        "read-only root filesystem.",
        validate=restricted_pod_security,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="probes-and-resources",
        description="Containers declare readiness (and, in Deployments, liveness) probes, requests and limits.",
        validate=probes_and_resources,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="clusters-and-registries-protected",
        description="Clusters, registries and managed databases are protected; releasing protection is for a "
        "deliberate teardown.",
        validate=protected,
        # Advisory: `kubeport:releaseProtection true` legitimately unprotects them before a teardown.
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    ResourceValidationPolicy(
        name="eks-hardening",
        description="EKS: control-plane logs, Secrets encryption, limited endpoint, IMDSv2 nodes, ECR scanning "
        "and immutable tags.",
        validate=eks_cluster,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="aks-hardening",
        description="AKS: RBAC with Entra ID, no local accounts, OIDC issuer and workload identity, network "
        "policy, an upgrade channel; ACR without admin user.",
        validate=aks_cluster,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="gke-hardening",
        description="GKE: workload identity, shielded and private nodes, release channel, network policy, "
        "managed node pool on its own account; immutable Artifact Registry tags.",
        validate=gke_cluster,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="no-public-database",
        description="Managed databases have no public endpoint: private subnets, private access, a private IP only.",
        validate=no_public_database,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="encrypted-database-storage",
        description="Managed databases encrypt their storage at rest (RDS with the cluster's KMS key).",
        validate=encrypted_database_storage,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="cloud-volumes",
        description="A cloud disk StorageClass retains its disks, encrypted (EBS with a KMS key), never exportable.",
        validate=cloud_volumes,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="cloud-caches",
        description="A managed Redis is private, TLS only, encrypted at rest (ElastiCache with a KMS key), with AUTH.",
        validate=cloud_caches,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="cloud-buckets",
        description="A bucket is private (every public access block on, no public ACL or policy), encrypted with a "
        "KMS key, and reached by workload identity: no IAM access key or HMAC key.",
        validate=cloud_buckets,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="complete-buckets",
        description="Each bucket has its public access block and KMS encryption; on a cloud no pod or Secret holds "
        "a static AWS key.",
        validate=complete_buckets,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="cloud-availability",
        description="On cloud stacks every Deployment runs at least 2 replicas behind a PodDisruptionBudget.",
        validate=cloud_availability,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="eks-network-policy",
        description="An EKS cluster enforces NetworkPolicies (the vpc-cni add-on with its network policy agent).",
        validate=eks_network_policy,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="no-load-balancer-on-minikube",
        description="minikube never assigns a LoadBalancer address: Services there are NodePort.",
        validate=no_load_balancer_on_minikube,
        enforcement_level=MANDATORY,
    ),
]
