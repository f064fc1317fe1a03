"""A private image registry on 127.0.0.1 with TLS and a user name and password, for the node that runs containers.

Debian's `docker-registry` (CNCF distribution 2.8) serves on REGISTRY_HOST with a certificate from a CA of its
own and htpasswd (bcrypt) authentication. Its CA is what BuildKit (tools.localbuilder) and containerd
(tools.localnode) trust, so pushes go with the credentials and pulls with the pods' pull Secret. The password
is made at start and kept, readable by root only, in the registry's folder; `credentials()` reads it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.toolchain import Toolchain

REGISTRY_HOST = "10.250.0.1:5443"
"""Where the registry listens: on the local node's address (tools.localnode.NODE_IP), not on 127.0.0.1, for which
BuildKit and containerd fall back to plain HTTP whatever the configuration says (measured: a missing image then
reports an HTTP 400 or a certificate error instead of `not found`). Image references name it."""
USER = "kubeport"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
PROGRAMS = ("docker-registry", "htpasswd", "openssl")
"""From Debian: docker-registry, apache2-utils (htpasswd, for bcrypt), openssl."""
START_TIMEOUT = 60.0


class RegistryError(Exception):
    """The registry did not start; the message says why."""


@dataclass(frozen=True)
class Registry:
    """A running registry: its address, the CA that signed its certificate, and its folder."""

    home: Path

    @property
    def host(self) -> str:
        return REGISTRY_HOST

    @property
    def ca(self) -> Path:
        return self.home / "ca.crt"

    def credentials(self) -> tuple[str, str]:
        return USER, (self.home / "password").read_text().strip()

    def get(self, path: str, *, auth: bool = True, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        """A GET on the registry API over TLS (trusting only its CA), with or without the credentials."""
        request = urllib.request.Request(f"https://{REGISTRY_HOST}{path}")
        request.add_header("Accept", ", ".join(MANIFEST_TYPES))
        if auth:
            user, password = self.credentials()
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = ssl.create_default_context(cafile=str(self.ca))
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        try:
            with opener.open(request, timeout=timeout) as response:
                return int(response.status), dict(response.headers), bytes(response.read())
        except urllib.error.HTTPError as err:
            return int(err.code), dict(err.headers), err.read()

    def digest(self, repository: str, tag: str) -> str:
        """The digest the registry holds for `repository:tag` (sha256:...)."""
        status, headers, body = self.get(f"/v2/{repository}/manifests/{tag}")
        if status != 200:
            raise RegistryError(f"{repository}:{tag}: the registry answered {status} {body[:200]!r}")
        return headers.get("Docker-Content-Digest", "")


def missing_prerequisites() -> list[str]:
    return [
        f"`{p}` not found (Debian: docker-registry, apache2-utils, openssl)" for p in PROGRAMS if not shutil.which(p)
    ]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(home: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=kubeport-registry-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=home)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kubeport-registry", "-keyout", "registry.key",
             "-out", "registry.csr", cwd=home)  # fmt: skip
    (home / "registry.ext").write_text(f"subjectAltName=IP:{REGISTRY_HOST.split(':', maxsplit=1)[0]}\n")
    _openssl("x509", "-req", "-in", "registry.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "7", "-extfile", "registry.ext", "-out", "registry.crt", cwd=home)  # fmt: skip


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    done, _ = (0, 0)
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def running(home: Path) -> Registry | None:
    """The registry whose files are in `home`, if its process runs."""
    pid_file = home / "registry.pid"
    return Registry(home) if pid_file.exists() and _running(int(pid_file.read_text())) else None


def htpasswd_line(user: str, password: str) -> str:
    """`user:<bcrypt hash>` for the registry's htpasswd file. The password goes to htpasswd on its standard input
    (-i), not on its command line, which any local user's `ps` reads."""
    done = subprocess.run(["htpasswd", "-Bin", user], input=password, capture_output=True, text=True, check=True,
                          timeout=60)  # fmt: skip
    return done.stdout


def start(home: Path, tools: Toolchain | None = None) -> Registry:
    """Start the registry (or find it running) with its data, certificate and password in `home`."""
    del tools  # everything comes from the machine's packages
    if (found := running(home)) is not None:
        return found
    registry = Registry(home)
    pid_file = home / "registry.pid"
    missing = missing_prerequisites()
    if missing:
        raise RegistryError("; ".join(missing))
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    _certificates(home)
    password = secrets.token_urlsafe(24)
    (home / "password").write_text(password + "\n")
    os.chmod(home / "password", 0o600)
    (home / "htpasswd").write_text(htpasswd_line(USER, password))
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(home / "data")}, "delete": {"enabled": True}},
        "http": {
            "addr": REGISTRY_HOST,
            "tls": {"certificate": str(home / "registry.crt"), "key": str(home / "registry.key")},
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {"htpasswd": {"realm": "kubeport", "path": str(home / "htpasswd")}},
    }
    (home / "config.yml").write_text(yaml.safe_dump(config))
    log = (home / "registry.log").open("ab")
    with log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(home / "config.yml")],
            cwd=home, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (home / "registry.log").read_text(errors="replace")[-1500:]
            raise RegistryError(f"docker-registry exited ({process.returncode}); its log ends:\n{tail}")
        try:
            if registry.get("/v2/", auth=False, timeout=2)[0] == 401 and registry.get("/v2/", timeout=2)[0] == 200:
                return registry
        except OSError:
            pass
        time.sleep(0.3)
    stop(home)
    raise RegistryError(f"the registry on {REGISTRY_HOST} did not answer within {START_TIMEOUT:.0f} s")


def stop(home: Path) -> None:
    """Stop the registry and remove its folder (its images with it)."""
    pid_file = home / "registry.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _running(pid):
                time.sleep(0.1)
            if not _running(pid):
                break
    shutil.rmtree(home, ignore_errors=True)


def docker_config(registry: Registry, folder: Path) -> Path:
    """A docker config in `folder` with the registry's credentials (what buildctl and buildx read)."""
    user, password = registry.credentials()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps({"auths": {REGISTRY_HOST: {"auth": auth}}}))
    os.chmod(path, 0o600)
    return path
