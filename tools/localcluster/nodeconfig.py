"""What a node that runs containers is, as pure data: its place on the network (NODES), its files (NodePaths) and
the configuration each of its servers starts with (containerd, CNI, the kubelet, kube-proxy, CoreDNS), rendered
from the cluster's ranges and the node's address. No function here touches the machine:
tests/tooling/test_localnode.py checks each rendering offline."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_NAME = "kubeport-node"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "kubeport.local/pause:3.10"
NETNS_DIR = Path("/var/run/netns")
CNI_BIN = Path("/usr/lib/cni")
"""Where Debian's containernetworking-plugins put the CNI plugins."""


@dataclass(frozen=True)
class NodeNetwork:
    """Where one node sits on the machine's network: its name, address, bridge, and network namespace."""

    name: str
    ip: str
    """The node's end of the veth pair: its NodePorts, the kubelet and CoreDNS listen here."""
    bridge: str
    netns: str
    gateway: str
    """The machine's end of the veth pair: the node's API server listens there (and, for the first node, the
    registry)."""

    @property
    def link(self) -> tuple[str, str]:
        """The veth pair's names: the machine's end and the node's end."""
        return f"{self.bridge}h", f"{self.bridge}n"

    def inside(self, args: Sequence[str]) -> list[str]:
        """`args`, run in the node's network namespace."""
        return ["nsenter", f"--net={NETNS_DIR / self.netns}", "--", *args]


NODES: Mapping[str, NodeNetwork] = {
    "kubeport-node": NodeNetwork(NODE_NAME, "10.250.0.2", "kubeport0", netns=NODE_NAME, gateway="10.250.0.1"),
    "kubeport-node-b": NodeNetwork("kubeport-node-b", "10.250.1.2", "kubeport1", netns="kubeport-node-b",
                                   gateway="10.250.1.1"),
}  # fmt: skip
"""The nodes that run containers, by their cluster's name, each in a network namespace named after it. The second
one exists for moves between two clusters with real pods (`migrate` of the application and its data); the
registry and BuildKit belong to the first and listen on its gateway."""


LINK_PREFIX = 30
"""The veth pair's network: the gateway and the node's address, nothing else."""


@dataclass(frozen=True)
class NodePaths:
    """The node's files, below the cluster's directory."""

    home: Path

    @property
    def containerd(self) -> Path:
        return self.home / "containerd"

    @property
    def socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def kubelet(self) -> Path:
        return self.home / "kubelet"

    @property
    def cni(self) -> Path:
        return self.home / "cni"

    @property
    def pod_logs(self) -> Path:
        """The containers' logs (the kubelet's podLogsDir; /var/log/pods would be shared by the nodes)."""
        return self.home / "pod-logs"

    @property
    def saved(self) -> Path:
        """What the machine had before the node (network namespaces, the pods' cgroup parents): stop() keeps those."""
        return self.home / "node-state.json"


def docker_archive(binary: Path, name: str) -> bytes:
    """A one-layer image holding `binary` as its entrypoint, in the archive format `ctr images import` reads."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo(binary.name)
        data = binary.read_bytes()
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": [f"/{binary.name}"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": ["layer/layer.tar"]}]).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for path, content in (("layer/layer.tar", layer_bytes), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(content), 0
            tar.addfile(info, io.BytesIO(content))
    return archive.getvalue()


def registry_tls(registries: Mapping[str, Path]) -> str:
    """The CRI's TLS settings per registry (`host:port` -> its CA certificate). containerd 1.6's hosts.toml
    (config_path) was tried first and measured wrong here: its top-level `ca` is ignored (pulls fail with an unknown
    authority), and a `[host]` entry with the CA falls back to the server without it, so a missing image reports a
    certificate error instead of `not found`."""
    lines = []
    for host, ca in registries.items():
        lines += [f'  [plugins."io.containerd.grpc.v1.cri".registry.configs."{host}".tls]', f'    ca_file = "{ca}"']
    return "\n".join(lines) + "\n"


def containerd_config(paths: NodePaths, registries: Mapping[str, Path]) -> str:
    state = paths.containerd / "state"
    return f"""version = 2
root = "{paths.containerd / "root"}"
state = "{state}"

[grpc]
  address = "{paths.socket}"

[ttrpc]
  address = "{paths.containerd / "containerd.sock.ttrpc"}"

[debug]
  level = "warn"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE here: sandboxes would fail asking for a negative oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{paths.containerd / "runc"}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{paths.cni / "net.d"}"
{registry_tls(registries)}"""


def cni_config(paths: NodePaths, pod_cidr: str, bridge: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "kubeport",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": True,
                # A pod may reach itself through its Service.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.cni / "leases"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(paths: NodePaths, pki: Path, ports: Mapping[str, int], node: NodeNetwork) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.ip,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [node.ip],
        "podLogsDir": str(paths.pod_logs),
        "resolvConf": str(paths.kubelet / "resolv.conf"),
        "containerRuntimeEndpoint": f"unix://{paths.socket}",
        "cgroupDriver": "cgroupfs",
        # Measured: the machine has cgroup v1 and no CAP_SYS_RESOURCE.
        "failCgroupV1": False,
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "serializeImagePulls": False,
        "maxPods": 110,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "localStorageCapacityIsolation": True,
        "shutdownGracePeriod": "0s",
        "logging": {"verbosity": 1},
    }


def kube_proxy_config(kubeconfig: Path, pod_cidr: str, ports: Mapping[str, int], node: NodeNetwork) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "clusterCIDR": pod_cidr,
        "healthzBindAddress": f"127.0.0.1:{ports['kube-proxy-healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['kube-proxy-metrics']}",
        "nodePortAddresses": [f"{node.ip}/32"],
        # The machine may not raise conntrack limits: leave them as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def corefile(kubeconfig: Path, context: str, ports: Mapping[str, int], node: NodeNetwork) -> str:
    return f""".:53 {{
    bind {node.ip}
    errors
    health 127.0.0.1:{ports["coredns-health"]}
    ready 127.0.0.1:{ports["coredns-ready"]}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} {context}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
    loadbalance
}}
"""


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def kubelet_args(kubelet: Path, paths: NodePaths, kubeconfig: Path, node: NodeNetwork) -> list[str]:
    """The kubelet, on the node's address, with its configuration, roots and certificates below the node's home."""
    return [
        str(kubelet),
        f"--config={paths.kubelet / 'config.yaml'}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={paths.kubelet / 'root'}",
        f"--cert-dir={paths.kubelet / 'pki'}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.ip}",
        "--node-labels=kubernetes.io/os=linux,topology.kubernetes.io/zone=local-node",
    ]


def kube_router_args(kube_router: Path, kubeconfig: Path, service_cidr: str, node: NodeNetwork) -> list[str]:
    """The NetworkPolicies, enforced: kube-router's firewall alone (no routing, no service proxy, no CNI), in
    iptables and ipsets, for the pods of this node (the bridge's traffic passes iptables: bridge-nf-call-iptables is
    on); no port of its own."""
    return [
        str(kube_router),
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--enable-cni=false",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node.name}",
        f"--service-cluster-ip-range={service_cidr}",
        "--health-port=0",
        "--metrics-port=0",
    ]
