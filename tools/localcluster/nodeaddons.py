"""What a cluster with a real node offers on top of running pods, as on a managed cluster: an ingress controller
that also implements the Gateway API, and the resource metrics API that `kubectl top` and a
HorizontalPodAutoscaler read.

- **Traefik** (traefik/traefik/v3, built into the toolchain) runs as a process of the node, in its network
  namespace, listening on the node's address: 80 (`web`) and 443 (`websecure`, TLS). It serves
  - Ingresses of class `kubeport-local` (the IngressClass's controller is `k8s.io/ingress-nginx`) through its
    ingress-nginx provider, so they behave as on ingress-nginx, the controller minikube and kind document: a host
    with a TLS Secret is served over HTTPS with that Secret's certificate and port 80 redirects to 443; a host
    without one is served on 80; an unknown host gets 404. The Ingresses' address is the node's.
  - Gateway API routes on Gateways of class `kubeport-local` (the CRDs of sigs.k8s.io/gateway-api, standard
    channel, at the version Traefik is built against), with weighted backends.
  - its own health (`/ping`) and Prometheus metrics (per service: requests by code, latency) on a port of its own.
- **metrics-server** (sigs.k8s.io/metrics-server) runs as a process of the node too, scraping the kubelet's
  resource metrics (verifying the kubelet's certificate), and serves `metrics.k8s.io` through the API server's
  aggregation layer: an APIService that names a Service without selector, whose EndpointSlice is the node's address.
  The API server verifies metrics-server's certificate by the Service's name, and metrics-server trusts the
  API server's front-proxy client certificate alone to name the user.

Both use the cluster's admin kubeconfig, as kube-router does: they are the cluster's own processes, stopped with
it. Everything here but `start` is a pure rendering (tests/tooling/test_nodeaddons.py checks them offline).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tools import processes
from tools.localcluster.catalog import ClusterError
from tools.localcluster.controlplane import Cluster, conditions
from tools.localcluster.nodeconfig import NodeNetwork
from tools.toolchain import Toolchain

TOOLS = ("traefik", "metrics-server")
"""What the toolchain builds for the node's add-ons."""
CLASS_NAME = "kubeport-local"
"""The IngressClass and GatewayClass on every local cluster (on kwok clusters, an IngressClass kwok's stage
serves instead)."""
INGRESS_CONTROLLER = "k8s.io/ingress-nginx"
"""The IngressClass's controller: Traefik's ingress-nginx provider reads Ingresses as ingress-nginx would."""
GATEWAY_CONTROLLER = "traefik.io/gateway-controller"
HTTP_PORT, HTTPS_PORT = 80, 443
ADMIN_PORT = 8082
"""Traefik's admin entry point (ping, Prometheus metrics) on the node's address: fixed like 80 and 443, since a
canary's judge reads the metrics at a URL a stack file names (kubeport:controllerMetrics)."""
METRICS_SERVER = ("kube-system", "metrics-server")
METRICS_API = "v1beta1.metrics.k8s.io"
PORTS = ("metrics-server",)
"""The add-ons' other ports on the node's address, each picked free at start."""
METRIC_RESOLUTION = "10s"
"""How often metrics-server scrapes the kubelet: its smallest (the default is 60 s)."""


def metrics_server_dns() -> str:
    """The name the API server's aggregation layer dials metrics-server by, and verifies its certificate for."""
    namespace, name = METRICS_SERVER
    return f"{name}.{namespace}.svc"


def traefik_config(node: NodeNetwork) -> dict[str, Any]:
    """Traefik's static configuration: the node's entry points, its two Kubernetes providers, health and metrics."""
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "WARN"},
        "entryPoints": {
            # Headers whose names alias another's (X_Auth_User for X-Auth-User) are dropped: nginx, the apps'
            # server, would read them as the header they alias.
            "web": {"address": f"{node.ip}:{HTTP_PORT}", "http": {"aliasHeadersStrategy": "delete"}},
            "websecure": {
                "address": f"{node.ip}:{HTTPS_PORT}",
                "http": {"tls": {}, "aliasHeadersStrategy": "delete"},
            },
            "traefik": {"address": f"{node.ip}:{ADMIN_PORT}"},
        },
        "ping": {"entryPoint": "traefik"},
        "metrics": {"prometheus": {"entryPoint": "traefik", "addServicesLabels": True, "addRoutersLabels": True}},
        "providers": {
            "kubernetesIngressNGINX": {
                "ingressClass": CLASS_NAME,
                "controllerClass": INGRESS_CONTROLLER,
                "publishStatusAddress": [node.ip],
                "httpEntryPoint": "web",
                "httpsEntryPoint": "websecure",
            },
            "kubernetesGateway": {"statusAddress": {"ip": node.ip}},
        },
    }


def traefik_metrics_url(node: NodeNetwork) -> str:
    """Where Traefik's Prometheus metrics answer: what a canary's judge reads (kubeport:controllerMetrics). The API
    server's service proxy cannot reach it: it proxies only to addresses that are pods', and Traefik is a process
    of the node."""
    return f"http://{node.ip}:{ADMIN_PORT}/metrics"


