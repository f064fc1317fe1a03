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


def registry_certificates(home: Path, ip: str) -> None:
    """A CA of the registry's own (ca.crt) and the front's certificate for `ip` signed by it (registry.crt, .key)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=kubeport-registry-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=home)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kubeport-registry", "-keyout", "registry.key",
            "-out", "registry.csr", cwd=home)  # fmt: skip
    (home / "registry.ext").write_text(f"subjectAltName=IP:{ip}\n")
    openssl("x509", "-req", "-in", "registry.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "7", "-extfile", "registry.ext", "-out", "registry.crt", cwd=home)  # fmt: skip
