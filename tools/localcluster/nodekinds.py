"""The kinds of node a local cluster has (`ClusterSpec.node`), behind one interface, `NodeKind`:

- `kwok`: kwok keeps one simulated node Ready and marks its pods Running and Ready; no container runs. What a
  controller would add that kwok does not (an Ingress's address) comes from kubeport's own stages in `kwok/`.
- `real`: a node that runs containers (tools/localcluster/realnode.py) in a network namespace of its own, pulling
  from the local registry; the first such cluster (REAL_NODE) also runs the registry and BuildKit.

The cluster's lifecycle (tools/localcluster/clusters.py) asks the kind what it misses, lets it prepare before the
control plane starts, start after it, and clean up after the cluster's processes stopped; it never asks which kind
it has.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from tools.localcluster import builder, nodeaddons, nodeconfig, realnode, registry
from tools.localcluster.catalog import (
    LEFTOVER_GRACE,
    REAL_NODE,
    ClusterError,
    ClusterSpec,
    builder_home,
    free_port,
    registry_home,
)
from tools.localcluster.controlplane import Cluster, Starter, conditions
from tools.localcluster.pki import node_certificates
from tools.localcluster.storage import local_storage
from tools.toolchain import Toolchain


class NodeKind(Protocol):
    """What a cluster's lifecycle asks of its node."""

    def missing(self, tools: Toolchain) -> list[str]:
        """One line for each thing this kind of node needs and the machine lacks (beyond the control plane's)."""
        ...

    def prepare(self, cluster: Cluster, spec: ClusterSpec, environ: Mapping[str, str] | None) -> None:
        """Before the control plane starts (its certificates are made)."""
        ...

    def start(
        self, cluster: Cluster, tools: Toolchain, spec: ClusterSpec, starter: Starter, environ: Mapping[str, str] | None
    ) -> None:
        """Once the control plane answers: the node Ready, and what the cluster offers on it."""
        ...

    def stop(self, cluster: Cluster, environ: Mapping[str, str] | None) -> None:
        """After the cluster's processes stopped: undo what the node did to the machine, checked."""
        ...


def _ready_with_service_accounts(cluster: Cluster, name: str, *, untainted: bool) -> bool:
    """The node `name` Ready (and without taints, if asked), and the controllers running (the default
    ServiceAccount made)."""
    node = json.loads(cluster.get(f"/api/v1/nodes/{name}")[1])
    if node.get("kind") != "Node":
        return False
    taints = (node.get("spec") or {}).get("taints") or []
    account = cluster.get("/api/v1/namespaces/default/serviceaccounts/default")[0]
    return conditions(node).get("Ready") == "True" and not (untainted and taints) and account == 200


KWOK_NODE = "kwok-node-0"
OWN_STAGES = Path(__file__).resolve().parent / "kwok"
"""kubeport's own kwok stages, beside kwok's: what a controller would do that no kwok node does."""
INGRESS_CLASS_NAME = nodeaddons.CLASS_NAME
INGRESS_CLASS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "IngressClass",
    "metadata": {"name": INGRESS_CLASS_NAME},
    # No controller runs: tools/localcluster/kwok/ingress-address.yaml gives these Ingresses an address instead.
    "spec": {"controller": "kubeport.local/simulated-by-kwok"},
}


def node_manifest(name: str) -> dict[str, Any]:
    """A Node that kwok manages (its annotation) and keeps Ready; no taint, room for a few hundred pods."""
    resources = {"cpu": "16", "memory": "64Gi", "pods": "250", "ephemeral-storage": "200Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": "local-a",
                "type": "kwok",
            },
        },
        # kwok's node-initialize stage fills in the rest (conditions, addresses, node info).
        "status": {"allocatable": resources, "capacity": resources},
    }


def kwok_args(cluster: Cluster, tools: Toolchain, spec: ClusterSpec, stages: list[Path]) -> list[str]:
    """kwok, managing only the nodes annotated as its own, with its stages and kubeport's."""
    return [
        str(tools.tool("kwok")),
        f"--kubeconfig={cluster.own_kubeconfig}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={spec.pod_cidr}",
        "--node-lease-duration-seconds=40",
        *[f"--config={stage}" for stage in stages],
    ]


