"""The rooms and the way imports point: the program never imports its tooling."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = [ROOT / "__main__.py", *sorted((ROOT / "stacks").rglob("*.py")), *sorted((ROOT / "components").rglob("*.py"))]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("path", PROGRAM, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_program_never_imports_the_tooling(path: Path) -> None:
    tooling = sorted(m for m in imported_modules(path) if m == "tools" or m.startswith("tools."))
    assert tooling == [], f"{path.relative_to(ROOT)} imports {tooling}"


@pytest.mark.parametrize("path", sorted((ROOT / "components").rglob("*.py")), ids=lambda p: p.name)
def test_components_import_no_target(path: Path) -> None:
    targets = sorted(m for m in imported_modules(path) if m == "stacks" or m.startswith("stacks."))
    assert targets == [], f"components/{path.name} imports {targets}"


def test_stacks_holds_only_what_the_program_imports() -> None:
    program_modules = {"__init__", "config", "preflight", "environment", "registry", "cloud", "handoff", "kubeconfig"}
    targets = {"minikube", "existing", "eks", "aks", "gke", "app"}
    assert {p.stem for p in (ROOT / "stacks").glob("*.py")} == program_modules | targets


def test_the_detector_sees_imports_at_any_depth(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f() -> None:\n    from tools import offline  # noqa\n    import tools.render\n")
    assert {"tools", "tools.offline", "tools.render"} <= imported_modules(sample)


@pytest.mark.parametrize("name", ["webapp", "platform"])
def test_the_workload_knows_kubernetes_and_no_cloud(name: str) -> None:
    """WebApp and the Platform it reads import the standard library, pulumi and pulumi_kubernetes only."""
    allowed_roots = {"pulumi", "pulumi_kubernetes", "components", "__future__"} | set(sys.stdlib_module_names)
    imported = imported_modules(ROOT / "components" / f"{name}.py")
    assert {m for m in imported if m.split(".")[0] not in allowed_roots} == set()
    # of its own package, only the Platform record: no cluster component, no image builder
    assert {m for m in imported if m.startswith("components.") and not m.startswith("components.platform")} == set()
