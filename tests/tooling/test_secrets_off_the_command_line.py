"""No secret on a command line, where every local user's `ps` reads it: `pulumi config set --secret` gets its
value on standard input, and the registry's htpasswd its password. Found in the code itself (every call that
passes `--secret`), and the htpasswd line checked by htpasswd."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.app_serving import require
from tools.localcluster.registry import htpasswd_line
from tools.stack_files import ROOT

SOURCES = sorted(p for folder in ("tools", "tests") for p in (ROOT / folder).rglob("*.py"))


def secret_calls(path: Path) -> list[tuple[int, bool]]:
    """(line, whether the value goes on standard input) for each call that passes the literal `--secret`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and any(
            isinstance(a, ast.Constant) and a.value == "--secret" for a in ast.walk(node) if a in node.args
        ):
            found.append((node.lineno, any(k.arg in ("input_text", "input") for k in node.keywords)))
    return found


def test_every_secret_config_value_goes_on_standard_input() -> None:
    on_the_command_line = [
        f"{path.relative_to(ROOT)}:{line}" for path in SOURCES for line, stdin in secret_calls(path) if not stdin
    ]
    assert on_the_command_line == []
    assert sum(len(secret_calls(path)) for path in SOURCES) >= 2, "the helpers that set secrets are found"


def test_the_checker_sees_a_value_on_the_command_line(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text('pulumi("config", "set", "--secret", key, value, "--stack", stack)\n')
    assert secret_calls(planted) == [(1, False)]


def test_the_registry_password_reaches_htpasswd_on_standard_input(tmp_path: Path) -> None:
    require(shutil.which("htpasswd") is not None, "htpasswd (apache2-utils, `make setup`) is not installed")
    # htpasswd behind a wrapper that records its command line, as `ps` would show it.
    real = shutil.which("htpasswd")
    wrapper = tmp_path / "bin" / "htpasswd"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
        line = htpasswd_line("kubeport", "a password with spaces")
    assert "a password" not in (tmp_path / "argv").read_text()
    assert line.startswith("kubeport:$2y$") and "a password" not in line
    (tmp_path / "htpasswd").write_text(line)
    verify = ["htpasswd", "-vi", str(tmp_path / "htpasswd"), "kubeport"]
    assert subprocess.run(verify, input=b"a password with spaces", capture_output=True, check=False).returncode == 0
    assert subprocess.run(verify, input=b"another", capture_output=True, check=False).returncode != 0
