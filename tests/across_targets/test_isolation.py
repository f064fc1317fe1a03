"""Each stack loads only its own cloud SDK, local and app stacks none, and the docker-build SDK only where it builds:
checked in a fresh interpreter per stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stacks.config.target import cloud_sdks, target_module
from tools.stack_files import ROOT, stack_config

CLOUD_SDKS = set(cloud_sdks().values())

SCRIPT = """
import json, sys
from tools.verify.mock_runner import run_program
run = run_program(sys.argv[1])
assert run.error is None, run.error
builds = any(r.type.startswith("docker-build:") for r in run.resources)
print(json.dumps({"modules": sorted({m.split(".")[0] for m in sys.modules}), "builds": builds}))
"""


# App stacks (shop, shop-eks) too, with their cluster stack's outputs computed apart:
# tests/targets/test_stackref_target.py.
STACKS = ["dev", "kind", "local-a", "cluster-a", "eks", "eks-cluster", "aks", "gke"]


@pytest.mark.parametrize("stack", STACKS)
def test_a_stack_loads_only_its_own_cloud_sdk(stack: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, stack], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    modules = set(seen["modules"])
    assert "pulumi_kubernetes" in modules  # the check sees real imports
    own = target_module(stack_config(stack)[0]["kubeport:target"]).SDK
    assert own or stack in ("dev", "kind", "local-a", "cluster-a")
    assert modules & CLOUD_SDKS == ({own} if own else set())
    # The docker-build SDK only where the stack builds its image: each of its imports costs a run about 25 ms.
    assert ("pulumi_docker_build" in modules) == seen["builds"]
