"""Target existing (the real Pulumi.kind.yaml): any cluster through a kubeconfig context, under mocks."""

from __future__ import annotations

from tests.support.workload import DEPLOYMENT, IMAGE, K8S_PROVIDER, POD, SERVICE, web_container
from tools.verify.mock_runner import ProgramRun, run_program


def test_provider_targets_the_configured_context(kind: ProgramRun) -> None:
    provider = kind.one(K8S_PROVIDER).inputs
    assert provider["context"] == "kind-kubeport"
    assert provider["clusterIdentifier"] == "context/kind-kubeport"


def test_image_is_pushed_to_the_registry_and_run_by_digest(kind: ProgramRun) -> None:
    image = kind.one(IMAGE).inputs
    assert image["push"] is True
    assert image["tags"][0].startswith("localhost:5001/kubeport-web:")
    assert "registries" not in image  # kind's local registry is anonymous
    ref = web_container(kind)["image"]
    assert ref.startswith(image["tags"][0] + "@sha256:")
    assert kind.outputs["image"].value == ref


def test_nodeport_service_by_default(kind: ProgramRun) -> None:
    spec = kind.one(SERVICE).inputs["spec"]
    assert spec["type"] == "NodePort" and spec["ports"][0]["nodePort"] == 30020
    assert "kubectl --context kind-kubeport get nodes" in kind.outputs["url"].value


def test_node_address_gives_a_real_url() -> None:
    run = run_program("kind", {"nodeAddress": "172.18.0.2"})
    assert run.error is None
    assert run.outputs["url"].value == "http://172.18.0.2:30020"


def test_cluster_ip_url_is_a_port_forward_to_the_service() -> None:
    run = run_program("kind", {"serviceType": "ClusterIP", "nodePort": None})
    assert run.error is None
    spec = run.one(SERVICE).inputs["spec"]
    assert spec["type"] == "ClusterIP" and "nodePort" not in spec["ports"][0]
    assert f"port-forward service/web 8080:{int(spec['ports'][0]['port'])}" in run.outputs["url"].value


def test_load_balancer_url_is_the_address_the_service_reports() -> None:
    run = run_program("kind", {"serviceType": "LoadBalancer", "nodePort": None})
    assert run.error is None
    service = run.one(SERVICE)
    assert service.inputs["spec"]["type"] == "LoadBalancer" and "nodePort" not in service.inputs["spec"]["ports"][0]
    (ingress,) = service.state["status"]["loadBalancer"]["ingress"]
    assert run.outputs["url"].value == f"http://{ingress['ip']}"


def test_private_registry_credentials_are_secret() -> None:
    run = run_program("kind", {"registryServer": "ghcr.io/acme", "registryUser": "bot"}, {"registryToken": "ghp_x"})
    assert run.error is None
    image = run.one(IMAGE)
    assert image.inputs["registries"][0]["address"] == "ghcr.io"
    assert image.inputs["registries"][0]["username"] == "bot"
    assert any(p.startswith("registries") for p in image.secret_inputs)
    assert "ghp_x" not in repr(run.outputs)


def test_the_rollout_timeout_bounds_every_wait_of_the_workload() -> None:
    run = run_program("local-a", {"rolloutTimeout": "45s"})
    assert run.error is None, run.error
    for type_ in (DEPLOYMENT, SERVICE, POD):
        timeouts = run.one(type_).custom_timeouts
        assert (timeouts.get("create"), timeouts.get("update")) == ("45s", "45s"), type_
    assert run_program("local-a").one(DEPLOYMENT).custom_timeouts.get("create") == "10m"
