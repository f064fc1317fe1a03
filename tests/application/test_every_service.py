"""Every service of every application stack gets what the web app gets, found from what the program registers (each
Deployment of the application, each pod template of its namespace), not from a list of services:

- each container its file builds (`image: .`) is built through the stack's builder (`kubeport:builder`) and, where
  the target pushes, runs by digest, the very image the build pushed;
- each pod names the namespace's pull Secret, where the nodes need one;
- each pod and container is hardened: non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp,
  a read-only root, no service account token, requests and limits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from stacks.application.parse import read_application
from tests.support.variants import APPLICATIONS, application_run
from tools.stack_files import ROOT
from tools.verify.mock_runner import ProgramRun, Registered, run_program

IMAGE = "docker-build:index:Image"
SECRET = "kubernetes:core/v1:Secret"
POD_TEMPLATES = ("Deployment", "StatefulSet", "Job")
LIBRARY = {"application": "tests/apps/library", "namespace": "library"}
CREDENTIALS = ({"registryUser": "puller"}, {"registryToken": "t"})
"""A registry that wants a login (set per start of the registry, so not in the local stack files): a pull Secret."""


def with_credentials(stack: str, overrides: Mapping[str, str | None] | None = None) -> ProgramRun:
    run = run_program(stack, {**(overrides or {}), **CREDENTIALS[0]}, CREDENTIALS[1])
    assert run.error is None, run.error
    return run


RUNS = {stack: (lambda s=stack: application_run(s)) for stack in APPLICATIONS} | {
    "walkthrough+pull-secret": lambda: with_credentials("walkthrough"),
    "library+pull-secret": lambda: with_credentials("walkthrough", LIBRARY),
}


def templates(run: ProgramRun) -> Iterator[tuple[Registered, dict[str, Any]]]:
    for resource in run.kubernetes_objects():
        if resource.type.rsplit(":", 1)[-1] in POD_TEMPLATES:
            yield resource, resource.inputs["spec"]["template"]["spec"]


def build_problems(run: ProgramRun) -> list[str]:
    application = read_application(ROOT / run.config["kubeport:application"], ROOT)
    builder = run.config.get("kubeport:builder", "")
    images = {r.name.removesuffix("-image-image"): r for r in run.of_type(IMAGE)}
    deployments = {r.inputs["metadata"]["name"]: r for r in owners(run)}
    found = []
    for workload in application.workloads:
        built = [c for c in workload.containers if c.image == "."]
        if not built:
            continue
        image = images.get(workload.name)
        if image is None:
            found.append(f"{workload.name}: its file builds an image, and nothing builds it")
            continue
        if (image.inputs.get("builder") or {}).get("name", "") != builder:
            found.append(
                f"{workload.name}: built with {image.inputs.get('builder')}, not the stack's builder {builder!r}"
            )
        pod = deployments[workload.name].inputs["spec"]["template"]["spec"]
        running = {c["name"]: c["image"] for c in pod["containers"]}
        for container in built:
            expected = image.state.get("ref") or image.inputs["tags"][0]
            if running.get(container.name) != expected:
                found.append(
                    f"{workload.name}/{container.name}: runs {running.get(container.name)!r}, not {expected!r}"
                )
            elif image.inputs.get("push") and "@sha256:" not in expected:
                found.append(f"{workload.name}/{container.name}: pushed, but not run by digest")
    return found


def owners(run: ProgramRun) -> list[Registered]:
    """What runs each workload's pods: its Deployment, or the StatefulSet of one that mounts a volume."""
    return [*templates_of(run, "Deployment"), *templates_of(run, "StatefulSet")]


def templates_of(run: ProgramRun, kind: str) -> list[Registered]:
    return [r for r, _ in templates(run) if r.type.endswith(f":{kind}")]


def pull_problems(run: ProgramRun) -> list[str]:
    pull = [
        s.inputs["metadata"]["name"]
        for s in run.of_type(SECRET)
        if s.inputs.get("type") == "kubernetes.io/dockerconfigjson"
    ]
    found = []
    for resource, spec in templates(run):
        named = {ref["name"] for ref in spec.get("imagePullSecrets") or []}
        if set(pull) - named:
            found.append(f"{resource.inputs['metadata']['name']}: does not name the pull Secret {pull}")
    return found


def hardening_problems(run: ProgramRun) -> list[str]:
    found = []
    for resource, spec in templates(run):
        name = resource.inputs["metadata"]["name"]
        pod = spec.get("securityContext") or {}
        if spec.get("automountServiceAccountToken") is not False:
            found.append(f"{name}: mounts a service account token")
        for container in spec["containers"]:
            context = container.get("securityContext") or {}
            where = f"{name}/{container['name']}"
            if not (context.get("runAsNonRoot") or pod.get("runAsNonRoot")):
                found.append(f"{where}: may run as root")
            if (
                context.get("allowPrivilegeEscalation") is not False
                or context.get("readOnlyRootFilesystem") is not True
            ):
                found.append(f"{where}: may escalate privileges or write its root filesystem")
            if (context.get("capabilities") or {}).get("drop") != ["ALL"]:
                found.append(f"{where}: keeps capabilities")
            seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                found.append(f"{where}: seccomp {seccomp!r}")
            limits = container.get("resources") or {}
            if not {"cpu", "memory"} <= set(limits.get("requests") or {}) or not {"cpu", "memory"} <= set(
                limits.get("limits") or {}
            ):
                found.append(f"{where}: without cpu and memory requests and limits")
    return found


@pytest.mark.parametrize("stack", list(RUNS))
def test_every_service_is_built_pulled_and_hardened_as_the_web_app_is(stack: str) -> None:
    run = RUNS[stack]()
    workloads = read_application(ROOT / run.config["kubeport:application"], ROOT).workloads
    assert {w.name for w in workloads} <= {r.inputs["metadata"]["name"] for r in owners(run)}
    if stack.endswith("+pull-secret"):
        assert any(s.inputs.get("type") == "kubernetes.io/dockerconfigjson" for s in run.of_type(SECRET))
    assert build_problems(run) + pull_problems(run) + hardening_problems(run) == []


def test_the_checks_see_a_service_built_elsewhere_a_missing_pull_secret_and_a_writable_root() -> None:
    import copy

    run = copy.deepcopy(RUNS["walkthrough+pull-secret"]())
    images = {r.name: r for r in run.of_type(IMAGE)}
    images["payments-image-image"].inputs["builder"] = None
    (login,) = [r for r in templates_of(run, "Deployment") if r.inputs["metadata"]["name"] == "login"]
    spec = login.inputs["spec"]["template"]["spec"]
    spec["imagePullSecrets"] = None
    spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    found = build_problems(run) + pull_problems(run) + hardening_problems(run)
    assert any(p.startswith("payments: built with None, not the stack's builder 'kubeport-local'") for p in found)
    assert any(p.startswith("login: does not name the pull Secret") for p in found)
    assert any(p.startswith("login/main: may escalate privileges or write its root filesystem") for p in found)
