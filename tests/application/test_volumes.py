"""A workload file's `volume`: a PersistentVolumeClaim of the workload's own, mounted where the file says, on the
target's StorageClass; the workload is a StatefulSet of one pod. On each cloud the class is
kubeport's: encrypted (EKS with the cluster's KMS key), retained when the claim goes, never public (AKS), its
driver reaching the cloud without a static key (EKS Pod Identity); and the claim is protected like the databases.
One stack profile at a time, under mocks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.application import API, named, run_files
from tools.verify.mock_runner import ProgramRun, Registered

PVC = "kubernetes:core/v1:PersistentVolumeClaim"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
NAMESPACE = "walkthrough"
"""The namespace of every stack profile here (the walkthrough stacks')."""
SECRET = "kubernetes:core/v1:Secret"
NOTES = """\
apiVersion: score.dev/v1b1
metadata: {name: notes}
containers:
  main:
    image: registry.example.com/notes:1.0.0
    volumes:
      /var/lib/notes:
        source: ${resources.data}
      /srv/shared:
        source: ${resources.data}
        path: shared
        readOnly: true
service:
  ports:
    http: {port: 80, targetPort: 8080}
resources:
  data:
    type: volume
    params: {size: 5Gi}
"""
CLOUD_CLASSES = {
    "walkthrough-eks": ("kubeport-gp3", "ebs.csi.aws.com"),
    "walkthrough-aks": ("kubeport-managed-csi", "disk.csi.azure.com"),
    "walkthrough-gke": ("kubeport-pd-balanced", "pd.csi.storage.gke.io"),
}


def run_notes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack: str) -> ProgramRun:
    run = run_files(monkeypatch, tmp_path, {"notes": NOTES, "api": API}, stack=stack)
    assert run.error is None, run.error
    # Every stack disables the default Kubernetes provider: an object without the Platform's fails the real `up`.
    deployment = named(run, STATEFULSET)["notes"]
    assert claim_of(run).provider == deployment.provider and deployment.provider.split("::")[-2] != "default"
    return run


def claim_of(run: ProgramRun) -> Registered:
    return named(run, PVC)["notes-data"]


def mounts_problems(run: ProgramRun) -> list[str]:
    """The notes pod mounts its claim twice (the root, and `shared` read-only), a StatefulSet of one pod; the other
    workload keeps its Deployment, replicas and rolling updates."""
    found = []
    if "notes" in named(run, DEPLOYMENT):
        found.append("notes is a Deployment: a deleted pod's replacement would start beside it on the volume")
    owner = named(run, STATEFULSET)["notes"]
    if owner.replace_on_changes != ["spec"] or not owner.delete_before_replace:
        found.append("a release updates the StatefulSet in place: the pinned provider's await would not wait for it")
    notes = owner.inputs["spec"]
    api = named(run, DEPLOYMENT)["api"].inputs["spec"]
    if notes["replicas"] != 1 or notes["podManagementPolicy"] != "OrderedReady":
        found.append(f"notes: {notes['replicas']} replicas, {notes['podManagementPolicy']}")
    if api["replicas"] == 1 or api["strategy"]["type"] != "RollingUpdate":
        found.append(f"api: {api['replicas']} replicas, {api['strategy']}")
    pod = notes["template"]["spec"]
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    }
    if list(claims.values()) != ["notes-data"]:
        found.append(f"claims: {claims}")
    (container,) = pod["containers"]
    mounts = [
        (claims.get(m["name"]), m["mountPath"], m.get("subPath"), m.get("readOnly")) for m in container["volumeMounts"]
    ]
    expected = [("notes-data", "/var/lib/notes", None, None), ("notes-data", "/srv/shared", "shared", True)]
    if [m for m in mounts if m[0]] != expected:
        found.append(f"mounts: {mounts}")
    if pod["securityContext"].get("fsGroup") is None:
        found.append("no fsGroup: a fresh disk's root is not writable by the pod's user")
    return found


def guard_problems(run: ProgramRun) -> list[str]:
    """The API server's own policy admits only the notes pods (their selector labels) mounting notes-data, in the
    application's namespace alone; it is in place before the pods start."""
    found = []
    policies = named(run, POLICY)
    bindings = named(run, BINDING)
    name = f"kubeport-{NAMESPACE}-notes-data"
    if set(policies) != {name} or set(bindings) != {name}:
        return [f"guards: {sorted(policies)}, bindings: {sorted(bindings)}"]
    spec = policies[name].inputs["spec"]
    (rule,) = spec["validations"]
    owner = named(run, STATEFULSET)["notes"]
    labels = owner.inputs["spec"]["template"]["metadata"]["labels"]
    selector = owner.inputs["spec"]["selector"]["matchLabels"]
    if "v.persistentVolumeClaim.claimName != 'notes-data'" not in rule["expression"]:
        found.append(f"the rule names another claim: {rule['expression']}")
    for key, value in selector.items():
        if f"object.metadata.labels['{key}'] == '{value}'" not in rule["expression"] or labels.get(key) != value:
            found.append(f"the rule does not hold the pods to {key}={value}")
    if spec["failurePolicy"] != "Fail" or spec["matchConstraints"]["resourceRules"][0]["resources"] != ["pods"]:
        found.append(f"the rule can be skipped: {spec}")
    binding = bindings[name].inputs["spec"]
    if binding["validationActions"] != ["Deny"] or binding["policyName"] != name:
        found.append(f"the binding does not deny: {binding}")
    if binding["matchResources"]["namespaceSelector"]["matchLabels"] != {"kubernetes.io/metadata.name": NAMESPACE}:
        found.append(f"the binding is not the namespace's: {binding['matchResources']}")
    if not {policies[name].urn, bindings[name].urn} <= dependencies_of(run, owner):
        found.append("the pods may start before the guard is in place")
    return found


