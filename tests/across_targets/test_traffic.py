"""Who may talk to whom, asked of a real NetworkPolicy analyzer over every stack's rendered objects.

cyclonus (github.com/mattfenwick/cyclonus, built from its Go module by toolchain/build-toolchain) reads the
rendered NetworkPolicies and answers traffic questions with Kubernetes' own policy semantics. The pods in
the questions are the rendered ones: the Deployment's template, the smoke-check Pod, with their labels and
container ports. kwok runs no container, so this is where the traffic rules are checked for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support import nginx_conf
from tests.support.cyclonus import Peer, Question, ask, cyclonus
from tools.stack_files import app_stack_names
from tools.verify.render import render

OTHER_PORTS = (80, 443, 9090)


@dataclass(frozen=True)
class Rendered:
    policies: Path
    web: Peer
    smoke: Peer
    app_port: int


def rendered(stack: str, out: Path) -> Rendered:
    render(stack, out / "all")
    docs = [yaml.safe_load(f.read_text()) for f in sorted((out / "all").glob("*.yaml"))]
    (out / "policies").mkdir()
    for doc in docs:
        if doc["kind"] == "NetworkPolicy":
            (out / "policies" / f"{doc['metadata']['name']}.yaml").write_text(yaml.safe_dump(doc))
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (pod,) = [d for d in docs if d["kind"] == "Pod"]
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: int(p["containerPort"]) for p in container["ports"]}
    namespace = deployment["metadata"]["namespace"]
    web = Peer("web", namespace, template["metadata"]["labels"], ports)
    smoke = Peer("smoke", namespace, pod["metadata"]["labels"], {})
    return Rendered(out / "policies", web, smoke, ports["http"])


@pytest.mark.parametrize("stack", app_stack_names())
def test_the_web_pods_take_the_app_port_only_and_reach_nothing_and_only_the_smoke_pod_calls_out(
    stack: str, tmp_path: Path
) -> None:
    cyclonus()
    r = rendered(stack, tmp_path)
    # The pods listen where nginx listens: the questions below are about the real port.
    assert r.app_port == nginx_conf.server().port
    neighbour = Peer("neighbour", r.web.namespace, {"app": "other"})
    stranger = Peer("stranger", "elsewhere", {"app": "other"})
    client = Peer("client", ip="203.0.113.7")
    expect: list[tuple[Question, bool]] = [
        # The smoke-check Pod reaches the web pods on the app port, and DNS; nothing else.
        (Question(r.smoke, r.web, r.app_port), True),
        (Question(r.smoke, stranger, 53, "UDP"), True),
        (Question(r.smoke, r.smoke, r.app_port), False),
        (Question(r.smoke, stranger, r.app_port), False),
        (Question(r.smoke, client, 443), False),
        *[(Question(r.smoke, r.web, port), False) for port in OTHER_PORTS],
        # A public web app: the app port is open to any source (load balancers, node ports); no other port is.
        *[(Question(source, r.web, r.app_port), True) for source in (neighbour, stranger, client)],
        *[(Question(source, r.web, port), False) for source in (neighbour, stranger, client) for port in OTHER_PORTS],
        # The web pods call nothing, not even DNS; nothing calls the smoke-check Pod.
        (Question(r.web, r.smoke, r.app_port), False),
        (Question(r.web, stranger, 53, "UDP"), False),
        (Question(r.web, client, 443), False),
        *[(Question(source, r.smoke, r.app_port), False) for source in (r.web, neighbour, stranger, client)],
    ]
    answers = ask(r.policies, [q for q, _ in expect], tmp_path)
    wrong = [
        f"{q}: analyzer says {'allowed' if got else 'denied'}"
        for (q, want), got in zip(expect, answers, strict=True)
        if got != want
    ]
    assert wrong == []
