"""A worker: a workload file without `service` that calls another workload. It gets no Service (the API server
refuses one without ports) and no exposure, but its Deployment and its traffic rules, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.application.parse import read_application
from tests.support.application import API, NETPOL, named, only_container, run_files
from tests.support.workload import DEPLOYMENT, SERVICE, transitive_dependencies
from tools.verify.application_graph import mermaid
from tools.verify.mock_runner import ProgramRun

WORKER = """\
apiVersion: score.dev/v1b1
metadata: {name: worker}
containers:
  main:
    image: registry.example.com/worker:1.0.0
    variables:
      API_URL: http://${resources.api.hostname}:${resources.api.port}/jobs
resources:
  api:
    type: service-port
    params: {workload: api, port: http}
"""

LABELS = {"app.kubernetes.io/part-of": "shop"}


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ProgramRun:
    done = run_files(monkeypatch, tmp_path, {"api": API, "worker": WORKER})
    assert done.error is None, done.error
    return done


def labels_of(workload: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": workload, "app.kubernetes.io/instance": workload, **LABELS}


def test_a_worker_gets_a_deployment_and_no_service(run: ProgramRun) -> None:
    assert sorted(named(run, DEPLOYMENT)) == ["api", "worker"]
    assert sorted(named(run, SERVICE)) == ["api"]
    worker = named(run, DEPLOYMENT)["worker"]
    main = only_container(worker)
    assert not main.get("ports"), "no port is declared, so none is opened"
    assert main["env"] == [{"name": "API_URL", "value": "http://api.walkthrough.svc:80/jobs"}]
    # It starts after the Service it calls, and waits for nothing that does not exist.
    assert named(run, SERVICE)["api"].urn in transitive_dependencies(run, worker)
    assert {d for d in worker.dependencies if d not in {r.urn for r in run.resources}} == set()
    # Its outputs stay defined: no Service, no URL.
    assert run.outputs["services"].value == {"api": "http://api.walkthrough.svc:80", "worker": ""}
    assert run.outputs["url"].value == ""


def test_the_worker_is_let_through_to_what_it_calls_and_admits_nothing(run: ProgramRun) -> None:
    policies = named(run, NETPOL)
    worker = policies["worker"].inputs["spec"]
    assert worker["podSelector"] == {"matchLabels": labels_of("worker")}
    assert worker["policyTypes"] == ["Ingress", "Egress"]
    assert worker.get("ingress", []) == [], "nothing listens, so nothing is admitted"
    call, dns = worker["egress"]
    assert call == {
        "to": [{"podSelector": {"matchLabels": labels_of("api")}}],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }
    assert {p["port"] for p in dns["ports"]} == {53} and "to" not in dns
    api = policies["api"].inputs["spec"]
    assert api["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": labels_of("worker")}}], "ports": [{"port": 8080, "protocol": "TCP"}]}
    ]
    assert api.get("egress", []) == [], "api calls nothing"


def test_the_graph_shows_a_worker_without_a_service(tmp_path: Path) -> None:
    (tmp_path / "worker.score.yaml").write_text(WORKER)
    (tmp_path / "api.score.yaml").write_text(API)
    graph = mermaid(read_application(tmp_path))
    assert '    worker["worker<br/>worker, no Service"]' in graph
    assert "    worker -->|8080| api" in graph
