"""No empty passphrase where secrets live: the tools give Pulumi the checkout's own passphrase file unless the user
chose one, a real run stops before any resource when its stack's secrets would be encrypted with an empty one, and
no committed stack file holds secrets sealed with the empty passphrase (checked with Pulumi's own key derivation
and cipher, against salts the Pulumi CLI made)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pulumi
import pytest
import yaml

from stacks import preflight
from stacks.config import parse
from tools.passphrase import PassphraseError, decrypts_with, ensure_file, passphrase_env
from tools.stack_files import ROOT
from tools.toolchain import Toolchain, shell_exports

# Made by `pulumi stack init` (Pulumi CLI 3.274.1) with PULUMI_CONFIG_PASSPHRASE empty, and with "correct-horse".
EMPTY_SALT = "v1:aCzP48LMWZo=:v1:wfhJO4FkHOkg/kxj:KfCBFuLfF/fOgqgc1QrBaVFkxde/cQ=="
SET_SALT = "v1:pE0JDrAByY0=:v1:hgbHdjzqFbs6zysE:NsjZMfUvZFoAWRFwS8MQ1Si1wTqYNQ=="


def test_the_check_reads_salts_as_pulumi_makes_them() -> None:
    assert decrypts_with("", EMPTY_SALT)
    assert not decrypts_with("", SET_SALT)
    assert decrypts_with("correct-horse", SET_SALT)
    with pytest.raises(ValueError, match="not an encryptionsalt"):
        decrypts_with("", "v2:x")


def test_no_committed_stack_file_holds_secrets_sealed_with_the_empty_passphrase() -> None:
    files = sorted(ROOT.glob("Pulumi.*.yaml"))
    assert len(files) > 20
    sealed = []
    for file in files:
        document = yaml.safe_load(file.read_text()) or {}
        salt = document.get("encryptionsalt")
        if salt and decrypts_with("", salt):
            sealed.append(file.name)
        # A secret value needs a salt (or another provider's key) to be read at all.
        secure = "secure:" in file.read_text()
        assert not secure or salt or document.get("secretsprovider"), file.name
    assert sealed == []


def test_the_checkout_gets_a_private_random_passphrase_once(tmp_path: Path) -> None:
    path = tmp_path / ".kubeport" / "passphrase"
    previous = os.umask(0)
    try:
        assert passphrase_env({}, path) == {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}
    finally:
        os.umask(previous)
    phrase = path.read_text().strip()
    assert len(phrase) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    passphrase_env({}, path)
    assert path.read_text().strip() == phrase, "made once, then kept"
    # The user's own choice wins, even an empty PULUMI_CONFIG_PASSPHRASE (the program refuses that one).
    assert passphrase_env({"PULUMI_CONFIG_PASSPHRASE": "mine"}, path) == {}
    assert passphrase_env({"PULUMI_CONFIG_PASSPHRASE": ""}, path) == {}
    assert passphrase_env({"PULUMI_CONFIG_PASSPHRASE_FILE": "/elsewhere"}, path) == {}


@pytest.mark.parametrize("kind", ["readable by others", "empty", "a link"])
def test_a_passphrase_file_that_cannot_be_trusted_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "passphrase"
    if kind == "a link":
        (tmp_path / "elsewhere").write_text("phrase\n")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.write_text("" if kind == "empty" else "phrase\n")
        path.chmod(0o644 if kind == "readable by others" else 0o600)
    with pytest.raises(PassphraseError):
        ensure_file(path)


def exports_in_bash(lines: list[str], env: dict[str, str]) -> tuple[str, str]:
    script = "\n".join(
        [*lines, 'printf "%s|%s\\n" "${PULUMI_CONFIG_PASSPHRASE-unset}" "${PULUMI_CONFIG_PASSPHRASE_FILE-}"']
    )
    done = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                          text=True, check=True, timeout=30)  # fmt: skip
    passphrase, _, file = done.stdout.strip().partition("|")
    return passphrase, file


def test_the_shell_exports_keep_the_users_choice_and_otherwise_name_the_checkouts_file(tmp_path: Path) -> None:
    lines = shell_exports(
        Toolchain(tmp_path), tmp_path / "k", "file:///x", tmp_path / "py", passphrase_file=tmp_path / "phrase"
    )
    assert exports_in_bash(lines, {}) == ("unset", str(tmp_path / "phrase"))
    assert exports_in_bash(lines, {"PULUMI_CONFIG_PASSPHRASE": "kept"}) == ("kept", "")
    assert exports_in_bash(lines, {"PULUMI_CONFIG_PASSPHRASE_FILE": "/mine"}) == ("unset", "/mine")
    assert not any("PULUMI_CONFIG_PASSPHRASE=" in line and "FILE" not in line for line in lines), "never set empty"


def stack_file(folder: Path, salt: str | None) -> Path:
    file = folder / "Pulumi.shop.yaml"
    file.write_text(yaml.safe_dump({"config": {"kubeport:target": "minikube"}} | ({"encryptionsalt": salt} if salt
                                                                                  else {})))  # fmt: skip
    return file


def test_a_real_run_with_an_empty_passphrase_stops_before_anything(tmp_path: Path) -> None:
    settings = parse({"kubeport:target": "minikube"})
    file = stack_file(tmp_path, EMPTY_SALT)
    (tmp_path / "empty").write_text("\n")
    for environ in ({"PULUMI_CONFIG_PASSPHRASE": ""}, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "empty")}):
        with pytest.raises(pulumi.RunError, match="would be encrypted with an empty passphrase") as caught:
            preflight.check(settings, which=lambda t: f"/usr/bin/{t}", environ=environ, minikube=lambda _: "",
                            stack_file=file)  # fmt: skip
        assert "Pulumi.shop.yaml" in str(caught.value) and "docs/security.md" in str(caught.value)
    # A passphrase, a file with one, or another secrets provider (no salt in the stack file): no stop.
    (tmp_path / "phrase").write_text("correct-horse\n")
    for environ, path in (
        ({"PULUMI_CONFIG_PASSPHRASE": "correct-horse"}, file),
        ({"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "phrase")}, file),
        ({"PULUMI_CONFIG_PASSPHRASE": ""}, stack_file(tmp_path, None)),
    ):
        assert preflight.passphrase_problem(path, environ) == ""


def make_exports(env: dict[str, str]) -> str:
    """PULUMI_CONFIG_PASSPHRASE_FILE as the Makefile exports it to its recipes."""
    show = (
        'kubeport-show: ; @printf "%s|%s\\n" "$${PULUMI_CONFIG_PASSPHRASE-unset}" "$${PULUMI_CONFIG_PASSPHRASE_FILE-}"'
    )
    done = subprocess.run(["make", "--no-print-directory", "-s", "--eval", show, "kubeport-show"], cwd=ROOT,
                          env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, check=True,
                          timeout=60)  # fmt: skip
    return done.stdout.strip()


def test_make_gives_pulumi_the_checkouts_passphrase_file_unless_the_user_chose() -> None:
    assert make_exports({}) == f"unset|{ROOT / '.kubeport' / 'passphrase'}"
    assert make_exports({"PULUMI_CONFIG_PASSPHRASE": "mine"}) == "mine|"
    assert make_exports({"PULUMI_CONFIG_PASSPHRASE_FILE": "/mine"}) == "unset|/mine"


def test_the_operations_use_the_checkouts_passphrase_unless_the_user_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools import passphrase
    from tools.ops import operations

    monkeypatch.setattr(passphrase, "FILE", tmp_path / "passphrase")
    monkeypatch.setattr("tools.ops.operations.shutil.which", lambda _: "/usr/bin/pulumi")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}/state")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    workspace = operations.AutomationWorkspace(echo=lambda _: None)
    assert workspace.env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(tmp_path / "passphrase")
    assert "PULUMI_CONFIG_PASSPHRASE" not in workspace.env
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "mine")
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in operations.AutomationWorkspace(echo=lambda _: None).env
