"""The local targets never load a cloud SDK: checked in a fresh interpreter per stack."""

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


@pytest.mark.parametrize("stack", ["dev", "kind"])
def test_local_stacks_import_no_cloud_sdk(stack: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, stack], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "pulumi_kubernetes" in modules  # the check sees real imports
    assert not modules & set(CLOUD_SDKS), modules & set(CLOUD_SDKS)
