"""A private image registry for the node that runs containers: TLS, a user who may push and a user who may only pull.

Debian's `docker-registry` (CNCF distribution 2.8) keeps the images and listens only on a unix socket in the
registry's own folder (mode 0700). Debian's nginx stands in front of it on REGISTRY_HOST: TLS with a certificate
from a CA of the registry's own, htpasswd (bcrypt) logins for two users, and a rule by user and method that
distribution's htpasswd cannot express: PUSH_USER may do anything, PULL_USER only GET and HEAD (anything else:
403). The CA is what BuildKit (tools.localcluster.builder) and containerd (tools.localcluster.realnode) trust; builds
push as PUSH_USER, and the pods' pull Secret holds PULL_USER (the local stacks' kubeport:registryPullUser/Token), so the
credentials a pod can read cannot change an image. The passwords are made at start and kept, readable by root
only, in the registry's folder; `credentials()` and `pull_credentials()` read them.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets
import shutil
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools import processes
from tools.localcluster import pki
from tools.localcluster.catalog import ClusterError
from tools.toolchain import Toolchain

REGISTRY_HOST = "10.250.0.1:5443"
"""Where the registry listens: on the first node's gateway (tools.localcluster.nodeconfig.NODES), not on 127.0.0.1, for
which BuildKit and containerd fall back to plain HTTP whatever the configuration says (measured: a missing image then
reports an HTTP 400 or a certificate error instead of `not found`). Image references name it."""
PUSH_USER = "kubeport"
PULL_USER = "kubeport-pull"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
PROGRAMS = ("docker-registry", "nginx", "htpasswd", "openssl")
"""From Debian: docker-registry, nginx, apache2-utils (htpasswd, for bcrypt), openssl."""
START_TIMEOUT = 60.0
STOP_GRACE = 10.0
"""Seconds nginx and the registry each have to exit after TERM (and again after KILL)."""


class RegistryError(ClusterError):
    """The registry did not start; the message says why."""


@dataclass(frozen=True)
class Registry:
    """A running registry: its address, the CA that signed its certificate, and its folder."""

    home: Path
    address: str = REGISTRY_HOST
    """host:port of its front (another only in the offline test of the front)."""

    @property
    def host(self) -> str:
        return self.address

    @property
    def ca(self) -> Path:
        return self.home / "ca.crt"

    def credentials(self) -> tuple[str, str]:
        """The login that may push (the builds')."""
        return PUSH_USER, (self.home / "password").read_text().strip()

    def pull_credentials(self) -> tuple[str, str]:
        """The login that may only pull (the pods' pull Secret)."""
        return PULL_USER, (self.home / "pull-password").read_text().strip()

    def get(
        self,
        path: str,
        *,
        auth: bool = True,
        timeout: float = 10,
        login: tuple[str, str] | None = None,
        method: str = "GET",
    ) -> tuple[int, dict[str, str], bytes]:
        """A call on the registry API over TLS (trusting only its CA): with the push login, another `login`, or
        none (auth=False)."""
        request = urllib.request.Request(f"https://{self.address}{path}", method=method)
        request.add_header("Accept", ", ".join(MANIFEST_TYPES))
        if auth:
            user, password = login or self.credentials()
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
    packages = "Debian: docker-registry, nginx, apache2-utils, openssl"
    return [f"`{p}` not found ({packages})" for p in PROGRAMS if not shutil.which(p)]


NGINX_TEMP = ("body", "proxy", "fastcgi", "uwsgi", "scgi")
"""nginx's temporary folders, in the registry's folder (not the package's /var/lib/nginx)."""


def nginx_conf(home: Path, user: str, address: str = REGISTRY_HOST) -> str:
    """nginx in front of the registry's socket: TLS on `address`, every request authenticated, PULL_USER held to
    GET and HEAD. `user`: who the workers run as (they read the htpasswd file and the socket, both in `home`)."""
    return f"""# Written by tools/localcluster/registry.py.
user {user};
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/nginx.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {home}/nginx-tmp/body;
    proxy_temp_path {home}/nginx-tmp/proxy;
    fastcgi_temp_path {home}/nginx-tmp/fastcgi;
    uwsgi_temp_path {home}/nginx-tmp/uwsgi;
    scgi_temp_path {home}/nginx-tmp/scgi;
    # The pull user may GET and HEAD, nothing else. Read before the password is checked (rewrite phase, from
    # the Authorization header), so the password is still checked for whatever passes; other users are left to
    # the password check. The first matching pattern wins.
    map "$remote_user:$request_method" $kubeport_denied {{
        default 0;
        "~^{PULL_USER}:(GET|HEAD)$" 0;
        "~^{PULL_USER}:" 1;
    }}
    upstream registry {{ server unix:{home}/registry.sock; }}
    server {{
        listen {address} ssl;
        ssl_certificate {home}/registry.crt;
        ssl_certificate_key {home}/registry.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 0;
        chunked_transfer_encoding on;
        location / {{ return 404; }}
        location /v2/ {{
            if ($kubeport_denied) {{ return 403; }}
            auth_basic "kubeport";
            auth_basic_user_file {home}/htpasswd;
            add_header Docker-Distribution-Api-Version registry/2.0 always;
            proxy_pass http://registry;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 900s;
            proxy_send_timeout 900s;
        }}
    }}
}}
"""


PROCESSES = ("registry", "nginx")
"""What runs for a registry, each with `<name>.pid` in its folder (nginx's master writes its own)."""


def _pid(home: Path, name: str) -> int | None:
    try:
        return int((home / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def running(home: Path) -> Registry | None:
    """The registry whose files are in `home`, if its processes run."""
    pids = [_pid(home, name) for name in PROCESSES]
    return Registry(home) if all(pid is not None and processes.alive(pid) for pid in pids) else None


def htpasswd_line(user: str, password: str) -> str:
    """`user:<bcrypt hash>` for the registry's htpasswd file. The password goes to htpasswd on its standard input
    (-i), not on its command line, which any local user's `ps` reads."""
    done = processes.run(["htpasswd", "-Bin", user], input_text=password, timeout=60)
    if done.code != 0:
        raise RegistryError(f"htpasswd could not hash {user}'s password: {done.first_line()}")
    return done.stdout


def start(home: Path, tools: Toolchain | None = None) -> Registry:
    """Start the registry (or find it running) with its data, certificate and password in `home`."""
    del tools  # everything comes from the machine's packages
    if (found := running(home)) is not None:
        return found
    registry = Registry(home)
    missing = missing_prerequisites()
    if missing:
        raise RegistryError("; ".join(missing))
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    pki.registry_certificates(home, REGISTRY_HOST.split(":", maxsplit=1)[0])
    lines = []
    for user, file in ((PUSH_USER, "password"), (PULL_USER, "pull-password")):
        password = secrets.token_urlsafe(24)
        (home / file).write_text(password + "\n")
        os.chmod(home / file, 0o600)
        lines.append(htpasswd_line(user, password))
    (home / "htpasswd").write_text("".join(lines))
    os.chmod(home / "htpasswd", 0o600)
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(home / "data")}, "delete": {"enabled": True}},
        # Only nginx reaches it, through the socket in this 0700 folder; nginx authenticates every request.
        "http": {"net": "unix", "addr": str(home / "registry.sock"), "relativeurls": True,
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }  # fmt: skip
    (home / "config.yml").write_text(yaml.safe_dump(config))
    for folder in NGINX_TEMP:
        (home / "nginx-tmp" / folder).mkdir(parents=True, exist_ok=True)
    (home / "nginx.conf").write_text(nginx_conf(home, getpass.getuser()))
    log = home / "registry.log"
    registry_pid = processes.spawn(["docker-registry", "serve", str(home / "config.yml")], log=log, cwd=home)
    (home / "registry.pid").write_text(str(registry_pid))
    nginx_args = ["nginx", "-p", str(home), "-c", str(home / "nginx.conf"), "-e", str(home / "nginx.log"),
                  "-g", "daemon off;"]  # fmt: skip
    nginx_pid = processes.spawn(nginx_args, log=log, cwd=home)

    def dead() -> str | None:
        for name, pid, log_name in (
            ("docker-registry", registry_pid, "registry.log"),
            ("nginx", nginx_pid, "nginx.log"),
        ):
            if not processes.alive(pid):
                return f"{name} exited; its log ends:\n{processes.log_tail(home / log_name)}"
        return None

    def answers() -> bool:
        return (
            _pid(home, "nginx") is not None
            and registry.get("/v2/", auth=False, timeout=2)[0] == 401
            and registry.get("/v2/", timeout=2)[0] == 200
        )

    why = processes.wait_for(answers, START_TIMEOUT, dead, interval=0.3)
    if why is None:
        return registry
    stop(home)
    raise RegistryError(f"the registry on {REGISTRY_HOST}: {why}")


def stop(home: Path) -> None:
    """Stop nginx and the registry and remove their folder (the images with it)."""
    for name in reversed(PROCESSES):
        pid = _pid(home, name)
        if pid is None:
            continue
        processes.stop(pid, STOP_GRACE)
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
