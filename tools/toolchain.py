"""Where the real-run toolchain is: the binaries `toolchain/build-toolchain` builds, and how to run them.

Versions come from `toolchain/versions.env` (the one place they are pinned); the binaries from the cache
the build script fills ($KUBEPORT_TOOLCHAIN, default ~/.cache/kubeport/toolchain).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.stack_files import ROOT

VERSIONS_FILE = ROOT / "toolchain" / "versions.env"
BUILD_SCRIPT = ROOT / "toolchain" / "build-toolchain"
BUILD_HINT = "run `make toolchain` (toolchain/build-toolchain builds it from the Go module proxy)"


def versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """The `NAME=value` lines of versions.env."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(\S+)", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def root(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get("KUBEPORT_TOOLCHAIN"):
        return Path(environ["KUBEPORT_TOOLCHAIN"])
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "kubeport" / "toolchain"


class ToolchainMissingError(Exception):
    """A tool of the real-run toolchain is not built; the message says how to build it."""


@dataclass(frozen=True)
class Toolchain:
    """The built tools of one versions.env."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def pulumi_home(self) -> Path:
        """PULUMI_HOME with the provider plugins installed from their built binaries."""
        return self.root / "pulumi-home"

    @property
    def kwok_stages(self) -> Path:
        return self.root / "kwok-stages"

    @property
    def gateway_api_crds(self) -> Path:
        """The Gateway API's standard-channel CRDs, from the sigs.k8s.io/gateway-api module Traefik is built with."""
        return self.root / "gateway-api-crds"

    def tool(self, name: str) -> Path:
        path = self.bin / name
        if not os.access(path, os.X_OK):
            raise ToolchainMissingError(f"{name} is not built ({path} missing): {BUILD_HINT}")
        return path

    def missing(self, names: tuple[str, ...]) -> list[str]:
        return [name for name in names if not os.access(self.bin / name, os.X_OK)]


def toolchain(environ: Mapping[str, str] | None = None) -> Toolchain:
    return Toolchain(root(environ))


def shell_exports(
    tools: Toolchain,
    kubeconfig: Path,
    backend: str,
    python: Path,
    *,
    passphrase_file: Path | None = None,
    docker_config: Path | None = None,
) -> list[str]:
    """The lines that make a shell run the built tools: `eval "$(python -m tools env)"`.

    The built pulumi and kubectl first on PATH, the provider plugins built from Go modules (plugin downloads
    off), the program run by the project's virtualenv (the language host built from sdk 3.68 needs
    PULUMI_PYTHON_CMD to find it), the state in a local file backend, the local clusters' kubeconfig, and
    DOCKER_CONFIG naming the local node's builder (`kubeport-local`, tools.localcluster.builder), without which a stack
    that builds on kubeport-node finds no builder. A passphrase already exported is kept; otherwise
    `passphrase_file`, never an empty one.
    """
    pairs = {
        "PULUMI_HOME": str(tools.pulumi_home),
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": str(python),
        "KUBECONFIG": str(kubeconfig),
    }
    if docker_config is not None:
        pairs["DOCKER_CONFIG"] = str(docker_config)
    lines = [f'export PATH={shlex.quote(str(tools.bin))}{os.pathsep}"$PATH"']
    lines += [f"export {name}={shlex.quote(value)}" for name, value in pairs.items()]
    if passphrase_file is not None:
        # The shell's own passphrase (or file) wins; else the checkout's (tools.passphrase), never an empty one.
        lines.append(
            '[ -n "${PULUMI_CONFIG_PASSPHRASE+set}${PULUMI_CONFIG_PASSPHRASE_FILE-}" ] || '
            f"export PULUMI_CONFIG_PASSPHRASE_FILE={shlex.quote(str(passphrase_file))}"
        )
    return lines
