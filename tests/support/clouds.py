"""Checks every cloud stack shares: run once per cloud suite with that cloud's real stack file."""

from __future__ import annotations

import json
import subprocess
import sys

from components.exposure import ADDRESS_WAIT
from stacks.config.target import cloud_sdks
from tests.support.workload import DEPLOYMENT, IMAGE, K8S_PROVIDER, POD, SERVICE, transitive_dependencies, web_container
from tools.stack_files import ROOT
from tools.verify.diff import workload_differences
from tools.verify.mock_runner import ProgramRun, Registered, run_program

CLOUD_SDKS = cloud_sdks()


def run_stack(stack: str) -> ProgramRun:
    run = run_program(stack)
    assert run.error is None, f"{stack}: {run.error}"
    return run


def cluster_provider(run: ProgramRun) -> Registered:
    return run.one(K8S_PROVIDER)


def assert_kubernetes_objects_use_the_cluster_provider(run: ProgramRun) -> None:
    provider = cluster_provider(run)
    assert provider.inputs.get("kubeconfig"), "provider built from the cluster's kubeconfig"
    assert "kubeconfig" in provider.secret_inputs
    assert provider.inputs["clusterIdentifier"], "stable identity: kubeconfig churn does not replace objects"
    objects = run.kubernetes_objects()
    assert len(objects) >= 7
    for obj in objects:
        assert obj.provider.startswith(provider.urn + "::"), obj.name


def assert_cloud_resources_use_one_explicit_provider(run: ProgramRun, package: str) -> None:
    providers = run.of_type(f"pulumi:providers:{package}")
    assert len(providers) == 1
    for res in run.resources:
        if res.custom and res.type.startswith(f"{package}:"):
            assert res.provider.startswith(providers[0].urn + "::"), f"{res.type} {res.name}: {res.provider}"


def assert_image_pushed_to_registry_and_run_by_digest(run: ProgramRun, registry_prefix: str) -> None:
    image = run.one(IMAGE).inputs
    assert image["push"] is True
    assert image["tags"][0].startswith(registry_prefix), image["tags"][0]
    assert image["platforms"] == ["linux/amd64"]
    assert any(p.startswith("registries") for p in run.one(IMAGE).secret_inputs)
    ref = web_container(run)["image"]
    assert ref.startswith(image["tags"][0] + "@sha256:")
    assert run.outputs["image"].value == ref
    assert run.outputs["registry"].value and ref.startswith(run.outputs["registry"].value)


def assert_load_balancer_service(run: ProgramRun, annotations: dict[str, str]) -> None:
    service = run.one(SERVICE).inputs
    assert service["spec"]["type"] == "LoadBalancer"
    assert "nodePort" not in service["spec"]["ports"][0]
    assert service["metadata"]["annotations"] == {**annotations, **ADDRESS_WAIT}
    assert run.outputs["url"].value.startswith("http://")


def assert_outputs_and_secrets(run: ProgramRun) -> None:
    for name in ("url", "image", "cluster", "registry", "kubeconfig"):
        assert name in run.outputs, name
    assert run.outputs["kubeconfig"].secret
    assert not run.outputs["image"].secret and not run.outputs["url"].secret


def assert_replicas_at_least_two(run: ProgramRun) -> None:
    assert web_container(run)  # the Deployment exists
    from tests.support.workload import DEPLOYMENT

    assert run.one(DEPLOYMENT).inputs["spec"]["replicas"] >= 2


def assert_protected(run: ProgramRun, types: list[str]) -> None:
    for type_ in types:
        found = run.of_type(type_)
        assert found, type_
        assert all(r.protect for r in found), type_


def assert_release_protection_unprotects(stack: str, types: list[str]) -> ProgramRun:
    run = run_program(stack, {"releaseProtection": "true"})
    assert run.error is None, run.error
    for type_ in types:
        assert not any(r.protect for r in run.of_type(type_)), type_
    # Provider config travels as strings.
    assert str(cluster_provider(run).inputs.get("deleteUnreachable")).lower() == "true"
    return run


def assert_same_workload_as_minikube(run: ProgramRun) -> None:
    differences = workload_differences(run_stack("dev"), run)
    assert [d.line() for d in differences if not d.carried_by] == []
    assert {d.carried_by for d in differences} >= {"registry: image reference", "exposure: Service type"}


def assert_only_its_own_cloud_sdk(stack: str) -> None:
    script = (
        "import json, sys\n"
        "from tools.verify.mock_runner import run_program\n"
        "run = run_program(sys.argv[1])\n"
        "assert run.error is None, run.error\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, stack], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    own = CLOUD_SDKS[stack]
    assert own in modules
    assert not modules & (set(CLOUD_SDKS.values()) - {own}), modules & set(CLOUD_SDKS.values())


def assert_rejected_before_any_resource(stack: str, overrides: dict[str, str | None], key: str) -> None:
    run = run_program(stack, overrides)
    assert run.error is not None, overrides
    assert key in str(run.error), str(run.error)
    assert run.resources == []


def assert_pods_wait_for(run: ProgramRun, needs: dict[str, Registered]) -> None:
    """The Deployment and the smoke Pod wait, directly or not, for each of `needs` (nodes, pull rights...)."""
    for runs_pods in (run.one(DEPLOYMENT), run.one(POD)):
        waits_for = transitive_dependencies(run, runs_pods)
        for what, resource in needs.items():
            assert resource.urn in waits_for, f"{run.stack}: {runs_pods.type} does not wait for {what}"
