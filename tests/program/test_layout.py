"""The rooms and the way imports point: the program never imports its tooling."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

from stacks import preflight
from stacks.config import TARGETS
from tools.stack_files import ROOT

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
    program_modules = {"__init__", "preflight", "environment", "registry", "cloud", "handoff", "kubeconfig", "sync"}
    targets = set(TARGETS)
    assert {p.stem for p in (ROOT / "stacks").glob("*.py")} == program_modules | targets
    packages = {p.parent.name for p in (ROOT / "stacks").glob("*/__init__.py")}
    assert packages == {"config", "application"}, "stacks/ holds two packages: the config model, the workload files"


APPLICATION_PIPELINE = (
    "catalogue",
    "source",
    "spec",
    "placeholders",
    "parse",
    "provisioned",
    "provision",
    "checks",
    "convert",
    "deploy",
)
"""stacks/application/, in the order an application goes through it."""


def test_the_workload_file_pipeline_is_one_package_in_the_order_it_runs() -> None:
    package = ROOT / "stacks" / "application"
    assert {p.stem for p in package.glob("*.py")} - {"__init__"} == set(APPLICATION_PIPELINE)
    # each step imports only the steps before it (and the program's shared modules): deploy orchestrates
    for index, name in enumerate(APPLICATION_PIPELINE):
        later = {f"stacks.application.{n}" for n in APPLICATION_PIPELINE[index + 1 :]}
        assert imported_modules(package / f"{name}.py") & later == set(), f"stacks/application/{name}.py"


def test_one_module_parses_placeholders() -> None:
    """`${...}` is matched in stacks/application/placeholders.py only."""
    pattern = re.compile(r"\\\$\\\{|\\\$\\\$")
    readers = sorted(
        p.relative_to(ROOT).as_posix()
        for p in PROGRAM
        if "PLACEHOLDER" in p.read_text() or pattern.search(p.read_text())
    )
    assert readers == ["stacks/application/placeholders.py"]


def test_the_detector_sees_imports_at_any_depth(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f() -> None:\n    from tools.verify import mock_runner  # noqa\n    import tools.verify.render\n"
    )
    assert {"tools.verify", "tools.verify.mock_runner", "tools.verify.render"} <= imported_modules(sample)


WORKLOAD = (
    "webapp",
    "smoke",
    "canary_rollout",
    "pod_parts",
    "exposure",
    "platform",
    "options",
    "pull",
    "service",
    "service_pod",
    "service_spec",
    "postgres",
    "postgres_pod",
    "password",
    "database",
    "database_roles",
    "certificate",
)
"""The portable workload (the web app, an application's services, in-cluster databases and a managed database's
in-cluster name) and its parts."""


@pytest.mark.parametrize("name", WORKLOAD)
def test_the_workload_knows_kubernetes_and_no_cloud(name: str) -> None:
    """WebApp, its parts and the Platform it reads import the standard library, pulumi and pulumi_kubernetes only."""
    # cryptography: the certificates kubeport issues for in-cluster servers (components.certificate); no cloud.
    allowed_roots = {"pulumi", "pulumi_kubernetes", "components", "__future__", "cryptography"}
    allowed_roots |= set(sys.stdlib_module_names)
    imported = imported_modules(ROOT / "components" / f"{name}.py")
    assert {m for m in imported if m.split(".")[0] not in allowed_roots} == set()
    # of its own package, only the workload's own parts: no cluster component, no image builder
    own = {m for m in imported if m.startswith("components.")}
    # The judge's module, whose clients load only inside the dynamic provider, is part of the release.
    assert {m for m in own if m.split(".")[1] not in (*WORKLOAD, "canary")} == set()


JUDGE = {
    "canary": {"kubernetes", "yaml"},
    "canary_cluster": {"kubernetes", "yaml", "urllib3"},
    "canary_judge": {"prometheus_client"},
}
"""The canary's judge runs in Pulumi's dynamic-provider process, not in the program: beside what the workload may
import, each module its own client libraries (the Kubernetes API; the controller's metrics), and no cloud SDK."""


@pytest.mark.parametrize("name", sorted(JUDGE))
def test_the_canary_judge_knows_its_clients_and_no_cloud(name: str) -> None:
    allowed_roots = {"pulumi", "components", "__future__", *JUDGE[name], *sys.stdlib_module_names}
    imported = imported_modules(ROOT / "components" / f"{name}.py")
    assert {m for m in imported if m.split(".")[0] not in allowed_roots} == set()
    own = {m.split(".")[1] for m in imported if m.startswith("components.")}
    assert own <= {"options", *JUDGE}, "the judge reads no other component"


LONG_FILE = 400
"""Lines a program file may have before its opening docstring must say why it is longer."""


def test_program_files_stay_short_or_say_why() -> None:
    too_long = []
    for path in PROGRAM:
        lines = path.read_text().splitlines()
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if len(lines) > LONG_FILE and "longer than" not in docstring:
            too_long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert too_long == []


def test_no_two_test_modules_share_a_name() -> None:
    names: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(path.relative_to(ROOT).as_posix())
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}


def test_helpers_live_in_the_support_package() -> None:
    """Test folders hold test modules (and their conftest); shared helpers sit in tests/support.

    tests/apps holds example applications: their source goes into images, and no test imports it.
    """
    apps = ROOT / "tests" / "apps"
    stray = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("*.py")
        if path.parent.name != "support"
        and not path.is_relative_to(apps)
        and not path.name.startswith("test_")
        and path.name not in ("__init__.py", "conftest.py")
    ]
    assert stray == []


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_module_offers_what_the_parser_and_the_preflight_ask(target: str) -> None:
    module = importlib.import_module(f"stacks.{target}")
    for name in ("KEYS", "TOOLS", "DEFAULT_REGISTRY", "SDK", "check", "platform"):
        assert hasattr(module, name), f"stacks/{target}.py lacks {name} (stacks/config/target.py lists them)"
    assert set(module.TOOLS) <= set(preflight.TOOLS), "preflight must know how to install each tool"
    assert all(target in key.targets for key in module.KEYS)


