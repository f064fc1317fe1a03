"""A local key service for a stack's secrets: local-kms (an implementation of the AWS KMS API, built from its Go
module into the toolchain, patched to listen on the loopback only) on 127.0.0.1, with one symmetric key.

A stack whose secrets provider is `awskms://<key>?endpoint=...` keeps its data key encrypted by that key: whoever may
not use the key (a disabled key here; a missing `kms:Decrypt` right on AWS) cannot read the stack's secrets. local-kms
serves plain HTTP (it has no TLS) and checks no signature: it stands for the key service's API, not for its
transport or access control, and is reached on the loopback only.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools import processes
from tools.localcluster.catalog import free_port

REGION = "us-east-1"


@dataclass(frozen=True)
class KeyService:
    """A running local-kms and the key it made."""

    endpoint: str
    key_id: str

    def secrets_provider(self) -> str:
        """The stack's secrets provider URL: the key, in this region, at this endpoint."""
        query = urllib.parse.urlencode({"region": REGION, "endpoint": self.endpoint})
        return f"awskms://{self.key_id}?{query}"

    @functools.cached_property
    def client(self) -> Any:
        """A KMS client of the service (boto3); local-kms accepts any signature."""
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - only the key service needs it

        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local-kms",
            aws_secret_access_key="local-kms",
        )

    def disable(self) -> None:
        """Revoke the key: every decrypt with it is refused until `enable`."""
        self.client.disable_key(KeyId=self.key_id)

    def enable(self) -> None:
        self.client.enable_key(KeyId=self.key_id)


@contextmanager
def running(home: Path, local_kms: Path, timeout: float = 30) -> Iterator[KeyService]:
    """Start local-kms on a free loopback port with its data in `home`, make a symmetric key, yield the service; stop
    it at the end, whatever happened."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = home / "local-kms.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "PORT": str(port),
        "KMS_REGION": REGION,
        "KMS_DATA_PATH": str(home / "data"),
        "KMS_SEED_PATH": str(home / "no-seed.yaml"),
    }
    pid = processes.spawn([str(local_kms)], log=log, cwd=home, env=env)
    try:
        probe = KeyService(endpoint, "")
        why = processes.wait_for(
            lambda: bool(probe.client.list_keys()),
            timeout,
            dead=lambda: None if processes.alive(pid) else f"local-kms exited:\n{processes.log_tail(log)}",
            transient=(Exception,),
        )
        if why is not None:
            raise RuntimeError(f"the key service did not start: {why}")
        key = probe.client.create_key(Description="kubeport stack secrets (live test)")["KeyMetadata"]["KeyId"]
        yield KeyService(endpoint, key)
    finally:
        processes.stop(pid, grace=10)
