"""The portable workload, checked on each local profile (dev = minikube, kind = existing) in turn."""

from __future__ import annotations

import re

import pytest

from components.pod_parts import RELEASE_ANNOTATION
from components.smoke import READY_CHECK
from tests.support import nginx_conf
from tests.support.workload import (
    DEPLOYMENT,
    IMAGE,
    K8S_PROVIDER,
    NAMESPACE,
    NETPOL,
    PDB,
    POD,
    SERVICE,
    pod_template,
    selects,
    smoke_pod,
    stack_run,
    web_container,
)
from tools.stack_files import app_stack_names
from tools.verify.mock_runner import ProgramRun, run_program

PROFILES = ["dev", "kind"]


@pytest.fixture(params=PROFILES)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    result: ProgramRun = request.getfixturevalue(request.param)
    return result


def test_registers_the_workload_resources(run: ProgramRun) -> None:
    types = [r.type for r in run.resources]
    for expected in (K8S_PROVIDER, NAMESPACE, DEPLOYMENT, SERVICE, POD, PDB, IMAGE):
        assert expected in types, f"{run.stack}: no {expected}"
    assert types.count(K8S_PROVIDER) == 1
    assert types.count(NETPOL) == 2  # the web pods' and the smoke check's


def test_every_kubernetes_object_uses_the_explicit_provider(run: ProgramRun) -> None:
    provider = run.one(K8S_PROVIDER)
    objects = run.kubernetes_objects()
    assert len(objects) >= 7
    for obj in objects:
        assert obj.provider.startswith(provider.urn + "::"), f"{obj.name} uses {obj.provider!r}"


def test_no_resource_falls_back_to_a_default_provider(run: ProgramRun) -> None:
    for res in run.resources:
        if res.custom and not res.type.startswith("pulumi:providers:"):
            assert res.provider, f"{res.type} {res.name} has no explicit provider"
            assert "::default_" not in res.provider


def test_namespace_enforces_restricted_pod_security(run: ProgramRun) -> None:
    labels = run.one(NAMESPACE).inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert run.one(NAMESPACE).inputs["metadata"]["name"] == "kubeport"


def test_deployment_rolls_out_without_losing_capacity(run: ProgramRun) -> None:
    spec = run.one(DEPLOYMENT).inputs["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert selects(spec["selector"]["matchLabels"], pod_template(run)["metadata"]["labels"])


def test_probes_are_distinct_http_checks(run: ProgramRun) -> None:
    container = web_container(run)
    ready, live = container["readinessProbe"], container["livenessProbe"]
    assert ready["httpGet"]["path"] == "/readyz"
    assert live["httpGet"]["path"] == "/healthz"
    assert ready != live


def test_containers_have_requests_and_limits(run: ProgramRun) -> None:
    for container in [web_container(run), *smoke_pod(run).inputs["spec"]["containers"]]:
        res = container["resources"]
        for kind in ("cpu", "memory", "ephemeral-storage"):
            assert kind in res["requests"] and kind in res["limits"], f"{container['name']}: {kind}"


def test_pods_run_hardened(run: ProgramRun) -> None:
    for spec in (pod_template(run)["spec"], smoke_pod(run).inputs["spec"]):
        assert spec["automountServiceAccountToken"] is False
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] >= 10000
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("stack", app_stack_names())
def test_every_container_is_hardened_on_its_own(stack: str) -> None:
    """Each container says non-root, its numeric user, no escalation, no capabilities and seccomp itself: a
    container-level setting wins over the pod's, and scanners and Pod Security read both."""
    run = stack_run(stack)
    for spec in (pod_template(run)["spec"], smoke_pod(run).inputs["spec"]):
        for container in spec["containers"]:
            sc = container["securityContext"]
            where = f"{stack}: container {container['name']}"
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] >= 10000 and sc["runAsGroup"] >= 10000, where
            assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert sc["readOnlyRootFilesystem"] is True, where


