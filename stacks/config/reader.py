"""Reading raw config strings into typed values, collecting every problem instead of stopping at the first."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import cast

from stacks.config.keys import Key, full
from stacks.config.settings import SecretValue

DURATION = re.compile(r"^([1-9][0-9]*)(s|m)$")
"""A duration as Pulumi's custom timeouts take it: seconds or minutes."""


class Reader:
    """Converts the raw strings Pulumi hands the program; every conversion returns a usable fallback and records
    what was wrong, so one run reports every bad key at once."""

    def __init__(self, raw: Mapping[str, str], secret_keys: set[str], keys: Mapping[str, Key]) -> None:
        self.raw = raw
        """Bare key name -> raw string, kubeport keys only."""
        self.secret_keys = secret_keys
        """Full names of the values that were stored encrypted."""
        self.keys = keys
        self.problems: list[str] = []

    def problem(self, name: str, text: str) -> None:
        self.problems.append(f"{full(name)}: {text}")

    def is_set(self, name: str) -> bool:
        """True when the key holds a value other than its declared default."""
        key = self.keys[name]
        if name not in self.raw:
            return False
        value = self.raw[name]
        if key.kind == "string":
            return value != (key.default or "")
        if key.kind == "array":
            try:
                return bool(json.loads(value) != key.default)
            except ValueError:
                return True
        return value.strip().lower() != str(key.default).lower()

    def string(self, name: str) -> str:
        key = self.keys[name]
        value = self.raw.get(name)
        if value is None:
            return "" if key.default is None else str(key.default)
        return value.strip()

    def integer(self, name: str) -> int:
        """The key's integer, within the key's `bounds`."""
        key = self.keys[name]
        default = cast(int, key.default)
        low, high = key.bounds or (-(2**63), None)
        text = self.raw.get(name)
        if text is None:
            return default
        accepted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
        try:
            value = int(text.strip(), 10)
        except ValueError:
            self.problem(name, f"{text!r} is not accepted; expected {accepted}")
            return default
        if value < low or (high is not None and value > high):
            self.problem(name, f"{value} is out of range; expected {accepted}")
            return default
        return value

    def duration(self, name: str) -> str:
        """A duration (<n>s or <n>m, as custom timeouts take it) within the key's `bounds` in seconds; empty: unset."""
        text = self.string(name)
        if not text:
            return ""
        match = DURATION.match(text)
        low, high = self.keys[name].bounds or (1, None)
        seconds = int(match.group(1)) * (60 if match.group(2) == "m" else 1) if match else 0
        if not match or seconds < low or (high is not None and seconds > high):
            accepted = f"{low}s to {high // 60}m" if high else f"at least {low}s"
            self.problem(name, f"{text!r} is not accepted; expected {accepted}, as <n>s or <n>m (e.g. 90s, 10m)")
            return ""
        return text

    def boolean(self, name: str) -> bool:
        default = bool(self.keys[name].default)
        text = self.raw.get(name)
        if text is None:
            return default
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        self.problem(name, f"{text!r} is not accepted; expected true or false")
        return default

    def strings(self, name: str) -> tuple[str, ...]:
        """An array of strings; Pulumi hands structured values to the program as JSON."""
        text = self.raw.get(name)
        if text is None or not text.strip():
            return ()
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(name, f'{text!r} is not accepted; expected a list of strings, e.g. ["a", "b"]')
            return ()
        return tuple(v.strip() for v in value)

    def choice(self, name: str, allowed: Sequence[str]) -> str | None:
        value = self.string(name)
        if not value:
            return None
        if value not in allowed:
            self.problem(name, f"{value!r} is not accepted; expected one of: {' | '.join(allowed)}")
            return None
        return value

    def secret(self, name: str) -> SecretValue | None:
        value = self.string(name)
        if not value:
            return None
        if full(name) not in self.secret_keys:
            self.problem(
                name,
                "is stored in plain text; set it with `pulumi config set --secret "
                f"{full(name)} <value>` so it is encrypted",
            )
        return SecretValue(value)
