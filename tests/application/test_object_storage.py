"""A workload file's `s3`: a bucket of the workload's own. Locally kubeport's in-cluster versitygw: HTTPS with a
certificate kubeport issues, a generated key pair the workload reads through the AWS SDKs' own variables (from a
Secret, never inline), the objects on a volume claim that outlives the pod, a NetworkPolicy admitting the declaring
workload only. The clouds' object stores are not built yet: each cloud target refuses the file by name before any
resource. One stack profile at a time, under mocks."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.application.parse import read_workload
from stacks.application.provision import problems
from stacks.application.spec import Application
from tests.across_targets.test_policy import resource_args, stack_args, violations
from tests.support.application import API, NETPOL, named, only_container, run_files
from tools.stack_files import ROOT
from tools.verify.mock_runner import ProgramRun

sys.path.insert(0, str(ROOT / "policy"))
import kubeport_policies as kp

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CA_PATH = "/etc/kubeport/postgres/ca.crt"
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
AZURE_STORAGE = "azure-native:storage:StorageAccount"
AZURE_CONTAINER = "azure-native:storage:BlobContainer"
NOTES = """\
apiVersion: score.dev/v1b1
metadata: {name: notes}
containers:
  main:
    image: registry.example.com/notes:1.0.0
    variables:
      S3_ENDPOINT: ${resources.files.endpoint}
      S3_BUCKET: ${resources.files.bucket}
      S3_REGION: ${resources.files.region}
service:
  ports:
    http: {port: 80, targetPort: 8080}
resources:
  files:
    type: s3