def test_nginx_writes_only_to_an_empty_dir(run: ProgramRun) -> None:
    spec = pod_template(run)["spec"]
    mounts = {m["mountPath"]: m["name"] for m in web_container(run)["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_image_is_pinned_never_latest(run: ProgramRun) -> None:
    image = web_container(run)["image"]
    assert not image.endswith(":latest") and "latest" not in image.split("/")[-1]
    assert re.search(r":[0-9a-f]{16}(@sha256:[0-9a-f]{64})?$", image), image
    assert smoke_pod(run).inputs["spec"]["containers"][0]["image"] == image
    assert run.outputs["image"].value == image


def test_service_selects_the_web_pods_and_not_the_smoke_pod(run: ProgramRun) -> None:
    selector = run.one(SERVICE).inputs["spec"]["selector"]
    assert selects(selector, pod_template(run)["metadata"]["labels"])
    assert not selects(selector, smoke_pod(run).inputs["metadata"]["labels"])
    port = run.one(SERVICE).inputs["spec"]["ports"][0]
    assert port["targetPort"] == "http"
    assert web_container(run)["ports"][0]["name"] == "http"


def test_smoke_pod_is_ready_only_when_the_service_answers_by_dns_from_the_new_release(run: ProgramRun) -> None:
    pod = smoke_pod(run)
    container = pod.inputs["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == ["/bin/sh", "-c", READY_CHECK]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["URL"] == "http://web.kubeport.svc/healthz" and env["INFO_URL"] == "http://web.kubeport.svc/info"
    # The release it waits for is the one the web pods' template carries, which /info reports.
    template = pod_template(run)
    assert env["RELEASE"] == template["metadata"]["annotations"][RELEASE_ANNOTATION]
    release_env = next(e for e in web_container(run)["env"] if e["name"] == "KUBEPORT_RELEASE")
    assert release_env["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.annotations['{RELEASE_ANNOTATION}']"
    # Created only after the Deployment and Service it checks.
    deployment, service = run.one(DEPLOYMENT), run.one(SERVICE)
    assert deployment.urn in pod.dependencies and service.urn in pod.dependencies


def test_network_policies_close_egress_for_web_and_open_only_dns_and_web_for_smoke(run: ProgramRun) -> None:
    policies = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in run.of_type(NETPOL)}
    web, smoke = policies["web-web"], policies["web-smoke"]
    assert web["policyTypes"] == ["Ingress", "Egress"]
    assert web.get("egress", []) == []
    assert [p["port"] for p in web["ingress"][0]["ports"]] == [nginx_conf.server().port]
    assert smoke.get("ingress", []) == []
    assert {p["port"] for rule in smoke["egress"] for p in rule["ports"]} == {53, nginx_conf.server().port}


def test_pdb_keeps_one_pod_and_never_blocks_drains_on_unhealthy_pods(run: ProgramRun) -> None:
    spec = run.one(PDB).inputs["spec"]
    assert spec["maxUnavailable"] == 1
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_info_environment_comes_from_platform_and_downward_api(run: ProgramRun) -> None:
    env = {e["name"]: e for e in web_container(run)["env"]}
    assert env["KUBEPORT_TARGET"]["value"] == run.outputs["target"].value
    assert env["KUBEPORT_IMAGE"]["value"] == web_container(run)["image"]
    assert env["KUBEPORT_POD"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["KUBEPORT_NODE"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_outputs_name_url_namespace_and_image(run: ProgramRun) -> None:
    assert {"url", "namespace", "image", "target"} <= set(run.outputs)
    assert run.outputs["namespace"].value == "kubeport"
    assert run.outputs["url"].known and run.outputs["url"].value


@pytest.mark.parametrize("stack", PROFILES)
def test_smoke_check_can_be_turned_off(stack: str) -> None:
    run = run_program(stack, {"smokeCheck": "false"})
    assert run.error is None
    assert run.of_type(POD) == []
    assert [p.inputs["metadata"]["name"] for p in run.of_type(NETPOL)] == ["web-web"]


@pytest.mark.parametrize("stack", PROFILES)
def test_replicas_and_namespace_follow_config(stack: str) -> None:
    run = run_program(stack, {"replicas": "5", "namespace": "shop"})
    assert run.error is None
    assert run.one(DEPLOYMENT).inputs["spec"]["replicas"] == 5
    assert {o.inputs["metadata"].get("namespace") for o in run.kubernetes_objects() if o.type != NAMESPACE} == {"shop"}
    assert run.outputs["namespace"].value == "shop"
