"""Target minikube (the real Pulumi.dev.yaml): the seed's walkthrough, under mocks."""

from __future__ import annotations

from stacks import minikube
from stacks.config import parse
from tests.support.workload import IMAGE, K8S_PROVIDER, SERVICE, web_container
from tools.verify.mock_runner import ProgramRun, run_program


def test_provider_targets_the_minikube_context(dev: ProgramRun) -> None:
    provider = dev.one(K8S_PROVIDER).inputs
    assert provider["context"] == "minikube"
    assert provider["clusterIdentifier"] == "minikube/minikube"
    assert "kubeconfig" not in provider


def test_service_is_nodeport_30020_as_in_the_seed(dev: ProgramRun) -> None:
    spec = dev.one(SERVICE).inputs["spec"]
    assert spec["type"] == "NodePort"
    assert spec["ports"][0]["nodePort"] == 30020


def test_image_is_built_into_minikubes_docker_not_pushed(dev: ProgramRun) -> None:
    image = dev.one(IMAGE).inputs
    assert image["push"] is False and image["load"] is True
    assert "registries" not in image
    assert image["tags"][0].startswith("kubeport/web:")
    assert web_container(dev)["image"] == image["tags"][0]
    assert web_container(dev)["imagePullPolicy"] == "IfNotPresent"


def test_image_build_context_is_the_app_directory(dev: ProgramRun) -> None:
    image = dev.one(IMAGE).inputs
    assert image["context"]["location"].endswith("/app")
    assert image["dockerfile"]["location"].endswith("/app/Dockerfile")
    assert image["buildOnPreview"] is False


def test_url_without_a_running_minikube_is_the_command_that_prints_it(dev: ProgramRun) -> None:
    assert dev.outputs["url"].value == "minikube service --profile minikube --namespace kubeport web --url"


def test_url_with_a_known_node_ip() -> None:
    settings = parse({"kubeport:target": "minikube"})
    exposure = minikube.exposure(settings, "192.168.49.2")
    assert (exposure.service_type, exposure.node_port, exposure.node_address) == ("NodePort", 30020, "192.168.49.2")


def test_another_profile_and_port() -> None:
    run = run_program("dev", {"kubeContext": "laptop", "nodePort": "30999"})
    assert run.error is None
    assert run.one(K8S_PROVIDER).inputs["context"] == "laptop"
    assert run.one(SERVICE).inputs["spec"]["ports"][0]["nodePort"] == 30999
    assert "--profile laptop" in run.outputs["url"].value


def test_dockerhub_registry_pushes_and_deploys_by_digest() -> None:
    run = run_program("dev", {"registry": "dockerhub", "dockerhubUser": "deepak"}, {"dockerhubToken": "tok"})
    assert run.error is None
    image = run.one(IMAGE)
    assert image.inputs["push"] is True
    assert image.inputs["tags"][0].startswith("docker.io/deepak/kubeport-web:")
    assert image.inputs["registries"][0]["address"] == "docker.io"
    assert any(p.startswith("registries") for p in image.secret_inputs), "the token must travel as a secret"
    assert "@sha256:" in web_container(run)["image"]


def test_a_base_image_and_a_builder_reach_the_build_and_the_tag() -> None:
    mirror = "mirror.example.com/nginxinc/nginx-unprivileged:1.29.3-alpine@sha256:" + "a" * 64
    plain = run_program("dev").one(IMAGE).inputs
    built = run_program("dev", {"baseImage": mirror, "builder": "remote-buildkit"}).one(IMAGE).inputs
    assert built["buildArgs"] == {"BASE_IMAGE": mirror} and "buildArgs" not in plain
    assert built["builder"] == {"name": "remote-buildkit"} and "builder" not in plain
    # Another base is another image: its tag (the content hash) changes with it.
    assert built["tags"] != plain["tags"] and built["tags"][0].split(":")[0] == plain["tags"][0].split(":")[0]
