"""A local cluster's control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler.

`start()` runs STEPS in order. Each step is one process with its flags in a function of its own (pure: the
cluster's files and ports in, the command line out, so the flags are tested offline) and, where the next step
needs it answering, a readiness check waited for with the cluster's deadline. A process that exits while the
cluster starts fails the start at once, with its log's tail (`Starter`).
"""

from __future__ import annotations

import functools
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools import processes
from tools.localcluster.catalog import CLUSTERS, START_TIMEOUT, ClusterError, ClusterSpec
from tools.toolchain import Toolchain

TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
"""What the toolchain builds for every cluster (kwok included: the kwok clusters' node)."""
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # Reads and the control plane's own chatter are noise; every change a client makes is kept.
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {
            "level": "None",
            "resources": [{"group": "coordination.k8s.io"}, {"group": ""}],
            "namespaces": ["kube-node-lease"],
        },
        {"level": "None", "resources": [{"group": "", "resources": ["events"]}, {"group": "events.k8s.io"}]},
        {"level": "Metadata"},
    ],
}


@dataclass(frozen=True)
class Cluster:
    """One control plane's files and addresses (read back from its `cluster.json` once started)."""

    name: str
    home: Path
    apiserver_port: int = 0
    etcd_port: int = 0
    etcd_peer_port: int = 0
    """Only while it starts: etcd's peer address (one member, so nothing else uses it)."""

    @property
    def pki(self) -> Path:
        return self.home / "pki"

    @property
    def spec(self) -> ClusterSpec | None:
        return CLUSTERS.get(self.name)

    @property
    def server(self) -> str:
        return f"https://{self.spec.api_address if self.spec else '127.0.0.1'}:{self.apiserver_port}"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: every change, stamped by the API server (JSON lines)."""
        return self.home / "audit.log"

    @property
    def own_kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    def pids(self) -> dict[str, int]:
        pid_dir = self.home / "pids"
        if not pid_dir.is_dir():
            return {}
        return {p.stem: int(p.read_text()) for p in sorted(pid_dir.glob("*.pid"))}

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET on the API server as the admin."""
        request = urllib.request.Request(self.server + path)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.ssl_context())
        )
        try:
            with opener.open(request, timeout=timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()

    def kubectl(self, tools: Toolchain) -> list[str]:
        """kubectl, as the admin, on this cluster alone."""
        return [str(tools.tool("kubectl")), f"--kubeconfig={self.own_kubeconfig}", f"--context={self.name}"]

    def apply(
        self, tools: Toolchain, items: Sequence[Mapping[str, Any]], what: str, *, server_side: bool = False
    ) -> None:
        """`kubectl apply` of `items` as one List (server-side for objects larger than the annotation a client-side
        apply keeps); a ClusterError naming `what` when the API server refuses."""
        listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})
        side = ["--server-side"] if server_side else []
        applied = processes.run([*self.kubectl(tools), "apply", *side, "--filename=-"], timeout=120, input_text=listed)
        if applied.code != 0:
            raise ClusterError(f"{self.name}: could not create {what}: {applied.stderr.strip()}")


def conditions(obj: Mapping[str, Any]) -> dict[str, str]:
    """An object's status conditions, type -> status."""
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


def kubeconfig(clusters: Sequence[Cluster]) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context per running cluster, named after it."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": c.name, "cluster": {"server": c.server, "certificate-authority": str(c.pki / "ca.crt")}}
            for c in clusters
        ],
        "users": [
            {
                "name": c.name,
                "user": {
                    "client-certificate": str(c.pki / "admin.crt"),
                    "client-key": str(c.pki / "admin.key"),
                },
            }
            for c in clusters
        ],
        "contexts": [{"name": c.name, "context": {"cluster": c.name, "user": c.name}} for c in clusters],
        "current-context": clusters[0].name if clusters else "",
    }


