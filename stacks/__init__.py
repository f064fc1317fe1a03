"""The program's side of each target: `stacks.<target>` holds the target's own keys, its rules and its Platform.

`load_settings()` reads and validates the whole configuration (`stacks.config`, which asks the selected target
for its own rules), `load_application()` the workload files, `platform_for()` builds the selected target's
Platform. A cloud target's module imports its cloud SDK only inside `platform()`, so a stack loads only its own
cloud SDK (or none).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NoReturn

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

from components.platform import Platform
from stacks import preflight
from stacks.application.spec import Application, ScoreError
from stacks.config import CLOUD_TARGETS, NAMESPACE, ConfigError, Needs, Settings, parse
from stacks.config.target import target_module
from stacks.environment import keep_heap_until_exit, stop_quietly_when_interrupted, under_mocks

ROOT = Path(__file__).resolve().parent.parent
"""The repository: the Pulumi project (Pulumi.yaml, its stack files, the program) and its tooling. Defined here
only; the tooling and the tests import it."""

__all__ = [
    "ROOT",
    "Settings",
    "declares",
    "export_cluster",
    "keep_heap_until_exit",
    "load_application",
    "load_settings",
    "platform_for",
    "raw_config",
    "stop",
    "stop_quietly_when_interrupted",
    "under_mocks",
]

ERROR_ALREADY_SHOWN = 32
"""pulumi-language-python-exec's exit code for a program that stopped after showing its own error."""


def raw_config() -> dict[str, str]:
    """Every config value the engine handed this program, by full key."""
    values: dict[str, str] = {}
    for source in (get_config_env(), CONFIG.get()):
        values.update({str(k): str(v) for k, v in source.items()})
    return values


def load_settings() -> Settings:
    """Read and validate the `kubeport:*` configuration; stop the program with one clear message if it is bad."""
    raw = raw_config()
    secret_keys = {k for k in raw if k.startswith(f"{NAMESPACE}:") and is_config_secret(k)}
    try:
        settings = parse(raw, secret_keys)
    except ConfigError as err:
        stop(err)
    for notice in settings.notices:
        pulumi.log.warn(notice)
    return settings


def load_application(settings: Settings) -> Application | None:
    """The workload files of kubeport:application, checked for the target; None for the single web app. Bad files
    stop the program with one message naming each file and path, before any resource."""
    if not settings.application:
        return None
    from stacks.application import checks  # noqa: PLC0415

    try:
        return checks.load(settings)
    except ScoreError as err:
        stop(err)


def stop(err: ConfigError | ScoreError) -> NoReturn:
    """End the program with one message naming every bad key; nothing has been created at this point."""
    message = f"kubeport stack {pulumi.get_stack()!r}: {err.message()}"
    if under_mocks():
        raise pulumi.RunError(message) from None
    # Shown once, then the Python runner's exit code for "an error was already shown to the user": the
    # engine adds no second, generic "program exited with non-zero exit code" error (a RunError gets one).
    pulumi.log.error(message)
    raise SystemExit(ERROR_ALREADY_SHOWN) from None


def export_cluster(settings: Settings, platform: Platform) -> None:
    """A cluster stack's outputs for the app stacks that reference it (stacks.handoff)."""
    from stacks import handoff  # noqa: PLC0415
    from stacks.cloud import CLOUD_BUILD_PLATFORM  # noqa: PLC0415

    handoff.export_cluster(platform, CLOUD_BUILD_PLATFORM if settings.target in CLOUD_TARGETS else ())


def declares(application: Application | None, kind: str) -> bool:
    """Whether the application's workload files declare a resource of type `kind` (a `postgres`: the managed
    database's reason; a `volume`: the cloud's StorageClass's)."""
    return application is not None and any(w.resources_of(kind) for w in application.workloads)


def platform_for(settings: Settings, application: Application | None = None) -> Platform:
    """The Platform of the configured target, from its own module (imported only now).

    A cloud's managed database or cache, and whatever it needs on the cloud's side (AKS's virtual network, GKE's
    private services access), exist only when the application's files declare a `postgres` or `redis` resource:
    an application without one leaves the cluster exactly as a stack without an application has it.
    A real run (not under mocks) first checks that the target's local tools are installed.
    """
    if not under_mocks():
        preflight.check(settings)
    platform = target_module(settings.target).platform(
        settings,
        Needs(
            database=declares(application, "postgres"),
            volumes=declares(application, "volume"),
            cache=declares(application, "redis"),
            buckets=declares(application, "s3"),
        ),
    )
    if settings.rollout_timeout:
        platform = dataclasses.replace(platform, rollout_timeout=settings.rollout_timeout)
    return platform
