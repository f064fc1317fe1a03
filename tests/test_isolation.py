"""Each stack loads only its own cloud SDK, local and app stacks none: checked in a fresh interpreter per stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLOUD_SDKS = ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp")

SCRIPT = """
import json, sys
from tools.offline import run_program
run = run_program(sys.argv[1])
assert run.error is None, run.error
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


# App stacks (shop, shop-eks) too, with their cluster stack's outputs computed apart: tests/test_split_stacks.py.
OWN_SDK = {
    "dev": set(),
    "kind": set(),
    "local-a": set(),
    "cluster-a": set(),
    "eks": {"pulumi_aws"},
    "eks-cluster": {"pulumi_aws"},
    "aks": {"pulumi_azure_native"},
    "gke": {"pulumi_gcp"},
}


@pytest.mark.parametrize("stack", sorted(OWN_SDK))
def test_a_stack_loads_only_its_own_cloud_sdk(stack: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, stack], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "pulumi_kubernetes" in modules  # the check sees real imports
    assert modules & set(CLOUD_SDKS) == OWN_SDK[stack]
