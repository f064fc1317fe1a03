"""A node that runs containers, for one local control plane: containerd + runc, CNI, kubelet, kube-proxy, CoreDNS.

Everything lives below the cluster's own directory (containerd's root and state, the kubelet's root and pod
logs, the CNI configuration and address leases) and on names of its own (NODES). Each node runs in a network
namespace of its own, joined to the machine by a veth pair: its kube-proxy rules, CNI bridge, firewall, ipsets and
kernel settings stay in that namespace, so they can meet neither the machine's nor the other node's, and the
tests' traffic to a node goes into a namespace the project made. The pods sit on the node's bridge in the
cluster's pod range, kube-proxy programs the cluster's Service range, and CoreDNS answers the cluster's names on
the node address. `stop()` leaves nothing behind: it stops the processes and the pods' shims, unmounts what is
mounted below the directory, and deletes the node's namespace (its interfaces, chains and settings go with it),
its link, and the pods' namespaces.

Settings the machine needs, measured on it: cgroups are v1 here, so the kubelet runs with `failCgroupV1: false`
and without QoS cgroups; containerd's CRI restricts `oom_score_adj` (the machine lacks CAP_SYS_RESOURCE);
kube-proxy leaves the conntrack limits alone.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from tools.localcluster.catalog import ClusterError
from tools.toolchain import Toolchain

NODE_NAME = "kubeport-node"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "kubeport.local/pause:3.10"
TOOLS = ("kubelet", "kube-proxy", "coredns", "pause", "kube-router")
"""What the toolchain builds for the node."""
HOST_PROGRAMS = (
    "containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip6tables", "ip", "mount", "ipset",
    "nsenter",
)  # fmt: skip
"""What the machine's packages provide (Debian: containerd, runc, iptables, iproute2, ipset)."""
CNI_BIN = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
"""From Debian's containernetworking-plugins."""
SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")
"""Kernel settings the node needs on, set inside its namespace (gone with it)."""
NETNS_DIR = Path("/var/run/netns")
CGROUPS = Path("/sys/fs/cgroup")
CGROUP_PARENT = "k8s.io"
"""containerd's CRI puts the pods' cgroups below this name, in every cgroup v1 hierarchy (shared by the nodes:
each one removes only the cgroups no process uses any more)."""
START_TIMEOUT = 120.0
PORTS = ("kubelet", "kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics", "coredns-health", "coredns-ready")
"""The node's ports, each picked free at start."""


class NodeError(ClusterError):
    """The node did not start or stop; the message says which part and why."""


class Spawner(Protocol):
    """Starts a named process of the cluster and remembers its pid (tools.localcluster.controlplane.Starter)."""

    def spawn(self, name: str, args: list[str]) -> None: ...

    def dead(self) -> str | None: ...


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


def missing_prerequisites(tools: Toolchain) -> list[str]:
    """One line for each thing the node needs and this machine lacks."""
    lines = [f"{name} not built (make toolchain)" for name in tools.missing(TOOLS)]
    lines += [f"`{p}` not found (Debian: containerd, runc, iptables, iproute2)" for p in HOST_PROGRAMS
              if shutil.which(p) is None]  # fmt: skip
    lines += [f"CNI plugin {CNI_BIN / p} not found (Debian: containernetworking-plugins)" for p in CNI_PLUGINS
              if not (CNI_BIN / p).exists()]  # fmt: skip
    if os.geteuid() != 0:
        lines.append("a node that runs containers needs root (containerd, network interfaces, iptables)")
    return lines


