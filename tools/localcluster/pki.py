"""The certificates of the local clusters and the registry, made with openssl: short-lived (7 days), below the
home that uses them, never anywhere else."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from tools import processes
from tools.localcluster.catalog import ClusterError


def openssl(*args: str, cwd: Path) -> None:
    done = processes.run(["openssl", *args], cwd=cwd, timeout=60)
    if done.code != 0:
        raise ClusterError(f"openssl {args[0]} failed in {cwd}: {done.first_line()}")


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
        signed_leaf(pki, name, subject, extension)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=kubeport-etcd-ca",
            "-keyout", "etcd-ca.key", "-out", "etcd-ca.crt", cwd=pki)  # fmt: skip
    etcd_leaves = {
        "etcd-server": ("/CN=etcd", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
        "etcd-client": ("/CN=kube-apiserver-etcd-client", "extendedKeyUsage=clientAuth"),
    }
    for name, (subject, extension) in etcd_leaves.items():
        signed_leaf(pki, name, subject, extension, ca="etcd-ca")
    openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    # The aggregation layer: the API server proxies to an extension API server (metrics-server) with this client
    # certificate, from a CA of its own, and tells it who asked in headers that only this CA's clients may set.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=kubeport-front-proxy-ca",
            "-keyout", "front-proxy-ca.key", "-out", "front-proxy-ca.crt", cwd=pki)  # fmt: skip
    signed_leaf(pki, "front-proxy-client", "/CN=front-proxy-client", "extendedKeyUsage=clientAuth",
                ca="front-proxy-ca")  # fmt: skip


def signed_leaf(pki: Path, name: str, subject: str, extension: str, ca: str = "ca") -> None:
    """`name`.key and `name`.crt in `pki`: a new key and a 7-day certificate for `subject` with `extension`
    (an openssl extension file's lines; none when empty), signed by the CA `ca`.crt / `ca`.key there."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=pki)  # fmt: skip
    sign = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "7", "-out", f"{name}.crt"]  # fmt: skip
    if extension:
        (pki / f"{name}.ext").write_text(extension + "\n")
        sign += ["-extfile", f"{name}.ext"]
    openssl(*sign, cwd=pki)


def node_certificates(pki: Path, node_ip: str, metrics_server_dns: str) -> None:
    """The serving certificates of a node that runs containers, signed by the cluster's CA: the kubelet's for the
    node's address (metrics-server and the API server verify it there), metrics-server's for its Service's name
    (the API server's aggregation layer verifies it by that name)."""
    signed_leaf(pki, "kubelet-serving", "/CN=kubelet-serving",
                f"subjectAltName=IP:{node_ip}\nextendedKeyUsage=serverAuth")  # fmt: skip
    signed_leaf(pki, "metrics-server", "/CN=metrics-server",
                f"subjectAltName=DNS:{metrics_server_dns},IP:{node_ip}\nextendedKeyUsage=serverAuth")  # fmt: skip


def registry_certificates(home: Path, ip: str) -> None:
    """A CA of the registry's own (ca.crt) and the front's certificate for `ip` signed by it (registry.crt, .key)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=kubeport-registry-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=home)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kubeport-registry", "-keyout", "registry.key",
            "-out", "registry.csr", cwd=home)  # fmt: skip
    (home / "registry.ext").write_text(f"subjectAltName=IP:{ip}\n")
    openssl("x509", "-req", "-in", "registry.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "7", "-extfile", "registry.ext", "-out", "registry.crt", cwd=home)  # fmt: skip
