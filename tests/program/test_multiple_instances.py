"""WebApp can be instantiated more than once in one program without collisions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.workload import DEPLOYMENT, NAMESPACE, SERVICE
from tools.verify.mock_runner import run_program

PROGRAM = """
import stacks
from components import WebApp, WebAppArgs

settings = stacks.load_settings()
platform = stacks.platform_for(settings)
WebApp("shop", WebAppArgs(platform=platform, image="kubeport/web:0123456789abcdef", namespace="team-a"))
WebApp("blog", WebAppArgs(platform=platform, image="kubeport/web:0123456789abcdef", namespace="team-b"))
WebApp("cart", WebAppArgs(platform=platform, image="kubeport/web:0123456789abcdef", namespace="team-a",
                          create_namespace=False))
"""


def test_three_instances_share_one_provider_and_never_collide(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(PROGRAM)
    run = run_program("dev", program=program)
    assert run.error is None, run.error
    urns = Counter(r.urn for r in run.resources)
    assert all(n == 1 for n in urns.values()), [u for u, n in urns.items() if n > 1]
    assert len(run.of_type(DEPLOYMENT)) == 3 and len(run.of_type(SERVICE)) == 3
    assert sorted(n.inputs["metadata"]["name"] for n in run.of_type(NAMESPACE)) == ["team-a", "team-b"]
    # Within one namespace every Kubernetes object name is unique per kind.
    keys = Counter(
        (o.type, o.inputs["metadata"].get("namespace"), o.inputs["metadata"]["name"]) for o in run.kubernetes_objects()
    )
    assert all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n > 1]