def test_locally_the_claim_is_on_the_stacks_storage_class_and_mounted_where_the_file_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, "walkthrough")
    claim = claim_of(run)
    assert claim.inputs["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "kubeport-local",
        "resources": {"requests": {"storage": "5Gi"}},
    }
    assert claim.inputs["metadata"]["namespace"] == "walkthrough"
    assert not claim.protect, "a local cluster's claim is not protected (its class keeps the folder)"
    assert mounts_problems(run) == []
    assert guard_problems(run) == []
    assert not run.of_type(STORAGE_CLASS), "a local cluster offers its own class: kubeport makes none"


@pytest.mark.parametrize("stack", sorted(CLOUD_CLASSES))
def test_on_each_cloud_the_claim_is_on_kubeports_class_retained_and_protected(
    stack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, stack)
    name, driver = CLOUD_CLASSES[stack]
    (made,) = run.of_type(STORAGE_CLASS)
    assert (made.inputs["metadata"]["name"], made.inputs["provisioner"]) == (name, driver)
    assert made.inputs["reclaimPolicy"] == "Retain"
    assert made.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    claim = claim_of(run)
    assert claim.inputs["spec"]["storageClassName"] == name
    assert claim.protect, "a cloud's claim is protected like its databases"
    assert made.urn in dependencies_of(run, named(run, STATEFULSET)["notes"]), "the pods wait for the class"
    assert mounts_problems(run) == []
    assert guard_problems(run) == []
    assert volume_class_problems(run, stack) == []


def dependencies_of(run: ProgramRun, resource: Registered) -> set[str]:
    """What a resource waits for, directly or through its parents' dependencies."""
    by_urn = {r.urn: r for r in run.resources}
    found: set[str] = set()
    current: Registered | None = resource
    while current is not None:
        found.update(current.dependencies)
        current = by_urn.get(current.parent) if current.parent else None
    return found


def volume_class_problems(run: ProgramRun, stack: str) -> list[str]:
    """What makes a cloud's volumes unsafe: unencrypted (EKS: not with the cluster's key), public (AKS: a disk a
    SAS URL exports, or one with a public endpoint), a static key where the cloud has workload identity (EKS's
    driver through Pod Identity, not an access key in any Secret)."""
    (made,) = run.of_type(STORAGE_CLASS)
    parameters: dict[str, Any] = made.inputs.get("parameters") or {}
    found = []
    if stack == "walkthrough-eks":
        (key,) = [r for r in run.resources if r.type == "aws:kms/key:Key"]
        if parameters.get("encrypted") != "true" or parameters.get("kmsKeyId") != key.state.get("arn"):
            found.append(f"EBS volumes not encrypted with the cluster's key: {parameters}")
        addons = {r.inputs.get("addonName"): r for r in run.resources if r.type == "aws:eks/addon:Addon"}
        driver = addons.get("aws-ebs-csi-driver")
        if driver is None or "eks-pod-identity-agent" not in addons:
            found.append(f"no EBS CSI driver with the Pod Identity agent: {sorted(str(a) for a in addons)}")
        else:
            associations = driver.inputs.get("podIdentityAssociations") or []
            roles = {r.state.get("arn"): r for r in run.resources if r.type == "aws:iam/role:Role"}
            trusted = [
                json.loads(roles[a["roleArn"]].inputs["assumeRolePolicy"])
                for a in associations
                if a.get("roleArn") in roles
            ]
            if not trusted or trusted[0]["Statement"][0]["Principal"] != {"Service": "pods.eks.amazonaws.com"}:
                found.append(f"the EBS CSI driver reaches AWS through no Pod Identity role: {associations}")
    if stack == "walkthrough-aks" and (
        parameters.get("networkAccessPolicy") != "DenyAll" or parameters.get("publicNetworkAccess") != "Disabled"
    ):
        found.append(f"Azure disks exportable or publicly reachable: {parameters}")
    if stack == "walkthrough-gke" and parameters.get("type") != "pd-balanced":
        found.append(f"not pd-balanced: {parameters}")
    for secret in run.of_type(SECRET):
        text = json.dumps(secret.inputs).lower()
        if "aws_access_key_id" in text or "aws_secret_access_key" in text or "accountkey=" in text:
            found.append(f"a static cloud key in Secret {secret.name}")
    return found


def test_a_workload_without_a_volume_is_unchanged_and_no_class_is_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_files(monkeypatch, tmp_path, {"api": API}, stack="walkthrough-eks")
    assert run.error is None, run.error
    assert not run.of_type(STORAGE_CLASS) and not run.of_type(PVC)
    assert not [
        r
        for r in run.resources
        if r.type == "aws:eks/addon:Addon" and r.inputs.get("addonName") == "aws-ebs-csi-driver"
    ]
