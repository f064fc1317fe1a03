"""Local Kubernetes control planes: etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
127.0.0.1, each with one node.

`python -m tools clusters up` starts them (contexts `kubeport-a`, `kubeport-b`, `kubeport-node` and
`kubeport-node-b` in one kubeconfig file), `down` stops every process and removes every file. On `kubeport-a`
and `kubeport-b` kwok simulates the node: it marks pods Running and Ready without running a container, so the
API server, admission (Pod Security), controllers, scheduler and Pulumi's awaits are real and the app itself is not.
`kubeport-node` and `kubeport-node-b` each have a node that runs containers (tools.localcluster.realnode: containerd,
runc, CNI, kubelet, kube-proxy, CoreDNS, kube-router), pulling from the local registry (tools.localcluster.registry),
which kubeport-node runs with BuildKit; each of these nodes lives in a network namespace of its own, and its cluster's
API server listens on that namespace's gateway. Every wait has a deadline; every process is a session of its
own, stopped by its pid.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from tools.private import not_private
from tools.toolchain import Toolchain, toolchain


@dataclass(frozen=True)
class ClusterSpec:
    """One local cluster's address ranges (distinct, so no two clusters' addresses look alike) and its node."""

    service_cidr: str
    pod_cidr: str
    node: Literal["kwok", "real"] = "kwok"
    api_address: str = "127.0.0.1"
    """Where the API server listens: a node that runs containers, in a network namespace of its own, reaches it on
    the namespace's gateway (tools.localcluster.realnode.NODES)."""


CLUSTERS: Mapping[str, ClusterSpec] = {
    "kubeport-a": ClusterSpec("10.96.0.0/16", "10.244.0.0/24"),
    "kubeport-b": ClusterSpec("10.97.0.0/16", "10.245.0.0/24"),
    "kubeport-node": ClusterSpec("10.98.0.0/16", "10.246.0.0/24", node="real", api_address="10.250.0.1"),
    "kubeport-node-b": ClusterSpec("10.99.0.0/16", "10.247.0.0/24", node="real", api_address="10.250.1.1"),
}
REAL_NODE = "kubeport-node"
"""The cluster whose node runs the registry and BuildKit beside it; kubeport-node-b needs it running."""
SECOND_REAL_NODE = "kubeport-node-b"
NODE_NAME = "kwok-node-0"
OWN_STAGES = Path(__file__).resolve().parent / "kwok"
INGRESS_CLASS_NAME = "kubeport-local"
INGRESS_CLASS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "IngressClass",
    "metadata": {"name": INGRESS_CLASS_NAME},
    # No controller runs: tools/localcluster/kwok/ingress-address.yaml gives these Ingresses an address instead.
    "spec": {"controller": "kubeport.local/simulated-by-kwok"},
}
STORAGE_CLASS = "kubeport-local"
"""The StorageClass every local cluster offers: local volumes made in advance (no provisioner runs)."""
VOLUMES = 8
"""Local volumes per cluster: enough for the databases of a test run (a released volume is not reused)."""


def local_storage(home: Path, node: str) -> list[dict[str, Any]]:
    """The StorageClass and its volumes: folders below the cluster's home, on its node, bound when a pod needs one.

    The folders are writable by every uid: a local volume gets no fsGroup ownership change, and the database runs
    as kubeport's numeric non-root user."""
    items: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        }
    ]
    for index in range(VOLUMES):
        folder = home / "volumes" / f"volume-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o1777)
        items.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"{STORAGE_CLASS}-{index}"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "local": {"path": str(folder)},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
        )
    return items


START_TIMEOUT = 120.0
"""Seconds for one process to answer (etcd, the API server) or the node to turn Ready."""
STOP_GRACE = 15.0
"""Seconds a process has to exit after TERM (and again after KILL)."""
LEFTOVER_GRACE = 10.0
"""Seconds the node's stop may take to disappear from the kernel's tables before it counts as left behind."""
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
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


