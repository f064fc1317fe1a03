"""The example application that uses every kind of data a workload file declares (tests/apps/notebook: a volume,
a cache and a bucket), under mocks on each cloud: each resource the cloud's own, the whole stack passing every policy
of the pack, and no static cloud key anywhere (the bucket is reached by the cloud's workload identity)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.across_targets.test_policy import RESOURCE_POLICIES, resource_args, stack_args, violations
from tests.support.application import named
from tools.stack_files import ROOT
from tools.verify.mock_runner import ProgramRun, run_program

sys.path.insert(0, str(ROOT / "policy"))
import kubeport_policies as kp

CLOUD_KINDS = {
    "walkthrough-eks": ("aws:elasticache/replicationGroup:ReplicationGroup", "aws:s3/bucket:Bucket"),
    "walkthrough-aks": ("azure-native:redis:Redis", "azure-native:storage:BlobContainer"),
    "walkthrough-gke": ("gcp:redis/instance:Instance", "gcp:storage/bucket:Bucket"),
}


@pytest.fixture(scope="module", params=sorted(CLOUD_KINDS))
def notebook(request: pytest.FixtureRequest) -> ProgramRun:
    run = run_program(request.param, {"application": "tests/apps/notebook"})
    assert run.error is None, run.error
    return run


def test_the_notebooks_cache_and_bucket_are_the_clouds_own_and_its_volume_on_the_clouds_class(
    notebook: ProgramRun,
) -> None:
    cache, bucket = CLOUD_KINDS[notebook.stack]
    assert len(notebook.of_type(cache)) == len(notebook.of_type(bucket)) == 1
    (claim,) = named(notebook, "kubernetes:core/v1:PersistentVolumeClaim").values()
    (storage_class,) = named(notebook, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert claim.inputs["spec"]["storageClassName"] == storage_class
    assert not notebook.of_type("kubernetes:apps/v1:StatefulSet")[1:], "no in-cluster server: the notes pod alone"


def test_the_whole_notebook_stack_passes_every_policy_and_holds_no_static_key(notebook: ProgramRun) -> None:
    for validate in RESOURCE_POLICIES:
        for made in notebook.resources:
            assert violations(validate, resource_args(made)) == [], f"{validate.__name__}: {made.type} {made.name}"
    assert violations(kp.complete_buckets, stack_args(notebook)) == []
    for secret in notebook.of_type("kubernetes:core/v1:Secret"):
        text = json.dumps(secret.inputs).lower()
        assert "secretaccesskey" not in text and "aws_secret_access_key" not in text, secret.name
    assert (named(notebook, "kubernetes:core/v1:ServiceAccount")["notes"].inputs["automountServiceAccountToken"]
            is False)  # fmt: skip
