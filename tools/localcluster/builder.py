"""The image builder of the node that runs containers: BuildKit, a buildx builder for it, and the stand-in bases.

`buildkitd` (built with the toolchain) runs as a process of the `kubeport-node` cluster with an OCI (runc)
worker, trusting the local registry's CA. A buildx builder named BUILDER, of driver `remote`, points at its
socket: pulumi-docker-build builds through it when a stack names it (`kubeport:builder`), and never tries to
pull BuildKit from Docker Hub. `base_image()` puts the stand-in for nginx-unprivileged (tools/standin)
in the local registry and returns it by digest; its root filesystem is made once by mmdebstrap and cached outside the
clone, keyed by what goes into it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tools import processes
from tools.localcluster import registry
from tools.localcluster.catalog import ClusterError
from tools.stack_files import ROOT
from tools.toolchain import Toolchain

BUILDER = "kubeport-local"
"""The buildx builder's name (kubeport:builder on the stacks that build on the real node)."""
DEBIAN_SUITE = "bookworm"
STANDIN_DIR = ROOT / "tools" / "standin"
"""The stand-ins' folders (tools/standin), each a Dockerfile and what it copies."""


@dataclass(frozen=True)
class Standin:
    """A stand-in for an image of Docker Hub, made from Debian packages: a folder of tools/standin."""

    name: str
    packages: tuple[str, ...]
    hooks: tuple[str, ...] = ()
    """mmdebstrap customize hooks ($1 is the root filesystem)."""
    tools: tuple[str, ...] = ()
    """Toolchain binaries put into the build context beside the root filesystem (the Dockerfile copies them in);
    their bytes are part of the image's key."""

    @property
    def folder(self) -> Path:
        return STANDIN_DIR / self.name

    @property
    def repository(self) -> str:
        return f"kubeport/{self.name}-standin"


NGINX = Standin(
    "nginx",
    # nginx, envsubst for the entrypoint's templates, GNU wget for the HEALTHCHECK and the smoke check (busybox's,
    # tried first, crashes resolving names through glibc here).
    ("nginx", "gettext-base", "wget"),
    # Nothing of Debian's default site; the app brings its own configuration.
    (
        '--customize-hook=rm -f "$1"/etc/nginx/sites-enabled/default',
        '--customize-hook=mkdir -p "$1"/etc/nginx/templates',
    ),
)
PYTHON = Standin("python", ("python3", "python3-psycopg", "python3-redis", "python3-boto3"))
"""For python:3.12-slim-bookworm: Debian's Python 3.11, psycopg, redis-py and boto3 (the services' PostgreSQL, Redis
and S3 clients) from Debian."""
POSTGRES = Standin(
    "postgres",
    # PostgreSQL 15 (bookworm's), libnss-wrapper for an arbitrary non-root uid, as the official image does.
    ("postgresql-15", "libnss-wrapper"),
    # Debian's package makes a cluster of its own at install; the image initialises its own in PGDATA.
    ('--customize-hook=rm -rf "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15',),
)
REDIS = Standin(
    "redis",
    # Redis 7.0 (bookworm's), built with TLS; its package's own configuration and data folder are not used.
    ("redis-server",),
    ('--customize-hook=rm -rf "$1"/etc/redis "$1"/var/lib/redis',),
)
VERSITYGW = Standin("versitygw", ("ca-certificates",), tools=("versitygw",))
"""For versitygw's own image (kubeport:s3Image): the toolchain's versitygw, built from its Go module, at its path
there (/app/versitygw), on a Debian base."""
STANDINS = {s.name: s for s in (NGINX, PYTHON, POSTGRES, REDIS, VERSITYGW)}
START_TIMEOUT = 60.0
BUILD_TIMEOUT = 900.0


class BuilderError(ClusterError):
    """The builder did not start or a build failed; the message says which and why."""