def missing_real_node_prerequisites(tools: Toolchain) -> list[str]:
    """What the node that runs containers, its registry and its builder need and this machine lacks."""
    from tools.localcluster import realnode, registry  # noqa: PLC0415

    lines = realnode.missing_prerequisites(tools) + registry.missing_prerequisites()
    lines += [f"{name} not built (make toolchain)" for name in tools.missing(("buildkitd", "buildctl", "buildx"))]
    if shutil.which("mmdebstrap") is None:
        lines.append("`mmdebstrap` not found (Debian: mmdebstrap): it makes the stand-in base image")
    return lines


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


def wait_until(what: str, ready: Callable[[], bool], timeout: float, alive: Callable[[], str | None]) -> None:
    """Poll `ready` until it holds; stop early when `alive` names a dead process, or at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = alive()
        if dead:
            raise ClusterError(f"{what}: {dead}")
        with contextlib.suppress(OSError, ssl.SSLError, urllib.error.URLError, subprocess.SubprocessError):
            if ready():
                return
        time.sleep(0.5)
    raise ClusterError(f"{what}: not ready after {timeout:.0f} s")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(pki: Path, service_cidr: str, api_address: str = "127.0.0.1") -> None:
    """A CA, the API server's serving certificate, an admin client certificate, the service-account keys; and etcd's
    own CA, its serving certificate and the API server's client certificate for it (etcd admits only clients its CA
    signed: a local user who can reach its port cannot read or write the cluster's data)."""
    pki.mkdir(parents=True, exist_ok=True)
    service_ip = str(next(ipaddress.ip_network(service_cidr).hosts()))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=kubeport-local-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=pki)  # fmt: skip
    addresses = "".join(f"IP:{a}," for a in dict.fromkeys(("127.0.0.1", api_address)))
    san = f"subjectAltName={addresses}IP:{service_ip},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc"
    leaves = {"apiserver": ("/CN=kube-apiserver", san), "admin": ("/O=system:masters/CN=kubeport-admin", "")}
    for name, (subject, extension) in leaves.items():
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=pki)  # fmt: skip
        sign = ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "7", "-out", f"{name}.crt"]  # fmt: skip
        if extension:
            (pki / f"{name}.ext").write_text(extension + "\n")
            sign += ["-extfile", f"{name}.ext"]
        openssl(*sign, cwd=pki)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=kubeport-etcd-ca",
            "-keyout", "etcd-ca.key", "-out", "etcd-ca.crt", cwd=pki)  # fmt: skip
    etcd_leaves = {
        "etcd-server": ("/CN=etcd", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
        "etcd-client": ("/CN=kube-apiserver-etcd-client", "extendedKeyUsage=clientAuth"),
    }
    for name, (subject, extension) in etcd_leaves.items():
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=pki)  # fmt: skip
        (pki / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "etcd-ca.crt", "-CAkey", "etcd-ca.key",
                "-CAcreateserial", "-days", "7", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=pki)  # fmt: skip
    openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def etcd_health(cluster: Cluster, client: str | None = "etcd-client") -> str:
    """etcd's /health answer over TLS, verifying its certificate, as the client whose certificate is `client` (the
    API server's, by default; None: none at all)."""
    context = ssl.create_default_context(cafile=str(cluster.pki / "etcd-ca.crt"))
    if client is not None:
        context.load_cert_chain(str(cluster.pki / f"{client}.crt"), str(cluster.pki / f"{client}.key"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(f"https://127.0.0.1:{cluster.etcd_port}/health", timeout=3) as response:
        return str(json.loads(response.read()).get("health"))


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


@dataclass(frozen=True)
class Cluster:
    """One control plane's files and addresses (read back from its `cluster.json` once started)."""

    name: str
    home: Path
    apiserver_port: int = 0
    etcd_port: int = 0

    @property
    def pki(self) -> Path:
        return self.home / "pki"

    @property
    def server(self) -> str:
        spec = CLUSTERS.get(self.name)
        return f"https://{spec.api_address if spec else '127.0.0.1'}:{self.apiserver_port}"

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


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process has exited too.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    return True


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Starter:
    """Starts one cluster's processes, remembering each so a failure stops them all."""

    def __init__(self, cluster: Cluster, tools: Toolchain) -> None:
        self.cluster = cluster
        self.tools = tools
        (cluster.home / "pids").mkdir(parents=True, exist_ok=True)
        (cluster.home / "logs").mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, args: list[str]) -> None:
        log = (self.cluster.home / "logs" / f"{name}.log").open("ab")
        with log:
            process = subprocess.Popen(
                args,
                cwd=self.cluster.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.cluster.home / "pids" / f"{name}.pid").write_text(str(process.pid))

    def dead(self) -> str | None:
        """The first started process that is no longer running, with its log's tail."""
        for name, pid in self.cluster.pids().items():
            if not _running(pid):
                return f"{name} exited; its log ends:\n{_tail(self.cluster.home / 'logs' / f'{name}.log')}"
        return None


def start(name: str, tools: Toolchain | None = None, environ: Mapping[str, str] | None = None) -> Cluster:
    """Start cluster `name` (a key of CLUSTERS) with one Ready kwok node; on any failure nothing is left."""
    tools = tools or toolchain(environ)
    missing = tools.missing(TOOLS)
    if missing:
        raise ClusterError(f"not built: {', '.join(missing)}; run `make toolchain`")
    if shutil.which("openssl") is None:
        raise ClusterError("openssl not found: install it (Debian: apt-get install openssl)")
    home = private_state_dir(environ) / name
    if (home / "cluster.json").exists():
        existing = load(name, environ)
        if existing is not None and all(_running(pid) for pid in existing.pids().values()):
            return existing
        stop(name, environ)
    spec = CLUSTERS[name]
    cluster = Cluster(name, home, apiserver_port=free_port(), etcd_port=free_port())
    home.mkdir(parents=True, exist_ok=True)
    try:
        _start(cluster, tools, spec, environ)
    except BaseException:
        stop(name, environ)
        raise
    return cluster


def _start(cluster: Cluster, tools: Toolchain, spec: ClusterSpec, environ: Mapping[str, str] | None) -> None:
    home, pki = cluster.home, cluster.pki
    service_cidr = spec.service_cidr
    make_certificates(pki, service_cidr, spec.api_address)
    if spec.node == "real":
        from tools.localcluster import realnode, registry  # noqa: PLC0415 - only a real node needs them

        if cluster.name != REAL_NODE and registry.running(registry_home(environ)) is None:
            raise ClusterError(
                f"{cluster.name} pulls from the registry {REAL_NODE} runs: start {REAL_NODE} first "
                f"(`python -m tools clusters up {REAL_NODE} {cluster.name}`)"
            )
        # Before the API server: a node in a namespace of its own reaches it on the namespace's gateway.
        realnode.add_network(realnode.NODES[cluster.name], home, spec.pod_cidr, spec.service_cidr)
    (home / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
    own = kubeconfig([cluster])
    cluster.own_kubeconfig.write_text(yaml.safe_dump(own))
    starter = Starter(cluster, tools)
    peer_port = free_port()

    starter.spawn(
        "etcd",
        [
            str(tools.tool("etcd")),
            f"--name={cluster.name}",
            f"--data-dir={home / 'etcd'}",
            f"--listen-client-urls=https://127.0.0.1:{cluster.etcd_port}",
            f"--advertise-client-urls=https://127.0.0.1:{cluster.etcd_port}",
            f"--cert-file={pki / 'etcd-server.crt'}",
            f"--key-file={pki / 'etcd-server.key'}",
            f"--trusted-ca-file={pki / 'etcd-ca.crt'}",
            "--client-cert-auth",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster={cluster.name}=http://127.0.0.1:{peer_port}",
            # A throwaway test cluster: no fsync, small quota, quiet.
            "--unsafe-no-fsync",
            "--quota-backend-bytes=1073741824",
            "--log-level=warn",
        ],
    )

    def etcd_healthy() -> bool:
        return etcd_health(cluster) == "true"

    wait_until(f"{cluster.name}: etcd", etcd_healthy, START_TIMEOUT, starter.dead)

    starter.spawn(
        "kube-apiserver",
        [
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
            f"--service-cluster-ip-range={service_cidr}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=false",
            "--allow-privileged=false",
            "--profiling=false",
            # One API server on loopback: no `kubernetes` Service endpoints to reconcile (127.0.0.1 is refused).
            "--endpoint-reconciler-type=none",
            f"--audit-policy-file={home / 'audit-policy.yaml'}",
            f"--audit-log-path={cluster.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxsize=200",
            # Logs and exec reach a real node's kubelet, which accepts only client certificates.
            f"--kubelet-client-certificate={pki / 'admin.crt'}",
            f"--kubelet-client-key={pki / 'admin.key'}",
            "--kubelet-preferred-address-types=InternalIP",
        ],
    )
    wait_until(
        f"{cluster.name}: kube-apiserver",
        lambda: cluster.get("/readyz")[0] == 200,
        START_TIMEOUT,
        starter.dead,
    )

    config = str(cluster.own_kubeconfig)
    starter.spawn(
        "kube-controller-manager",
        [
            str(tools.tool("kube-controller-manager")),
            f"--kubeconfig={config}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={service_cidr}",
            f"--cluster-cidr={spec.pod_cidr}",
            "--profiling=false",
        ],
    )
    starter.spawn(
        "kube-scheduler",
        [
            str(tools.tool("kube-scheduler")),
            f"--kubeconfig={config}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--profiling=false",
        ],
    )
    if spec.node == "real":
        _start_real_node(cluster, tools, starter, spec, environ)
    else:
        _start_kwok_node(cluster, tools, starter, spec)
    (home / "cluster.json").write_text(
        json.dumps({"name": cluster.name, "apiserver_port": cluster.apiserver_port, "etcd_port": cluster.etcd_port})
    )


def _start_kwok_node(cluster: Cluster, tools: Toolchain, starter: Starter, spec: ClusterSpec) -> None:
    """kwok keeps one simulated node Ready and marks its pods Running and Ready; no container runs."""
    config = str(cluster.own_kubeconfig)
    # kwok's own node and pod lifecycles, and kubeport's stand-in for an Ingress controller.
    stages = sorted(tools.kwok_stages.glob("*.yaml")) + sorted(OWN_STAGES.glob("*.yaml"))
    if not stages:
        raise ClusterError(f"no kwok stages in {tools.kwok_stages}; run `make toolchain`")
    starter.spawn(
        "kwok",
        [
            str(tools.tool("kwok")),
            f"--kubeconfig={config}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={spec.pod_cidr}",
            "--node-lease-duration-seconds=40",
            *[f"--config={stage}" for stage in stages],
        ],
    )

    kubectl = [str(tools.tool("kubectl")), f"--kubeconfig={config}", f"--context={cluster.name}"]
    applied = subprocess.run(
        [*kubectl, "apply", "-f", "-"],
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [node_manifest(NODE_NAME), INGRESS_CLASS, *local_storage(cluster.home, NODE_NAME)],
            }
        ),
        text=True,
        check=False,
        capture_output=True,
        timeout=60,
    )
    if applied.returncode != 0:
        raise ClusterError(
            f"{cluster.name}: could not create the node, IngressClass and volumes: {applied.stderr.strip()}"
        )

    def node_ready_and_service_accounts_made() -> bool:
        node = json.loads(cluster.get(f"/api/v1/nodes/{NODE_NAME}")[1])
        conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
        taints = (node.get("spec") or {}).get("taints") or []
        account = cluster.get("/api/v1/namespaces/default/serviceaccounts/default")[0]
        return conditions.get("Ready") == "True" and not taints and account == 200

    wait_until(
        f"{cluster.name}: node {NODE_NAME} Ready, controllers running",
        node_ready_and_service_accounts_made,
        START_TIMEOUT,
        starter.dead,
    )


