"""`python -m tools diff`: the workload differs between stacks only where the Platform says it may."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from tools.stack_files import ROOT
from tools.verify.diff import config_changes, workload_differences
from tools.verify.mock_runner import ProgramRun, run_program

CLOUDS = ["eks", "aks", "gke"]
PAIRS = [*itertools.combinations(CLOUDS, 2), *[("dev", c) for c in CLOUDS], ("kind", "eks")]


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {stack: run_program(stack) for stack in ["dev", "kind", *CLOUDS]}


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_only_platform_carried_differences(runs: dict[str, ProgramRun], a: str, b: str) -> None:
    differences = workload_differences(runs[a], runs[b])
    unexplained = [d.line() for d in differences if not d.carried_by]
    assert unexplained == []
    carriers = {d.carried_by for d in differences}
    assert "registry: image reference" in carriers and "target name" in carriers
    if a in ("dev", "kind"):
        assert "exposure: Service type" in carriers  # NodePort -> LoadBalancer


def test_a_real_workload_difference_is_reported() -> None:
    base = run_program("eks")
    changed = run_program("gke", {"replicas": "3"})
    unexplained = [d for d in workload_differences(base, changed) if not d.carried_by]
    assert [d.path for d in unexplained] == ["Deployment web: spec.replicas"]


@pytest.mark.parametrize(
    ("a", "b", "keys"),
    [
        ("eks", "gke", ["kubeport:project", "kubeport:region", "kubeport:target"]),
        ("eks", "aks", ["kubeport:region", "kubeport:subscription", "kubeport:target"]),
        ("aks", "gke", ["kubeport:project", "kubeport:region", "kubeport:subscription", "kubeport:target"]),
        ("dev", "eks", ["kubeport:allowedCidrs", "kubeport:region", "kubeport:target"]),
    ],
)
def test_migration_cost_counts_the_stack_config_lines_that_differ(a: str, b: str, keys: list[str]) -> None:
    assert [c.key for c in config_changes(a, b)] == keys


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_cli_diff_prints_differences_and_cost() -> None:
    done = cli("diff", "eks", "gke")
    assert done.returncode == 0, done.stderr
    assert "all carried by the Platform" in done.stdout
    assert "migration cost: 3 stack-config lines differ" in done.stdout


def test_cli_help_lists_every_command() -> None:
    done = cli("--help")
    for command in ("render", "check", "diff", "preview", "up", "destroy", "migrate"):
        assert command in done.stdout


def test_operations_without_the_cli_say_how_to_install_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools", "up", "dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/nonexistent", "HOME": str(ROOT)},
    )
    assert done.returncode == 1
    assert "Pulumi CLI is not installed" in done.stderr and "get.pulumi.com" in done.stderr
