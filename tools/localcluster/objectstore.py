"""A local S3-compatible object store for shared Pulumi state: versitygw (its posix backend, built from its Go
module into the toolchain) on 127.0.0.1, over TLS with a CA of its own, with credentials of its own.

It stands where a team's bucket stands (S3, or Azure Blob and GCS through their own URLs): the Pulumi CLI keeps
each stack's checkpoint, history and lock files in it through the DIY backend, `PULUMI_BACKEND_URL=s3://...`.
The CLI gets the access key pair in its environment (never on a command line) and the store's CA in
`AWS_CA_BUNDLE`, against which the AWS SDK verifies the store's certificate; `SSL_CERT_FILE` does not reach the
SDK's client. The tests make and list the bucket through the S3 API (boto3), verifying the same certificate.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import ssl
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from tools import processes
from tools.certificates import issue
from tools.localcluster.catalog import free_port

REGION = "us-east-1"
BUCKET = "kubeport-state"
LOCKS = ".pulumi/locks/"
"""Where the DIY backend keeps the stacks' lock files, one per running update: `organization/<project>/<stack>/`."""


@dataclass(frozen=True)
class ObjectStore:
    """A running store: where it listens, its bucket, and what a client needs to reach it."""

    endpoint: str
    bucket: str
    ca_file: Path
    access_key: str
    secret_key: str = field(repr=False)

    def backend_url(self) -> str:
        """The bucket as Pulumi's DIY backend takes it: path-style requests to the store's HTTPS endpoint."""
        query = urllib.parse.urlencode({"endpoint": self.endpoint, "s3ForcePathStyle": "true", "region": REGION})
        return f"s3://{self.bucket}?{query}"

    def environment(self) -> dict[str, str]:
        """What the Pulumi CLI (and the Automation API under `python -m tools`) needs to keep state here."""
        return {
            "PULUMI_BACKEND_URL": self.backend_url(),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_CA_BUNDLE": str(self.ca_file),
        }

    @functools.cached_property
    def client(self) -> Any:
        """An S3 client of the store (boto3), verifying its certificate against the store's CA; made once."""
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - only the store needs it

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            verify=str(self.ca_file),
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object's key under `prefix`, through the S3 API's listing."""
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def locks(self) -> list[str]:
        """The lock files of every stack: one per update that holds (or held, and was killed) a stack's lock."""
        return [key for key in self.keys(LOCKS) if key.endswith(".json")]


def _answers_tls(port: int, ca_file: Path) -> bool:
    """Whether the store completes a TLS handshake on `port` with the certificate its CA signed for 127.0.0.1."""
    import socket  # noqa: PLC0415

    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        return True


@contextmanager
def running(home: Path, versitygw: Path, bucket: str = BUCKET, timeout: float = 30) -> Iterator[ObjectStore]:
    """Start versitygw over `home`/data on a free loopback port, make `bucket`, yield the store; stop it at the end,
    whatever happened."""
    data, pki = home / "data", home / "pki"
    for folder in (data, pki):
        folder.mkdir(parents=True, exist_ok=True)
    issued = issue(pki, "kubeport object store CA", "127.0.0.1", [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))])
    ca_file, cert, key = issued.ca, issued.cert, issued.key
    port = free_port()
    store = ObjectStore(
        endpoint=f"https://127.0.0.1:{port}",
        bucket=bucket,
        ca_file=ca_file,
        access_key=f"kubeport{secrets.token_hex(8)}",
        secret_key=secrets.token_urlsafe(30),
    )
    log = home / "versitygw.log"
    # Credentials and addresses through its environment: nothing secret on its command line.
    env = {
        "PATH": "/usr/bin:/bin",
        "ROOT_ACCESS_KEY_ID": store.access_key,
        "ROOT_SECRET_ACCESS_KEY": store.secret_key,
        "VGW_PORT": f"127.0.0.1:{port}",
        "VGW_CERT": str(cert),
        "VGW_KEY": str(key),
        "VGW_REGION": REGION,
    }
    pid = processes.spawn([str(versitygw), "posix", str(data)], log=log, cwd=home, env=env)
    try:
        why = processes.wait_for(
            lambda: _answers_tls(port, ca_file),
            timeout,
            dead=lambda: None if processes.alive(pid) else f"versitygw exited:\n{processes.log_tail(log)}",
        )
        if why is not None:
            raise RuntimeError(f"the object store did not start: {why}")
        store.client.create_bucket(Bucket=bucket)
        yield store
    finally:
        processes.stop(pid, grace=10)
