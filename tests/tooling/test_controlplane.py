"""A local cluster's start-up, offline: the control plane's steps and their flags, the node kinds behind one
interface, and the process primitives every server of the local clusters is started, watched and stopped with."""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

import pytest

from tools import processes
from tools.localcluster import catalog, controlplane, nodekinds
from tools.localcluster.controlplane import STEPS, Cluster
from tools.toolchain import Toolchain


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Toolchain:
    """A toolchain whose binaries are empty executables: the steps only name them."""
    root = tmp_path_factory.mktemp("toolchain")
    (root / "bin").mkdir()
    for name in controlplane.TOOLS:
        (root / "bin" / name).touch(mode=0o755)
    return Toolchain(root)


def _cluster(tmp_path: Path, name: str = "kubeport-a") -> Cluster:
    return Cluster(name, tmp_path / name, apiserver_port=6443, etcd_port=2379, etcd_peer_port=2380)


def _flags(args: list[str]) -> dict[str, str]:
    """`--name=value` and `--switch` (value "") of a command line."""
    return {name: value for name, _, value in (a.partition("=") for a in args[1:] if a.startswith("--"))}


def test_the_control_plane_starts_in_order_and_waits_where_the_next_step_needs_it() -> None:
    assert [s.name for s in STEPS] == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert [s.ready is not None for s in STEPS] == [True, True, False, False]


@pytest.mark.parametrize("name", list(catalog.CLUSTERS))
def test_each_step_runs_its_own_program_with_every_file_below_the_clusters_home(
    tmp_path: Path, name: str, tools: Toolchain
) -> None:
    cluster, spec = _cluster(tmp_path, name), catalog.CLUSTERS[name]
    for step in STEPS:
        args = step.args(cluster, tools, spec)
        assert args[0] == str(tools.tool(step.name))
        paths = [v for v in _flags(args).values() if v.startswith("/")]
        assert paths and all(Path(p).is_relative_to(cluster.home) for p in paths), (step.name, paths)


def test_etcd_admits_only_clients_its_own_ca_signed_and_listens_on_loopback(tmp_path: Path, tools: Toolchain) -> None:
    cluster = _cluster(tmp_path)
    flags = _flags(controlplane.etcd_args(cluster, tools, catalog.CLUSTERS[cluster.name]))
    assert "--client-cert-auth" in flags
    assert flags["--trusted-ca-file"] == str(cluster.pki / "etcd-ca.crt")
    assert flags["--listen-client-urls"] == "https://127.0.0.1:2379"
    assert flags["--listen-peer-urls"] == "http://127.0.0.1:2380"


@pytest.mark.parametrize("name", list(catalog.CLUSTERS))
def test_the_api_server_refuses_anonymous_and_privileged_and_audits_on_its_own_address(
    tmp_path: Path, name: str, tools: Toolchain
) -> None:
    cluster, spec = _cluster(tmp_path, name), catalog.CLUSTERS[name]
    flags = _flags(controlplane.apiserver_args(cluster, tools, spec))
    assert flags["--anonymous-auth"] == "false"
    assert flags["--authorization-mode"] == "RBAC"
    assert flags["--allow-privileged"] == "false"
    assert flags["--bind-address"] == spec.api_address == flags["--advertise-address"]
    assert flags["--service-cluster-ip-range"] == spec.service_cidr
    assert flags["--audit-log-path"] == str(cluster.audit_log)
    assert flags["--etcd-servers"] == "https://127.0.0.1:2379"
    assert flags["--etcd-certfile"] == str(cluster.pki / "etcd-client.crt")


@pytest.mark.parametrize("step", [controlplane.controller_manager_args, controlplane.scheduler_args])
def test_the_controllers_and_the_scheduler_open_no_port(tmp_path: Path, step: object, tools: Toolchain) -> None:
    cluster = _cluster(tmp_path)
    flags = _flags(step(cluster, tools, catalog.CLUSTERS[cluster.name]))  # type: ignore[operator]
    assert flags["--secure-port"] == "0" and flags["--bind-address"] == "127.0.0.1"
    assert flags["--kubeconfig"] == str(cluster.own_kubeconfig)


def test_every_cluster_names_a_node_kind_and_every_kind_offers_the_whole_interface() -> None:
    assert {spec.node for spec in catalog.CLUSTERS.values()} <= set(nodekinds.KINDS)
    wanted = {n for n, _ in inspect.getmembers(nodekinds.NodeKind, inspect.isfunction) if not n.startswith("_")}
    assert wanted == {"missing", "prepare", "start", "stop"}
    for kind in nodekinds.KINDS.values():
        for method in wanted:
            ours = inspect.signature(getattr(kind, method))
            theirs = inspect.signature(getattr(nodekinds.NodeKind, method))
            assert list(ours.parameters) == list(theirs.parameters)[1:], (kind, method)


def test_kwok_manages_only_the_nodes_annotated_as_its_own(tmp_path: Path, tools: Toolchain) -> None:
    cluster = _cluster(tmp_path)
    args = nodekinds.kwok_args(cluster, tools, catalog.CLUSTERS[cluster.name], [Path("/s/a.yaml")])
    flags = _flags(args)
    assert flags["--manage-all-nodes"] == "false"
    assert flags["--manage-nodes-with-annotation-selector"] == "kwok.x-k8s.io/node=fake"
    node = nodekinds.node_manifest("n")
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"


def test_a_spawned_server_is_alive_until_stopped_and_its_output_goes_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    pid = processes.spawn([sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"],
                          log=log, cwd=tmp_path)  # fmt: skip
    try:
        assert processes.wait_for(lambda: "up" in log.read_text(), 20, interval=0.1) is None
        assert processes.alive(pid)
    finally:
        assert processes.stop(pid, grace=5)
    assert not processes.alive(pid)
    assert processes.log_tail(log) == "up"


def test_a_server_that_ignores_term_is_killed_after_its_grace(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    log = tmp_path / "stubborn.log"
    pid = processes.spawn([sys.executable, "-c", code], log=log, cwd=tmp_path)
    assert processes.wait_for(lambda: "up" in log.read_text(), 20, interval=0.1) is None
    started = time.monotonic()
    assert processes.stop(pid, grace=1)
    assert 1 <= time.monotonic() - started < 10


def test_what_a_stopped_server_left_is_killed_at_once_with_its_session(tmp_path: Path) -> None:
    code = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(child.pid, flush=True); time.sleep(60)")  # fmt: skip
    log = tmp_path / "shim.log"
    pid = processes.spawn([sys.executable, "-c", code], log=log, cwd=tmp_path)
    assert processes.wait_for(lambda: log.read_text().strip().isdigit(), 20, interval=0.1) is None
    child = int(log.read_text())
    processes.kill_now(pid)
    assert processes.wait_for(lambda: not processes.alive(pid) and not processes.alive(child), 5, interval=0.05) is None
    processes.kill_now(pid)  # gone already: nothing to say


def test_a_wait_ends_at_once_when_a_server_dies_and_says_so_at_the_deadline() -> None:
    started = time.monotonic()
    assert processes.wait_for(lambda: False, 30, dead=lambda: "etcd exited", interval=0.05) == "etcd exited"
    assert time.monotonic() - started < 5
    assert processes.wait_for(lambda: False, 0.2, interval=0.05) == "not ready after 0 s"

    def refused() -> bool:
        raise ConnectionRefusedError

    assert processes.wait_for(refused, 0.2, interval=0.05) is not None  # not yet answering: no exception
