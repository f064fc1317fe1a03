"""`python -m tools rollback`: which update it returns to, what it writes into the stack file, how it reads a DIY
backend's history, and that a failure changes nothing. A fake CLI here; the real run is in
tests/live/test_app_on_a_real_node.py."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tools.ops.backend_files import backend_files
from tools.ops.operations import OperationError
from tools.ops.rollback import (
    Update,
    Value,
    back_to_source,
    backend_history,
    check,
    choose,
    listing,
    plan_for,
    read_updates,
    rollback,
)
from tools.processes import Done

REPO = "10.250.0.1:5443/kubeport/kubeport-web"
IMAGE_0 = f"{REPO}:aaaaaaaaaaaaaaaa@sha256:" + "0" * 64
IMAGE_1 = f"{REPO}:bbbbbbbbbbbbbbbb@sha256:" + "1" * 64
IMAGE_2 = f"{REPO}:cccccccccccccccc@sha256:" + "2" * 64
LOCAL: dict[str, Value] = {
    "kubeport:target": ("existing", False),
    "kubeport:kubeContext": ("kubeport-node", False),
    "kubeport:registryServer": ("10.250.0.1:5443/kubeport", False),
    "kubeport:registryUser": ("kubeport", False),
    "kubeport:registryToken": ("the-password", True),
    "kubeport:builder": ("kubeport-local", False),
    "kubeport:nodeAddress": ("10.250.0.2", False),
    "kubeport:namespace": ("kubeport", False),
    # The CLI lists the project's declared defaults too: the same as no value.
    "kubeport:application": ("", False),
    "kubeport:baseImage": ("", False),
    "kubeport:rolloutTimeout": ("10m", False),
}


def update(number: int, image: str, result: str = "succeeded", kind: str = "update", **config: str) -> Update:
    settings = dict(LOCAL) | {f"kubeport:{k}": (v, False) for k, v in config.items()}
    return Update(number, kind, result, datetime(2026, 12, 7, 3, number, tzinfo=UTC), settings, image)


# Which update: the default and --to.


def test_by_default_it_returns_to_the_release_before_the_running_one_skipping_updates_that_changed_nothing() -> None:
    history = [update(1, IMAGE_0), update(2, IMAGE_1), update(3, IMAGE_2), update(4, IMAGE_2, kind="refresh"),
               update(5, IMAGE_2)]  # fmt: skip
    assert choose(history, None).number == 2


def test_a_release_with_the_same_image_but_other_settings_counts_as_a_release() -> None:
    history = [update(1, IMAGE_0), update(2, IMAGE_0, replicas="4"), update(3, IMAGE_0)]
    assert choose(history, None).number == 2


def test_after_a_failed_release_the_default_is_the_last_good_one() -> None:
    history = [update(1, IMAGE_0), update(2, IMAGE_1), update(3, "x", result="failed")]
    assert choose(history, None).number == 2


@pytest.mark.parametrize(
    ("to", "message"),
    [
        (9, "has no update 9 (it has 1 to 3"),
        (3, "update 3 is a update that failed: only a successful update"),
        (2, "update 2 left no app image"),
    ],
)
def test_to_names_a_successful_update_that_left_an_image(to: int, message: str) -> None:
    history = [update(1, IMAGE_0), update(2, ""), update(3, IMAGE_1, result="failed")]
    with pytest.raises(OperationError, match=message.replace("(", r"\(")):
        choose(history, to)
    assert choose(history, 1).image == IMAGE_0


def test_a_stack_with_nothing_to_return_to_says_so() -> None:
    with pytest.raises(OperationError, match="no successful update that deployed the app"):
        choose([update(1, IMAGE_0, result="failed")], None)
    with pytest.raises(OperationError, match="no release before update 2 differs from it"):
        choose([update(1, IMAGE_0), update(2, IMAGE_0)], None)


# What it writes.


def test_the_plan_pins_the_image_restores_the_settings_and_drops_the_build_keys() -> None:
    now = dict(LOCAL) | {
        "kubeport:replicas": ("5", False),
        "kubeport:registryToken": ("rotated", True),
        "kubeport:smokeCheck": ("false", False),
    }
    # replicas 3 then; smokeCheck at its declared default then (as the CLI lists it), so removed now.
    target = update(2, IMAGE_0, replicas="3", smokeCheck="true")
    plan = plan_for("local", now, target, IMAGE_1)
    assert plan.sets == {
        "kubeport:image": (IMAGE_0, False),
        "kubeport:replicas": ("3", False),
        "kubeport:registryToken": ("the-password", True),
    }
    assert plan.removes == ("kubeport:builder", "kubeport:smokeCheck")
    text = "\n".join(plan.lines())
    assert (
        "the-password" not in text and "rotated" not in text and "kubeport:registryToken: [secret] -> [secret]" in text
    )
    assert f"image: {IMAGE_1}\n      -> {IMAGE_0}" in text and "kubeport:builder: kubeport-local -> (removed)" in text
    check(plan, now)  # valid config: the program's own rules pass it
    assert back_to_source(plan) == [
        "pulumi config rm kubeport:image --stack local",
        "pulumi config set kubeport:builder kubeport-local --stack local",
    ]


def test_an_update_whose_settings_the_program_refuses_today_changes_nothing() -> None:
    plan = plan_for("local", LOCAL, update(1, IMAGE_0, nodePort="80"), IMAGE_1)
    with pytest.raises(OperationError, match=r"update 1's settings are not valid config today, so nothing was changed"):
        check(plan, LOCAL)


# The backend's history.


def write_update(folder: Path, stack: str, stamp: int, started: int, image: str | None, zipped: bool = False) -> None:
    record = {"kind": "update", "startTime": started, "result": "succeeded", "config": {}}
    outputs = {} if image is None else {"image": image}
    checkpoint = {"version": 3, "checkpoint": {"stack": stack, "latest": {"resources": [
        {"type": "pulumi:providers:kubernetes", "outputs": {"image": "not this"}},
        {"type": "pulumi:pulumi:Stack", "outputs": outputs},
    ]}}}  # fmt: skip
    for name, data in ((f"{stack}-{stamp}.history.json", record), (f"{stack}-{stamp}.checkpoint.json", checkpoint)):
        raw = json.dumps(data).encode()
        (folder / (name + ".gz" if zipped else name)).write_bytes(gzip.compress(raw) if zipped else raw)


def test_the_backend_history_pairs_each_record_with_its_checkpoints_image_oldest_first(tmp_path: Path) -> None:
    folder = tmp_path / ".pulumi" / "history" / "kubeport" / "local"
    folder.mkdir(parents=True)
    write_update(folder, "local", 1796613341659565763, 1796613338, IMAGE_1)
    write_update(folder, "local", 1796613334289083139, 1796613330, IMAGE_0, zipped=True)
    write_update(folder, "local", 1796613399000000000, 1796613390, None)
    (folder / "local-1796613341659565763.history.json.attrs").write_text("{}")
    write_update(tmp_path / ".pulumi" / "history" / "kubeport", "local-b", 1796613300000000000, 1, IMAGE_2)
    assert backend_history(backend_files(f"file://{tmp_path}"), "local") == [
        (1796613330, IMAGE_0),
        (1796613338, IMAGE_1),
        (1796613390, ""),
    ]
    assert backend_history(backend_files(f"file://{tmp_path}?no_tmp_dir=true"), "local")[0] == (1796613330, IMAGE_0)
    with pytest.raises(OperationError, match=r"is neither \(azblob:// and gs:// are not read yet"):
        backend_files("gs://bucket/state")


class FakePulumi:
    """The CLI's answers for one stack; records every command and what went to its standard input."""

    def __init__(self, history: list[dict[str, Any]], config: Mapping[str, Value], fail: str = "") -> None:
        self.history = history
        self.config = config
        self.fail = fail
        self.calls: list[tuple[tuple[str, ...], str | None]] = []
        self.ups = 0

    def cli(self, *args: str, input_text: str | None = None) -> Done:
        self.calls.append((args, input_text))
        out = ""
        if args[:2] == ("stack", "history"):
            size = int(args[args.index("--page-size") + 1]) if "--page-size" in args else 10  # the CLI's default
            out = json.dumps(self.history[:size])
        elif args[0] == "config" and len(args) > 1 and args[1] == "--json":
            out = json.dumps({k: {"value": v, "secret": s} for k, (v, s) in self.config.items()})
        elif args[:2] == ("stack", "output"):
            out = json.dumps({"image": IMAGE_1})
        code = 1 if self.fail and self.fail in args else 0
        return Done(("pulumi", *args), code, out, "error: refused" if code else "", 0.1)

    def up(self, stack: str) -> dict[str, Any]:
        self.ups += 1
        return {}


