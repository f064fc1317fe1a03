"""What a target module (`stacks.<target>`) offers: the one place that knows that target.

A new target is a module with these names and an entry in `keys.Target`; `parse()`, the preflight, the key
table and the tooling find the rest here. Importing a target module loads no cloud SDK: a cloud target imports
its SDK inside `platform()`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

from stacks.config.keys import Key, RegistryKind
from stacks.config.reader import Reader
from stacks.config.settings import Needs, Settings

if TYPE_CHECKING:
    from components.platform import Platform


class TargetModule(Protocol):
    """The names every `stacks.<target>` module defines."""

    KEYS: tuple[Key, ...]
    """The keys only this target (or this kind of target) reads; they apply to it alone."""
    TOOLS: tuple[str, ...]
    """What a real run needs installed on the machine (stacks.preflight says how to install each)."""
    DEFAULT_REGISTRY: RegistryKind
    """Where the image goes when kubeport:registry is empty."""
    SDK: str
    """The cloud SDK package `platform()` imports; empty for none."""

    def check(self, r: Reader, settings: Settings) -> Settings:
        """Report the target's own problems to `r`; return `settings` with the target's own fields filled in."""

    def platform(self, settings: Settings, needs: Needs) -> Platform:
        """The target's Platform: provider, image destination, exposure, what the workload waits for; and what
        `needs` asks for besides (a cloud's managed database), nothing it does not."""


def target_module(target: str) -> TargetModule:
    """`stacks.<target>`, imported by name (only now)."""
    return cast(TargetModule, importlib.import_module(f"stacks.{target}"))


def cloud_sdks() -> dict[str, str]:
    """The cloud SDK package of each target that has one (eks: pulumi_aws, ...)."""
    from stacks.config.keys import TARGETS  # noqa: PLC0415 - beside the function that needs it

    return {t: target_module(t).SDK for t in TARGETS if target_module(t).SDK}
