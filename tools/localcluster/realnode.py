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
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from tools import processes
from tools.localcluster.catalog import ClusterError
from tools.localcluster.nodeconfig import (
    CNI_BIN,
    LINK_PREFIX,
    NETNS_DIR,
    PAUSE_IMAGE,
    NodeNetwork,
    NodePaths,
    cni_config,
    containerd_config,
    corefile,
    docker_archive,
    kube_proxy_config,
    kube_router_args,
    kubelet_args,
    kubelet_config,
)
from tools.toolchain import Toolchain

TOOLS = ("kubelet", "kube-proxy", "coredns", "pause", "kube-router")
"""What the toolchain builds for the node."""
HOST_PROGRAMS = (
    "containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip6tables", "ip", "mount", "ipset",
    "nsenter",
)  # fmt: skip
"""What the machine's packages provide (Debian: containerd, runc, iptables, iproute2, ipset)."""
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
"""From Debian's containernetworking-plugins."""
SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")
"""Kernel settings the node needs on, set inside its namespace (gone with it)."""
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
    done = processes.run(args, timeout=timeout, input_text=input_text)
    if check and done.code != 0:
        raise NodeError(f"{' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


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

    _start_containerd(paths, node, tools, spawner, registries=registries, wait_until=wait_until)

    (paths.cni / "net.d" / "10-kubeport.conflist").write_text(
        json.dumps(cni_config(paths, pod_cidr, node.bridge), indent=2)
    )
    (paths.kubelet / "resolv.conf").write_text(f"nameserver {node.ip}\n")
    (paths.kubelet / "config.yaml").write_text(yaml.safe_dump(kubelet_config(paths, pki, ports, node)))
    spawner.spawn("kubelet", node.inside(kubelet_args(tools.tool("kubelet"), paths, kubeconfig, node)))
    wait_until(f"kubelet: node {node.name} Ready", node_ready, START_TIMEOUT)

    proxy_config = home / "kube-proxy.yaml"
    proxy_config.write_text(yaml.safe_dump(kube_proxy_config(kubeconfig, pod_cidr, ports, node)))
    spawner.spawn("kube-proxy", node.inside([str(tools.tool("kube-proxy")), f"--config={proxy_config}"]))
    (home / "Corefile").write_text(corefile(kubeconfig, context, ports, node))
    spawner.spawn("coredns", node.inside([str(tools.tool("coredns")), "-conf", str(home / "Corefile")]))
    # The NetworkPolicies, enforced (nodeconfig.kube_router_args says how).
    spawner.spawn(
        "kube-router", node.inside(kube_router_args(tools.tool("kube-router"), kubeconfig, service_cidr, node))
    )


def _start_containerd(
    paths: NodePaths,
    node: NodeNetwork,
    tools: Toolchain,
    spawner: Spawner,
    *,
    registries: Mapping[str, Path],
    wait_until: Callable[[str, Callable[[], bool], float], None],
) -> None:
    """containerd in the node's namespace, trusting the local registries, with the pause image imported."""
    (paths.containerd / "config.toml").write_text(containerd_config(paths, registries))
    spawner.spawn("containerd", node.inside(["containerd", "--config", str(paths.containerd / "config.toml")]))
    ctr = ["ctr", "--address", str(paths.socket), "--namespace", "k8s.io"]
    wait_until("containerd", lambda: processes.run([*ctr, "version"], timeout=10).code == 0, START_TIMEOUT)
    archive = paths.containerd / "pause.tar"
    archive.write_bytes(docker_archive(tools.tool("pause"), PAUSE_IMAGE))
    run([*ctr, "images", "import", "--no-unpack=false", str(archive)], timeout=120)


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
    return processes.run(["ip", "link", "show", name], timeout=30).code == 0


def _unmount_below(home: Path) -> None:
    """Unmount everything mounted at or below `home` (deepest first; lazily if busy)."""
    for point in sorted(set(_mounts_below(home)), key=lambda p: -p.count("/")):
        if processes.run(["umount", point], timeout=30).code != 0:
            processes.run(["umount", "-l", point], timeout=30)


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
                processes.kill_now(int(proc.name))


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
            processes.run(["umount", str(entry)], timeout=30)
            run(["ip", "netns", "delete", entry.name], check=False)
            with contextlib.suppress(OSError):
                entry.unlink()
    if owned or not netns_in_use(node):
        remove_network(node)
    if _netns_dir_left(saved):
        # `ip netns add` made the folder a mount of itself: undo both.
        if _mounted(NETNS_DIR):
            processes.run(["umount", str(NETNS_DIR)], timeout=30)
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
