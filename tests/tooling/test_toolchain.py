"""The real-run toolchain's pins and the local clusters' pure parts (no build, no process started)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.localcluster import catalog, controlplane, nodeconfig, nodekinds, registry
from tools.localcluster.realrun import audit_events
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


def test_the_docker_build_plugin_is_built_at_exactly_the_sdk_version() -> None:
    assert versions()["PULUMI_DOCKER_BUILD_VERSION"] == requirement("pulumi-docker-build")


STUBS = ROOT / "toolchain" / "stubs"
STUBBED = {
    # provider.go's import alias and type -> the stand-in declaring it
    "csgen.CSharpPackageInfo": STUBS / "pulumi-language-dotnet" / "codegen" / "codegen.go",
    "java.PackageInfo": STUBS / "pulumi-java" / "pkg" / "codegen" / "java" / "java.go",
}


def fields_named(source: str, literal: str) -> set[str]:
    """The field names a Go composite literal `literal{...}` sets, at its own nesting level."""
    start = source.index(literal + "{") + len(literal) + 1
    depth, names, line_start = 1, set(), True
    for i in range(start, len(source)):
        char = source[i]
        if char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
            if depth == 0:
                break
        elif char == "\n":
            line_start = True
            continue
        if depth == 1 and line_start:
            match = re.match(r"\s*([A-Z]\w*)\s*:", source[i:])
            if match:
                names.add(match.group(1))
        line_start = line_start and char in " \t"
    return names


def declared_fields(stub: Path) -> set[str]:
    return set(re.findall(r"^\t([A-Z]\w*)\s+\S", stub.read_text(), re.MULTILINE))


def provider_source() -> Path | None:
    version = versions()["PULUMI_DOCKER_BUILD_VERSION"]
    path = root() / "go" / "mod" / "github.com" / "pulumi" / f"pulumi-docker-build@v{version}"
    source = path / "provider" / "internal" / "provider.go"
    return source if source.exists() else None


def test_the_stand_ins_declare_exactly_the_fields_the_provider_names() -> None:
    source = provider_source()
    if source is None:
        message = "the docker-build provider's source is not in the toolchain's module cache (make toolchain)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    text = source.read_text()
    for literal, stub in STUBBED.items():
        assert fields_named(text, literal) == declared_fields(stub), f"{literal} drifted from {stub.name}"


def test_the_field_reader_sees_what_a_literal_sets() -> None:
    sample = (
        'x := map[string]any{\n\t"csharp": csgen.CSharpPackageInfo{\n\t\tA: true,\n'
        '\t\tB: map[string]string{\n\t\t\t"C": "3.*",\n\t\t},\n\t},\n}'
    )
    assert fields_named(sample, "csgen.CSharpPackageInfo") == {"A", "B"}
    java = {"BuildFiles", "GradleNexusPublishPluginVersion", "Dependencies"}
    assert declared_fields(STUBBED["java.PackageInfo"]) == java


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


def test_make_test_builds_only_its_tools_and_without_go_says_so_and_goes_on(tmp_path: Path) -> None:
    """`make test` runs `build-toolchain --only test-tools` (cyclonus, actionlint): a wrong name is refused; with no
    Go on PATH nothing is built, the reason is given and `make test` goes on (their tests then skip, or fail under
    CI=true)."""
    tools = tmp_path / "bin"  # what the script needs before it looks for Go, and no Go wherever this machine has one
    tools.mkdir()
    for name in ("dirname", "mkdir"):
        (tools / name).symlink_to(str(shutil.which(name)))
    env = {"PATH": str(tools), "HOME": str(tmp_path), "KUBEPORT_TOOLCHAIN": str(tmp_path / "tc")}

    def build(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["/bin/bash", str(BUILD_SCRIPT), *args], env=env, capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip

    wrong = build("--only", "etcd")
    assert wrong.returncode == 2 and "--only takes test-tools" in wrong.stderr
    no_go = build("--only", "test-tools")
    assert no_go.returncode == 0 and "Go (1.26+) is not installed" in no_go.stdout, no_go
    assert not (tmp_path / "tc" / "bin").exists()
    assert "test-tools lint typecheck unit" in (ROOT / "Makefile").read_text()


def test_the_cache_lives_outside_the_clone_unless_told_otherwise() -> None:
    assert root({"HOME": "/home/u", "XDG_CACHE_HOME": "/cache"}) == Path("/cache/kubeport/toolchain")
    assert root({"KUBEPORT_TOOLCHAIN": "/opt/tc"}) == Path("/opt/tc")
    assert ROOT not in root().parents


def test_each_local_cluster_has_its_own_context_and_addresses() -> None:
    pair = [controlplane.Cluster(name, Path(f"/s/{name}"), apiserver_port=p) for name, p in [("a", 1), ("b", 2)]]
    config = controlplane.kubeconfig(pair)
    assert [c["name"] for c in config["contexts"]] == ["a", "b"]
    servers = [c["cluster"]["server"] for c in config["clusters"]]
    assert servers == ["https://127.0.0.1:1", "https://127.0.0.1:2"]
    specs = list(catalog.CLUSTERS.values())
    assert len({s.service_cidr for s in specs}) == len(specs) and len({s.pod_cidr for s in specs}) == len(specs)
    # Two of them run containers, each node with its own name, address and bridge, outside every cluster's ranges.
    real = [name for name, s in catalog.CLUSTERS.items() if s.node == "real"]
    assert real == [catalog.REAL_NODE, catalog.SECOND_REAL_NODE]
    assert sorted(nodeconfig.NODES) == sorted(real)
    nodes = [nodeconfig.NODES[name] for name in real]
    assert len({n.ip for n in nodes}) == len({n.bridge for n in nodes}) == len({n.name for n in nodes}) == 2
    # Each node is in a network namespace of its own (so the tests' traffic to it goes into a namespace the project
    # made), its cluster's API server on that namespace's gateway; the registry listens on the first node's gateway
    # (not 127.0.0.1, which the pullers would speak plain HTTP to).
    assert len({n.netns for n in nodes}) == 2 and all(n.netns == n.name for n in nodes)
    assert [catalog.CLUSTERS[name].api_address for name in real] == [n.gateway for n in nodes]
    assert registry.REGISTRY_HOST.split(":")[0] == nodes[0].gateway
    links = [ipaddress.ip_network(f"{n.gateway}/{nodeconfig.LINK_PREFIX}", strict=False) for n in nodes]
    assert all(ipaddress.ip_address(n.ip) in link for n, link in zip(nodes, links, strict=True))
    assert not links[0].overlaps(links[1])
    for node in nodes:
        address = ipaddress.ip_address(node.ip)
        assert not any(address in ipaddress.ip_network(r) for s in specs for r in (s.service_cidr, s.pod_cidr))
    assert all(len(name) <= 15 for n in nodes for name in (n.bridge, *n.link)), "Linux interface names"


def test_the_node_is_one_kwok_manages_and_the_scheduler_may_use() -> None:
    node = nodekinds.node_manifest("n")
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert "taints" not in node.get("spec", {})
    assert yaml.safe_dump(controlplane.AUDIT_POLICY)


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
    assert done.stdout.splitlines() == [f"{name}: stopped" for name in catalog.CLUSTERS]
    assert not (tmp_path / "clusters").exists()


def test_clusters_refuses_an_unknown_name() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools", "clusters", "up", "kubeport-z"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "unknown cluster(s): kubeport-z" in done.stderr


def test_the_simulated_ingress_controller_serves_exactly_the_local_ingress_class() -> None:
    (stage,) = [yaml.safe_load(p.read_text()) for p in sorted(nodekinds.OWN_STAGES.glob("*.yaml"))]
    assert stage["kind"] == "Stage" and stage["spec"]["resourceRef"] == {
        "apiGroup": "networking.k8s.io/v1",
        "kind": "Ingress",
    }
    selects = {e["key"]: e for e in stage["spec"]["selector"]["matchExpressions"]}
    assert selects[".spec.ingressClassName"]["values"] == [nodekinds.INGRESS_CLASS_NAME]
    assert nodekinds.INGRESS_CLASS["metadata"]["name"] == nodekinds.INGRESS_CLASS_NAME
    status = yaml.safe_load(stage["spec"]["next"]["statusTemplate"])
    assert status["loadBalancer"]["ingress"][0]["ip"].startswith("198.51.100.")  # TEST-NET-2: documentation only


def test_the_shell_exports_put_the_built_tools_first_and_keep_a_passphrase(tmp_path: Path) -> None:
    tools = Toolchain(tmp_path / "toolchain dir")
    docker = tmp_path / "builder" / "docker"
    lines = shell_exports(tools, tmp_path / "kubeconfig", "file:///x/.pulumi", tmp_path / "venv" / "python",
                          docker_config=docker)  # fmt: skip
    script = "\n".join([*lines, 'printf "%s\\n" "$PATH" "$PULUMI_HOME" "$KUBECONFIG" "$PULUMI_CONFIG_PASSPHRASE"',
                         'printf "%s\\n" "$DOCKER_CONFIG"'])  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PULUMI_CONFIG_PASSPHRASE": "kept"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True, timeout=30)
    path, home, kubeconfig, passphrase, docker_config = done.stdout.splitlines()
    # A stack that builds on kubeport-node finds the builder `kubeport-local` through it.
    assert docker_config == str(docker)
    assert path == f"{tools.bin}:/usr/bin:/bin"
    assert (home, kubeconfig, passphrase) == (str(tools.pulumi_home), str(tmp_path / "kubeconfig"), "kept")
    assert "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true" in lines
    assert f"export PULUMI_PYTHON_CMD={tmp_path / 'venv' / 'python'}" in lines
