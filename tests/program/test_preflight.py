"""The preflight names missing local tools before a real deployment, and stays out of offline runs."""

from __future__ import annotations

import json
import shutil

import pulumi
import pytest

import stacks
from stacks import preflight
from stacks.config import parse
from tools.verify.mock_runner import run_program

CLOUD = {
    "eks": {"kubeport:region": "eu-west-1"},
    "aks": {"kubeport:region": "westeurope", "kubeport:subscription": "00000000-0000-0000-0000-000000000000"},
    "gke": {"kubeport:region": "europe-west1", "kubeport:project": "acme-kubeport"},
}


def settings_for(target: str) -> stacks.Settings:
    raw = {"kubeport:target": target, **CLOUD.get(target, {})}
    if target in CLOUD:
        raw["kubeport:allowedCidrs"] = '["203.0.113.0/24"]'
    if target == "existing":
        raw |= {"kubeport:kubeContext": "kind-x", "kubeport:registryServer": "localhost:5001"}
    return parse(raw)


@pytest.mark.parametrize(
    ("target", "tools"),
    [
        ("eks", ["aws", "docker"]),
        ("aks", ["az", "kubelogin", "docker"]),
        ("gke", ["gke-gcloud-auth-plugin", "docker"]),
        ("minikube", ["docker"]),
        ("existing", ["docker"]),
    ],
)
def test_each_missing_tool_is_named_with_an_install_hint(target: str, tools: list[str]) -> None:
    lines = preflight.missing_tools(settings_for(target), which=lambda _: None, environ={})
    assert [line.split("`")[1] for line in lines] == tools
    assert all("Install:" in line for line in lines)


def test_nothing_missing_when_everything_is_on_path() -> None:
    assert preflight.missing_tools(settings_for("aks"), which=lambda t: f"/usr/bin/{t}", environ={}) == []


def test_a_docker_host_is_enough_for_the_image_build() -> None:
    lines = preflight.missing_tools(settings_for("minikube"), which=lambda _: None, environ={"DOCKER_HOST": "tcp://x"})
    assert lines == []


def test_a_real_run_stops_before_any_resource_when_a_tool_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacks, "under_mocks", lambda: False)
    monkeypatch.setattr(shutil, "which", lambda _: None)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    run = run_program("eks")
    assert isinstance(run.error, pulumi.RunError)
    assert "`aws` not found" in str(run.error) and "`docker` not found" in str(run.error)
    assert run.resources == []


def test_offline_runs_skip_the_preflight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    assert run_program("gke").error is None


def test_minikube_names_each_add_on_the_features_need_and_how_to_enable_it() -> None:
    raw = {"kubeport:target": "minikube", "kubeport:autoscaling": "true", "kubeport:host": "shop.example.com"}
    settings = parse(raw)
    asked: list[list[str]] = []

    def minikube(args: list[str]) -> str:
        asked.append(args)
        return '{"ingress": {"Status": "enabled"}, "metrics-server": {"Status": "disabled"}}'

    lines = preflight.missing_addons(settings, minikube)
    assert asked == [["addons", "list", "--profile", "minikube", "--output", "json"]]
    (line,) = lines
    assert "`metrics-server` is not enabled" in line
    assert "run `minikube addons enable metrics-server --profile minikube`" in line
    assert preflight.missing_addons(parse({"kubeport:target": "minikube"}), minikube) == []


def test_a_prebuilt_image_needs_no_image_builder() -> None:
    settings = parse({"kubeport:target": "existing", "kubeport:kubeContext": "k", "kubeport:image": "ghcr.io/a/b:1"})
    assert preflight.missing_tools(settings, which=lambda _: None, environ={}) == []


def profiles(cni: str) -> str:
    """`minikube profile list --output json` with the profile `minikube` on the CNI `cni`."""
    config = {"Name": "minikube", "KubernetesConfig": {"ContainerRuntime": "docker", "CNI": cni}}
    return json.dumps({"invalid": [], "valid": [{"Name": "minikube", "Status": "Running", "Config": config}]})


@pytest.mark.parametrize(("cni", "warned"), [("", True), ("bridge", True), ("flannel", True), ("calico", False),
                                             ("cilium", False)])  # fmt: skip
def test_minikube_without_a_cni_that_enforces_network_policies_is_warned_about(cni: str, warned: bool) -> None:
    asked: list[list[str]] = []

    def minikube(args: list[str]) -> str:
        asked.append(args)
        return profiles(cni)

    warning = preflight.network_policy_warning(parse({"kubeport:target": "minikube"}), minikube)
    assert asked == [["profile", "list", "--output", "json"]]
    assert bool(warning) == warned
    if warned:
        assert "does not enforce NetworkPolicies" in warning and "--cni=calico" in warning
    assert preflight.network_policy_warning(parse({"kubeport:target": "minikube", "kubeport:kubeContext": "other"}),
                                            minikube) == ""  # fmt: skip
    existing = parse({"kubeport:target": "existing", "kubeport:kubeContext": "k", "kubeport:image": "ghcr.io/a/b:1"})
    assert preflight.network_policy_warning(existing, minikube) == ""


def test_the_preflight_warns_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warning, not a stop: the deployment is still useful, and the user is told what the rules do not do."""
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warned.append(message))
    settings = parse({"kubeport:target": "minikube"})
    preflight.check(settings, which=lambda tool: f"/usr/bin/{tool}", environ={}, minikube=lambda _: profiles(""))
    assert len(warned) == 1 and "--cni=calico" in warned[0]
    warned.clear()
    preflight.check(settings, which=lambda tool: f"/usr/bin/{tool}", environ={}, minikube=lambda _: profiles("calico"))
    assert warned == []