@dataclass(frozen=True)
class Builder:
    """A running buildkitd and the files that reach it."""

    home: Path

    @property
    def socket(self) -> Path:
        return self.home / "buildkitd.sock"

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"

    @property
    def docker_config(self) -> Path:
        """DOCKER_CONFIG for buildx and buildctl: the builder's definition and the registry's credentials."""
        return self.home / "docker"

    def env(self, tools: Toolchain) -> dict[str, str]:
        """What a build through this builder needs in its environment (buildx finds the builder here)."""
        return {"DOCKER_CONFIG": str(self.docker_config), "BUILDKIT_HOST": self.address,
                "PATH": f"{tools.bin}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip


def buildkitd_config(home: Path, registries: Mapping[str, Path]) -> str:
    lines = [
        f'root = "{home / "root"}"',
        "[grpc]",
        f'  address = ["unix://{home / "buildkitd.sock"}"]',
        "[worker.oci]",
        "  enabled = true",
        '  snapshotter = "overlayfs"',
        "  gc = true",
        "  gckeepstorage = 4000000000",
        "[worker.containerd]",
        "  enabled = false",
    ]
    for host, ca in registries.items():
        lines += [f'[registry."{host}"]', "  http = false", f'  ca = ["{ca}"]']
    return "\n".join(lines) + "\n"


def start(
    home: Path,
    tools: Toolchain,
    node_registry: registry.Registry,
    spawn: Callable[[str, list[str]], None],
    wait_until: Callable[[str, Callable[[], bool], float], None],
) -> Builder:
    """Start buildkitd (a process of the calling cluster) and define the buildx builder and registry login."""
    builder = Builder(home)
    (home / "root").mkdir(parents=True, exist_ok=True)
    (home / "buildkitd.toml").write_text(buildkitd_config(home, {node_registry.host: node_registry.ca}))
    spawn("buildkitd", [str(tools.tool("buildkitd")), "--config", str(home / "buildkitd.toml")])
    buildctl = [str(tools.tool("buildctl")), "--addr", builder.address]

    def answers() -> bool:
        return processes.run([*buildctl, "debug", "workers"], timeout=10).code == 0

    wait_until("buildkitd", answers, START_TIMEOUT)
    registry.docker_config(node_registry, builder.docker_config)
    created = processes.run(
        [str(tools.tool("buildx")), "create", "--name", BUILDER, "--driver", "remote", builder.address],
        env={**os.environ, **builder.env(tools)}, timeout=60,
    )  # fmt: skip
    if created.code != 0:
        raise BuilderError(f"buildx create: {created.stderr.strip()}")
    return builder


def standin_key(standin: Standin = NGINX) -> str:
    """What a stand-in's root filesystem is made of: the suite, the packages, the hooks and the image's own files."""
    digest = hashlib.sha256(f"{DEBIAN_SUITE} {' '.join(standin.packages)} {' '.join(standin.hooks)}".encode())
    for path in sorted(standin.folder.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def image_key(standin: Standin, tools: Toolchain) -> str:
    """The stand-in image's tag: its root filesystem's key, and the bytes of the toolchain binaries it carries."""
    if not standin.tools:
        return standin_key(standin)
    digest = hashlib.sha256(standin_key(standin).encode())
    for name in standin.tools:
        digest.update(name.encode() + b"\0" + tools.tool(name).read_bytes())
    return digest.hexdigest()[:16]


def rootfs_cache(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "kubeport" / "standin"


def standin_rootfs(say: Callable[[str], None] = print, standin: Standin = NGINX) -> Path:
    """A stand-in's root filesystem (gzipped tar), made by mmdebstrap once per key and cached."""
    key = standin_key(standin)
    cached = rootfs_cache() / f"{standin.name}-{DEBIAN_SUITE}-{key}.tar.gz"
    if cached.exists():
        return cached
    if shutil.which("mmdebstrap") is None:
        raise BuilderError("mmdebstrap not found (Debian: mmdebstrap); it makes the stand-in base images")
    cached.parent.mkdir(parents=True, exist_ok=True)
    say(
        f"stand-in {standin.name}: mmdebstrap {DEBIAN_SUITE} with {', '.join(standin.packages)} (once; cached in "
        f"{cached.parent})"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kubeport-rootfs-") as tmp:
        target = Path(tmp) / "rootfs.tar.gz"
        done = processes.run(
            ["mmdebstrap", "--quiet", "--variant=essential", f"--include={','.join(standin.packages)}",
             "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
             "--dpkgopt=path-exclude=/usr/share/locale/*", *standin.hooks, DEBIAN_SUITE, str(target)],
            timeout=BUILD_TIMEOUT,
        )  # fmt: skip
        if done.code != 0:
            raise BuilderError(f"mmdebstrap failed:\n{done.stderr[-2000:]}")
        shutil.move(str(target), cached)
    say(f"stand-in {standin.name}: root filesystem made in {time.monotonic() - started:.0f} s")
    return cached


def base_image(
    builder: Builder,
    node_registry: registry.Registry,
    tools: Toolchain,
    say: Callable[[str], None] = print,
    standin: Standin = NGINX,
) -> str:
    """A stand-in in the local registry, by digest (built and pushed if missing); nginx-unprivileged's by default."""
    key = image_key(standin, tools)
    repository = f"{node_registry.host}/{standin.repository}"
    status, headers, _ = node_registry.get(f"/v2/{standin.repository}/manifests/{key}")
    if status == 200 and headers.get("Docker-Content-Digest"):
        return f"{repository}:{key}@{headers['Docker-Content-Digest']}"
    rootfs = standin_rootfs(say, standin)
    with tempfile.TemporaryDirectory(prefix="kubeport-standin-") as tmp:
        context = Path(tmp)
        for path in standin.folder.iterdir():
            shutil.copy2(path, context / path.name)
        shutil.copy(rootfs, context / "rootfs.tar.gz")
        for name in standin.tools:
            shutil.copy(tools.tool(name), context / name)
        started = time.monotonic()
        done = processes.run(
            [str(tools.tool("buildctl")), "--addr", builder.address, "build", "--frontend", "dockerfile.v0",
             "--local", f"context={context}", "--local", f"dockerfile={context}",
             "--output", f"type=image,name={repository}:{key},push=true"],
            env={**os.environ, **builder.env(tools)}, timeout=BUILD_TIMEOUT,
        )  # fmt: skip
    if done.code != 0:
        raise BuilderError(f"building the stand-in {standin.name} failed:\n{done.stderr[-3000:]}")
    say(f"stand-in {standin.name}: built and pushed to {repository}:{key} in {time.monotonic() - started:.0f} s")
    return f"{repository}:{key}@{node_registry.digest(standin.repository, key)}"
