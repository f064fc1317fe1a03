"""The local registry's front (tools/localcluster/registry.nginx_conf): who may do what, with nginx itself, offline.

nginx runs the rendered configuration on 127.0.0.1 (a free port) in front of a stand-in for the registry on the
unix socket, which answers 200 to whatever reaches it and records it: what nginx refuses never reaches the
registry. Certificates and logins are made as the registry makes them. On kubeport-node the live suite checks
the same rules against the real registry, with the pods' pull Secret.
"""

from __future__ import annotations

import getpass
import http.server
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.app_serving import require
from tools.localcluster import pki, registry


class _Registry(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def _answer(self) -> None:
        self.seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def __getattr__(self, name: str) -> object:
        # http.server dispatches do_<METHOD>: every method gets the same answer.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        connection, _ = self.socket.accept()
        return connection, ("unix", 0)  # BaseHTTPRequestHandler wants a (host, port)


@dataclass
class Front:
    registry: registry.Registry
    logins: dict[str, tuple[str, str]]
    seen: list[tuple[str, str]] = field(default_factory=list)

    def call(self, method: str, path: str, login: tuple[str, str] | None) -> int:
        return self.registry.get(path, auth=login is not None, login=login, method=method)[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    require(all(shutil.which(p) for p in ("nginx", "htpasswd", "openssl")), "nginx, htpasswd or openssl not found")
    home = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{_free_port()}"
    pki.registry_certificates(home, ip="127.0.0.1")
    logins = {"push": (registry.PUSH_USER, "push-secret"), "pull": (registry.PULL_USER, "pull-secret")}
    (home / "htpasswd").write_text("".join(registry.htpasswd_line(u, p) for u, p in logins.values()))
    for folder in registry.NGINX_TEMP:
        (home / "nginx-tmp" / folder).mkdir(parents=True)
    (home / "nginx.conf").write_text(registry.nginx_conf(home, getpass.getuser(), address))
    seen: list[tuple[str, str]] = []
    handler = type("Registry", (_Registry,), {"seen": seen})
    upstream = _UnixServer(str(home / "registry.sock"), handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    nginx = subprocess.Popen(["nginx", "-p", str(home), "-c", str(home / "nginx.conf"), "-e", str(home / "nginx.log"),
                              "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        ready = Front(registry.Registry(home, address), logins, seen)
        deadline = time.monotonic() + 15
        while True:
            try:
                ready.call("GET", "/v2/", None)
                break
            except OSError:
                assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
                assert time.monotonic() < deadline, "nginx did not answer within 15 s"
                time.sleep(0.1)
        yield ready
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
        upstream.shutdown()
        upstream.server_close()


def test_nobody_and_a_wrong_password_get_a_login_prompt_and_reach_nothing(front: Front) -> None:
    front.seen.clear()
    assert front.call("GET", "/v2/", None) == 401
    assert front.call("GET", "/v2/", (registry.PULL_USER, "guess")) == 401
    assert front.call("GET", "/v2/", (registry.PUSH_USER, "guess")) == 401
    assert front.call("GET", "/v2/", ("someone", "else")) == 401
    assert front.seen == []


def test_the_pull_user_reads_and_can_change_nothing(front: Front) -> None:
    front.seen.clear()
    pull = front.logins["pull"]
    assert front.call("GET", "/v2/kubeport/web/manifests/1", pull) == 200
    assert front.call("HEAD", "/v2/kubeport/web/blobs/sha256:00", pull) == 200
    changes = (("POST", "/v2/kubeport/web/blobs/uploads/"), ("PUT", "/v2/kubeport/web/manifests/1"),
               ("PATCH", "/v2/kubeport/web/blobs/uploads/u"), ("DELETE", "/v2/kubeport/web/manifests/1"))  # fmt: skip
    for method, path in changes:
        assert front.call(method, path, pull) == 403, method
    assert front.seen == [("GET", "/v2/kubeport/web/manifests/1"), ("HEAD", "/v2/kubeport/web/blobs/sha256:00")]


def test_the_push_user_reaches_the_registry_with_every_method(front: Front) -> None:
    front.seen.clear()
    push = front.logins["push"]
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        assert front.call(method, "/v2/kubeport/web/x", push) == 200, method
    assert [m for m, _ in front.seen] == ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def test_nothing_outside_the_registry_api_is_served(front: Front) -> None:
    assert front.call("GET", "/", front.logins["push"]) == 404
