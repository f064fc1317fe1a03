"""The stack files: which stacks exist, and the config the CLI would hand the program for each, read offline.

`Pulumi.yaml` supplies declared defaults; `Pulumi.<stack>.yaml` the stack's own values. Encrypted values cannot
be decrypted offline: they become a placeholder, still marked secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stacks import ROOT
from stacks.config import CLOUD_TARGETS, NAMESPACE, qualified

PROJECT = NAMESPACE
"""The Pulumi project name, which is also its config namespace."""
SECRET_PLACEHOLDER = "[secret]"

__all__ = [  # ROOT: the repository, defined once in the program's package (stacks)
    "PROJECT",
    "ROOT",
    "SECRET_PLACEHOLDER",
    "app_stack_names",
    "application_stack_names",
    "cloud_application_stack_names",
    "config_string",
    "project_defaults",
    "stack_config",
    "stack_file_config",
    "stack_names",
]


def config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def stack_names(root: Path = ROOT) -> list[str]:
    """Every stack that has a `Pulumi.<stack>.yaml` file."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))


def app_stack_names(root: Path = ROOT) -> list[str]:
    """The stacks that deploy the web app: every stack but the cluster stacks (kubeport:part cluster) and the
    applications of workload files (kubeport:application)."""
    apps = []
    for stack in stack_names(root):
        config = stack_file_config(stack, root)[0]
        if config.get(f"{PROJECT}:part", "all") != "cluster" and not config.get(f"{PROJECT}:application"):
            apps.append(stack)
    return apps


def application_stack_names(root: Path = ROOT) -> list[str]:
    """The stacks that deploy an application of workload files (kubeport:application) on a local or existing
    cluster, its databases in the cluster: the ones that also run for real here."""
    return [s for s in _all_application_stacks(root) if stack_file_config(s, root)[0].get(f"{PROJECT}:target")
            not in CLOUD_TARGETS]  # fmt: skip


def cloud_application_stack_names(root: Path = ROOT) -> list[str]:
    """The stacks that deploy an application of workload files on a cloud, its databases the cloud's managed
    PostgreSQL: checked under mocks only."""
    return [s for s in _all_application_stacks(root) if stack_file_config(s, root)[0].get(f"{PROJECT}:target")
            in CLOUD_TARGETS]  # fmt: skip


def _all_application_stacks(root: Path) -> list[str]:
    return [s for s in stack_names(root) if stack_file_config(s, root)[0].get(f"{PROJECT}:application")]


def project_defaults(root: Path = ROOT) -> dict[str, str]:
    """Config values `Pulumi.yaml` supplies: declared defaults and plain values of other namespaces."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        full_key = qualified(key)
        if isinstance(decl, Mapping) and ("type" in decl or "default" in decl or "value" in decl):
            if "default" in decl:
                config[full_key] = config_string(decl["default"])
            elif "value" in decl:
                config[full_key] = config_string(decl["value"])
        else:
            config[full_key] = config_string(decl)
    return config


def stack_file_config(stack: str, root: Path = ROOT) -> tuple[dict[str, str], set[str]]:
    """What `Pulumi.<stack>.yaml` itself sets, and which of those values are encrypted.

    Encrypted values cannot be decrypted offline: they become a placeholder, marked secret.
    """
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise FileNotFoundError(f"no stack file {stack_file.name}")
    config: dict[str, str] = {}
    secrets: set[str] = set()
    values = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for key, value in values.items():
        full_key = qualified(key)
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            config[full_key] = SECRET_PLACEHOLDER
            secrets.add(full_key)
        else:
            config[full_key] = config_string(value)
    return config, secrets


def stack_config(stack: str, root: Path = ROOT) -> tuple[dict[str, str], set[str]]:
    """The config the CLI would hand the program: project defaults, then `Pulumi.<stack>.yaml`."""
    values, secrets = stack_file_config(stack, root)
    return {**project_defaults(root), **values}, secrets
