"""`python -m tools same-render [REF]`: does this tree render every stack exactly as git REF does?

A refactoring must not change what deploys. This renders every stack's Kubernetes manifests offline (under
mocks, `python -m tools render`) twice: from a temporary `git worktree` of REF (default HEAD) and from the
working tree, with the same interpreter, then compares the manifest files byte for byte, as the golden renders
read them (a certificate kubeport issues at create, which the mocks issue anew in every run, by its label). It
prints each stack as `same` or what differs, and exits 1 if anything does. The plan (`plan.txt`) is not compared:
it names parents and URNs, which a refactoring may move on purpose (with aliases).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from tools import processes
from tools.stack_files import ROOT, stack_names


def render_all(tree: Path, out: Path) -> dict[str, dict[str, bytes]]:
    """Every stack of `tree` rendered: stack -> object (kind-namespace-name) -> manifest bytes, and RESOURCES."""
    found: dict[str, dict[str, bytes]] = {}
    for stack in stack_names(tree):
        dumped = json.loads(_in_tree(tree, stack))
        if dumped["files"] is None:  # a revision before golden renders: its own `render`, as it wrote them
            dumped["files"] = _rendered_by_cli(tree, stack, out / stack)
        # Keyed by the object (kind, namespace, name), not the file's number: that follows the object order.
        found[stack] = {
            name.split("-", 1)[1]: text.encode() for name, text in dumped["files"].items() if name.endswith(".yaml")
        }
        found[stack][RESOURCES] = "\n".join(dumped["rows"]).encode()
    return found


def _rendered_by_cli(tree: Path, stack: str, target: Path) -> dict[str, str]:
    done = processes.run([sys.executable, "-m", "tools", "render", stack, "--out", str(target)], cwd=tree, timeout=600)
    if done.code != 0:
        raise RuntimeError(f"render of {stack} in {tree} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return {p.name: p.read_text() for p in sorted(target.glob("*.yaml"))}


RESOURCES = "(every resource's type, name, inputs, protect and provider type)"
# Runs inside the tree compared, with whichever mock runner and renderer that tree has (where they lived over time).
# One run gives both the manifests and the registrations, so the certificates kubeport issues at create (which the
# mocks issue anew in every process) read as the same labels on both sides, as in the golden renders; a revision
# without those labels gives files None (its own `render` then writes the manifests, unlabelled).
DUMP = """
import importlib, json, os, sys

def first(*names):
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None

runner = first("tools.verify.mock_runner", "tools.mock_runner", "tools.offline")
render = first("tools.verify.render", "tools.render")
run = runner.run_program(sys.argv[1])
assert run.error is None, run.error
golden = render is not None and hasattr(render, "made_at_deploy") and hasattr(render, "rendered_files")
made = render.made_at_deploy(run) if golden else {}
for r in run.resources if golden else ():
    if r.type == render.ISSUED_CERTIFICATE and r.state.get("key"):  # the private key, a secret the manifests hide
        made[str(r.state["key"])] = f"[made at deploy: {r.name}.key]"
rows = sorted(
    json.dumps([r.type, r.name, render.without(r.inputs, made) if golden else r.inputs, r.protect,
                r.provider.rpartition("::")[0].split("::")[-2:]], sort_keys=True).replace(os.getcwd(), "<tree>")
    for r in run.resources
)
files = render.rendered_files(sys.argv[1], run, golden=True) if golden else None
print(json.dumps({"rows": rows, "files": files}))
"""


def _in_tree(tree: Path, stack: str) -> str:
    """DUMP's answer for `stack`, run in `tree`."""
    done = processes.run([sys.executable, "-c", DUMP, stack], cwd=tree, timeout=600)
    if done.code != 0:
        raise RuntimeError(f"registrations of {stack} in {tree}: {done.stderr[-2000:]}")
    return done.stdout


def registered_inputs(tree: Path, stack: str) -> bytes:
    """Everything the program registers for `stack` under mocks, cloud resources included, one line each."""
    return "\n".join(json.loads(_in_tree(tree, stack))["rows"]).encode()


def compare(
    before: dict[str, dict[str, bytes]], after: dict[str, dict[str, bytes]], allowed: re.Pattern[str] | None = None
) -> list[str]:
    """One line per stack: `same`, or which manifests were added, removed or changed. Registrations matching
    `allowed` (a change made on purpose, such as a new component) do not count as differences."""
    lines = []
    for stack in sorted(set(before) | set(after)):
        if stack not in before or stack not in after:
            lines.append(f"{stack}: only {'after' if stack in after else 'before'}")
            continue
        a, b = dict(before[stack]), dict(after[stack])
        if allowed is not None:
            for side in (a, b):
                kept = [line for line in side[RESOURCES].decode().splitlines() if not allowed.search(line)]
                side[RESOURCES] = "\n".join(kept).encode()
        added = sorted(set(b) - set(a))
        removed = sorted(set(a) - set(b))
        changed = sorted(name for name in set(a) & set(b) if a[name] != b[name])
        if not (added or removed or changed):
            lines.append(f"{stack}: same ({len(a) - 1} manifests and every registration)")
            continue
        parts = [f"{label} {', '.join(names)}" for label, names in
                 (("added", added), ("removed", removed), ("changed", changed)) if names]  # fmt: skip
        lines.append(f"{stack}: DIFFERS: {'; '.join(parts)}")
        if RESOURCES in changed:
            old, new = set(a[RESOURCES].decode().splitlines()), set(b[RESOURCES].decode().splitlines())
            lines += [f"    - {line[:160]}" for line in sorted(old - new)]
            lines += [f"    + {line[:160]}" for line in sorted(new - old)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools same-render", description=__doc__)
    parser.add_argument("ref", nargs="?", default="HEAD", help="the git revision to compare with (default HEAD)")
    parser.add_argument("--allow", help="a regular expression: registrations it matches may differ (on purpose)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kubeport-same-render-") as tmp:
        base = Path(tmp)
        tree = base / "tree"
        added = processes.run(["git", "worktree", "add", "--detach", str(tree), args.ref], cwd=ROOT, timeout=120)
        if added.code != 0:
            raise RuntimeError(f"git worktree add {args.ref}: {added.first_line()}")
        try:
            before = render_all(tree, base / "before")
        finally:
            processes.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, timeout=120)
        after = render_all(ROOT, base / "after")
    lines = compare(before, after, re.compile(args.allow) if args.allow else None)
    print("\n".join(lines))
    return 1 if any("DIFFERS" in line or "only" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
