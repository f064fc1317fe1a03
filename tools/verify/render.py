"""Offline preview: the Kubernetes objects a stack will create, as YAML manifests, and its resource plan.

Runs the real program under the mock monitor (`tools.verify.mock_runner`), so what is written is exactly what the
program registers: one manifest per Kubernetes object and a `plan.txt` listing every resource.

`tests/golden/<stack>/` holds every stack's render as committed (`python -m tools render --update`), so a change
to what deploys shows in review; tests/across_targets/test_golden.py fails when a render differs from it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.pod_parts import content_digest
from tools.stack_files import ROOT
from tools.text import columns
from tools.verify.mock_runner import ProgramRun, Registered, run_program

GOLDEN = ROOT / "tests" / "golden"
"""Every stack's render as committed: `GOLDEN/<stack>/`."""
PLAN = "plan.txt"
ISSUED_CERTIFICATE = "pulumi-python:dynamic/kubeport:IssuedCertificate"
BUNDLED_CAS = 6
"""The most CAs one workload's bundle is labelled for in a golden render (its servers: databases, caches, stores)."""
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
    """One row per resource: type, name, parent, provider, protect; by type and name (registrations arrive in an
    order that varies from run to run)."""
    rows = []
    for res in run.resources:
        provider = _short(res.provider.rpartition("::")[0]) if res.provider else "-"
        rows.append((res.type, res.name, _short(res.parent), provider, "yes" if res.protect else "no"))
    return columns([("TYPE", "NAME", "PARENT", "PROVIDER", "PROTECT"), *sorted(rows)])


def manifests(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """The run's Kubernetes objects by file name (`<NN>-<kind>-<namespace>-<name>.yaml`)."""
    docs = [manifest(o) for o in run.kubernetes_objects()]
    # By kind, then namespace and name: the numbering must not depend on the order registrations arrive in.
    docs.sort(key=_order)
    return {_file_name(index, doc): doc for index, doc in enumerate(docs, start=1)}


def made_at_deploy(run: ProgramRun) -> dict[str, str]:
    """The certificates (CA and server) kubeport issued in this run, and their digests, each with the label that
    stands for it in a golden render: which resource made it, and which of its outputs it is."""
    labels = {}
    cas: list[tuple[str, str]] = []
    for resource in run.resources:
        if resource.type != ISSUED_CERTIFICATE:
            continue
        for output in ("ca", "certificate"):
            text = str(resource.state.get(output) or "")
            if text:
                labels[text] = f"[made at deploy: {resource.name}.{output}]"
                labels[content_digest(text)] = f"[digest of {resource.name}.{output}, made at deploy]"
                if output == "ca":
                    cas.append((resource.name, text))
    # A workload's trusted bundle joins the CAs of the servers it declares, in its file's order (which the mocks'
    # registration order need not keep): the digest of each such bundle of two or more, in any order.
    for size in range(2, min(len(cas), BUNDLED_CAS) + 1):
        for bundle in itertools.permutations(cas, size):
            names = " + ".join(f"{name}.ca" for name, _ in bundle)
            labels[content_digest("".join(text for _, text in bundle))] = f"[digest of {names}, made at deploy]"
    return labels


def without(value: Any, made: Mapping[str, str]) -> Any:
    """`value` with every occurrence of a key of `made` replaced by its label (the rest of a string kept)."""
    if isinstance(value, dict):
        return {k: without(v, made) for k, v in value.items()}
    if isinstance(value, list):
        return [without(v, made) for v in value]
    if isinstance(value, str):
        if value in made:
            return made[value]
        for text, label in made.items():
            if "\n" in text and text in value:  # a certificate inside a longer text; digests only as whole values
                value = value.replace(text, label)
    return value


def rendered_files(stack: str, run: ProgramRun, *, golden: bool = False) -> dict[str, str]:
    """What `render` writes for a run of `stack`, by file name: each manifest as YAML, and the plan.

    `golden`: as kept in GOLDEN, so that two renders of the same code are the same bytes. A certificate kubeport
    issues at create (components.certificate), which the mocks issue anew at every run, and any digest of it (the
    annotations that roll the pods onto a new one) read `[made at deploy: <resource>.<output>]` and
    `[digest of <resource>.<output>, made at deploy]`: which certificate goes where stays visible."""
    docs = manifests(run)
    if golden:
        made = made_at_deploy(run)
        docs = {name: without(doc, made) for name, doc in docs.items()}
    return _as_files(stack, run, docs)


def _as_files(stack: str, run: ProgramRun, docs: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    files = {name: yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) for name, doc in docs.items()}
    header = [f"# offline plan of stack {stack}: {len(run.resources)} resources, {len(docs)} Kubernetes objects", ""]
    files[PLAN] = "\n".join(header + plan_lines(run)) + "\n"
    return files


def render(stack: str, out: Path, overrides: Mapping[str, str] | None = None) -> Rendered:
    """Write `out/<NN>-<kind>-<namespace>-<name>.yaml` per object and `out/plan.txt`; raise on a program error.

    `overrides` change the stack's config for this render only (bare or full `kubeport` keys).
    """
    run = _program_run(stack, overrides)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.yaml"):
        old.unlink()
    docs = manifests(run)
    for name, text in _as_files(stack, run, docs).items():
        (out / name).write_text(text)
    return Rendered(stack=stack, run=run, manifests={out / name: doc for name, doc in docs.items()}, plan=out / PLAN)


def update_golden(stack: str, golden: Path = GOLDEN) -> int:
    """Write the stack's golden render into `golden/<stack>/`, removing files it no longer makes; how many
    manifests it holds. Raises on a program error."""
    run = _program_run(stack)
    folder = golden / stack
    folder.mkdir(parents=True, exist_ok=True)
    files = rendered_files(stack, run, golden=True)
    for stale in {p.name for p in folder.iterdir()} - set(files):
        (folder / stale).unlink()
    for name, text in files.items():
        (folder / name).write_text(text)
    return len(files) - 1


def _program_run(stack: str, overrides: Mapping[str, str] | None = None) -> ProgramRun:
    """The program's run of `stack` under mocks; raises on a program error."""
    run = run_program(stack, dict(overrides or {}))
    if run.error is not None:
        raise RuntimeError(f"stack {stack}: {run.error}")
    return run


def stale_golden(stacks: list[str], golden: Path = GOLDEN) -> list[str]:
    """Golden folders of stacks that no longer exist."""
    return sorted(p.name for p in golden.iterdir() if p.is_dir() and p.name not in stacks) if golden.exists() else []
