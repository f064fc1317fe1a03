"""Every stack renders exactly as its golden files say (`tests/golden/<stack>/`: each Kubernetes object as YAML,
and the plan of every resource): a change to what deploys is a change to those files, read in review. After a
change you mean: `python -m tools render --update [STACK ...]`, then read the diff before committing it."""

from __future__ import annotations

import difflib

import pytest

from tests.support.workload import stack_run
from tools.stack_files import stack_names
from tools.verify.render import GOLDEN, rendered_files, stale_golden

SHOWN_LINES = 40


def first_difference(name: str, golden: str, rendered: str) -> str:
    diff = difflib.unified_diff(golden.splitlines(), rendered.splitlines(), f"golden/{name}", f"rendered/{name}",
                                lineterm="")  # fmt: skip
    return "\n".join(list(diff)[:SHOWN_LINES])


@pytest.mark.parametrize("stack", stack_names())
def test_a_stack_renders_as_its_golden_files(stack: str) -> None:
    update = f"`python -m tools render --update {stack}`"
    folder = GOLDEN / stack
    assert folder.is_dir(), f"no golden render of {stack}: run {update} and commit tests/golden/{stack}/"
    golden = {p.name: p.read_text() for p in folder.iterdir()}
    rendered = rendered_files(stack, stack_run(stack), golden=True)
    assert sorted(rendered) == sorted(golden), (
        f"{stack}: objects made {sorted(set(rendered) - set(golden))}, gone {sorted(set(golden) - set(rendered))}; "
        f"if you meant it: {update}"
    )
    changed = [name for name in sorted(rendered) if rendered[name] != golden[name]]
    assert not changed, (
        f"{stack}: {', '.join(changed)} differ from tests/golden/{stack}/; if you meant it: {update}\n"
        + first_difference(changed[0], golden[changed[0]], rendered[changed[0]])
    )


def test_no_golden_render_outlives_its_stack() -> None:
    assert stale_golden(stack_names()) == []
