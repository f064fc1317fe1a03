"""Every ranged key, with its bounds taken from the key table (`Key.bounds`): accepted at each end, refused one step
beyond, naming the key. A key given bounds tomorrow is covered the day it is added; one that needs other keys set
to apply says so in CONTEXT (a ranged key without a context that makes it apply fails here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stacks.config import ConfigError, parse
from stacks.config.keys import Key, all_keys, full
from tools.stack_files import stack_config, stack_names

CONTEXT: dict[str, dict[str, str]] = {
    "minReplicas": {"autoscaling": "true", "maxReplicas": "1000000"},
    "maxReplicas": {"autoscaling": "true", "minReplicas": "1"},
    "cpuTarget": {"autoscaling": "true"},
    "scaleDownWindow": {"autoscaling": "true"},
    **{
        name: {"releaseStrategy": "canary", "host": "shop.example.test"}
        for name in ("canaryWindow", "canaryMaxErrorRate", "canaryMaxLatency")
    },
}
"""Keys that apply only beside others (the autoscaler's), with those others set so only the key's own range counts."""


def ranged() -> list[Key]:
    return [key for key in all_keys() if key.bounds is not None]


def base(key: Key) -> tuple[str, dict[str, str], set[str]]:
    """A stack file where the key applies: its target takes it, and a database key has an application."""
    for stack in stack_names():
        config, secrets = stack_config(stack)
        if config.get("kubeport:target") not in key.targets or config.get("kubeport:part") == "cluster":
            continue
        if key.name.startswith("database") and not config.get("kubeport:application"):
            continue
        if key.name in CONTEXT and config.get("kubeport:target") in ("eks", "aks", "gke"):
            continue  # a cloud keeps at least 2 pods: the autoscaler's own floor, not the key's
        config = {k: v for k, v in config.items() if k != full("replicas") or key.name not in CONTEXT}
        return stack, config, secrets
    raise AssertionError(f"no stack file where kubeport:{key.name} applies")


def text(key: Key, value: int) -> str:
    if key.kind == "string":  # a duration, its bounds in seconds
        return f"{value // 60}m" if value % 60 == 0 and value >= 60 else f"{value}s"
    return str(value)


def edges(key: Key) -> Iterator[tuple[str, int, bool]]:
    assert key.bounds is not None
    low, high = key.bounds
    yield "the lowest", low, True
    yield "one below the lowest", low - 1, False
    if high is not None:
        yield "the highest", high, True
        yield "one above the highest", high + 1, False


def about(key: Key, value: int) -> list[str]:
    _, config, secrets = base(key)
    values = {**config, **{full(k): v for k, v in CONTEXT.get(key.name, {}).items()}, full(key.name): text(key, value)}
    try:
        parse(values, secrets)
    except ConfigError as err:
        return [p for p in err.problems if f"kubeport:{key.name}" in p]
    return []


CASES = [(key.name, what, value, accepted) for key in ranged() for what, value, accepted in edges(key)]


def test_the_ranged_keys_are_the_documented_ones() -> None:
    assert {k.name for k in ranged()} >= {"replicas", "nodePort", "rolloutTimeout", "cpuTarget", "nodeCount"}


@pytest.mark.parametrize(("name", "what", "value", "accepted"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_a_ranged_key_is_accepted_at_each_end_and_refused_one_step_beyond(
    name: str, what: str, value: int, accepted: bool
) -> None:
    key = next(k for k in ranged() if k.name == name)
    found = about(key, value)
    if accepted:
        assert found == [], f"kubeport:{name} at {what} ({text(key, value)}): {found}"
    else:
        assert found, f"kubeport:{name} at {what} ({text(key, value)}) was accepted"


def test_each_ranged_keys_description_states_its_bounds() -> None:
    """The docs' key table is generated from the descriptions: a bound moved in the code and not in the words (or the
    other way) fails here."""
    for key in ranged():
        assert key.bounds is not None
        low, high = key.bounds
        forms = (
            [f">= {low}", f"{low}: "] if high is None else [f"{low}-{high}", f"{text(key, low)} to {text(key, high)}"]
        )
        assert any(form in key.description for form in forms), (key.name, forms, key.description)
