"""Who may reach each database, offline, on every application stack (the walkthrough on each local cluster and each
cloud, and tests/apps/library with its two databases and its worker): cyclonus, a real NetworkPolicy analyzer,
answers for every pod the program registers and for a pod with no labels, from the run's own NetworkPolicies. Only
the workload whose file declares the database, and the Job that makes its role, reach it on 5432; nothing else
does. An in-cluster database is its pod; a cloud's is an address in the block its policies name."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.application.parse import read_application
from tests.support.cyclonus import Peer, Question, ask, cyclonus
from tests.support.variants import APPLICATIONS_WITH_DATABASES, application_run
from tools.stack_files import ROOT
from tools.verify.mock_runner import ProgramRun, run_program

NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
POD_TEMPLATES = ("Deployment", "StatefulSet", "Job")
PORT = 5432
LIBRARY = "tests/apps/library"


def library_run() -> ProgramRun:
    run = run_program("walkthrough", {"application": LIBRARY, "namespace": "library"})
    assert run.error is None, run.error
    return run


RUNS = {stack: (lambda s=stack: application_run(s)) for stack in APPLICATIONS_WITH_DATABASES} | {"library": library_run}


def pods(run: ProgramRun) -> dict[str, Peer]:
    """Every pod template of the run, by its object's name."""
    found = {}
    for resource in run.kubernetes_objects():
        if resource.type.rsplit(":", 1)[-1] in POD_TEMPLATES:
            template = resource.inputs["spec"]["template"]
            name = resource.inputs["metadata"]["name"]
            found[name] = Peer(name, resource.inputs["metadata"]["namespace"], template["metadata"]["labels"])
    return found


def databases(run: ProgramRun) -> Iterator[tuple[str, Peer, set[str]]]:
    """(database, how it is reached, the pods allowed to): its declaring workload and its roles Job."""
    folder = ROOT / run.config["kubeport:application"]
    application = read_application(folder, ROOT)
    found = pods(run)
    policies = {r.inputs["metadata"]["name"]: r.inputs for r in run.of_type(NETPOL)}
    for workload in application.workloads:
        for resource in workload.resources_of("postgres"):
            name = workload.provisioned_name(resource)
            roles_job = next(p for p in found if p == f"{name}-roles")
            if name in found:
                target = found[name]
            else:  # a cloud's: an address inside the block the roles Job's policy lets it reach
                cidr = policies[f"{name}-roles"]["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"]
                target = Peer(name, ip=str(next(ipaddress.ip_network(cidr).hosts())))
            yield name, target, {workload.name, roles_job}


def write(policies: list[dict[str, Any]], folder: Path) -> Path:
    folder.mkdir()
    for policy in policies:
        (folder / f"{policy['metadata']['name']}.yaml").write_text(yaml.safe_dump(policy))
    return folder


def own_rules(run: ProgramRun, database: Peer) -> list[dict[str, Any]]:
    """The policies that select the database's pod by its labels (not the namespace's default deny): its own rules."""
    found = []
    for policy in (r.inputs for r in run.of_type(NETPOL)):
        wanted = policy["spec"]["podSelector"].get("matchLabels") or {}
        if wanted and database.labels and wanted.items() <= database.labels.items():
            found.append(policy)
    return found


@pytest.mark.parametrize("stack", list(RUNS))
def test_only_the_declaring_workload_and_its_roles_job_reach_each_database(stack: str, tmp_path: Path) -> None:
    cyclonus()
    run = RUNS[stack]()
    policies = write([r.inputs for r in run.of_type(NETPOL)], tmp_path / "policies")
    everyone = pods(run)
    namespace = next(iter(everyone.values())).namespace
    clients = {**everyone, "unlabelled": Peer("unlabelled", namespace, {})}
    expect: list[tuple[Question, bool]] = []
    found = list(databases(run))
    assert found, f"{stack}: no database"
    for name, database, allowed in found:
        for client_name, client in clients.items():
            if client_name != name:
                expect.append((Question(client, database, PORT), client_name in allowed))
    answers = ask(policies, [q for q, _ in expect], tmp_path)
    wrong = [f"{q}: {'allowed' if a else 'denied'}" for (q, want), a in zip(expect, answers, strict=True) if a != want]
    assert wrong == []
    assert any(want for _, want in expect) and not all(want for _, want in expect)


@pytest.mark.parametrize("stack", [s for s in RUNS if not s.startswith(("walkthrough-eks", "walkthrough-aks",
                                                                         "walkthrough-gke"))])  # fmt: skip
def test_an_in_cluster_databases_own_rules_admit_only_them_whatever_the_callers_rules_say(
    stack: str, tmp_path: Path
) -> None:
    """Each side on its own: with none of the other pods' rules (as if a workload's egress rule were opened wide),
    the database's own ingress rules still admit only the declaring workload and its roles Job."""
    cyclonus()
    run = RUNS[stack]()
    everyone = pods(run)
    clients = {**everyone, "unlabelled": Peer("unlabelled", next(iter(everyone.values())).namespace, {})}
    for name, database, allowed in databases(run):
        assert database.labels, f"{name}: not in the cluster"
        policies = write(own_rules(run, database), tmp_path / name)
        questions = [(Question(c, database, PORT), n in allowed) for n, c in clients.items() if n != name]
        answers = ask(policies, [q for q, _ in questions], tmp_path)
        wrong = [f"{q}: {'allowed' if a else 'denied'}" for (q, w), a in zip(questions, answers, strict=True) if a != w]
        assert wrong == []
