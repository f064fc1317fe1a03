"""Certificates for the servers the tests run on the loopback or the local node (the object store, a host Traefik
routes): a CA of the test's own and one server certificate it signs, made with `cryptography`, valid for a day."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    """The files written, and the server certificate itself (to pin its key, say)."""

    ca: Path
    cert: Path
    key: Path
    leaf: x509.Certificate


def issue(
    folder: Path,
    ca_name: str,
    subject: str,
    names: Sequence[x509.GeneralName],
    files: tuple[str, str, str] = ("ca.pem", "tls.crt", "tls.key"),
) -> Issued:
    """A CA called `ca_name` (certificate and CRL signing only) and a server certificate for `subject` and `names`
    (subject alternative names) it signs; written to `folder` as `files` (CA, certificate, key: the key owner-only)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])

    def signed(builder: x509.CertificateBuilder) -> x509.Certificate:
        return (
            builder.issuer_name(issuer)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256())
        )

    ca = signed(
        x509.CertificateBuilder()
        .subject_name(issuer)
        .public_key(ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    )
    leaf = signed(
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    issued = Issued(folder / files[0], folder / files[1], folder / files[2], leaf)
    issued.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    issued.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    issued.key.touch(mode=0o600)
    issued.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return issued