def _start_real_node(
    cluster: Cluster, tools: Toolchain, starter: Starter, spec: ClusterSpec, environ: Mapping[str, str] | None
) -> None:
    """A node that runs containers, pulling from the local registry (started first: containerd must trust it).

    kubeport-node starts the registry and BuildKit; kubeport-node-b uses them."""
    from tools.localcluster import builder, realnode, registry  # noqa: PLC0415 - only the real node needs them

    node = realnode.NODES[cluster.name]
    first = cluster.name == REAL_NODE
    node_registry = registry.start(registry_home(environ), tools)
    ports = {name: free_port() for name in realnode.PORTS}

    def until(what: str, ready: Callable[[], bool], timeout: float) -> None:
        wait_until(f"{cluster.name}: {what}", ready, timeout, starter.dead)

    def node_ready() -> bool:
        found = json.loads(cluster.get(f"/api/v1/nodes/{node.name}")[1])
        if found.get("kind") != "Node":
            return False
        conditions = {c["type"]: c["status"] for c in (found.get("status") or {}).get("conditions") or []}
        account = cluster.get("/api/v1/namespaces/default/serviceaccounts/default")[0]
        return conditions.get("Ready") == "True" and account == 200

    realnode.start(
        home=cluster.home,
        pki=cluster.pki,
        kubeconfig=cluster.own_kubeconfig,
        context=cluster.name,
        pod_cidr=spec.pod_cidr,
        service_cidr=spec.service_cidr,
        tools=tools,
        spawner=starter,
        ports=ports,
        registries={node_registry.host: node_registry.ca},
        wait_until=until,
        node_ready=node_ready,
        node=node,
    )
    kubectl = [str(tools.tool("kubectl")), f"--kubeconfig={cluster.own_kubeconfig}", f"--context={cluster.name}"]
    applied = subprocess.run(
        [*kubectl, "apply", "-f", "-"],
        input=json.dumps({"apiVersion": "v1", "kind": "List",
                          "items": local_storage(cluster.home, node.name)}),
        text=True, check=False, capture_output=True, timeout=60,
    )  # fmt: skip
    if applied.returncode != 0:
        raise ClusterError(f"{cluster.name}: could not create the local volumes: {applied.stderr.strip()}")
    if first:
        builder.start(builder_home(environ), tools, node_registry, starter.spawn, until)


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
    return [c for c in found if c is not None and c.pids() and all(_running(p) for p in c.pids().values())]


