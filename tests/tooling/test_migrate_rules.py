"""`migrate`'s safety rules, row by row, as docs/migration.md states them: for the operation and for the CLI.

The table in the docs is the specification: this module parses it, expands `any` to both values, and runs
every row twice: through `tools.ops.migrate.migrate` and through `python -m tools migrate` (its argument
parsing, its confirmation on standard input, its exit code). The target's smoke step is the real one, over
HTTP against a stand-in app on 127.0.0.1 that reports the source's build, or another build when the row says
the smoke step fails.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

import tools.__main__ as cli
from tests.support.local_http import QuietHandler, serving
from tools.ops import commands as ops_commands
from tools.ops.migrate import migrate
from tools.ops.operations import OperationError
from tools.ops.smoke import smoke_check
from tools.stack_files import ROOT

TABLE_HEADING = "### What `migrate` keeps and destroys"
SOURCE, TARGET = "eks", "gke"
BUILD = "5aa1faafced97aae"
OTHER_BUILD = "0123456789abcdef"
SOURCE_IMAGE = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:{BUILD}@sha256:" + "a" * 64


def image_of(build: str) -> str:
    return f"europe-west1-docker.pkg.dev/acme/kubeport/kubeport-web:{build}@sha256:" + "b" * 64


@dataclass(frozen=True)
class Row:
    """One expanded row of the docs' table."""

    preview: str
    up: str
    smoke: str
    destroy_source: bool
    yes: bool
    answer: str | None
    """What is typed when asked; None: the row says it is not asked."""
    destroyed: bool
    exit_code: int

    def label(self) -> str:
        flags = " ".join(f for f, on in (("--destroy-source", self.destroy_source), ("--yes", self.yes)) if on)
        return (
            f"preview {self.preview}, up {self.up}, smoke {self.smoke}, [{flags or 'no flags'}], answer {self.answer}"
        )


