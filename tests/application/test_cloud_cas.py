"""The clouds' CA files kubeport mounts (components/ca): each a bundle of PEM certificates that are CAs, none expiring
within 90 days (then refresh the file from the source components/ca/README.md names)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509

from tools.stack_files import ROOT

CA_FOLDER = ROOT / "components" / "ca"
MARGIN = datetime.timedelta(days=90)


@pytest.mark.parametrize("path", sorted(CA_FOLDER.glob("*.pem")), ids=lambda p: p.name)
def test_each_ca_file_holds_ca_certificates_valid_for_90_days_more(path: Path) -> None:
    certificates = x509.load_pem_x509_certificates(path.read_bytes())
    assert certificates, f"{path.name}: no certificate"
    soon = datetime.datetime.now(datetime.UTC) + MARGIN
    for certificate in certificates:
        subject = certificate.subject.rfc4514_string()
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, f"{subject}: not a CA"
        expires = certificate.not_valid_after_utc
        assert expires > soon, f"{path.name}: {subject} expires {expires}"


def test_the_readme_names_every_ca_file() -> None:
    readme = (CA_FOLDER / "README.md").read_text()
    assert [p.name for p in sorted(CA_FOLDER.glob("*.pem")) if f"`{p.name}`" not in readme] == []