def run(args: Sequence[str], timeout: float = 60, check: bool = True, input_text: str | None = None) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False, input=input_text)
    if check and done.returncode != 0:
        raise NodeError(f"{' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


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
        "tlsCertFile": str(pki / "apiserver.crt"),
        "tlsPrivateKeyFile": str(pki / "apiserver.key"),
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


def netns_present(node: NodeNetwork) -> bool:
    return (NETNS_DIR / node.netns).exists()


def add_network(node: NodeNetwork, home: Path, pod_cidr: str, service_cidr: str) -> None:
    """The node's place on the network, before its API server and the registry (which listen on the gateway).

    The namespace, a veth pair (the gateway on the machine's end, the node's address on the other), the namespace's
    default route via the gateway (to the registry and the API server), the kernel settings the node needs inside
    the namespace, and the machine's routes to the node's pod and Service ranges (kube-proxy in the namespace
    forwards a Service's address to its pods). What the machine shares with other nodes and had before (network
    namespaces, the pods' cgroup parents) is noted in `home` first, for stop()."""
    if netns_present(node):
        raise NodeError(
            f"network namespace {node.netns} exists already: another {node.name} runs here, or one was not stopped; "
            "`python -m tools clusters down` removes what kubeport's node left"
        )
    saved = {
        "netns": sorted(p.name for p in NETNS_DIR.glob("*")) if NETNS_DIR.exists() else [],
        "netns_dir": NETNS_DIR.exists(),
        "cgroups": sorted(str(p) for p in CGROUPS.glob(f"*/{CGROUP_PARENT}")),
    }
    NodePaths(home).saved.write_text(json.dumps(saved))
    host_end, node_end = node.link
    run(["ip", "netns", "add", node.netns])
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end, "netns", node.netns])
    run(["ip", "addr", "add", f"{node.gateway}/{LINK_PREFIX}", "dev", host_end])
    run(["ip", "link", "set", host_end, "up"])
    for args in (
        ["ip", "addr", "add", f"{node.ip}/{LINK_PREFIX}", "dev", node_end],
        ["ip", "link", "set", node_end, "up"],
        ["ip", "link", "set", "lo", "up"],
        ["ip", "route", "add", "default", "via", node.gateway],
        ["sh", "-c", " && ".join(f"echo 1 > /proc/sys/{name}" for name in SYSCTLS)],
    ):
        run(node.inside(args))
    for cidr in (pod_cidr, service_cidr):
        run(["ip", "route", "add", cidr, "via", node.ip, "dev", host_end])


def remove_network(node: NodeNetwork) -> None:
    """Delete the node's namespace and its link: its bridge, veths, iptables chains and ipsets go with it."""
    if netns_present(node):
        run(["ip", "netns", "delete", node.netns], check=False)
    host_end, _ = node.link
    if _link_present(host_end):
        run(["ip", "link", "delete", host_end], check=False)