def etcd_health(cluster: Cluster, client: str | None = "etcd-client") -> str:
    """etcd's /health answer over TLS, verifying its certificate, as the client whose certificate is `client` (the
    API server's, by default; None: none at all)."""
    context = ssl.create_default_context(cafile=str(cluster.pki / "etcd-ca.crt"))
    if client is not None:
        context.load_cert_chain(str(cluster.pki / f"{client}.crt"), str(cluster.pki / f"{client}.key"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(f"https://127.0.0.1:{cluster.etcd_port}/health", timeout=3) as response:
        return str(json.loads(response.read()).get("health"))


class Starter:
    """Starts one cluster's processes (tools.processes), remembering each by its pid so a failure stops them all,
    and waits with the cluster's deadline, failing at once when one of them exits."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        (cluster.home / "pids").mkdir(parents=True, exist_ok=True)
        (cluster.home / "logs").mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, args: list[str]) -> None:
        home = self.cluster.home
        pid = processes.spawn(args, log=home / "logs" / f"{name}.log", cwd=home)
        (home / "pids" / f"{name}.pid").write_text(str(pid))

    def dead(self) -> str | None:
        """The first started process that is no longer running, with its log's tail."""
        for name, pid in self.cluster.pids().items():
            if not processes.alive(pid):
                return f"{name} exited; its log ends:\n{processes.log_tail(self.cluster.home / 'logs' / f'{name}.log')}"
        return None

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        """Until `ready` holds; a ClusterError naming `what` and why at a dead process or the deadline."""
        why = processes.wait_for(ready, timeout, self.dead)
        if why is not None:
            raise ClusterError(f"{self.cluster.name}: {what}: {why}")


def etcd_args(cluster: Cluster, tools: Toolchain, spec: ClusterSpec) -> list[str]:
    """etcd on 127.0.0.1, admitting only clients its own CA signed (the API server's certificate)."""
    pki, peer = cluster.pki, f"http://127.0.0.1:{cluster.etcd_peer_port}"
    return [
        str(tools.tool("etcd")),
        f"--name={cluster.name}",
        f"--data-dir={cluster.home / 'etcd'}",
        f"--listen-client-urls=https://127.0.0.1:{cluster.etcd_port}",
        f"--advertise-client-urls=https://127.0.0.1:{cluster.etcd_port}",
        f"--cert-file={pki / 'etcd-server.crt'}",
        f"--key-file={pki / 'etcd-server.key'}",
        f"--trusted-ca-file={pki / 'etcd-ca.crt'}",
        "--client-cert-auth",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={cluster.name}={peer}",
        # A throwaway test cluster: no fsync, small quota, quiet.
        "--unsafe-no-fsync",
        "--quota-backend-bytes=1073741824",
        "--log-level=warn",
    ]


def apiserver_args(cluster: Cluster, tools: Toolchain, spec: ClusterSpec) -> list[str]:
    """The API server on the cluster's address: RBAC, no anonymous requests, no privileged pods, every change
    audited."""
    pki = cluster.pki
    return [
        str(tools.tool("kube-apiserver")),
        f"--bind-address={spec.api_address}",
        f"--advertise-address={spec.api_address}",
        f"--secure-port={cluster.apiserver_port}",
        f"--etcd-servers=https://127.0.0.1:{cluster.etcd_port}",
        f"--etcd-cafile={pki / 'etcd-ca.crt'}",
        f"--etcd-certfile={pki / 'etcd-client.crt'}",
        f"--etcd-keyfile={pki / 'etcd-client.key'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={spec.service_cidr}",
        "--authorization-mode=RBAC",
        "--anonymous-auth=false",
        "--allow-privileged=false",
        "--profiling=false",
        # One API server on loopback: no `kubernetes` Service endpoints to reconcile (127.0.0.1 is refused).
        "--endpoint-reconciler-type=none",
        f"--audit-policy-file={cluster.home / 'audit-policy.yaml'}",
        f"--audit-log-path={cluster.audit_log}",
        "--audit-log-format=json",
        "--audit-log-maxsize=200",
        # Logs and exec reach a real node's kubelet, which accepts only client certificates; its serving certificate
        # (the cluster CA's, for the node's address) is verified.
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        f"--kubelet-client-certificate={pki / 'admin.crt'}",
        f"--kubelet-client-key={pki / 'admin.key'}",
        "--kubelet-preferred-address-types=InternalIP",
        # The aggregation layer (metrics-server's metrics.k8s.io on a real node): the API server proxies with the
        # front proxy's client certificate, straight to the extension server's endpoint (no Service proxy on the
        # machine), and names the user in headers the extension server trusts from that CA's clients alone.
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        "--enable-aggregator-routing=true",
    ]


def controller_manager_args(cluster: Cluster, tools: Toolchain, spec: ClusterSpec) -> list[str]:
    """The controllers, signing with the cluster's CA; no port of their own."""
    pki = cluster.pki
    return [
        str(tools.tool("kube-controller-manager")),
        f"--kubeconfig={cluster.own_kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        "--use-service-account-credentials=false",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--service-cluster-ip-range={spec.service_cidr}",
        f"--cluster-cidr={spec.pod_cidr}",
        "--profiling=false",
    ]


def scheduler_args(cluster: Cluster, tools: Toolchain, spec: ClusterSpec) -> list[str]:
    """The scheduler; no port of its own."""
    return [
        str(tools.tool("kube-scheduler")),
        f"--kubeconfig={cluster.own_kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        "--profiling=false",
    ]


def etcd_ready(cluster: Cluster) -> bool:
    return etcd_health(cluster) == "true"


def apiserver_ready(cluster: Cluster) -> bool:
    return cluster.get("/readyz")[0] == 200


@dataclass(frozen=True)
class Step:
    """One process of the control plane: its name (its log and pid file), its command line, and what says it
    answers (waited for before the next step), if the next step needs it."""

    name: str
    args: Callable[[Cluster, Toolchain, ClusterSpec], list[str]]
    ready: Callable[[Cluster], bool] | None = None


STEPS = (
    Step("etcd", etcd_args, etcd_ready),
    Step("kube-apiserver", apiserver_args, apiserver_ready),
    Step("kube-controller-manager", controller_manager_args),
    Step("kube-scheduler", scheduler_args),
)
"""The control plane, in the order it starts (and, reversed, stops: the API server drains while etcd answers)."""


def start(cluster: Cluster, tools: Toolchain, spec: ClusterSpec, starter: Starter) -> None:
    """The audit policy and the cluster's own kubeconfig written, then every step in order."""
    (cluster.home / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
    cluster.own_kubeconfig.write_text(yaml.safe_dump(kubeconfig([cluster])))
    for step in STEPS:
        starter.spawn(step.name, step.args(cluster, tools, spec))
        if step.ready is not None:
            starter.wait(step.name, functools.partial(step.ready, cluster))
