"""The live tests' object store (tools/localcluster/objectstore.py), on its own: versitygw from the toolchain on
127.0.0.1, its certificate verified, its credentials required, none of them on its command line."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.built import built
from tools.localcluster.objectstore import ObjectStore, running


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    with running(tmp_path_factory.mktemp("store"), built("versitygw")) as started:
        yield started


def test_objects_go_in_and_are_listed(store: ObjectStore) -> None:
    client = store.client
    client.put_object(Bucket=store.bucket, Key=".pulumi/locks/organization/kubeport/s/one.json", Body=b"{}")
    client.put_object(Bucket=store.bucket, Key=".pulumi/stacks/kubeport/s.json", Body=b"{}")
    assert store.locks() == [".pulumi/locks/organization/kubeport/s/one.json"]
    assert store.keys(".pulumi/stacks/") == [".pulumi/stacks/kubeport/s.json"]


def test_a_wrong_secret_is_refused(store: ObjectStore) -> None:
    import botocore.exceptions  # type: ignore[import-untyped]

    wrong = ObjectStore(store.endpoint, store.bucket, store.ca_file, store.access_key, store.secret_key + "x")
    with pytest.raises(botocore.exceptions.ClientError, match=r"SignatureDoesNotMatch|AccessDenied"):
        wrong.keys()


def test_a_client_without_the_stores_ca_does_not_trust_it(store: ObjectStore) -> None:
    import boto3  # type: ignore[import-untyped]
    import botocore.exceptions

    client = boto3.client(  # the machine's CAs only
        "s3",
        endpoint_url=store.endpoint,
        region_name="us-east-1",
        aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key,
    )
    with pytest.raises(botocore.exceptions.SSLError):
        client.list_objects_v2(Bucket=store.bucket)
    port = int(store.endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_the_credentials_are_not_on_its_command_line(store: ObjectStore) -> None:
    command_lines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            command_lines.append(path.read_bytes())
    servers = [c for c in command_lines if b"versitygw" in c and b"posix" in c]
    assert servers, "the store runs"
    assert not any(store.secret_key.encode() in c or store.access_key.encode() in c for c in servers)


def test_the_backend_url_names_the_bucket_and_the_https_endpoint(store: ObjectStore) -> None:
    url = store.backend_url()
    assert url.startswith(f"s3://{store.bucket}?endpoint=https%3A%2F%2F127.0.0.1%3A")
    assert "s3ForcePathStyle=true" in url and store.secret_key not in url
    env = store.environment()
    assert env["AWS_CA_BUNDLE"] == str(store.ca_file) and env["PULUMI_BACKEND_URL"] == url