def start(
    *,
    home: Path,
    pki: Path,
    kubeconfig: Path,
    context: str,
    pod_cidr: str,
    service_cidr: str,
    tools: Toolchain,
    spawner: Spawner,
    ports: Mapping[str, int],
    registries: Mapping[str, Path],
    wait_until: Callable[[str, Callable[[], bool], float], None],
    node_ready: Callable[[], bool],
    node: NodeNetwork,
) -> None:
    """Start containerd, the kubelet, kube-proxy and CoreDNS for the control plane whose files are in `home`
    (its network made by add_network first).

    `registries` maps `host:port` of the local registries to their CA certificate (containerd trusts them);
    `wait_until(what, ready, timeout)` polls with the cluster's deadline and dead-process check.
    """
    missing = missing_prerequisites(tools)
    if missing:
        raise NodeError("; ".join(missing))
    paths = NodePaths(home)
    for folder in (paths.containerd, paths.kubelet, paths.cni / "net.d", paths.cni / "leases", paths.pod_logs):
        folder.mkdir(parents=True, exist_ok=True)

    (paths.containerd / "config.toml").write_text(containerd_config(paths, registries))
    spawner.spawn("containerd", node.inside(["containerd", "--config", str(paths.containerd / "config.toml")]))
    ctr = ["ctr", "--address", str(paths.socket), "--namespace", "k8s.io"]
    wait_until("containerd", lambda: subprocess.run([*ctr, "version"], capture_output=True, timeout=10,
                                                    check=False).returncode == 0, START_TIMEOUT)  # fmt: skip
    archive = paths.containerd / "pause.tar"
    archive.write_bytes(docker_archive(tools.tool("pause"), PAUSE_IMAGE))
    run([*ctr, "images", "import", "--no-unpack=false", str(archive)], timeout=120)

    (paths.cni / "net.d" / "10-kubeport.conflist").write_text(
        json.dumps(cni_config(paths, pod_cidr, node.bridge), indent=2)
    )
    (paths.kubelet / "resolv.conf").write_text(f"nameserver {node.ip}\n")
    (paths.kubelet / "config.yaml").write_text(yaml.safe_dump(kubelet_config(paths, pki, ports, node)))
    spawner.spawn(
        "kubelet",
        node.inside([
            str(tools.tool("kubelet")),
            f"--config={paths.kubelet / 'config.yaml'}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={paths.kubelet / 'root'}",
            f"--cert-dir={paths.kubelet / 'pki'}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.ip}",
            "--node-labels=kubernetes.io/os=linux,topology.kubernetes.io/zone=local-node",
        ]),
    )  # fmt: skip
    wait_until(f"kubelet: node {node.name} Ready", node_ready, START_TIMEOUT)

    proxy_config = home / "kube-proxy.yaml"
    proxy_config.write_text(yaml.safe_dump(kube_proxy_config(kubeconfig, pod_cidr, ports, node)))
    spawner.spawn("kube-proxy", node.inside([str(tools.tool("kube-proxy")), f"--config={proxy_config}"]))
    (home / "Corefile").write_text(corefile(kubeconfig, context, ports, node))
    spawner.spawn("coredns", node.inside([str(tools.tool("coredns")), "-conf", str(home / "Corefile")]))
    # The NetworkPolicies, enforced: kube-router's firewall alone, in iptables and ipsets, for the pods of this
    # node (the bridge's traffic passes iptables: bridge-nf-call-iptables is on).
    spawner.spawn(
        "kube-router",
        node.inside([
            str(tools.tool("kube-router")),
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--enable-cni=false",
            f"--kubeconfig={kubeconfig}",
            f"--hostname-override={node.name}",
            f"--service-cluster-ip-range={service_cidr}",
            "--health-port=0",
            "--metrics-port=0",
        ]),
    )  # fmt: skip


def _mount_points() -> list[str]:
    """Where something is mounted now (this process's view; a space in a path reads as a space)."""
    return [line.split()[4].replace("\\040", " ") for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _mounts_below(path: Path) -> list[str]:
    """The mount points at or below `path`."""
    resolved = str(path.resolve())
    return [point for point in _mount_points() if point == resolved or point.startswith(resolved + "/")]


def _mounted(path: Path) -> bool:
    return str(path.resolve()) in _mount_points()


def _link_present(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True, timeout=30, check=False).returncode == 0


def _unmount_below(home: Path) -> None:
    """Unmount everything mounted at or below `home` (deepest first; lazily if busy)."""
    for point in sorted(set(_mounts_below(home)), key=lambda p: -p.count("/")):
        if subprocess.run(["umount", point], capture_output=True, timeout=30, check=False).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


def _remove_containers(paths: NodePaths) -> None:
    """Kill and delete every container runc knows below the node's runc root (their cgroups go with them)."""
    for namespace in sorted((paths.containerd / "runc").glob("*")):
        for container in run(["runc", "--root", str(namespace), "list", "-q"], check=False).split():
            run(["runc", "--root", str(namespace), "delete", "--force", container], check=False)


def _remove_cgroups(kept: Sequence[str]) -> None:
    """Remove the pods' cgroup folders that no process uses any more, deepest first (another node's pods keep
    theirs: a folder with a process in it cannot be removed)."""
    for parent in CGROUPS.glob(f"*/{CGROUP_PARENT}"):
        for folder in sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if str(parent) not in kept:
            with contextlib.suppress(OSError):
                parent.rmdir()


def _unused_cgroups() -> list[Path]:
    """The pods' cgroup folders with no process anywhere below them: what a stop should have removed."""
    found = []
    for parent in CGROUPS.glob(f"*/{CGROUP_PARENT}"):
        for folder in (p for p in parent.iterdir() if p.is_dir()):
            with contextlib.suppress(OSError):
                if not any((f / "cgroup.procs").read_text().strip() for f in (folder, *folder.rglob("*"))
                           if f.is_dir()):  # fmt: skip
                    found.append(folder)
    return found


def _netns_in_use() -> set[int]:
    """The inode numbers of the network namespaces some process is in."""
    used = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                used.add((proc / "ns" / "net").stat().st_ino)
    return used


def _unused_pod_netns(kept: Sequence[str]) -> list[Path]:
    """The pods' network namespaces (CNI's `cni-*`) that no process is in: those of a stopped node's pods. Another
    node's running pods keep theirs."""
    if not NETNS_DIR.exists():
        return []
    used = _netns_in_use()
    found = []
    for entry in NETNS_DIR.glob("cni-*"):
        with contextlib.suppress(OSError):
            if entry.name not in kept and entry.stat().st_ino not in used:
                found.append(entry)
    return found


def _kill_shims(home: Path) -> None:
    """The pods' shims (and their containers) outlive containerd: kill those whose state is below `home`."""
    marker = str(home.resolve()) + "/"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "containerd-shim" in command and marker in command:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(proc.name), 9)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), 9)


