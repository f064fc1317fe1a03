"""The real-run toolchain's pins and the local clusters' pure parts (no build, no process started)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tools import localclusters
from tools.realrun import audit_events
from tools.stack_files import ROOT
from tools.toolchain import BUILD_SCRIPT, VERSIONS_FILE, Toolchain, root, shell_exports, versions


def requirement(package: str) -> str:
    pins: dict[str, str] = dict(
        re.findall(r"^([a-z0-9-]+)==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    )
    return pins[package]


def test_the_provider_plugin_is_built_at_exactly_the_sdk_version() -> None:
    pinned = versions()
    assert pinned["PULUMI_KUBERNETES_VERSION"] == requirement("pulumi-kubernetes")


def test_the_cli_is_at_least_the_python_sdk() -> None:
    def parts(version: str) -> tuple[int, ...]:
        return tuple(int(p) for p in version.split("."))

    assert parts(versions()["PULUMI_VERSION"]) >= parts(requirement("pulumi"))


def test_every_version_is_pinned_exactly() -> None:
    pinned = versions()
    assert set(pinned) >= {"PULUMI_VERSION", "KUBERNETES_VERSION", "ETCD_VERSION", "KWOK_VERSION", "CYCLONUS_VERSION"}
    for name, value in pinned.items():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", value), f"{name}={value}"


def test_the_build_script_parses_and_reads_the_one_versions_file() -> None:
    subprocess.run(["bash", "-n", str(BUILD_SCRIPT)], check=True, timeout=30)
    assert 'source "$here/versions.env"' in BUILD_SCRIPT.read_text()
    assert VERSIONS_FILE.parent == BUILD_SCRIPT.parent


def test_the_cache_lives_outside_the_clone_unless_told_otherwise() -> None:
    assert root({"HOME": "/home/u", "XDG_CACHE_HOME": "/cache"}) == Path("/cache/kubeport/toolchain")
    assert root({"KUBEPORT_TOOLCHAIN": "/opt/tc"}) == Path("/opt/tc")
    assert ROOT not in root().parents


def test_each_local_cluster_has_its_own_context_and_addresses() -> None:
    clusters = [localclusters.Cluster(name, Path(f"/s/{name}"), apiserver_port=p) for name, p in [("a", 1), ("b", 2)]]
    config = localclusters.kubeconfig(clusters)
    assert [c["name"] for c in config["contexts"]] == ["a", "b"]
    servers = [c["cluster"]["server"] for c in config["clusters"]]
    assert servers == ["https://127.0.0.1:1", "https://127.0.0.1:2"]
    ranges = list(localclusters.CLUSTERS.values())
    assert len({r[0] for r in ranges}) == len(ranges) and len({r[1] for r in ranges}) == len(ranges)


def test_the_node_is_one_kwok_manages_and_the_scheduler_may_use() -> None:
    node = localclusters.node_manifest("n")
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert "taints" not in node.get("spec", {})
    assert yaml.safe_dump(localclusters.AUDIT_POLICY)


def test_audit_events_keep_completed_changes_in_time_order(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    pod = {"resource": "pods", "namespace": "x", "name": "p"}
    lines = [
        {"stage": "ResponseComplete", "verb": "delete", "objectRef": pod, "userAgent": "pulumi-resource-kubernetes",
         "responseStatus": {"code": 200}, "stageTimestamp": "2026-11-27T10:00:02.000002Z"},
        {"stage": "ResponseStarted", "verb": "watch", "objectRef": {}, "stageTimestamp": "2026-11-27T10:00:00Z"},
        {"stage": "ResponseComplete", "verb": "create", "objectRef": {"resource": "namespaces", "name": "x"},
         "userAgent": "kubectl", "responseStatus": {"code": 201}, "stageTimestamp": "2026-11-27T10:00:01.5Z"},
    ]  # fmt: skip
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    events = audit_events(log)
    assert [(e.verb, e.resource, e.code) for e in events] == [("create", "namespaces", 201), ("delete", "pods", 200)]
    assert events[0].at < events[1].at


def test_clusters_status_starts_nothing_and_names_each_cluster(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools", "clusters", "status"],
        cwd=ROOT,
        env={**os.environ, "KUBEPORT_CLUSTERS": str(tmp_path / "clusters")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{name}: stopped" for name in localclusters.CLUSTERS]
    assert not (tmp_path / "clusters").exists()


def test_clusters_refuses_an_unknown_name() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools", "clusters", "up", "kubeport-z"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "unknown cluster(s): kubeport-z" in done.stderr


def test_the_simulated_ingress_controller_serves_exactly_the_local_ingress_class() -> None:
    (stage,) = [yaml.safe_load(p.read_text()) for p in sorted(localclusters.OWN_STAGES.glob("*.yaml"))]
    assert stage["kind"] == "Stage" and stage["spec"]["resourceRef"] == {
        "apiGroup": "networking.k8s.io/v1",
        "kind": "Ingress",
    }
    selects = {e["key"]: e for e in stage["spec"]["selector"]["matchExpressions"]}
    assert selects[".spec.ingressClassName"]["values"] == [localclusters.INGRESS_CLASS_NAME]
    assert localclusters.INGRESS_CLASS["metadata"]["name"] == localclusters.INGRESS_CLASS_NAME
    status = yaml.safe_load(stage["spec"]["next"]["statusTemplate"])
    assert status["loadBalancer"]["ingress"][0]["ip"].startswith("198.51.100.")  # TEST-NET-2: documentation only


def test_the_shell_exports_put_the_built_tools_first_and_keep_a_passphrase(tmp_path: Path) -> None:
    tools = Toolchain(tmp_path / "toolchain dir")
    lines = shell_exports(tools, tmp_path / "kubeconfig", "file:///x/.pulumi", tmp_path / "venv" / "python")
    script = "\n".join([*lines, 'printf "%s\\n" "$PATH" "$PULUMI_HOME" "$KUBECONFIG" "$PULUMI_CONFIG_PASSPHRASE"'])
    env = {"PATH": "/usr/bin:/bin", "PULUMI_CONFIG_PASSPHRASE": "kept"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True, timeout=30)
    path, home, kubeconfig, passphrase = done.stdout.splitlines()
    assert path == f"{tools.bin}:/usr/bin:/bin"
    assert (home, kubeconfig, passphrase) == (str(tools.pulumi_home), str(tmp_path / "kubeconfig"), "kept")
    assert "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true" in lines
    assert f"export PULUMI_PYTHON_CMD={tmp_path / 'venv' / 'python'}" in lines
