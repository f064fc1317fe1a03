"""The configuration each local node with containers is started with (tools.localcluster.realnode's renderers), offline:
where each of its servers listens, who the kubelet lets in, where the pods' DNS comes from, that everything a node
writes stays below its own folder, and which registries containerd trusts."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tools.localcluster import catalog, nodeconfig, realnode
from tools.localcluster.nodeconfig import NodeNetwork, NodePaths

PORTS = {name: 20000 + index for index, name in enumerate(realnode.PORTS)}
NODES = sorted(nodeconfig.NODES.values(), key=lambda n: n.name)


def paths_below(value: Any) -> list[str]:
    """Every absolute path named anywhere in a rendered configuration."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in paths_below(v)]
    if isinstance(value, list):
        return [p for v in value for p in paths_below(v)]
    if isinstance(value, str):
        text = value.removeprefix("unix://")
        return [text] if text.startswith("/") else []
    return []


def loopback(address: str) -> bool:
    return ipaddress.ip_address(address.rsplit(":", 1)[0]).is_loopback


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_a_node_serves_only_on_its_own_address_and_its_namespaces_loopback(node: NodeNetwork, tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    spec = catalog.CLUSTERS[node.name]
    kubelet = nodeconfig.kubelet_config(paths, tmp_path / "pki", PORTS, node)
    proxy = nodeconfig.kube_proxy_config(tmp_path / "kubeconfig", spec.pod_cidr, PORTS, node)
    corefile = nodeconfig.corefile(tmp_path / "kubeconfig", node.name, PORTS, node)
    assert kubelet["address"] == node.ip and loopback(kubelet["healthzBindAddress"])
    assert proxy["bindAddress"] == node.ip and proxy["nodePortAddresses"] == [f"{node.ip}/32"]
    assert loopback(proxy["healthzBindAddress"]) and loopback(proxy["metricsBindAddress"])
    assert f"bind {node.ip}\n" in corefile
    assert f"health 127.0.0.1:{PORTS['coredns-health']}" in corefile
    assert f"ready 127.0.0.1:{PORTS['coredns-ready']}" in corefile
    # Its processes run in its own network namespace, where that address is.
    assert node.inside(["kubelet"])[:2] == ["nsenter", f"--net={nodeconfig.NETNS_DIR / node.netns}"]


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_the_kubelet_admits_only_client_certificates_of_the_cluster(node: NodeNetwork, tmp_path: Path) -> None:
    kubelet = nodeconfig.kubelet_config(NodePaths(tmp_path), tmp_path / "pki", PORTS, node)
    assert kubelet["readOnlyPort"] == 0
    assert kubelet["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": False},
        "x509": {"clientCAFile": str(tmp_path / "pki" / "ca.crt")},
    }


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_the_pods_ask_their_nodes_coredns_for_the_clusters_names(node: NodeNetwork, tmp_path: Path) -> None:
    kubelet = nodeconfig.kubelet_config(NodePaths(tmp_path), tmp_path / "pki", PORTS, node)
    corefile = nodeconfig.corefile(tmp_path / "kubeconfig", node.name, PORTS, node)
    assert kubelet["clusterDNS"] == [node.ip] and kubelet["clusterDomain"] == nodeconfig.CLUSTER_DOMAIN
    assert f"kubernetes {nodeconfig.CLUSTER_DOMAIN} " in corefile
    assert f"kubeconfig {tmp_path / 'kubeconfig'} {node.name}" in corefile


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_everything_a_node_writes_stays_below_its_own_folder(node: NodeNetwork, tmp_path: Path) -> None:
    """So stopping one node removes all of it, and two nodes never share a root, a socket, a lease or a log."""
    home = tmp_path / node.name
    paths = NodePaths(home)
    spec = catalog.CLUSTERS[node.name]
    containerd = tomllib.loads(nodeconfig.containerd_config(paths, {}))
    cri = containerd["plugins"]["io.containerd.grpc.v1.cri"]
    own = [
        containerd["root"],
        containerd["state"],
        containerd["grpc"]["address"],
        containerd["ttrpc"]["address"],
        cri["containerd"]["runtimes"]["runc"]["options"]["Root"],
        cri["cni"]["conf_dir"],
        *paths_below(nodeconfig.cni_config(paths, spec.pod_cidr, node.bridge)),
        *[p for p in paths_below(nodeconfig.kubelet_config(paths, tmp_path / "pki", PORTS, node))
          if not p.startswith(str(tmp_path / "pki"))],
        *[a.split("=", 1)[1] for a in nodeconfig.kubelet_args(Path("/bin/kubelet"), paths, home / "kubeconfig", node)
          if a.startswith(("--config=", "--root-dir=", "--cert-dir=", "--kubeconfig="))],
    ]  # fmt: skip
    assert own and all(Path(p).is_relative_to(home) for p in own), [p for p in own if not Path(p).is_relative_to(home)]
    assert cri["cni"]["bin_dir"] == str(nodeconfig.CNI_BIN)


def test_the_nodes_pods_sit_on_bridges_of_their_own_in_their_clusters_pod_range(tmp_path: Path) -> None:
    configs = {
        node.name: nodeconfig.cni_config(NodePaths(tmp_path), catalog.CLUSTERS[node.name].pod_cidr, node.bridge)
        for node in NODES
    }
    bridges = {name: config["plugins"][0] for name, config in configs.items()}
    assert len({b["bridge"] for b in bridges.values()}) == len(NODES)
    for name, bridge in bridges.items():
        assert bridge["type"] == "bridge" and bridge["isGateway"] and bridge["ipMasq"]
        assert bridge["ipam"]["ranges"] == [[{"subnet": catalog.CLUSTERS[name].pod_cidr}]]


def test_containerd_trusts_each_local_registry_with_its_own_ca_only(tmp_path: Path) -> None:
    registries = {"10.250.0.1:5443": tmp_path / "a" / "ca.crt", "127.0.0.1:5000": tmp_path / "b" / "ca.crt"}
    containerd = tomllib.loads(nodeconfig.containerd_config(NodePaths(tmp_path), registries))
    configs = containerd["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["configs"]
    assert {host: config["tls"] for host, config in configs.items()} == {
        host: {"ca_file": str(ca)} for host, ca in registries.items()
    }
    assert "insecure_skip_verify" not in str(configs)
    assert (
        "registry"
        not in tomllib.loads(nodeconfig.containerd_config(NodePaths(tmp_path), {}))["plugins"][
            "io.containerd.grpc.v1.cri"
        ]
    )


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_the_kubelet_registers_the_node_on_its_own_address_and_kube_router_only_enforces_policies(
    node: NodeNetwork, tmp_path: Path
) -> None:
    """kube-router runs its firewall alone: kube-proxy routes Services, CNI's bridge the pods; and it opens no port."""
    kubelet = nodeconfig.kubelet_args(Path("/bin/kubelet"), NodePaths(tmp_path), tmp_path / "kubeconfig", node)
    assert f"--node-ip={node.ip}" in kubelet and f"--hostname-override={node.name}" in kubelet
    spec = catalog.CLUSTERS[node.name]
    router = nodeconfig.kube_router_args(Path("/bin/kube-router"), tmp_path / "kubeconfig", spec.service_cidr, node)
    assert {"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false"} <= set(
        router
    )
    assert {"--health-port=0", "--metrics-port=0"} <= set(router)
    assert f"--service-cluster-ip-range={spec.service_cidr}" in router