def stop(home: Path, node: NodeNetwork) -> None:
    """Undo what `start` and add_network did to the machine (the processes are already stopped by the cluster).

    What the nodes share (the pods' cgroups and network namespaces) only when this home made its network: a start
    refused by add_network (the namespace exists: another run of kubeport's node) leaves the machine as it was,
    and the running node's network with it. A namespace no process is in (left by a run that died) goes."""
    paths = NodePaths(home)
    owned = paths.saved.exists()
    saved: dict[str, Any] = json.loads(paths.saved.read_text()) if owned else {}
    _remove_containers(paths)
    _kill_shims(home)
    time.sleep(0.5)
    _unmount_below(home)
    if owned:
        _remove_cgroups(saved.get("cgroups", []))
        for entry in _unused_pod_netns(saved.get("netns", [])):
            subprocess.run(["umount", str(entry)], capture_output=True, timeout=30, check=False)
            run(["ip", "netns", "delete", entry.name], check=False)
            with contextlib.suppress(OSError):
                entry.unlink()
    if owned or not netns_in_use(node):
        remove_network(node)
    if _netns_dir_left(saved):
        # `ip netns add` made the folder a mount of itself: undo both.
        if _mounted(NETNS_DIR):
            subprocess.run(["umount", str(NETNS_DIR)], capture_output=True, timeout=30, check=False)
        with contextlib.suppress(OSError):
            NETNS_DIR.rmdir()


def netns_in_use(node: NodeNetwork) -> bool:
    """Whether some process is in the node's network namespace."""
    return netns_present(node) and bool(run(["ip", "netns", "pids", node.netns], check=False).split())


def _netns_dir_left(saved: Mapping[str, Any]) -> bool:
    """/var/run/netns, empty, when it was not there before this node: what `ip netns` made, to be removed."""
    return not saved.get("netns_dir", True) and NETNS_DIR.exists() and not any(NETNS_DIR.iterdir())


def leftovers(home: Path, node: NodeNetwork) -> list[str]:
    """What of the node is still on the machine: for the test that stopping leaves nothing behind. What the nodes
    share (cgroups, the pods' network namespaces) counts when no process uses it: another node's running pods keep
    theirs."""
    resolved = str(home.resolve())
    found = [f"mount {point}" for point in _mounts_below(home)]
    saved = NodePaths(home).saved
    if saved.exists() or not netns_in_use(node):  # else another run's node, which stop() leaves alone
        host_end, _ = node.link
        if _link_present(host_end):
            found.append(f"interface {host_end}")
        if netns_present(node):
            found.append(f"network namespace {node.netns}")
    if saved.exists():
        if _netns_dir_left(json.loads(saved.read_text())):
            found.append(f"{NETNS_DIR} (made by `ip netns add`{', still mounted' if _mounted(NETNS_DIR) else ''})")
        found += [f"network namespace {p.name}" for p in _unused_pod_netns([])]
        found += [f"cgroup {p}" for p in _unused_cgroups()]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if resolved + "/" in command or command.rstrip().endswith(resolved):
                    found.append(f"process {proc.name}: {command[:120]}")
    return found


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
