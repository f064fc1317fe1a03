"""What a real node offers beyond pods (tools.localcluster.nodeaddons), offline: Traefik and metrics-server listen on
the node's address only, serve exactly the classes the clusters declare, and every TLS hop on the way to the
metrics verifies its peer with the cluster's own CAs; and the certificates those hops verify name what they must."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from tools.localcluster import nodeaddons, nodeconfig, nodekinds
from tools.localcluster.nodeconfig import NodeNetwork
from tools.localcluster.pki import make_certificates, node_certificates

PORTS = {name: 21000 + index for index, name in enumerate(nodeaddons.PORTS)}
NODES = sorted(nodeconfig.NODES.values(), key=lambda n: n.name)


def by_kind(node: NodeNetwork) -> dict[str, Any]:
    return {item["kind"]: item for item in nodeaddons.manifests(node, PORTS, b"CA PEM")}


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_traefik_listens_on_the_nodes_address_only_with_tls_on_443(node: NodeNetwork) -> None:
    config = nodeaddons.traefik_config(node)
    addresses = {name: entry["address"] for name, entry in config["entryPoints"].items()}
    assert addresses == {
        "web": f"{node.ip}:80",
        "websecure": f"{node.ip}:443",
        "traefik": f"{node.ip}:{nodeaddons.ADMIN_PORT}",
    }
    assert config["entryPoints"]["websecure"]["http"] == {"tls": {}, "aliasHeadersStrategy": "delete"}
    assert config["entryPoints"]["web"]["http"] == {"aliasHeadersStrategy": "delete"}
    # No dashboard or API: health and metrics only, on the admin port.
    assert "api" not in config
    assert config["ping"]["entryPoint"] == "traefik"
    assert config["metrics"]["prometheus"]["entryPoint"] == "traefik"
    assert config["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_traefik_serves_exactly_the_classes_the_cluster_declares_and_reports_the_nodes_address(
    node: NodeNetwork,
) -> None:
    providers = nodeaddons.traefik_config(node)["providers"]
    objects = by_kind(node)
    ingress_class, gateway_class = objects["IngressClass"], objects["GatewayClass"]
    nginx = providers["kubernetesIngressNGINX"]
    assert (nginx["ingressClass"], nginx["controllerClass"]) == (
        ingress_class["metadata"]["name"],
        ingress_class["spec"]["controller"],
    )
    assert gateway_class["spec"] == {"controllerName": nodeaddons.GATEWAY_CONTROLLER}
    assert nginx["publishStatusAddress"] == [node.ip]
    assert providers["kubernetesGateway"]["statusAddress"] == {"ip": node.ip}
    assert (nginx["httpEntryPoint"], nginx["httpsEntryPoint"]) == ("web", "websecure")
    # One class name on every local cluster: a stack's kubeport:ingressClass works on kwok and real nodes alike.
    assert nodekinds.INGRESS_CLASS_NAME == nodeaddons.CLASS_NAME == ingress_class["metadata"]["name"]


def test_traefik_reads_the_cluster_through_its_kubeconfig_named_in_its_environment(tmp_path: Path) -> None:
    args = nodeaddons.traefik_args(Path("/bin/traefik"), tmp_path / "traefik.yaml", tmp_path / "kubeconfig")
    assert args == ["env", f"KUBECONFIG={tmp_path / 'kubeconfig'}", "/bin/traefik",
                    f"--configFile={tmp_path / 'traefik.yaml'}"]  # fmt: skip


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_metrics_server_verifies_the_kubelet_and_serves_on_the_nodes_address(node: NodeNetwork, tmp_path: Path) -> None:
    args = nodeaddons.metrics_server_args(Path("/bin/metrics-server"), tmp_path / "kc", tmp_path, node, PORTS)
    flags = dict(a.removeprefix("--").partition("=")[::2] for a in args[1:])
    assert flags["bind-address"] == node.ip and flags["secure-port"] == str(PORTS["metrics-server"])
    assert flags["kubelet-certificate-authority"] == str(tmp_path / "ca.crt")
    assert not any("insecure" in a for a in args)
    assert flags["tls-cert-file"] == str(tmp_path / "metrics-server.crt")
    assert flags["profiling"] == "false"


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_the_metrics_api_reaches_metrics_server_on_the_node_and_verifies_it_with_the_cluster_ca(
    node: NodeNetwork,
) -> None:
    api = by_kind(node)["APIService"]
    namespace, name = nodeaddons.METRICS_SERVER
    service, endpoints = named(node, "Service", name), named(node, "EndpointSlice", name)
    spec = api["spec"]
    assert base64.b64decode(spec["caBundle"]) == b"CA PEM"
    assert "insecureSkipTLSVerify" not in spec
    assert spec["service"] == {"name": name, "namespace": namespace, "port": 443}
    assert service["metadata"] == {"name": name, "namespace": namespace}
    assert "selector" not in service["spec"]
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == name
    assert endpoints["endpoints"] == [{"addresses": [node.ip], "conditions": {"ready": True}}]
    (port,) = endpoints["ports"]
    (service_port,) = service["spec"]["ports"]
    assert (
        port["name"] == service_port["name"] and port["port"] == PORTS["metrics-server"] == service_port["targetPort"]
    )


def named(node: NodeNetwork, kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        o for o in nodeaddons.manifests(node, PORTS, b"CA PEM") if (o["kind"], o["metadata"]["name"]) == (kind, name)
    ]
    return found


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_the_controllers_metrics_answer_at_a_fixed_url_on_the_nodes_address(node: NodeNetwork) -> None:
    # What a canary's judge reads (kubeport:controllerMetrics): a stack file names it, so its port never moves.
    config = nodeaddons.traefik_config(node)
    assert config["entryPoints"]["traefik"]["address"] == f"{node.ip}:{nodeaddons.ADMIN_PORT}"
    assert config["metrics"]["prometheus"]["entryPoint"] == "traefik"
    assert nodeaddons.traefik_metrics_url(node) == f"http://{node.ip}:{nodeaddons.ADMIN_PORT}/metrics"


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def signed_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert leaf.signature_hash_algorithm is not None
    try:
        key.verify(leaf.signature, leaf.tbs_certificate_bytes, padding.PKCS1v15(), leaf.signature_hash_algorithm)
    except InvalidSignature:
        return False
    return leaf.issuer == ca.subject


def test_the_certificates_name_what_each_peer_verifies(tmp_path: Path) -> None:
    """The kubelet's for the node's address, metrics-server's for its Service's name, both from the cluster CA; the
    API server's front-proxy client certificate from a CA of its own, for client use only."""
    node = NODES[0]
    make_certificates(tmp_path, "10.96.0.0/16")
    node_certificates(tmp_path, node.ip, nodeaddons.metrics_server_dns())
    ca, front_ca = load(tmp_path / "ca.crt"), load(tmp_path / "front-proxy-ca.crt")

    def names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return san.get_values_for_type(x509.DNSName), [str(a) for a in san.get_values_for_type(x509.IPAddress)]

    def usage(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)

    kubelet, metrics = load(tmp_path / "kubelet-serving.crt"), load(tmp_path / "metrics-server.crt")
    assert names(kubelet) == ([], [node.ip]) and signed_by(kubelet, ca)
    assert names(metrics) == ([nodeaddons.metrics_server_dns()], [node.ip]) and signed_by(metrics, ca)
    assert usage(kubelet) == usage(metrics) == [ExtendedKeyUsageOID.SERVER_AUTH]
    client = load(tmp_path / "front-proxy-client.crt")
    assert signed_by(client, front_ca) and not signed_by(client, ca)
    assert usage(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client.subject.rfc4514_string() == "CN=front-proxy-client"
    assert ipaddress.ip_address(node.ip).is_private
