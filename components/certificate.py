"""IssuedCertificate: a server certificate kubeport issues for an in-cluster server, under a CA of its own.

Each server (an application's in-cluster PostgreSQL) gets a private CA that signs exactly one certificate, for
the server's Service names, and is then forgotten: its key is never stored, so nothing can issue a second
certificate that the server's clients would trust. The clients trust that CA alone (`ca`), so a server that
presents any other certificate, or this one under another name, is refused (`sslmode=verify-full`).

A Pulumi dynamic resource, like components.password: the program's own Python (the `cryptography` package)
makes it at create, and the state keeps it (the key as a secret). A later `up` keeps it while the names are the
same and more than RENEW_DAYS of its validity remain; then it is replaced, which rolls the server and its
clients onto a new certificate and CA.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

if TYPE_CHECKING:  # for annotations only: issue() imports cryptography when it runs
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

VALIDITY_DAYS = 825
"""How long a certificate is valid (the CA a day longer)."""
RENEW_DAYS = 60
"""An `up` with less validity left than this replaces the certificate."""


@dataclass(frozen=True)
class Issued:
    """PEM texts: the CA's certificate (what clients trust), the server's certificate and its private key."""

    ca: str
    certificate: str
    key: str
    not_after: datetime.datetime


def issue(
    common_name: str, dns_names: Sequence[str], *, days: int = VALIDITY_DAYS, now: datetime.datetime | None = None
) -> Issued:
    """A new CA (P-256, its key discarded on return) and a server certificate for `dns_names` signed by it."""
    from cryptography import x509  # noqa: PLC0415 - imported where the resource is made, not by every program
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    if not dns_names:
        raise ValueError("a server certificate needs at least one DNS name")
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(minutes=5)
    end = start + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kubeport CA for {common_name}"[:64])])
    ca = _ca_certificate(ca_name, ca_key, start, end)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _server_certificate(common_name, dns_names, key, ca_name, ca_key, start=start, end=end)
    pem = serialization.Encoding.PEM
    return Issued(
        ca=ca.public_bytes(pem).decode(),
        certificate=certificate.public_bytes(pem).decode(),
        key=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
        not_after=end,
    )


def _ca_certificate(
    ca_name: x509.Name, ca_key: ec.EllipticCurvePrivateKey, start: datetime.datetime, end: datetime.datetime
) -> x509.Certificate:
    """The CA's self-signed certificate: it signs server certificates only (no CA below it), valid a day past `end`."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _server_certificate(
    common_name: str,
    dns_names: Sequence[str],
    key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    start: datetime.datetime,
    end: datetime.datetime,
) -> x509.Certificate:
    """The server's certificate for `dns_names`, signed by the CA: for TLS server authentication only."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def needs_renewal(not_after: str, now: datetime.datetime | None = None) -> bool:
    """True when less than RENEW_DAYS of the validity recorded at create (ISO 8601) remain, or it is unreadable."""
    try:
        end = datetime.datetime.fromisoformat(not_after)
    except (TypeError, ValueError):
        return True
    return end - (now or datetime.datetime.now(datetime.UTC)) < datetime.timedelta(days=RENEW_DAYS)


class CertificateProvider(ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        issued = issue(str(props["common_name"]), [str(n) for n in props["dns_names"]])
        outs = {
            **props,
            "ca": issued.ca,
            "certificate": issued.certificate,
            "key": issued.key,
            "not_after": issued.not_after.isoformat(),
        }
        return CreateResult(id_=issued.not_after.strftime("%Y%m%d%H%M%S"), outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Other names, or a certificate close to its end: a new one (and a new CA). A change of this provider's
        # own code alone changes nothing issued.
        renamed = [k for k in ("common_name", "dns_names") if olds.get(k) != news.get(k)]
        replaces = renamed or (["not_after"] if needs_renewal(str(olds.get("not_after"))) else [])
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Reached only when the provider's code changed: keep what was issued.
        kept = {k: olds[k] for k in ("ca", "certificate", "key", "not_after")}
        return UpdateResult(outs={**news, **kept})


class IssuedCertificate(Resource, module="kubeport", name="IssuedCertificate"):
    """A server certificate for `dns_names` and the CA that signed it; `key` is secret."""

    ca: pulumi.Output[str]
    """The CA's certificate (PEM): what the server's clients trust, and nothing else."""
    certificate: pulumi.Output[str]
    """The server's certificate (PEM)."""
    key: pulumi.Output[str]
    """The server's private key (PEM, secret in the state and in every output that carries it)."""
    not_after: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        common_name: pulumi.Input[str],
        dns_names: pulumi.Input[Sequence[pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            CertificateProvider(),
            name,
            {
                "common_name": common_name,
                "dns_names": dns_names,
                "ca": None,
                "certificate": None,
                "key": None,
                "not_after": None,
            },
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["key"])),
        )


def service_names(name: str, namespace: str) -> list[str]:
    """Every name a client may reach the Service `name` by: a server's certificate is for these."""
    return [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}", name]


def server_tls(
    parent: pulumi.Resource,
    name: str,
    namespace: pulumi.Input[str],
    metadata: k8s.meta.v1.ObjectMetaArgs,
    opts: pulumi.ResourceOptions,
) -> tuple[IssuedCertificate, k8s.core.v1.Secret]:
    """An in-cluster server's certificate, for every name of its Service `name`, under a CA of its own; and the
    kubernetes.io/tls Secret its pod mounts it from (with `ca.crt`)."""
    names = pulumi.Output.from_input(namespace).apply(lambda ns: service_names(name, ns))
    certificate = IssuedCertificate(
        f"{name}-certificate",
        common_name=names.apply(lambda n: n[0]),
        dns_names=names,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    tls = k8s.core.v1.Secret(
        f"{name}-tls",
        metadata=metadata,
        type="kubernetes.io/tls",
        string_data={"tls.crt": certificate.certificate, "tls.key": certificate.key, "ca.crt": certificate.ca},
        opts=opts,
    )
    return certificate, tls
