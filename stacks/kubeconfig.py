"""One context of the local kubeconfig as a self-contained kubeconfig: what a cluster stack on target existing
exports for its app stacks (as `kubectl config view --minify --flatten --context <name>` would print it).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Fields that name a file, and the *-data field that carries the same content inline.
FILE_FIELDS = {
    "certificate-authority": "certificate-authority-data",
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
}


class KubeconfigError(Exception):
    """The context cannot be found or its files cannot be read; the message says which."""


def kubeconfig_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The files kubectl would read: $KUBECONFIG's list, or ~/.kube/config."""
    environ = os.environ if environ is None else environ
    listed = [Path(p) for p in (environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
    return listed or [Path(environ.get("HOME") or Path.home()) / ".kube" / "config"]


def _named(items: list[dict[str, Any]] | None, name: str) -> dict[str, Any] | None:
    return next((item for item in items or [] if item.get("name") == name), None)


def _inline(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    """Replace file references by their content, base64-encoded, relative paths taken from the file's folder."""
    out = dict(entry)
    for file_field, data_field in FILE_FIELDS.items():
        if file_field in out:
            path = Path(out.pop(file_field))
            path = path if path.is_absolute() else base / path
            try:
                out[data_field] = base64.b64encode(path.read_bytes()).decode()
            except OSError as err:
                raise KubeconfigError(f"cannot read {path} ({file_field}): {err.strerror}") from err
    return out


def flatten(context: str, files: list[Path] | None = None) -> dict[str, Any]:
    """A kubeconfig with `context` alone, its cluster and user inlined; raises KubeconfigError if not found."""
    files = files if files is not None else kubeconfig_files()
    for path in files:
        if not path.is_file():
            continue
        config = yaml.safe_load(path.read_text()) or {}
        ctx = _named(config.get("contexts"), context)
        if ctx is None:
            continue
        cluster = _named(config.get("clusters"), ctx["context"]["cluster"])
        user = _named(config.get("users"), ctx["context"].get("user", ""))
        if cluster is None or user is None:
            raise KubeconfigError(f"context {context!r} in {path} names a cluster or user the file does not have")
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster["name"], "cluster": _inline(cluster["cluster"], path.parent)}],
            "users": [{"name": user["name"], "user": _inline(user.get("user") or {}, path.parent)}],
            "contexts": [{"name": context, "context": dict(ctx["context"])}],
            "current-context": context,
        }
    raise KubeconfigError(f"no kubeconfig context {context!r} (looked in: {', '.join(str(f) for f in files)})")


def flattened_yaml(context: str, files: list[Path] | None = None) -> str:
    return yaml.safe_dump(flatten(context, files), sort_keys=False)
