"""The live tests' key service (tools/localcluster/keyservice.py), on its own: local-kms from the toolchain, on the
loopback only (the build patches its listen address), refusing a disabled key's decrypts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.support.built import built
from tools.localcluster.keyservice import KeyService, running


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyService]:
    with running(tmp_path_factory.mktemp("kms"), built("local-kms")) as started:
        yield started


def test_it_listens_on_the_loopback_only(kms: KeyService) -> None:
    port = kms.endpoint.rsplit(":", 1)[1]
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=10,
                               check=True).stdout.split()  # fmt: skip
    addresses = [field for field in listening if field.endswith(f":{port}")]
    assert addresses == [f"127.0.0.1:{port}"], listening


def test_a_disabled_key_decrypts_nothing_until_it_is_enabled_again(kms: KeyService) -> None:
    import botocore.exceptions  # type: ignore[import-untyped]

    client = kms.client
    sealed = client.encrypt(KeyId=kms.key_id, Plaintext=b"a stack's data key")["CiphertextBlob"]
    kms.disable()
    try:
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDeniedException"):
            client.decrypt(CiphertextBlob=sealed)
    finally:
        kms.enable()
    assert client.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"a stack's data key"


def test_the_secrets_provider_names_the_key_region_and_endpoint(kms: KeyService) -> None:
    assert kms.secrets_provider() == (
        f"awskms://{kms.key_id}?region=us-east-1&endpoint=http%3A%2F%2F127.0.0.1%3A{kms.endpoint.rsplit(':', 1)[1]}"
    )
