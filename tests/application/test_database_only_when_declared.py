"""A cloud stack's managed database, and what it needs on the cloud's side (AKS's virtual network, GKE's private
services access), exist only when the application's files declare a `postgres` resource: an application without
one leaves the cluster exactly as the same stack without an application has it (an existing cluster's node pool
never moves into a new network because an application arrived)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.application import API, run_files
from tools.verify.mock_runner import ProgramRun, run_program

WITHOUT_APPLICATION = {"application": None, "databaseAdmin": None}
"""The stack without its application, and without the keys that apply only with one."""
CLOUDS = {"walkthrough-eks": "aws:", "walkthrough-aks": "azure-native:", "walkthrough-gke": "gcp:"}


def cloud_resources(run: ProgramRun, prefix: str) -> list[tuple[str, str, Any]]:
    assert run.error is None, run.error
    return sorted((r.type, r.name, repr(r.inputs)) for r in run.resources if r.type.startswith(prefix))


@pytest.mark.parametrize("stack", sorted(CLOUDS))
def test_an_application_without_postgres_leaves_the_cluster_as_without_an_application(
    stack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    without_application = run_program(stack, WITHOUT_APPLICATION)
    with_application = run_files(monkeypatch, tmp_path, {"api": API}, stack=stack)
    assert cloud_resources(with_application, CLOUDS[stack]) == cloud_resources(without_application, CLOUDS[stack])


@pytest.mark.parametrize("stack", sorted(CLOUDS))
def test_an_application_with_postgres_adds_the_database_to_the_cluster(stack: str) -> None:
    without_application = {t for t, _, _ in cloud_resources(run_program(stack, WITHOUT_APPLICATION), CLOUDS[stack])}
    with_application = {t for t, _, _ in cloud_resources(run_program(stack), CLOUDS[stack])}
    assert with_application - without_application