TOOLS = ROOT / "tools"
TOOL_PACKAGES = ("verify", "ops", "localcluster")
"""The packages of tools/ that import only themselves and the shared modules at the top; bench/ and the command
line may import every package."""
SHARED = sorted(p.stem for p in TOOLS.glob("*.py") if p.stem not in ("__init__", "__main__"))


def _tools_imports(path: Path) -> set[str]:
    return {m for m in imported_modules(path) if m.startswith("tools.")}


@pytest.mark.parametrize(
    "path",
    sorted(p for package in TOOL_PACKAGES for p in (TOOLS / package).rglob("*.py")),
    ids=lambda p: p.relative_to(TOOLS).as_posix(),
)
def test_a_tools_package_imports_only_itself_and_the_shared_modules(path: Path) -> None:
    package = path.relative_to(TOOLS).parts[0]
    allowed = {f"tools.{name}" for name in SHARED} | {f"tools.{package}"}
    stray = sorted(m for m in _tools_imports(path) if not any(m == a or m.startswith(f"{a}.") for a in allowed))
    assert stray == [], f"tools/{path.relative_to(TOOLS)} imports {stray}: only tools.{package} and {SHARED}"


@pytest.mark.parametrize("name", SHARED)
def test_the_shared_modules_of_tools_import_no_package(name: str) -> None:
    shared = {f"tools.{other}" for other in SHARED}
    stray = sorted(
        m for m in _tools_imports(TOOLS / f"{name}.py") if m.split(".")[:2] and ".".join(m.split(".")[:2]) not in shared
    )
    assert stray == [], f"tools/{name}.py imports {stray}"


RUNS_PROGRAMS_ITSELF = {"processes.py", "ops/dumpstream.py"}
"""The tooling's one process module, and the dump-to-restore relay (two processes piped through this one, which
watches the stream); everything else runs, spawns and stops programs through tools.processes."""


def test_the_tooling_runs_other_programs_through_its_one_process_module() -> None:
    direct = sorted(
        path.relative_to(TOOLS).as_posix()
        for path in TOOLS.rglob("*.py")
        if {"subprocess", "os.kill", "os.killpg"} & imported_modules(path) or "os.kill" in path.read_text()
    )
    assert direct == sorted(RUNS_PROGRAMS_ITSELF)


def test_the_tools_packages_are_the_ones_the_layout_names() -> None:
    packages = sorted(p.parent.name for p in TOOLS.glob("*/__init__.py"))
    assert packages == sorted([*TOOL_PACKAGES, "bench"])


def test_tools_files_stay_short_or_say_why() -> None:
    too_long = []
    for path in sorted(TOOLS.rglob("*.py")):
        lines = path.read_text().splitlines()
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if len(lines) > LONG_FILE and "longer than" not in docstring:
            too_long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert too_long == []


LONG_FUNCTION = 60
"""Lines a function of the project's code may have before its docstring must say why it is longer."""
CODE_ROOTS = ("app", "components", "stacks", "tools", "policy", "walkthrough")
"""Every folder of the project's own code (tests aside: a test reads as the behaviour it walks through)."""


def _long_functions(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONG_FUNCTION and "longer than 60 lines" not in (ast.get_docstring(node) or "").lower():
                    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                    found.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    return found


def test_every_function_of_the_project_stays_short_or_says_why() -> None:
    paths = [ROOT / "__main__.py", *(path for root in CODE_ROOTS for path in sorted((ROOT / root).rglob("*.py")))]
    assert len(paths) > 100
    assert _long_functions(paths) == []


def test_the_function_bound_sees_a_long_function_and_its_reason(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(LONG_FUNCTION))
    (tmp_path / "long.py").write_text(f"def f() -> None:\n{body}")
    (tmp_path / "said.py").write_text(f'def g() -> None:\n    """Longer than 60 lines: a reason."""\n{body}')
    found = _long_functions([tmp_path / "long.py", tmp_path / "said.py"])
    assert [line.split(" ", 1)[1] for line in found] == ["f: 61 lines"]


ARCHITECTURE = ROOT / "docs" / "architecture.md"
ROOMS_WITH_CODE = (
    "app",
    "components",
    "stacks",
    "stacks/config",
    "tools",
    *(f"tools/{p}" for p in (*TOOL_PACKAGES, "bench")),
)


def _room_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in ARCHITECTURE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("/`"):
            rows[cells[0].strip("`").rstrip("/")] = cells[1]
    return rows


@pytest.mark.parametrize("room", ROOMS_WITH_CODE)
def test_the_room_table_names_every_module_of_a_room_and_none_that_is_gone(room: str) -> None:
    """docs/architecture.md's table: each room's row names each of its modules (`name` or `name.py`, `__main__.py`
    and `__init__.py` aside), and every `name.py` it names is there."""
    row = _room_rows().get(room)
    assert row is not None, f"docs/architecture.md's room table has no row for {room}/"
    named = set(re.findall(r"`([A-Za-z_][\w]*)(?:\.py)?`", row))
    modules = {p.stem for p in (ROOT / room).glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert sorted(modules - named) == [], f"{room}/ modules the room table does not name"
    gone = sorted(n for n in re.findall(r"`([\w]+)\.py`", row) if not (ROOT / room / f"{n}.py").exists())
    assert gone == [], f"the room table names {room}/ files that do not exist"
