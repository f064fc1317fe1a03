"""Offline preview: the Kubernetes objects a stack will create, as YAML manifests, and its resource plan.

Runs the real program under the mock monitor (`tools.mock_runner`), so what is written is exactly what the
program registers: one manifest per Kubernetes object and a `plan.txt` listing every resource.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.mock_runner import ProgramRun, Registered, run_program
from tools.text import columns

SECRET = "[secret]"
UNKNOWN = "[unknown until deployed]"
KIND_ORDER = [
    "Namespace",
    "NetworkPolicy",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "Pod",
]


@dataclass
class Rendered:
    """What `render` wrote."""

    stack: str
    run: ProgramRun
    manifests: dict[Path, dict[str, Any]]
    plan: Path


def api_version_and_kind(type_token: str) -> tuple[str, str]:
    """`kubernetes:apps/v1:Deployment` -> (`apps/v1`, `Deployment`); the core group has no prefix."""
    _, group_version, kind = type_token.split(":")
    group, _, version = group_version.rpartition("/")
    return (version if group in ("", "core") else f"{group}/{version}"), kind


def _integral(value: Any) -> Any:
    """Mocked engines hand numbers back as floats: 2.0 becomes 2 again. Keys are sorted for stable diffs."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _redact(value: Any, secret_paths: list[str], path: str = "") -> Any:
    if path in secret_paths:
        # A secret map (a Secret's data) keeps its keys, so the manifest keeps its shape; only values are hidden.
        return {k: SECRET for k in value} if isinstance(value, dict) else SECRET
    if isinstance(value, dict):
        return {k: _redact(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return UNKNOWN if value is None else value


def manifest(obj: Registered) -> dict[str, Any]:
    """The Kubernetes object as `kubectl apply` would take it."""
    api_version, kind = api_version_and_kind(obj.type)
    body = {k: v for k, v in obj.inputs.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": api_version, "kind": kind, **_integral(_redact(body, obj.secret_inputs))}


def _order(doc: dict[str, Any]) -> tuple[int, str, str]:
    kind = KIND_ORDER.index(doc["kind"]) if doc["kind"] in KIND_ORDER else len(KIND_ORDER)
    meta = doc.get("metadata") or {}
    return kind, str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _file_name(index: int, doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    parts = [doc["kind"], meta.get("namespace") or "", meta.get("name") or ""]
    slug = "-".join(re.sub(r"[^a-z0-9.-]+", "-", p.lower()).strip("-") for p in parts if p)
    return f"{index:02d}-{slug}.yaml"


def _short(urn: str) -> str:
    """`urn:pulumi:dev::kubeport::a$b::name` -> `b::name`."""
    if not urn:
        return "-"
    qualified_type, _, name = urn.rpartition("::")
    type_ = qualified_type.rpartition("::")[2].rsplit("$", 1)[-1]
    return f"{type_}::{name}"


def plan_lines(run: ProgramRun) -> list[str]:
    """One row per resource: type, name, parent, provider, protect."""
    rows = [("TYPE", "NAME", "PARENT", "PROVIDER", "PROTECT")]
    for res in run.resources:
        provider = _short(res.provider.rpartition("::")[0]) if res.provider else "-"
        rows.append((res.type, res.name, _short(res.parent), provider, "yes" if res.protect else "no"))
    return columns(rows)


def render(stack: str, out: Path, overrides: Mapping[str, str] | None = None) -> Rendered:
    """Write `out/<NN>-<kind>-<namespace>-<name>.yaml` per object and `out/plan.txt`; raise on a program error.

    `overrides` change the stack's config for this render only (bare or full `kubeport` keys).
    """
    run = run_program(stack, dict(overrides or {}))
    if run.error is not None:
        raise RuntimeError(f"stack {stack}: {run.error}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.yaml"):
        old.unlink()
    docs = [manifest(o) for o in run.kubernetes_objects()]
    # By kind, then namespace and name: the numbering must not depend on the order registrations arrive in.
    docs.sort(key=_order)
    written: dict[Path, dict[str, Any]] = {}
    for index, doc in enumerate(docs, start=1):
        path = out / _file_name(index, doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
        written[path] = doc
    plan = out / "plan.txt"
    header = [f"# offline plan of stack {stack}: {len(run.resources)} resources, {len(docs)} Kubernetes objects", ""]
    plan.write_text("\n".join(header + plan_lines(run)) + "\n")
    return Rendered(stack=stack, run=run, manifests=written, plan=plan)
