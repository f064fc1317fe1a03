"""No credential sits in Pulumi's state in plain text, on any stack variant or application stack. Two rules, found
from the registrations themselves, not from a list of resources:

- by name: a value under a name that says credential (a password, a token, a private key, a kubeconfig, a registry
  auth file, a secret string) is secret: a secret input, an output the resource keeps secret, a secret stack output;
- by value: a value that is secret anywhere in the run (a generated password in a Secret, say) is secret
  everywhere it appears, so a generated password whose own resource stopped keeping it secret is caught where it
  is made.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.variants import APPLICATIONS, VARIANTS, application_run, run_of
from tools.verify.mock_runner import ProgramRun

CREDENTIAL = re.compile(
    r"(password|token|privatekey|kubeconfig|secretstring|\.dockerconfigjson|tls\.key|registrytoken)$", re.IGNORECASE
)
"""The last part of a property path that names a credential (not `passwordAuth` or `httpTokens`: settings)."""
SHORTEST = 12
"""Secret values shorter than this are not looked for inside other values (they could occur by chance)."""


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from leaves(inner, f"{path}[{i}]")
    else:
        yield path, value


def under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def places(run: ProgramRun) -> Iterator[tuple[str, str, Any, bool]]:
    """(where, path, value, secret) for every value the state and the stack outputs hold."""
    for r in run.resources:
        where = f"{r.type} {r.name}"
        for path, value in leaves(r.inputs):
            yield where, path, value, under(path, r.secret_inputs)
        for key, value in r.state.items():
            if key not in r.inputs:  # an output of the resource's own
                for path, inner in leaves(value, key):
                    yield where, path, inner, under(path, [*r.additional_secret_outputs, *r.secret_inputs])
    for name, output in run.outputs.items():
        for path, value in leaves(output.value, name):
            yield "stack output", path, value, output.secret


def plain_credentials(run: ProgramRun) -> list[str]:
    found = [(where, path, value, secret, is_credential(path)) for where, path, value, secret in places(run)]
    # The credentials themselves: secret values under a credential's name, and outputs a resource keeps secret of its
    # own (a generated password's `value`), not every value of a secret object (a registry's address in its auth).
    secret_values = {
        v
        for where, path, v, secret, named in found
        if secret and isinstance(v, str) and v and (named or "." not in path) and where != "stack output"
    }
    problems = []
    for where, path, value, secret, named in found:
        if secret or not isinstance(value, str) or not value:
            continue
        if named:
            problems.append(f"{where}: {path} is a credential by its name, in plain text")
        elif value in secret_values or any(len(s) >= SHORTEST and s in value for s in secret_values):
            problems.append(f"{where}: {path} holds a secret value in plain text")
    return problems


def is_credential(path: str) -> bool:
    """Whether the path's last name (`stringData.tls.key` and `.dockerconfigjson` are one name each) says credential."""
    for whole in ("tls.key", ".dockerconfigjson"):
        if path.endswith(whole):
            return True
    return bool(CREDENTIAL.search(re.split(r"[.\[\]]", path.rstrip("]"))[-1]))


@pytest.mark.parametrize("label", [v[0] for v in VARIANTS])
def test_no_credential_is_plain_text_in_any_stack_variant(label: str) -> None:
    assert plain_credentials(run_of(label)) == []


@pytest.mark.parametrize("stack", APPLICATIONS)
def test_no_credential_is_plain_text_in_any_application_stack(stack: str) -> None:
    assert plain_credentials(application_run(stack)) == []


def test_a_generated_password_that_lost_its_secrecy_is_caught_where_it_is_made() -> None:
    import copy

    run = copy.deepcopy(application_run("walkthrough"))
    (password,) = [r for r in run.resources if r.name == "payments-db-app-password"]
    password.additional_secret_outputs.clear()
    found = plain_credentials(run)
    assert any("payments-db-app-password: value holds a secret value in plain text" in p for p in found), found


def test_a_credential_by_name_is_caught_wherever_it_is() -> None:
    import copy

    run = copy.deepcopy(application_run("walkthrough-eks"))
    (instance,) = [r for r in run.resources if r.type == "aws:rds/instance:Instance"]
    instance.secret_inputs.remove("password")
    found = plain_credentials(run)
    assert any("payments-db-instance: password is a credential by its name" in p for p in found), found