def table_rows() -> list[Row]:
    text = (ROOT / "docs" / "migration.md").read_text()
    section = text.split(TABLE_HEADING, 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")][2:]  # header and rule
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        preview, up, smoke, destroy_source, yes, asked, source, exit_code = cells
        answer = None if asked == "not asked" else re.findall(r"`([^`]*)`", asked)[0]
        for ds, y in itertools.product(
            [True, False] if destroy_source == "any" else [destroy_source == "yes"],
            [True, False] if yes == "any" else [yes == "yes"],
        ):
            rows.append(Row(preview, up, smoke, ds, y, answer, source == "destroyed", int(exit_code)))
    return rows


ROWS = table_rows()


def test_the_table_covers_every_outcome_with_every_flag() -> None:
    outcomes = {(r.preview, r.up, r.smoke) for r in ROWS}
    assert outcomes == {
        ("fails", "not run", "not run"),
        ("passes", "fails", "not run"),
        ("passes", "passes", "fails"),
        ("passes", "passes", "passes"),
    }
    for outcome in outcomes:
        flags = {(r.destroy_source, r.yes) for r in ROWS if (r.preview, r.up, r.smoke) == outcome}
        assert flags == set(itertools.product([True, False], repeat=2)), outcome
    # Where the row asks, both a yes and a no are stated.
    asked = {r.answer for r in ROWS if r.answer is not None}
    assert "y" in asked and "n" in asked


class StandInApp(QuietHandler):
    """The target's app: /healthz answers, /info reports the build the server was told to serve."""

    build = BUILD

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/healthz":
            self.reply(200, b"ok\n")
        elif self.path == "/":
            self.reply(200, b"<!doctype html><title>kubeport</title>", "text/html")
        elif self.path == "/info":
            self.reply(200, json.dumps({"image": image_of(type(self).build)}).encode())
        else:
            self.reply(404, b"")


@pytest.fixture
def app(request: pytest.FixtureRequest) -> Iterator[str]:
    build: str = getattr(request, "param", BUILD)
    handler = type("App", (StandInApp,), {"build": build})
    with serving(handler) as url:
        yield url


class Workspace:
    """The Pulumi side of `migrate`: records every call; preview or up fail when the row says so."""

    def __init__(self, row: Row, url: str, serves: str) -> None:
        self.row = row
        self.url = url
        self.serves = serves
        self.calls: list[tuple[str, str]] = []

    def preview(self, stack: str) -> Mapping[str, int]:
        self.calls.append(("preview", stack))
        if self.row.preview == "fails":
            raise RuntimeError("preview exploded")
        return {"create": 12}

    def up(self, stack: str) -> dict[str, Any]:
        self.calls.append(("up", stack))
        if self.row.up == "fails":
            raise RuntimeError("up exploded")
        # The target's own image output names the build it serves: the smoke step must not compare with it.
        return {"url": self.url, "image": image_of(self.serves), "namespace": "kubeport"}

    def destroy(self, stack: str) -> None:
        self.calls.append(("destroy", stack))

    def outputs(self, stack: str) -> dict[str, Any]:
        self.calls.append(("outputs", stack))
        return {"image": SOURCE_IMAGE, "url": "http://k8s.elb.example.com"} if stack == SOURCE else {}

    def config(self, stack: str) -> dict[str, str]:
        return {"kubeport:target": stack}

    def cluster_kubeconfig(self, reference: str) -> str:
        raise AssertionError("a stack with a url is checked over HTTP")

    def source_destroyed(self) -> bool:
        return ("destroy", SOURCE) in self.calls

    def touched_source(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[1] == SOURCE and c[0] != "outputs"]


def served_build(row: Row) -> str:
    return OTHER_BUILD if row.smoke == "fails" else BUILD


def check_row(row: Row, ws: Workspace, code: int, asked: list[str]) -> None:
    assert code == row.exit_code, row.label()
    assert ws.source_destroyed() is row.destroyed, row.label()
    if not row.destroyed:
        assert ws.touched_source() == [], row.label()
    assert bool(asked) is (row.answer is not None), f"{row.label()}: asked {asked}"
    if row.destroyed:
        # Destroyed last, after the target was previewed, deployed and (over HTTP) checked.
        assert ws.calls[-1] == ("destroy", SOURCE) and ("up", TARGET) in ws.calls


@pytest.mark.parametrize("row", ROWS, ids=[r.label() for r in ROWS])
def test_each_row_holds_for_the_operation(row: Row) -> None:
    handler = type("App", (StandInApp,), {"build": served_build(row)})
    with serving(handler) as url:
        ws = Workspace(row, url, served_build(row))
        asked: list[str] = []

        def ask(question: str) -> str:
            asked.append(question)
            return row.answer or ""

        try:
            migrate(
                SOURCE,
                TARGET,
                ws,
                destroy_source=row.destroy_source,
                yes=row.yes,
                ask=ask,
                say=lambda _: None,
                check=lambda u, image: smoke_check(u, image, attempts=1, interval=0),
            )
            code = 0
        except OperationError:
            code = 1
    check_row(row, ws, code, asked)


@pytest.mark.parametrize("row", ROWS, ids=[r.label() for r in ROWS])
def test_each_row_holds_for_the_command_line(
    row: Row, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = type("App", (StandInApp,), {"build": served_build(row)})
    with serving(handler) as url:
        ws = Workspace(row, url, served_build(row))
        monkeypatch.setattr(ops_commands, "open_workspace", lambda: ws)
        # The command's confirmation reads standard input; a mismatch would make it read nothing (EOF).
        monkeypatch.setattr("sys.stdin", io.StringIO(f"{row.answer}\n" if row.answer is not None else ""))
        argv = ["migrate", "--from", SOURCE, "--to", TARGET]
        argv += ["--destroy-source"] if row.destroy_source else []
        argv += ["--yes"] if row.yes else []
        try:
            code = cli.main(argv)
        except EOFError:
            pytest.fail(f"{row.label()}: the command asked although the table says it does not")
    out = capsys.readouterr().out
    asked = ["Destroy stack"] if "Destroy stack" in out else []
    check_row(row, ws, code, asked)


@pytest.mark.parametrize("app", [OTHER_BUILD], indirect=True)
def test_the_smoke_step_compares_the_target_with_the_sources_build_not_its_own(app: str) -> None:
    row = Row("passes", "passes", "fails", True, True, None, False, 1)
    ws = Workspace(row, app, OTHER_BUILD)  # the target serves, and reports, another build
    with pytest.raises(OperationError, match="not the source's"):
        migrate(SOURCE, TARGET, ws, destroy_source=True, yes=True, say=lambda _: None,
                check=lambda u, image: smoke_check(u, image, attempts=1, interval=0))  # fmt: skip
    assert not ws.source_destroyed()
