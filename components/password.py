"""GeneratedPassword: a random password made once, at create, and kept in the stack's state as a secret.

A Pulumi dynamic resource: the program's own Python makes it, so no provider plugin is needed, and it stays the
same on every later `up` until the resource is replaced (renamed, or `pulumi up --replace`).
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

PASSWORD_BYTES = 24
"""Random bytes behind each password: 32 URL-safe characters."""


class PasswordProvider(ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "value": secrets.token_urlsafe(PASSWORD_BYTES)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only a new purpose makes a new password. The serialized provider itself (its code) may change between
        # releases of this file; that must never touch the password a database already holds.
        changed = olds.get("purpose") != news.get("purpose")
        return DiffResult(changes=changed, replaces=["purpose"] if changed else [], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Reached only when the provider's own code changed: keep the password.
        return UpdateResult(outs={**news, "value": olds["value"]})


class GeneratedPassword(Resource, module="kubeport", name="GeneratedPassword"):
    """A generated password; `value` is secret."""

    value: pulumi.Output[str]
    """The password (secret in the state and in every output that carries it)."""

    def __init__(self, name: str, purpose: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            PasswordProvider(),
            name,
            {"purpose": purpose, "value": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"])),
        )