def traefik_args(traefik: Path, config: Path, kubeconfig: Path) -> list[str]:
    """Traefik with its configuration file; both providers read the cluster through KUBECONFIG."""
    return ["env", f"KUBECONFIG={kubeconfig}", str(traefik), f"--configFile={config}"]


def metrics_server_args(
    metrics_server: Path, kubeconfig: Path, pki: Path, node: NodeNetwork, ports: Mapping[str, int]
) -> list[str]:
    """metrics-server on the node's address, serving the cluster CA's certificate for its Service's name, scraping
    the kubelet on the node's address with the cluster CA verifying it."""
    return [
        str(metrics_server),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={node.ip}",
        f"--secure-port={ports['metrics-server']}",
        f"--tls-cert-file={pki / 'metrics-server.crt'}",
        f"--tls-private-key-file={pki / 'metrics-server.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        f"--metric-resolution={METRIC_RESOLUTION}",
        # Below the resolution, as metrics-server requires.
        "--kubelet-request-timeout=5s",
        "--profiling=false",
    ]


def manifests(node: NodeNetwork, ports: Mapping[str, int], ca: bytes) -> list[dict[str, Any]]:
    """The objects that make the add-ons part of the cluster: the two classes, and metrics-server's Service,
    EndpointSlice and APIService (`ca`: the cluster CA that signed its certificate)."""
    namespace, name = METRICS_SERVER
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": CLASS_NAME},
            "spec": {"controller": INGRESS_CONTROLLER},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": CLASS_NAME},
            "spec": {"controllerName": GATEWAY_CONTROLLER},
        },
        *node_service(namespace, name, ("https", 443), ports["metrics-server"], node),
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": METRICS_API},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "service": {"name": name, "namespace": namespace, "port": 443},
                "caBundle": base64.b64encode(ca).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def node_service(
    namespace: str, name: str, port: tuple[str, int], node_port: int, node: NodeNetwork
) -> list[dict[str, Any]]:
    """A Service for a process of the node (`port`: its name and number) and the EndpointSlice that is its one
    endpoint, the node's address on `node_port`: in-cluster clients and the API server's proxy reach it by name."""
    port_name, number = port
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            # No selector: its endpoint is the EndpointSlice below, the node's own address.
            "spec": {"ports": [{"name": port_name, "port": number, "targetPort": node_port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": "kubeport.local",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [node.ip], "conditions": {"ready": True}}],
            "ports": [{"name": port_name, "port": node_port, "protocol": "TCP"}],
        },
    ]


def gateway_api_documents(folder: Path) -> list[dict[str, Any]]:
    """The Gateway API's standard channel as published: its CRDs and the admission policy that guards upgrades."""
    return [d for path in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]


def start(
    *,
    cluster: Cluster,
    tools: Toolchain,
    spawn: Callable[[str, list[str]], None],
    wait_until: Callable[[str, Callable[[], bool], float], None],
    ports: Mapping[str, int],
    node: NodeNetwork,
) -> None:
    """The Gateway API CRDs, Traefik and metrics-server on the node (its kubelet Ready), and their objects; back
    when Traefik answers its health check, the GatewayClass is accepted and the metrics API is available."""
    kubectl = cluster.kubectl(tools)
    documents = gateway_api_documents(tools.gateway_api_crds)
    crds = [d["metadata"]["name"] for d in documents if d.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise ClusterError(f"no Gateway API CRDs in {tools.gateway_api_crds}; run `make toolchain`")
    cluster.apply(tools, documents, "the Gateway API CRDs", server_side=True)
    established = processes.run([*kubectl, "wait", "--for=condition=Established", "--timeout=60s",
                                 *[f"crd/{name}" for name in crds]], timeout=90)  # fmt: skip
    if established.code != 0:
        raise ClusterError(f"{node.name}: the Gateway API CRDs were not established: {established.stderr.strip()}")

    config = cluster.home / "traefik.yaml"
    config.write_text(yaml.safe_dump(traefik_config(node)))
    spawn("traefik", node.inside(traefik_args(tools.tool("traefik"), config, cluster.own_kubeconfig)))
    metrics_server = metrics_server_args(tools.tool("metrics-server"), cluster.own_kubeconfig, cluster.pki, node, ports)
    spawn("metrics-server", node.inside(metrics_server))
    cluster.apply(tools, manifests(node, ports, (cluster.pki / "ca.crt").read_bytes()), "the add-ons' objects")

    def answers(path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://{node.ip}:{ADMIN_PORT}{path}", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def status(kind: str, name: str, condition: str) -> bool:
        got = processes.run([*kubectl, "get", kind, name, "--output=json"], timeout=30)
        return got.code == 0 and conditions(json.loads(got.stdout)).get(condition) == "True"

    wait_until("traefik: /ping answers", lambda: answers("/ping"), 60)
    wait_until(
        f"traefik: GatewayClass {CLASS_NAME} accepted", lambda: status("gatewayclass", CLASS_NAME, "Accepted"), 60
    )
    wait_until(
        f"metrics-server: APIService {METRICS_API} available",
        lambda: status("apiservice", METRICS_API, "Available"),
        120,
    )
