"""Which local clusters exist, where each keeps its files, and the error every part of starting one raises.

Each cluster has address ranges of its own (no two clusters' addresses look alike) and a node kind: kwok's
simulated node, or a node that runs containers (tools/localcluster/nodekinds.py). Their files sit below one state
directory, private to the user who starts them.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tools.private import not_private


@dataclass(frozen=True)
class ClusterSpec:
    """One local cluster's address ranges (distinct, so no two clusters' addresses look alike) and its node."""

    service_cidr: str
    pod_cidr: str
    node: Literal["kwok", "real"] = "kwok"
    api_address: str = "127.0.0.1"
    """Where the API server listens: a node that runs containers, in a network namespace of its own, reaches it on
    the namespace's gateway (tools.localcluster.nodeconfig.NODES)."""


CLUSTERS: Mapping[str, ClusterSpec] = {
    "kubeport-a": ClusterSpec("10.96.0.0/16", "10.244.0.0/24"),
    "kubeport-b": ClusterSpec("10.97.0.0/16", "10.245.0.0/24"),
    "kubeport-node": ClusterSpec("10.98.0.0/16", "10.246.0.0/24", node="real", api_address="10.250.0.1"),
    "kubeport-node-b": ClusterSpec("10.99.0.0/16", "10.247.0.0/24", node="real", api_address="10.250.1.1"),
}


REAL_NODE = "kubeport-node"
"""The cluster whose node runs the registry and BuildKit beside it; kubeport-node-b needs it running."""


SECOND_REAL_NODE = "kubeport-node-b"


START_TIMEOUT = 120.0
"""Seconds for one process to answer (etcd, the API server) or the node to turn Ready."""


STOP_GRACE = 15.0
"""Seconds a process has to exit after TERM (and again after KILL)."""


LEFTOVER_GRACE = 10.0
"""Seconds the node's stop may take to disappear from the kernel's tables before it counts as left behind."""


class ClusterError(Exception):
    """A cluster did not start or stop; the message says which process and shows its log's tail. The errors of the
    real node, its registry and its builder (tools.localcluster: realnode, registry, builder) are ClusterErrors too,
    so every caller that starts a cluster names them in one message."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the clusters keep certificates, etcd data, logs and pids: $KUBEPORT_CLUSTERS or a temp dir."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("KUBEPORT_CLUSTERS") or Path(tempfile.gettempdir()) / "kubeport-clusters")


def private_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The state directory, made private to this user: created 0700, or, when it exists, refused unless it is a
    directory (not a link) this user owns that no one else may enter. It holds the clusters' keys, the registry's
    password and a cluster-admin kubeconfig, and sits at a predictable path under the system's temp directory."""
    home = state_dir(environ)
    try:
        home.mkdir(mode=0o700)
        os.chmod(home, 0o700)  # whatever the umask
    except FileExistsError:
        pass
    if problem := not_private(home, directory=True):
        raise ClusterError(
            f"{home} {problem}. It would hold the clusters' keys and passwords: remove it (or set KUBEPORT_CLUSTERS "
            "to a folder of your own) and start again"
        )
    return home


def builder_home(environ: Mapping[str, str] | None = None) -> Path:
    """The node cluster's BuildKit folder: its socket, and the docker config that names its buildx builder."""
    return state_dir(environ) / REAL_NODE / "buildkit"


def registry_home(environ: Mapping[str, str] | None = None) -> Path:
    """The local registry's folder: its data, CA, certificate and password."""
    return state_dir(environ) / "registry"


def kubeconfig_path(environ: Mapping[str, str] | None = None) -> Path:
    """One kubeconfig file with a context per running cluster (export KUBECONFIG=<this>)."""
    return state_dir(environ) / "kubeconfig"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
