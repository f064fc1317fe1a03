"""A workload file's `s3`: a bucket of the workload's own. Locally kubeport's in-cluster versitygw: HTTPS with a
certificate kubeport issues, a generated key pair the workload reads through the AWS SDKs' own variables (from a
Secret, never inline), the objects on a volume claim that outlives the pod, a NetworkPolicy admitting the declaring
workload only. The clouds' object stores are not built yet: each cloud target refuses the file by name before any
resource. One stack profile at a time, under mocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.application.parse import read_workload
from tests.support.application import API, NETPOL, named, only_container, run_files
from tools.verify.mock_runner import ProgramRun

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CA_PATH = "/etc/kubeport/postgres/ca.crt"
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


@pytest.mark.parametrize("stack", ["walkthrough-eks", "walkthrough-aks", "walkthrough-gke"])
def test_a_cloud_refuses_an_s3_resource_by_name_before_any_resource(
    stack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = run_notes(monkeypatch, tmp_path, stack)
    said = str(run.error)
    assert "notes.score.yaml: resources.files: target" in said and "has no s3 provisioner" in said, said
    assert "the cloud's s3 is not built yet); s3 is provisioned on: minikube, existing" in said, said
    assert run.resources == [], "nothing is created"


def test_a_second_bucket_and_a_bucket_name_beyond_s3s_bound_are_refused_naming_the_resource(tmp_path: Path) -> None:
    second = NOTES + "  more:\n    type: s3\n"
    _, problems = read_workload(tmp_path / "notes.score.yaml", second)
    assert any("resources.more: a second s3 resource (after 'files')" in p for p in problems), problems
    name = "n" * 40
    long = NOTES.replace("name: notes", f"name: {name}").replace("  files:\n", f"  {'f' * 30}:\n")
    long = long.replace("resources.files.", f"resources.{'f' * 30}.")
    _, problems = read_workload(tmp_path / f"{name}.score.yaml", long)
    assert any("longer than S3's 63 characters" in p for p in problems), problems
