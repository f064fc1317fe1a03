"""The config model on its own: pure, no Pulumi runtime."""

from __future__ import annotations

import dataclasses

import pulumi
import pytest
import yaml

import stacks
from stacks.config import ConfigError, Settings, all_keys, parse
from tests.support.features import DISABLED_DEFAULT_PROVIDERS
from tools.stack_files import ROOT

DIGEST = "sha256:" + "0123456789abcdef" * 4


def settings(**values: str) -> Settings:
    secret = {"kubeport:dockerhubToken", "kubeport:registryToken", "kubeport:registryPullToken"}
    return parse({f"kubeport:{k}": v for k, v in values.items()}, secret)


def problems(**values: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        settings(**values)
    return err.value.problems


def test_defaults_for_minikube() -> None:
    s = settings(target="minikube")
    assert (s.replicas, s.namespace, s.node_port, s.registry, s.smoke_check) == (2, "kubeport", 30020, "local", True)
    assert s.service_type is None


def test_registry_default_follows_the_target() -> None:
    assert settings(target="existing", kubeContext="kind-x", registryServer="localhost:5001").registry == "server"


def test_keys_of_other_namespaces_are_ignored() -> None:
    s = parse({"kubeport:target": "minikube", "aws:region": "eu-west-1", "pulumi:disable-default-providers": '["*"]'})
    assert s.target == "minikube"


@pytest.mark.parametrize(
    ("values", "key", "says"),
    [
        ({}, "kubeport:target", "is required"),
        ({"target": "ecs"}, "kubeport:target", "minikube | existing | eks | aks | gke"),
        ({"target": "minikube", "replicas": "two"}, "kubeport:replicas", "expected an integer >= 1"),
        ({"target": "minikube", "replicas": "0"}, "kubeport:replicas", "expected an integer >= 1"),
        ({"target": "minikube", "replicas": "1.5"}, "kubeport:replicas", "expected an integer"),
        ({"target": "minikube", "nodePort": "8080"}, "kubeport:nodePort", "from 30000 to 32767"),
        ({"target": "minikube", "nodePort": "32768"}, "kubeport:nodePort", "from 30000 to 32767"),
        ({"target": "minikube", "namespace": "My_App"}, "kubeport:namespace", "DNS-1123"),
        ({"target": "minikube", "namespace": "a" * 64}, "kubeport:namespace", "DNS-1123"),
        ({"target": "minikube", "namespace": "kube-system"}, "kubeport:namespace", "system namespace"),
        ({"target": "minikube", "namespace": "default"}, "kubeport:namespace", "system namespace"),
        ({"target": "minikube", "registry": "quay"}, "kubeport:registry", "local | native | dockerhub | server"),
        ({"target": "minikube", "registry": "native"}, "kubeport:registry", "has none"),
        ({"target": "existing", "kubeContext": "k", "registry": "local"}, "kubeport:registry", "needs target minikube"),
        ({"target": "minikube", "registry": "dockerhub", "dockerhubToken": "t"}, "kubeport:dockerhubUser", "required"),
        ({"target": "minikube", "registry": "dockerhub", "dockerhubUser": "deepak"}, "kubeport:dockerhubToken", "req"),
        ({"target": "minikube", "smokeCheck": "yes"}, "kubeport:smokeCheck", "true or false"),
        ({"target": "minikube", "serviceType": "NodePort"}, "kubeport:serviceType", "does not apply"),
        ({"target": "existing", "registryServer": "localhost:5001"}, "kubeport:kubeContext", "required"),
        ({"target": "existing", "kubeContext": "k"}, "kubeport:registryServer", "required"),
        ({"target": "existing", "kubeContext": "k", "registryServer": "no spaces"}, "kubeport:registryServer", "host"),
        ({"target": "minikube", "buildPlatform": "windows/amd64"}, "kubeport:buildPlatform", "linux/amd64"),
        ({"target": "minikube", "registryUser": "bob"}, "kubeport:registryUser", "only applies"),
        ({"target": "minikube", "baseImage": "mirror.example/nginx-unprivileged:1.29"}, "kubeport:baseImage", "pinned"),
        ({"target": "minikube", "baseImage": "Mirror/Nginx@sha256:abc"}, "kubeport:baseImage", "not an image"),
        ({"target": "minikube", "baseImage": f"m.example/n:latest@{DIGEST}"}, "kubeport:baseImage", "latest"),
        ({"target": "minikube", "builder": "no spaces"}, "kubeport:builder", "builder name"),
        ({"target": "minikube", "rolloutTimeout": "10"}, "kubeport:rolloutTimeout", "30s to 60m"),
        ({"target": "minikube", "rolloutTimeout": "5s"}, "kubeport:rolloutTimeout", "30s to 60m"),
        ({"target": "minikube", "rolloutTimeout": "2h"}, "kubeport:rolloutTimeout", "30s to 60m"),
    ],
)
def test_each_bad_value_is_named_with_what_is_accepted(values: dict[str, str], key: str, says: str) -> None:
    found = problems(**values)
    assert len(found) == 1, found
    assert found[0].startswith(key) and says in found[0], found[0]


def test_cloud_targets_need_their_cloud_settings() -> None:
    found = problems(target="aks")
    assert [p.split(":")[1] for p in found] == ["region", "allowedCidrs", "subscription"]


def test_misspelt_key_gets_a_did_you_mean() -> None:
    (problem,) = problems(target="minikube", replica="3")
    assert problem == "kubeport:replica is not a known key; did you mean kubeport:replicas?"
    (problem,) = problems(target="minikube", nodeport="30021")
    assert "did you mean kubeport:nodePort?" in problem


def test_unrelated_unknown_key_lists_the_known_ones() -> None:
    (problem,) = problems(target="minikube", colour="blue")
    assert "known keys: target, part, ingressController, replicas" in problem and "clusterStack" in problem


def test_every_problem_is_reported_at_once() -> None:
    found = problems(target="minikube", replicas="-1", nodePort="1", namespace="Nope")
    assert [p.split(":")[1] for p in found] == ["replicas", "nodePort", "namespace"]


def test_tokens_in_plain_text_are_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse(
            {
                "kubeport:target": "minikube",
                "kubeport:registry": "dockerhub",
                "kubeport:dockerhubUser": "deepak",
                "kubeport:dockerhubToken": "plain",
            }
        )
    (problem,) = err.value.problems
    assert "kubeport:dockerhubToken" in problem and "--secret" in problem


def test_secret_values_never_show_in_repr() -> None:
    s = settings(target="minikube", registry="dockerhub", dockerhubUser="deepak", dockerhubToken="hunter2")
    assert "hunter2" not in repr(s)


def test_registry_user_and_token_go_together() -> None:
    found = problems(target="existing", kubeContext="k", registryServer="ghcr.io/acme", registryUser="bot")
    assert "go together" in found[0]


def test_message_tells_how_to_fix() -> None:
    with pytest.raises(ConfigError) as err:
        settings(target="minikube", replicas="0")
    text = err.value.message()
    assert "nothing was created" in text and "pulumi config set kubeport:<key>" in text


def test_pulumi_yaml_declares_exactly_the_model_keys() -> None:
    """The CLI reads Pulumi.yaml, the program reads the key table: the two agree on names, types and defaults."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    own = {k: v for k, v in declared.items() if ":" not in k}
    assert set(own) == {k.name for k in all_keys()}
    for key in all_keys():
        decl = own[key.name]
        assert decl["type"] == key.kind, key.name
        assert decl["description"] == key.description, key.name
        assert decl.get("default") == key.default, key.name
    assert declared["pulumi:disable-default-providers"] == DISABLED_DEFAULT_PROVIDERS


CLOUD = {"region": "eu-west-1", "allowedCidrs": '["203.0.113.0/24"]'}


@pytest.mark.parametrize(
    "image",
    ["ghcr.io/acme/kubeport-web:1.4.0", "localhost:5001/kubeport-web:0123456789abcdef", f"acme/web@{DIGEST}"],
)
def test_a_prebuilt_image_replaces_the_build_on_local_targets(image: str) -> None:
    s = settings(target="existing", kubeContext="kind-x", image=image)
    assert s.image == image
    # Nothing is pushed, so no registry is needed.
    assert s.registry_server == ""


@pytest.mark.parametrize(
    ("target", "image", "says"),
    [
        ("existing", "ghcr.io/acme/web:latest", "latest"),
        ("existing", "ghcr.io/acme/web", "neither tag nor digest"),
        ("existing", "ghcr.io/Acme/Web:1", "not an image reference"),
        ("existing", "ghcr.io/acme/web:-1", "not an image reference"),
        ("existing", "ghcr.io/acme/web@sha256:abc", "not an image reference"),
        ("eks", "ghcr.io/acme/web:1.4.0", "cloud targets deploy by digest"),
        ("gke", "ghcr.io/acme/web:latest", "latest"),
    ],
)
def test_a_prebuilt_image_is_pinned(target: str, image: str, says: str) -> None:
    extra = {"kubeContext": "kind-x"} if target == "existing" else {**CLOUD, "project": "acme-prod"}
    if target == "eks":
        extra.pop("project")
    found = [p for p in problems(target=target, image=image, **extra) if p.startswith("kubeport:image")]
    assert found and says in found[0], found


def test_a_cloud_target_takes_a_prebuilt_image_by_digest() -> None:
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.0@{DIGEST}"
    assert settings(target="eks", image=image, **CLOUD).image == image


@pytest.mark.parametrize("key", ["registry", "buildPlatform", "dockerhubUser", "baseImage", "builder"])
def test_build_keys_do_not_apply_to_a_prebuilt_image(key: str) -> None:
    value = {
        "registryServer": "ghcr.io/acme",
        "registry": "server",
        "buildPlatform": "linux/amd64",
        "baseImage": f"mirror.example/nginx-unprivileged:1.29.3@{DIGEST}",
    }.get(key, "acme")
    found = problems(target="existing", kubeContext="k", image="ghcr.io/acme/web:1", **{key: value})
    assert any(p.startswith(f"kubeport:{key}:") and "kubeport:image" in p for p in found), found


def test_a_prebuilt_image_takes_pull_credentials_for_its_own_registry() -> None:
    s = parse(
        {
            "kubeport:target": "existing",
            "kubeport:kubeContext": "k",
            "kubeport:image": "registry.example.com/acme/web:1.4.0",
            "kubeport:registryServer": "registry.example.com",
            "kubeport:registryUser": "puller",
            "kubeport:registryToken": "t",
        },
        {"kubeport:registryToken"},
    )
    assert (s.registry_server, s.registry_user) == ("registry.example.com", "puller")
    assert s.registry_token is not None


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"registryServer": "registry.example.com"}, "kubeport:registryUser"),
        ({"registryServer": "ghcr.io", "registryUser": "u", "registryToken": "t"}, "kubeport:registryServer"),
    ],
)
def test_pull_credentials_are_whole_and_for_the_images_registry(values: dict[str, str], key: str) -> None:
    found = problems(target="existing", kubeContext="k", image="registry.example.com/acme/web:1", **values)
    assert any(p.startswith(key) for p in found), found


def test_a_cluster_stack_refuses_the_apps_keys() -> None:
    found = problems(target="existing", kubeContext="k", part="cluster", replicas="3", host="shop.example.com")
    assert {p.split(":")[1] for p in found} == {"replicas", "host"}
    assert all("belongs to an app stack" in p for p in found)


def test_an_app_stack_needs_its_cluster_stack_and_refuses_the_clusters_keys() -> None:
    assert "required with target stackref" in problems(target="stackref", image="ghcr.io/a/b:1")[0]
    found = problems(
        target="stackref",
        clusterStack="org/kubeport/eks-cluster",
        image="ghcr.io/a/b:1",
        kubeContext="k",
        region="eu-west-1",
    )
    assert {p.split(":")[1] for p in found} == {"kubeContext", "region"}
    read = settings(target="stackref", clusterStack="organization/kubeport/cluster-a", image="ghcr.io/a/b:1")
    assert read.part == "all"


def test_the_old_target_name_app_is_read_as_stackref_with_a_warning_that_names_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = {"target": "app", "clusterStack": "organization/kubeport/cluster-a", "image": "ghcr.io/a/b:1"}
    read = settings(**old)
    assert read.target == "stackref"
    assert read == dataclasses.replace(settings(**{**old, "target": "stackref"}), notices=read.notices)
    (notice,) = read.notices
    assert "'app' is now called 'stackref'" in notice and "kubeport:target: stackref" in notice
    assert settings(**{**old, "target": "stackref"}).notices == ()
    # The program says it on every run, as a warning (a run with the new name says nothing).
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", warned.append)
    monkeypatch.setattr(stacks, "raw_config", lambda: {f"kubeport:{k}": v for k, v in old.items()})
    assert stacks.load_settings().target == "stackref"
    assert warned == [notice]


def test_an_ingress_controller_is_a_cluster_stack_setting() -> None:
    (problem,) = problems(target="eks", ingressController="true", region="eu-west-1", allowedCidrs='["10.0.0.0/8"]')
    assert problem.startswith("kubeport:ingressController") and "kubeport:host" in problem


PUSHES_TO_A_SERVER = {"target": "existing", "kubeContext": "k", "registryServer": "ghcr.io/acme",
                      "registryUser": "pusher", "registryToken": "push-token"}  # fmt: skip


def test_a_pull_only_login_is_taken_for_an_image_kubeport_pushes_with_a_login() -> None:
    s = settings(**PUSHES_TO_A_SERVER, registryPullUser="reader", registryPullToken="read-token")
    assert s.registry_pull_user == "reader" and s.registry_pull_token is not None
    assert s.registry_pull_token.value == "read-token" and "read-token" not in repr(s)
    hub = settings(target="minikube", registry="dockerhub", dockerhubUser="acme", dockerhubToken="t",
                   registryPullUser="reader", registryPullToken="r")  # fmt: skip
    assert hub.registry_pull_user == "reader"
    # A prebuilt image pulled with a login: the pull-only login replaces it, so a stack that goes back to a
    # release by kubeport:image keeps the pull login it built with.
    prebuilt = settings(**{**PUSHES_TO_A_SERVER, "registryServer": "ghcr.io"}, image=f"ghcr.io/acme/web@{DIGEST}",
                        registryPullUser="reader", registryPullToken="r")  # fmt: skip
    assert prebuilt.registry_pull_user == "reader"


@pytest.mark.parametrize(
    ("values", "key", "says"),
    [
        ({**PUSHES_TO_A_SERVER, "registryPullUser": "reader"}, "registryPullToken", "go together"),
        ({**PUSHES_TO_A_SERVER, "registryPullToken": "r"}, "registryPullUser", "go together"),
        ({**PUSHES_TO_A_SERVER, "registryPullUser": "pusher", "registryPullToken": "r"}, "registryPullUser",
         "is the stack's own login"),
        # No login to keep from the pods: an anonymous registry, minikube's own Docker, a cloud's registry.
        ({"target": "existing", "kubeContext": "k", "registryServer": "ghcr.io/acme", "registryPullUser": "reader",
          "registryPullToken": "r"}, "registryPullUser", "only applies where the pods' pull Secret would hold a login"),
        ({"target": "minikube", "registryPullUser": "reader", "registryPullToken": "r"}, "registryPullUser",
         "only applies"),
        # A public prebuilt image: no login at all.
        ({"target": "minikube", "image": f"ghcr.io/acme/web@{DIGEST}", "registryPullUser": "reader",
          "registryPullToken": "r"}, "registryPullToken", "only applies"),
    ],
)  # fmt: skip
def test_a_pull_only_login_is_refused_where_it_keeps_nothing_from_the_pods(
    values: dict[str, str], key: str, says: str
) -> None:
    found = [p for p in problems(**values) if f"kubeport:{key}" in p]
    assert found and says in found[0], problems(**values)


def test_a_cluster_stack_refuses_a_pull_only_login() -> None:
    found = problems(target="eks", part="cluster", registryPullUser="reader")
    assert any("kubeport:registryPullUser" in p and "cluster stack" in p for p in found), found