"""


def run_notes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack: str, notes: str = NOTES) -> ProgramRun:
    return run_files(monkeypatch, tmp_path, {"notes": notes, "api": API}, stack=stack)


def env_of(run: ProgramRun) -> dict[str, Any]:
    container = only_container(named(run, DEPLOYMENT)["notes"])
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_locally_the_bucket_is_kubeports_versitygw_over_https_its_keys_from_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, "walkthrough")
    assert run.error is None, run.error
    env = env_of(run)
    assert env["S3_ENDPOINT"] == "https://notes-files.walkthrough.svc"
    assert env["S3_BUCKET"] == "notes-files" and env["S3_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_CA_BUNDLE"] == CA_PATH
    # The key pair comes from the store's Secret, by reference: never written into the Deployment.
    for variable, key in (("AWS_ACCESS_KEY_ID", "accessKeyId"), ("AWS_SECRET_ACCESS_KEY", "secretAccessKey")):
        assert env[variable] == {"secretKeyRef": {"name": "notes-files", "key": key}}, env[variable]
    secret = named(run, SECRET)["notes-files"]
    assert set(secret.inputs["stringData"]) == {"accessKeyId", "secretAccessKey"}
    assert "libpq" not in str(env) and "PGSSLMODE" not in env

    store = named(run, STATEFULSET)["notes-files"].inputs["spec"]
    pod = store["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["/app/versitygw", "posix", "/data"]
    assert "args" not in container, "nothing secret (nor anything else) on its command line"
    server_env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert server_env["ROOT_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "notes-files", "key": "accessKeyId"}}
    assert server_env["VGW_CERT"] == "/etc/kubeport/tls/tls.crt" and server_env["VGW_PORT"] == ":7070"
    # The bucket is the claim, mounted under the store's root: it exists from the first start and outlives the pod.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data/notes-files"] == "bucket" and mounts["/data"] == "root"
    (claim,) = store["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "bucket" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert store["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    # HTTPS on the Service's 443, to the container's 7070.
    (port,) = named(run, SERVICE)["notes-files"].inputs["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (443, "s3")


def test_locally_only_the_declaring_workload_reaches_the_store_and_trusts_its_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, "walkthrough")
    assert run.error is None, run.error
    policy = named(run, NETPOL)["notes-files"].inputs["spec"]
    (rule,) = policy["ingress"]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in rule["from"]] == ["notes"]
    assert rule["ports"] == [{"port": 7070, "protocol": "TCP"}] and policy["egress"] == []
    egress = named(run, NETPOL)["notes"].inputs["spec"]["egress"]
    assert any(
        r["to"][0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/instance") == "notes-files"
        and r["ports"] == [{"port": 7070, "protocol": "TCP"}]
        for r in egress
    ), egress
    api_egress = named(run, NETPOL)["api"].inputs["spec"]["egress"]
    assert "notes-files" not in str(api_egress), "a workload that does not declare the store may not reach it"
    # The notes pods trust the store's own CA, in the bundle at the path AWS_CA_BUNDLE names.
    assert "BEGIN CERTIFICATE" in named(run, CONFIG_MAP)["notes-postgres-ca"].inputs["data"]["ca.crt"]


def test_variables_the_file_sets_itself_are_left_as_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    notes = NOTES.replace("    variables:\n", "    variables:\n      AWS_REGION: eu-west-1\n")
    run = run_notes(monkeypatch, tmp_path, "walkthrough", notes)
    assert run.error is None, run.error
    names = [e["name"] for e in only_container(named(run, DEPLOYMENT)["notes"])["env"]]
    assert names.count("AWS_REGION") == 1 and env_of(run)["AWS_REGION"] == "eu-west-1"


def test_an_app_stack_refuses_an_s3_resource_by_name_before_any_resource() -> None:
    workload = read_workload(Path("notes.score.yaml"), NOTES)[0]
    assert workload is not None
    application = Application(folder=Path("shop"), workloads=(workload,))
    (said,) = problems(application, "stackref")
    assert "notes.score.yaml: resources.files: target 'stackref' has no s3 provisioner" in said, said
    assert "s3 is provisioned on: minikube, existing, eks, aks, gke" in said, said


RUNS: dict[str, ProgramRun] = {}
"""One run of the notes file per cloud stack, shared by the tests that read it (none changes it: the plants work
on copies)."""


def cloud_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack: str) -> ProgramRun:
    if stack not in RUNS:
        run = run_notes(monkeypatch, tmp_path, stack)
        assert run.error is None, run.error
        RUNS[stack] = run
    return RUNS[stack]


def aks_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ProgramRun:
    return cloud_run(monkeypatch, tmp_path, "walkthrough-aks")


def test_on_aks_the_container_is_private_entra_id_only_and_reached_by_workload_identity_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = aks_run(monkeypatch, tmp_path)
    (account,) = run.of_type(AZURE_STORAGE)
    props = account.inputs
    assert props["allowBlobPublicAccess"] is False and props["allowSharedKeyAccess"] is False, "no anonymous, no key"
    assert props["minimumTlsVersion"] == "TLS1_2" and props["enableHttpsTrafficOnly"] is True
    assert props["encryption"]["requireInfrastructureEncryption"] is True and account.protect
    (container,) = run.of_type(AZURE_CONTAINER)
    assert container.inputs["publicAccess"] == "None" and container.protect
    (versions,) = by_type(run, "azure-native:storage:BlobServiceProperties").values()
    assert versions["isVersioningEnabled"] is True
    (identity,) = run.of_type("azure-native:managedidentity:UserAssignedIdentity")
    (role,) = [
        r.inputs for r in run.of_type("azure-native:authorization:RoleAssignment") if r.name == "notes-files-blob-data"
    ]
    assert role["roleDefinitionId"].endswith("/ba92f5b4-2d11-453d-a403-e96b0029c9fe"), "Storage Blob Data Contributor"
    assert role["scope"] == container.id and role["principalId"] == identity.state["principalId"], (
        "this container alone"
    )
    (federated,) = by_type(run, "azure-native:managedidentity:FederatedIdentityCredential").values()
    assert federated["subject"] == "system:serviceaccount:walkthrough:notes"
    assert federated["audiences"] == ["api://AzureADTokenExchange"] and federated["issuer"].startswith("https://")
    account_of_notes = named(run, "kubernetes:core/v1:ServiceAccount")["notes"].inputs
    assert account_of_notes["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": identity.state["clientId"]
    }
    template = named(run, DEPLOYMENT)["notes"].inputs["spec"]["template"]
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert template["spec"]["serviceAccountName"] == "notes"
    env = env_of(run)
    assert env["S3_ENDPOINT"] == f"https://{account.state['name']}.blob.core.windows.net"
    assert env["S3_BUCKET"] == container.state["name"] and not [v for v in env if v.startswith("AWS_")], env


def eks_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ProgramRun:
    return cloud_run(monkeypatch, tmp_path, "walkthrough-eks")


def by_type(run: ProgramRun, kind: str) -> dict[str, Any]:
    return {r.name: r.inputs for r in run.of_type(kind)}


def test_on_eks_the_bucket_is_private_encrypted_with_the_clusters_key_versioned_and_tls_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = eks_run(monkeypatch, tmp_path)
    (bucket,) = run.of_type(S3_BUCKET)
    assert bucket.inputs["bucketPrefix"] == "notes-files-" and bucket.inputs.get("forceDestroy") is False
    assert bucket.protect, "a bucket is protected like the databases"
    (block,) = by_type(run, S3_PUBLIC_ACCESS_BLOCK).values()
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets")), block  # fmt: skip
    (ownership,) = by_type(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").values()
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    (encryption,) = by_type(run, S3_ENCRYPTION).values()
    (rule,) = encryption["rules"]
    key_arns = [r.state["arn"] for r in run.of_type("aws:kms/key:Key")]
    by_default = rule["applyServerSideEncryptionByDefault"]
    assert by_default["sseAlgorithm"] == "aws:kms" and by_default["kmsMasterKeyId"] in key_arns
    (versioning,) = by_type(run, "aws:s3/bucketVersioning:BucketVersioning").values()
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    (policy,) = by_type(run, "aws:s3/bucketPolicy:BucketPolicy").values()
    (statement,) = json.loads(policy["policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_on_eks_only_the_workloads_own_account_reaches_the_bucket_through_pod_identity_with_no_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = eks_run(monkeypatch, tmp_path)
    (association,) = by_type(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation").values()
    assert association["serviceAccount"] == "notes" and association["namespace"] == "walkthrough"
    (account,) = named(run, "kubernetes:core/v1:ServiceAccount").values()
    assert account.inputs["metadata"]["name"] == "notes" and account.inputs["automountServiceAccountToken"] is False
    pods = named(run, DEPLOYMENT)
    assert pods["notes"].inputs["spec"]["template"]["spec"]["serviceAccountName"] == "notes"
    assert "serviceAccountName" not in pods["api"].inputs["spec"]["template"]["spec"], "api holds no identity"
    role = next(r for r in run.of_type("aws:iam/role:Role") if r.name == "notes-files-role")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    (access,) = [p for p in by_type(run, "aws:iam/rolePolicy:RolePolicy").values() if "s3:" in p["policy"]]
    resources = {str(s["Resource"]) for s in json.loads(access["policy"])["Statement"]}
    assert all("notes-files-" in r or ":kms:" in r for r in resources), resources
    # The pods read the region alone: the SDK finds the Pod Identity agent itself; no key, no CA bundle of ours.
    env = env_of(run)
    assert env["S3_ENDPOINT"] == "https://s3.eu-west-1.amazonaws.com" and env["AWS_REGION"] == "eu-west-1"
    assert env["S3_BUCKET"].startswith("notes-files-")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CA_BUNDLE"} & set(env), env
    assert run.of_type("aws:iam/accessKey:AccessKey") == []
    assert all("accessKeyId" not in str(r.inputs.get("stringData")) for r in run.of_type(SECRET))
    egress = named(run, NETPOL)["notes"].inputs["spec"]["egress"]
    blocks = {
        (r["to"][0]["ipBlock"]["cidr"], r["ports"][0]["port"]) for r in egress if "ipBlock" in r.get("to", [{}])[0]
    }
    assert blocks == {("0.0.0.0/0", 443), ("169.254.170.23/32", 80)}, blocks
    agents = [a for a in by_type(run, "aws:eks/addon:Addon").values() if a["addonName"] == "eks-pod-identity-agent"]
    assert len(agents) == 1, "one Pod Identity agent per cluster"


def test_a_second_bucket_and_a_bucket_name_beyond_s3s_bound_are_refused_naming_the_resource(tmp_path: Path) -> None:
    second = NOTES + "  more:\n    type: s3\n"
    _, problems = read_workload(tmp_path / "notes.score.yaml", second)
    assert any("resources.more: a second s3 resource (after 'files')" in p for p in problems), problems
    name = "n" * 40
    long = NOTES.replace("name: notes", f"name: {name}").replace("  files:\n", f"  {'f' * 30}:\n")
    long = long.replace("resources.files.", f"resources.{'f' * 30}.")
    _, problems = read_workload(tmp_path / f"{name}.score.yaml", long)
    assert any("longer than S3's 63 characters" in p for p in problems), problems


def test_on_eks_a_bucket_beside_volumes_and_an_ingress_shares_the_clusters_one_pod_identity_agent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notes = NOTES.replace(
        "    variables:\n", "    volumes:\n      /data:\n        source: ${resources.data}\n    variables:\n"
    )
    notes += "  data:\n    type: volume\n"
    routed = API + "resources:\n  web:\n    type: route\n    params: {host: shop.example.com, path: /, port: 80}\n"
    run = run_files(monkeypatch, tmp_path, {"notes": notes, "api": routed}, stack="walkthrough-eks",
                    overrides={"host": "shop.example.com"})  # fmt: skip
    assert run.error is None, run.error
    addons = [r for r in run.of_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "eks-pod-identity-agent"]
    assert [a.name for a in addons] == ["eks-pod-identity-agent"], [a.name for a in addons]
    (controller,) = [r for r in run.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                     if r.name == "alb-controller-pod-identity"]  # fmt: skip
    assert addons[0].urn in controller.dependencies, "the controller's association waits for the one agent"
    ebs = next(r for r in run.of_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "aws-ebs-csi-driver")
    assert addons[0].urn in ebs.dependencies


def gke_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ProgramRun:
    return cloud_run(monkeypatch, tmp_path, "walkthrough-gke")


def test_on_gke_the_bucket_is_private_encrypted_with_its_own_key_and_reached_by_workload_identity_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = gke_run(monkeypatch, tmp_path)
    (bucket,) = run.of_type(GCS_BUCKET)
    props = bucket.inputs
    assert props["uniformBucketLevelAccess"] is True and props["publicAccessPrevention"] == "enforced"
    assert props["versioning"] == {"enabled": True} and bucket.protect
    (key,) = run.of_type("gcp:kms/cryptoKey:CryptoKey")
    assert props["encryption"]["defaultKmsKeyName"] == key.id, "encrypted with the key made for it"
    assert key.inputs["rotationPeriod"] == "7776000s"
    (key_use,) = by_type(run, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember").values()
    assert key_use["member"].endswith("@gs-project-accounts.iam.gserviceaccount.com"), "Cloud Storage's agent alone"
    # One Google account may use the objects, and only the notes workload's ServiceAccount may act as it.
    (objects,) = by_type(run, "gcp:storage/bucketIAMMember:BucketIAMMember").values()
    assert objects["role"] == "roles/storage.objectUser" and objects["bucket"] == props["name"]
    (acts_as,) = by_type(run, "gcp:serviceaccount/iAMMember:IAMMember").values()
    assert acts_as["role"] == "roles/iam.workloadIdentityUser"
    assert acts_as["member"] == "serviceAccount:acme-kubeport.svc.id.goog[walkthrough/notes]"
    account = named(run, "kubernetes:core/v1:ServiceAccount")["notes"].inputs
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": objects["member"].split(":")[1]}
    assert named(run, DEPLOYMENT)["notes"].inputs["spec"]["template"]["spec"]["serviceAccountName"] == "notes"
    env = env_of(run)
    assert env["S3_ENDPOINT"] == "https://storage.googleapis.com" and env["S3_BUCKET"] == props["name"]
    assert not [v for v in env if v.startswith("AWS_")], env
    assert run.of_type("gcp:storage/hmacKey:HmacKey") == run.of_type("gcp:serviceaccount/key:Key") == []
    egress = named(run, NETPOL)["notes"].inputs["spec"]["egress"]
    blocks = {
        (r["to"][0]["ipBlock"]["cidr"], r["ports"][0]["port"]) for r in egress if "ipBlock" in r.get("to", [{}])[0]
    }
    assert blocks == {("0.0.0.0/0", 443), ("169.254.169.254/32", 80), ("169.254.169.252/32", 988)}, blocks


def test_the_bucket_tells_its_api_the_same_variable_on_every_target(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notes = NOTES.replace("    variables:\n", "    variables:\n      S3_API: ${resources.files.api}\n")
    apis = {}
    for stack in ("walkthrough", "walkthrough-eks", "walkthrough-gke", "walkthrough-aks"):
        run = run_notes(monkeypatch, tmp_path / stack, stack, notes)
        assert run.error is None, run.error
        apis[stack] = env_of(run)["S3_API"]
    assert apis == {
        "walkthrough": "s3",
        "walkthrough-eks": "s3",
        "walkthrough-gke": "gcs",
        "walkthrough-aks": "azure-blob",
    }


def test_a_long_bucket_name_is_cut_to_s3s_prefix_bound() -> None:
    from components.s3_bucket import bucket_prefix

    long = "w" * 40 + "-" + "r" * 20
    assert bucket_prefix("notes-files") == "notes-files-"
    assert len(bucket_prefix(long)) == 37 and bucket_prefix(long).endswith("-")


def _set(kind: str, **props: Any) -> Callable[[ProgramRun], tuple[str, Any]]:
    """A plant: one resource of `kind`, its properties changed; caught by `cloud-buckets`."""

    def plant(run: ProgramRun) -> tuple[str, Any]:
        (made,) = run.of_type(kind)
        return "resource", resource_args(made, {**copy.deepcopy(made.inputs), **props})

    return plant


def _added(kind: str, props: dict[str, Any], beside: str = S3_BUCKET) -> Callable[[ProgramRun], tuple[str, Any]]:
    """A plant: a resource the program never makes, as a stack that adds it would register it."""

    def plant(run: ProgramRun) -> tuple[str, Any]:
        (bucket,) = run.of_type(beside)
        return "resource", resource_args(dataclasses.replace(bucket, type=kind, name="planted"), props)

    return plant


def _without_encryption(run: ProgramRun) -> tuple[str, Any]:
    args = stack_args(run)
    args.resources = [r for r in args.resources if r.resource_type != S3_ENCRYPTION]
    return "stack", args


def _pods_given_a_key(run: ProgramRun) -> tuple[str, Any]:
    def change(kind: str, props: dict[str, Any]) -> None:
        if kind == DEPLOYMENT and props["metadata"]["name"] == "notes":
            container = props["spec"]["template"]["spec"]["containers"][0]
            container["env"].append({"name": "AWS_SECRET_ACCESS_KEY", "value": "planted"})

    return "stack", stack_args(run, change)


ANYONE = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]})
PLANTED: dict[str, Callable[[ProgramRun], tuple[str, Any]]] = {
    "public: a public access block setting off": _set(S3_PUBLIC_ACCESS_BLOCK, blockPublicPolicy=False),
    "public: a bucket policy allowing anyone": _set("aws:s3/bucketPolicy:BucketPolicy", policy=ANYONE),
    "public: a public-read ACL": _added("aws:s3/bucketAcl:BucketAcl", {"bucket": "b", "acl": "public-read"}),
    "unencrypted: S3's own key": _set(
        S3_ENCRYPTION, rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    ),
    "unencrypted: no encryption at all": _without_encryption,
    "static key: an IAM access key": _added("aws:iam/accessKey:AccessKey", {"user": "notes"}),
    "static key: the pods given AWS_SECRET_ACCESS_KEY": _pods_given_a_key,
}


GKE_PLANTED: dict[str, Callable[[ProgramRun], tuple[str, Any]]] = {
    "public: public access prevention inherited": _set(GCS_BUCKET, publicAccessPrevention="inherited"),
    "public: object ACLs back on": _set(GCS_BUCKET, uniformBucketLevelAccess=False),
    "public: a grant to allUsers": _set("gcp:storage/bucketIAMMember:BucketIAMMember", member="allUsers"),
    "unencrypted: Google's own key": _set(GCS_BUCKET, encryption=None),
    "static key: an HMAC key": _added("gcp:storage/hmacKey:HmacKey", {"serviceAccountEmail": "x"}, GCS_BUCKET),
    "static key: a service account key": _added("gcp:serviceaccount/key:Key", {"serviceAccountId": "x"}, GCS_BUCKET),
}


AKS_PLANTED: dict[str, Callable[[ProgramRun], tuple[str, Any]]] = {
    "public: anonymous blob access allowed": _set(AZURE_STORAGE, allowBlobPublicAccess=True),
    "public: a container open to anyone": _set(AZURE_CONTAINER, publicAccess="Container"),
    "unencrypted: one layer only": _set(AZURE_STORAGE, encryption={"keySource": "Microsoft.Storage"}),
    "static key: Shared Key allowed": _set(AZURE_STORAGE, allowSharedKeyAccess=True),
}


PLANTS = {
    **{("walkthrough-eks", plant): made for plant, made in PLANTED.items()},
    **{("walkthrough-gke", plant): made for plant, made in GKE_PLANTED.items()},
    **{("walkthrough-aks", plant): made for plant, made in AKS_PLANTED.items()},
}


@pytest.mark.parametrize(("stack", "plant"), sorted(PLANTS))
def test_a_public_unencrypted_or_static_key_bucket_on_each_cloud_is_caught(
    stack: str, plant: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kind, args = PLANTS[stack, plant](cloud_run(monkeypatch, tmp_path, stack))
    validate = kp.cloud_buckets if kind == "resource" else kp.complete_buckets
    assert violations(validate, args), f"{stack}: a bucket with {plant} passed"


@pytest.mark.parametrize("stack", ["walkthrough-eks", "walkthrough-gke", "walkthrough-aks"])
def test_the_policy_pack_passes_each_clouds_bucket_as_made(
    stack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = cloud_run(monkeypatch, tmp_path, stack)
    for made in run.resources:
        assert violations(kp.cloud_buckets, resource_args(made)) == [], made.name
    assert violations(kp.complete_buckets, stack_args(run)) == []
