"""Every stack file, and every app stack again with features on and with a private registry: the runs that
reach each kind of object kubeport can register (for checks that must not miss one)."""

from __future__ import annotations

from functools import cache

from stacks import declares
from stacks.application.parse import read_application
from tests.support.features import features_for
from tools.stack_files import (
    ROOT,
    app_stack_names,
    application_stack_names,
    cloud_application_stack_names,
    stack_config,
    stack_names,
)
from tools.verify.mock_runner import ProgramRun, run_program

PRIVATE_REGISTRY = {"registryServer": "registry.example.com:5443/team", "registryUser": "puller"}


def variants() -> list[tuple[str, str, dict[str, str | None], dict[str, str]]]:
    """(label, stack, overrides, secret overrides) for every stack and feature set worth registering."""
    found: list[tuple[str, str, dict[str, str | None], dict[str, str]]] = [
        (stack, stack, {}, {}) for stack in stack_names()
    ]
    for stack in app_stack_names():
        found.append((f"{stack}+features", stack, dict(features_for(stack)), {}))
        target = stack_config(stack)[0]["kubeport:target"]
        if target in ("existing", "stackref"):
            image = "registry.example.com:5443/team/kubeport-web:1.0.0"
            private = {**PRIVATE_REGISTRY, "image": image, "registry": None, "builder": None, "baseImage": None}
            found.append((f"{stack}+private", stack, private, {"registryToken": "t"}))
    return found


VARIANTS = variants()


@cache
def run_of(label: str) -> ProgramRun:
    _, stack, overrides, secrets = next(v for v in VARIANTS if v[0] == label)
    run = run_program(stack, overrides, secrets)
    assert run.error is None, f"{label}: {run.error}"
    return run


APPLICATIONS = [*application_stack_names(), *cloud_application_stack_names()]
"""Every stack that deploys an application of workload files (kubeport:application), locally and on each cloud."""


APPLICATIONS_WITH_DATABASES = [
    stack
    for stack in APPLICATIONS
    if declares(read_application(ROOT / stack_config(stack)[0]["kubeport:application"], ROOT), "postgres")
]
"""The application stacks whose files declare a `postgres` database."""


@cache
def application_run(stack: str) -> ProgramRun:
    """An application stack's run as its file has it, shared by every test that looks at one."""
    run = run_program(stack)
    assert run.error is None, f"{stack}: {run.error}"
    return run
