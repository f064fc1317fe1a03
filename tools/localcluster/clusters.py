"""The local clusters' lifecycle: start, stop, up, down, status.

`python -m tools clusters up` starts them (contexts `kubeport-a`, `kubeport-b`, `kubeport-node` and
`kubeport-node-b` in one kubeconfig file), `down` stops every process and removes every file. A start makes the
cluster's certificates (pki), lets its node kind prepare (nodekinds: a real node's network namespace), runs the
control plane's steps in order (controlplane), then starts the node; any failure stops what started. On
`kubeport-a` and `kubeport-b` kwok simulates the node: it marks pods Running and Ready without running a container,
so the API server, admission (Pod Security), controllers, scheduler and Pulumi's awaits are real and the app itself
is not. `kubeport-node` and `kubeport-node-b` each have a node that runs containers (realnode), pulling from the
local registry (registry), which kubeport-node runs with BuildKit (builder). Every wait has a deadline; every
process is a session of its own, stopped by its pid (tools.processes).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import yaml

from tools import processes
from tools.localcluster import controlplane
from tools.localcluster.catalog import (
    CLUSTERS,
    STOP_GRACE,
    ClusterError,
    free_port,
    kubeconfig_path,
    private_state_dir,
    state_dir,
)
from tools.localcluster.controlplane import Cluster, Starter, kubeconfig
from tools.localcluster.nodekinds import KINDS
from tools.localcluster.pki import make_certificates
from tools.toolchain import Toolchain, toolchain


def start(name: str, tools: Toolchain | None = None, environ: Mapping[str, str] | None = None) -> Cluster:
    """Start cluster `name` (a key of CLUSTERS) with its node Ready; on any failure nothing is left."""
    tools = tools or toolchain(environ)
    missing = tools.missing(controlplane.TOOLS)
    if missing:
        raise ClusterError(f"not built: {', '.join(missing)}; run `make toolchain`")
    if shutil.which("openssl") is None:
        raise ClusterError("openssl not found: install it (Debian: apt-get install openssl)")
    lacking = KINDS[CLUSTERS[name].node].missing(tools)
    if lacking:
        raise ClusterError(f"{name}: {'; '.join(lacking)}")
    home = private_state_dir(environ) / name
    if (home / "cluster.json").exists():
        existing = load(name, environ)
        if existing is not None and all(processes.alive(pid) for pid in existing.pids().values()):
            return existing
        stop(name, environ)
    cluster = Cluster(name, home, apiserver_port=free_port(), etcd_port=free_port(), etcd_peer_port=free_port())
    home.mkdir(parents=True, exist_ok=True)
    try:
        _start(cluster, tools, environ)
    except BaseException:
        stop(name, environ)
        raise
    return cluster


def _start(cluster: Cluster, tools: Toolchain, environ: Mapping[str, str] | None) -> None:
    """Certificates, the node's preparation, the control plane's steps, the node; then cluster.json says it runs."""
    spec = CLUSTERS[cluster.name]
    node = KINDS[spec.node]
    make_certificates(cluster.pki, spec.service_cidr, spec.api_address)
    node.prepare(cluster, spec, environ)
    starter = Starter(cluster)
    controlplane.start(cluster, tools, spec, starter)
    node.start(cluster, tools, spec, starter, environ)
    (cluster.home / "cluster.json").write_text(
        json.dumps({"name": cluster.name, "apiserver_port": cluster.apiserver_port, "etcd_port": cluster.etcd_port})
    )


def load(name: str, environ: Mapping[str, str] | None = None) -> Cluster | None:
    """The running (or half-stopped) cluster `name`, from its cluster.json; None when it was never started."""
    home = state_dir(environ) / name
    info = home / "cluster.json"
    if not info.exists():
        return None
    data = json.loads(info.read_text())
    return Cluster(name, home, apiserver_port=int(data["apiserver_port"]), etcd_port=int(data["etcd_port"]))


def running(environ: Mapping[str, str] | None = None) -> list[Cluster]:
    found = [load(name, environ) for name in CLUSTERS]
    return [c for c in found if c is not None and c.pids() and all(processes.alive(p) for p in c.pids().values())]


def write_kubeconfig(environ: Mapping[str, str] | None = None) -> Path:
    """(Re)write the shared kubeconfig with a context for every running cluster."""
    path = kubeconfig_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(running(environ)), sort_keys=False))
    path.chmod(0o600)
    return path


def stop(name: str, environ: Mapping[str, str] | None = None) -> None:
    """Stop every process of cluster `name`, let its node undo what it did to the machine, and remove its files.

    One at a time, in reverse start order: the node's processes and the controllers first, the API server while
    etcd still answers (it drains against it), etcd last.
    """
    cluster = Cluster(name, state_dir(environ) / name)
    pids = cluster.pids()
    still = [process for process, pid in reversed(list(pids.items())) if not processes.stop(pid, STOP_GRACE)]
    if still:
        raise ClusterError(f"{name}: could not stop {', '.join(still)}")
    KINDS[CLUSTERS[name].node].stop(cluster, environ)
    shutil.rmtree(cluster.home, ignore_errors=True)


def up(names: Sequence[str] = tuple(CLUSTERS), environ: Mapping[str, str] | None = None) -> Path:
    """Start the named clusters (both by default); returns the kubeconfig path."""
    tools = toolchain(environ)
    for name in names:
        started = time.monotonic()
        cluster = start(name, tools, environ)
        print(f"{name}: {cluster.server} ready in {time.monotonic() - started:.1f} s ({cluster.home})", flush=True)
    return write_kubeconfig(environ)


def down(names: Sequence[str] = tuple(CLUSTERS), environ: Mapping[str, str] | None = None) -> None:
    """Stop the named clusters (in reverse start order: kubeport-node-b before the registry's kubeport-node); once
    none runs, remove the state directory itself."""
    for name in sorted(names, key=list(CLUSTERS).index, reverse=True):
        stop(name, environ)
        print(f"{name}: stopped, files removed", flush=True)
    if running(environ):
        write_kubeconfig(environ)
        return
    shutil.rmtree(state_dir(environ), ignore_errors=True)


@contextlib.contextmanager
def clusters_running(environ: Mapping[str, str] | None = None) -> Iterator[Path]:
    """Both clusters for the duration of a block (tests, benchmarks), stopped afterwards whatever happened."""
    try:
        yield up(environ=environ)
    finally:
        down(environ=environ)