class KwokNode:
    """One simulated node: kwok marks its pods Running and Ready; no container runs."""

    def missing(self, tools: Toolchain) -> list[str]:
        return []  # kwok is one of the control plane's tools

    def prepare(self, cluster: Cluster, spec: ClusterSpec, environ: Mapping[str, str] | None) -> None:
        pass  # nothing outside the cluster's home

    def start(
        self, cluster: Cluster, tools: Toolchain, spec: ClusterSpec, starter: Starter, environ: Mapping[str, str] | None
    ) -> None:
        # kwok's own node and pod lifecycles, and kubeport's stand-in for an Ingress controller.
        stages = sorted(tools.kwok_stages.glob("*.yaml")) + sorted(OWN_STAGES.glob("*.yaml"))
        if not stages:
            raise ClusterError(f"no kwok stages in {tools.kwok_stages}; run `make toolchain`")
        starter.spawn("kwok", kwok_args(cluster, tools, spec, stages))
        items = [node_manifest(KWOK_NODE), INGRESS_CLASS, *local_storage(cluster.home, KWOK_NODE)]
        cluster.apply(tools, items, "the node, IngressClass and volumes")
        starter.wait(
            f"node {KWOK_NODE} Ready, controllers running",
            lambda: _ready_with_service_accounts(cluster, KWOK_NODE, untainted=True),
        )

    def stop(self, cluster: Cluster, environ: Mapping[str, str] | None) -> None:
        pass  # its processes and files are the cluster's


def missing_real_node_prerequisites(tools: Toolchain) -> list[str]:
    """What the node that runs containers, its registry and its builder need and this machine lacks."""
    lines = realnode.missing_prerequisites(tools) + registry.missing_prerequisites()
    lines += [f"{name} not built (make toolchain)" for name in tools.missing(nodeaddons.TOOLS)]
    lines += [f"{name} not built (make toolchain)" for name in tools.missing(("buildkitd", "buildctl", "buildx"))]
    if shutil.which("mmdebstrap") is None:
        lines.append("`mmdebstrap` not found (Debian: mmdebstrap): it makes the stand-in base image")
    return lines


class RealNode:
    """A node that runs containers, in a network namespace of its own, pulling from the local registry (started
    first: containerd must trust it). REAL_NODE starts the registry and BuildKit; the other real node uses them."""

    def missing(self, tools: Toolchain) -> list[str]:
        return missing_real_node_prerequisites(tools)

    def prepare(self, cluster: Cluster, spec: ClusterSpec, environ: Mapping[str, str] | None) -> None:
        if cluster.name != REAL_NODE and registry.running(registry_home(environ)) is None:
            raise ClusterError(
                f"{cluster.name} pulls from the registry {REAL_NODE} runs: start {REAL_NODE} first "
                f"(`python -m tools clusters up {REAL_NODE} {cluster.name}`)"
            )
        node = nodeconfig.NODES[cluster.name]
        node_certificates(cluster.pki, node.ip, nodeaddons.metrics_server_dns())
        # Before the API server: a node in a namespace of its own reaches it on the namespace's gateway.
        realnode.add_network(node, cluster.home, spec.pod_cidr, spec.service_cidr)

    def start(
        self, cluster: Cluster, tools: Toolchain, spec: ClusterSpec, starter: Starter, environ: Mapping[str, str] | None
    ) -> None:
        node = nodeconfig.NODES[cluster.name]
        node_registry = registry.start(registry_home(environ), tools)
        realnode.start(
            home=cluster.home,
            pki=cluster.pki,
            kubeconfig=cluster.own_kubeconfig,
            context=cluster.name,
            pod_cidr=spec.pod_cidr,
            service_cidr=spec.service_cidr,
            tools=tools,
            spawner=starter,
            ports={name: free_port() for name in realnode.PORTS},
            registries={node_registry.host: node_registry.ca},
            wait_until=starter.wait,
            node_ready=lambda: _ready_with_service_accounts(cluster, node.name, untainted=False),
            node=node,
        )
        cluster.apply(tools, local_storage(cluster.home, node.name), "the local volumes")
        nodeaddons.start(
            cluster=cluster,
            tools=tools,
            spawn=starter.spawn,
            wait_until=starter.wait,
            ports={name: free_port() for name in nodeaddons.PORTS},
            node=node,
        )
        if cluster.name == REAL_NODE:
            builder.start(builder_home(environ), tools, node_registry, starter.spawn, starter.wait)

    def stop(self, cluster: Cluster, environ: Mapping[str, str] | None) -> None:
        node = nodeconfig.NODES[cluster.name]
        realnode.stop(cluster.home, node)
        if cluster.name == REAL_NODE:
            registry.stop(registry_home(environ))
        # Stopping is checked, not assumed: a mount, interface, network namespace, cgroup or process of the node
        # still there (after a short grace for the kernel to let go of it) fails the stop, naming each.
        deadline = time.monotonic() + LEFTOVER_GRACE
        while (left := realnode.leftovers(cluster.home, node)) and time.monotonic() < deadline:
            time.sleep(1)
        if left:
            raise ClusterError(f"{cluster.name}: stopped, but left behind: {'; '.join(left)}")


KINDS: Mapping[str, NodeKind] = {"kwok": KwokNode(), "real": RealNode()}
"""Each kind of node, by the name a ClusterSpec gives it."""
