"""An application of workload files written by a test (into its tmp_path), run as the real program under mocks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import mocks as pulumi_mocks

import stacks.application.checks
from tools.verify.mock_runner import ProgramRun, Registered, run_program

NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
API = """\
apiVersion: score.dev/v1b1
metadata: {name: api}
containers:
  main:
    image: registry.example.com/api:1.0.0
service:
  ports:
    http: {port: 80, targetPort: 8080}
"""
"""A plain internal service with one port and no resources: the other workload of a test's application."""


def run_files(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    files: Mapping[str, str],
    stack: str = "walkthrough",
    overrides: Mapping[str, str | None] | None = None,
    folder: str = "shop",
    mocks: pulumi_mocks.Mocks | None = None,
) -> ProgramRun:
    """`stack` with kubeport:application set to `root/folder`, holding `files` (workload name -> text).

    kubeport:application names a folder inside the project; the test's folder stands in for the project's root,
    so the files live in the test's tmp_path and never in the repository.
    """
    (root / folder).mkdir(parents=True)
    for name, text in files.items():
        (root / folder / f"{name}.score.yaml").write_text(text)
    monkeypatch.setattr(stacks.application.checks, "ROOT", root)
    return run_program(stack, {"application": folder, **(overrides or {})}, mocks=mocks)


def named(run: ProgramRun, kind: str) -> dict[str, Registered]:
    """The run's objects of one kind, by their Kubernetes name."""
    return {r.inputs["metadata"]["name"]: r for r in run.of_type(kind)}


def only_container(deployment: Registered) -> dict[str, Any]:
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    return dict(container)
