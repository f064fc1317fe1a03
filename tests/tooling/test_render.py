"""`python -m tools render`: exactly the program's Kubernetes objects, as manifests, and the resource plan."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tools.stack_files import ROOT, app_stack_names, application_stack_names, cloud_application_stack_names, stack_names
from tools.verify.render import (
    GOLDEN,
    SECRET,
    UNKNOWN,
    api_version_and_kind,
    manifest,
    render,
    stale_golden,
    update_golden,
)

EXPECTED_KINDS = Counter(
    {"Namespace": 1, "NetworkPolicy": 2, "Deployment": 1, "Service": 1, "PodDisruptionBudget": 1, "Pod": 1}
)


@pytest.mark.parametrize("stack", app_stack_names())
def test_render_writes_one_manifest_per_registered_object(stack: str, tmp_path: Path) -> None:
    rendered = render(stack, tmp_path)
    files = sorted(tmp_path.glob("*.yaml"))
    assert len(files) == len(rendered.run.kubernetes_objects()) == 7
    docs = [yaml.safe_load(f.read_text()) for f in files]
    assert Counter(d["kind"] for d in docs) == EXPECTED_KINDS
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert names == {
        (api_version_and_kind(o.type)[1], o.inputs["metadata"]["name"]) for o in rendered.run.kubernetes_objects()
    }
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["apiVersion"] == "apps/v1"
    assert type(deployment["spec"]["replicas"]) is int  # not 2.0
    assert type(deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]) is int


@pytest.mark.parametrize("stack", stack_names())
def test_plan_lists_every_resource_with_parent_provider_and_protect(stack: str, tmp_path: Path) -> None:
    rendered = render(stack, tmp_path)
    lines = rendered.plan.read_text().splitlines()
    rows = [line for line in lines[3:] if line]
    assert len(rows) == len(rendered.run.resources)
    for res in rendered.run.resources:
        assert any(row.startswith(res.type) and f" {res.name} " in f"{row} " for row in rows), res.name
    if stack in ("eks", "aks", "gke"):
        cluster_rows = [r for r in rows if ":Cluster " in r or ":ManagedCluster " in r]
        assert cluster_rows and all(r.rstrip().endswith("yes") for r in cluster_rows)
    if stack in app_stack_names() or stack in application_stack_names() or stack in cloud_application_stack_names():
        deployment_row = next(
            r for r in rows if r.startswith(("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"))
        )
        assert "pulumi:providers:kubernetes::" in deployment_row
    else:
        assert rendered.manifests == {}, "a cluster stack deploys no app"


def test_secrets_are_redacted_and_unknowns_marked() -> None:
    from tools.verify.mock_runner import Registered

    obj = Registered(
        urn="u",
        id="i",
        type="kubernetes:core/v1:Secret",
        name="s",
        inputs={"metadata": {"name": "s"}, "stringData": {"token": "hunter2"}, "data": None},
        state={},
        provider="p",
        parent="",
        protect=False,
        custom=True,
        secret_inputs=["stringData"],
    )
    doc = manifest(obj)
    # The secret map keeps its keys (the manifest keeps its shape for the schema check); no value shows.
    assert doc["apiVersion"] == "v1" and doc["stringData"] == {"token": SECRET} and doc["data"] == UNKNOWN
    assert "hunter2" not in str(doc)


def test_cli_render_prints_the_plan(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools", "render", "dev", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "kubernetes:apps/v1:Deployment" in done.stdout and "7 manifests" in done.stdout
    assert (tmp_path / "plan.txt").exists()


def test_render_update_writes_the_golden_render_and_drops_what_the_stack_no_longer_makes(tmp_path: Path) -> None:
    (tmp_path / "walkthrough").mkdir()
    (tmp_path / "walkthrough" / "99-deployment-walkthrough-gone.yaml").write_text("kind: Deployment\n")
    count = update_golden("walkthrough", golden=tmp_path)
    written = {p.name: p.read_text() for p in (tmp_path / "walkthrough").iterdir()}
    assert "99-deployment-walkthrough-gone.yaml" not in written and len(written) == count + 1
    assert written == {p.name: p.read_text() for p in (GOLDEN / "walkthrough").iterdir()}
    # Each certificate kubeport issues, and each digest of it, stands in its place under its own name.
    ca = yaml.safe_load(written["21-configmap-walkthrough-payments-db-ca.yaml"])
    assert ca["data"]["ca.crt"] == "[made at deploy: payments-db-certificate.ca]"
    assert "BEGIN CERTIFICATE" not in "".join(written.values())
    assert stale_golden(["walkthrough"], golden=tmp_path) == []
    assert stale_golden([], golden=tmp_path) == ["walkthrough"]


def test_render_update_refuses_an_output_folder_and_unknown_stacks() -> None:
    for args, said in ((["--update", "--out", "x"], "--out does not apply"), (["nowhere"], "unknown stack")):
        done = subprocess.run([sys.executable, "-m", "tools", "render", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 2 and said in done.stderr, done.stderr