def record(started: int, result: str = "succeeded", **config: Value) -> dict[str, Any]:
    values = dict(LOCAL) | {f"kubeport:{k}": v for k, v in config.items()}
    return {
        "version": 0,
        "kind": "update",
        "startTime": datetime.fromtimestamp(started, UTC).isoformat().replace("+00:00", "Z"),
        "result": result,
        "config": {k: {"value": v, "secret": s} for k, (v, s) in values.items()},
    }


@pytest.fixture
def backend(tmp_path: Path) -> tuple[str, FakePulumi, Path]:
    """Two releases in a DIY folder; the stack now runs the second, with its builder set."""
    folder = tmp_path / "state" / ".pulumi" / "history" / "kubeport" / "local"
    folder.mkdir(parents=True)
    write_update(folder, "local", 1000, 1796613330, IMAGE_0)
    write_update(folder, "local", 2000, 1796613390, IMAGE_1)
    history = [record(1796613390, replicas=("3", False)), record(1796613330, replicas=("2", False))]
    stack_file = tmp_path / "Pulumi.local.yaml"
    stack_file.write_text("config:\n  kubeport:replicas: '3'\n")
    return (
        f"file://{tmp_path / 'state'}",
        FakePulumi(history, dict(LOCAL) | {"kubeport:replicas": ("3", False)}),
        stack_file,
    )


