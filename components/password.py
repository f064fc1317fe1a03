"""GeneratedPassword: a random password made once, at create, and kept in the stack's state as a secret.

A Pulumi dynamic resource: the program's own Python makes it, so no provider plugin is needed, and it stays the
same on every later `up` until the resource is replaced (renamed, or `pulumi up --replace`).
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

PASSWORD_BYTES = 24
"""Random bytes behind each password: 32 URL-safe characters."""


class _PasswordProvider(ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "value": secrets.token_urlsafe(PASSWORD_BYTES)})


class GeneratedPassword(Resource, module="kubeport", name="GeneratedPassword"):
    """A generated password; `value` is secret."""

    value: pulumi.Output[str]
    """The password (secret in the state and in every output that carries it)."""

    def __init__(self, name: str, purpose: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            _PasswordProvider(),
            name,
            {"purpose": purpose, "value": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"])),
        )
