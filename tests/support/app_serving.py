"""The app served by the host's nginx with the image's config (app/serve-local), and the tools the tests need."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from app import bench

APP = Path(__file__).resolve().parents[2] / "app"
NGINX = "/usr/sbin/nginx"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Debian's Chromium, headless, asking nothing of the network but the pages it is sent to."""

INFO_ENV = {
    "KUBEPORT_TARGET": "minikube",
    "KUBEPORT_NAMESPACE": "kubeport-test",
    "KUBEPORT_POD": "web-6d5f8b7c9d-x2x4q",
    "KUBEPORT_NODE": "node-a.cluster.test",
    "KUBEPORT_IMAGE": "kubeport-app:0123456789abcdef",
    "KUBEPORT_RELEASE": "0123456789abcdef",
}
"""What the Deployment would set; the tests expect exactly these values on /info and on the page."""


def require(ok: bool, reason: str) -> None:
    """Skip when a host tool is missing, with the reason; in CI (CI=true) a missing tool fails instead."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def require_nginx() -> None:
    require(os.access(NGINX, os.X_OK), f"{NGINX} not found: apt-get install nginx")


@dataclass(frozen=True)
class Server:
    """A running app/serve-local."""

    port: int
    access_log: Path
    """serve-local's stdout: nginx's access log."""
    tmpdir: Path
    """serve-local's TMPDIR: its work directory is created (and must be removed) here."""
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> bench.Response:
        return bench.fetch(self.port, path, headers)


@contextmanager
def serve_local(root: Path) -> Iterator[Server]:
    """Start app/serve-local on a free port with INFO_ENV, wait until /readyz answers, always stop it."""
    require_nginx()
    tmpdir = root / "tmp"
    tmpdir.mkdir()
    port = bench.free_port()
    env = {**os.environ, **INFO_ENV, "TMPDIR": str(tmpdir)}
    env.pop("KUBEPORT_VERSION", None)
    log = root / "access.log"
    command = [str(APP / "serve-local"), "--port", str(port)]
    with (
        log.open("wb") as stdout,
        bench.running(command, port, ready_path="/readyz", env=env, stdout=stdout) as process,
    ):
        yield Server(port=port, access_log=log, tmpdir=tmpdir, process=process)