def test_read_updates_numbers_them_oldest_first_and_refuses_a_history_its_backend_does_not_match(
    backend: tuple[str, FakePulumi, Path],
) -> None:
    url, pulumi, _ = backend
    updates = read_updates("local", pulumi, url)
    assert [(u.number, u.image, u.config["kubeport:replicas"][0]) for u in updates] == [
        (1, IMAGE_0, "2"),
        (2, IMAGE_1, "3"),
    ]
    assert listing(updates)[1].startswith("   1  2026-") and listing(updates)[1].endswith("<- default")
    pulumi.history.append(record(1796613200))
    with pytest.raises(OperationError, match="3 updates, its backend's folder 2 checkpoints"):
        read_updates("local", pulumi, url)


def test_every_update_is_read_not_only_the_clis_first_page(tmp_path: Path) -> None:
    folder = tmp_path / ".pulumi" / "history" / "kubeport" / "local"
    folder.mkdir(parents=True)
    for n in range(12):
        write_update(folder, "local", 1000 + n, 1796613000 + 10 * n, IMAGE_0 if n % 2 else IMAGE_1)
    pulumi = FakePulumi([record(1796613000 + 10 * n) for n in reversed(range(12))], LOCAL)
    updates = read_updates("local", pulumi, f"file://{tmp_path}")
    assert [u.number for u in updates] == list(range(1, 13)) and updates[0].image == IMAGE_1


def test_rollback_writes_the_settings_secrets_on_standard_input_then_runs_up(
    backend: tuple[str, FakePulumi, Path],
) -> None:
    url, pulumi, stack_file = backend
    pulumi.config = dict(pulumi.config) | {"kubeport:registryToken": ("rotated", True)}
    said: list[str] = []
    rollback("local", pulumi, yes=True, say=said.append, url=url, stack_file=stack_file)
    writes = [(args, stdin) for args, stdin in pulumi.calls if args[0] == "config" and args[1] in ("set", "rm")]
    assert (("config", "set", "--secret", "--stack", "local", "kubeport:registryToken"), "the-password") in writes
    assert (("config", "set", "--plaintext", "--stack", "local", "kubeport:image"), IMAGE_0) in writes
    assert (("config", "rm", "--stack", "local", "kubeport:builder"), None) in writes
    assert all("the-password" not in " ".join(args) for args, _ in pulumi.calls)
    # Nothing else: the declared defaults the CLI listed are left alone.
    assert len(writes) == 4, writes
    assert pulumi.ups == 1
    assert "runs update 1's release again" in said[-2] and "nothing built" in said[-2]


def test_a_refused_config_write_puts_the_stack_file_back_and_deploys_nothing(
    backend: tuple[str, FakePulumi, Path],
) -> None:
    url, pulumi, stack_file = backend
    before = stack_file.read_bytes()
    pulumi.fail = "kubeport:builder"

    def scribble(*args: str, input_text: str | None = None) -> Done:
        if args[:2] in (("config", "set"), ("config", "rm")):
            stack_file.write_text("half-written")
        return FakePulumi.cli(pulumi, *args, input_text=input_text)

    pulumi.cli = scribble  # type: ignore[method-assign]
    with pytest.raises(
        OperationError, match=r"removing kubeport:builder failed: error: refused; Pulumi\.local\.yaml is as it was"
    ):
        rollback("local", pulumi, yes=True, say=lambda _: None, url=url, stack_file=stack_file)
    assert stack_file.read_bytes() == before and pulumi.ups == 0


def test_without_yes_only_a_yes_rolls_back(backend: tuple[str, FakePulumi, Path]) -> None:
    url, pulumi, stack_file = backend
    said: list[str] = []
    rollback("local", pulumi, ask=lambda _: "n", say=said.append, url=url, stack_file=stack_file)
    assert said[-1] == "nothing was changed" and pulumi.ups == 0
    assert not [args for args, _ in pulumi.calls if args[:2] in (("config", "set"), ("config", "rm"))]


def test_an_application_is_refused_before_anything_changes(backend: tuple[str, FakePulumi, Path]) -> None:
    url, pulumi, stack_file = backend
    pulumi.config = dict(pulumi.config) | {"kubeport:application": ("walkthrough", False)}
    with pytest.raises(OperationError, match="workload files, which version control reverts"):
        rollback("local", pulumi, yes=True, say=lambda _: None, url=url, stack_file=stack_file)
    assert pulumi.ups == 0