def write_kubeconfig(environ: Mapping[str, str] | None = None) -> Path:
    """(Re)write the shared kubeconfig with a context for every running cluster."""
    path = kubeconfig_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(running(environ)), sort_keys=False))
    path.chmod(0o600)
    return path


def _stop_process(pid: int) -> bool:
    """TERM the process's session, KILL it after the grace period; True once it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            if not _running(pid):
                return True
            time.sleep(0.1)
    return not _running(pid)


def stop(name: str, environ: Mapping[str, str] | None = None) -> None:
    """Stop every process of cluster `name` and remove its files.

    One at a time, in reverse start order: kwok and the controllers first, the API server while etcd still
    answers (it drains against it), etcd last.
    """
    home = state_dir(environ) / name
    pids = Cluster(name, home).pids()
    still = [process for process, pid in reversed(list(pids.items())) if not _stop_process(pid)]
    if still:
        raise ClusterError(f"{name}: could not stop {', '.join(still)}")
    if CLUSTERS[name].node == "real":
        from tools.localcluster import realnode, registry  # noqa: PLC0415

        node = realnode.NODES[name]
        realnode.stop(home, node)
        if name == REAL_NODE:
            registry.stop(registry_home(environ))
        # Stopping is checked, not assumed: a mount, interface, network namespace, cgroup or process of the node
        # still there (after a short grace for the kernel to let go of it) fails the stop, naming each.
        deadline = time.monotonic() + LEFTOVER_GRACE
        while (left := realnode.leftovers(home, node)) and time.monotonic() < deadline:
            time.sleep(1)
        if left:
            raise ClusterError(f"{name}: stopped, but left behind: {'; '.join(left)}")
    shutil.rmtree(home, ignore_errors=True)


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
