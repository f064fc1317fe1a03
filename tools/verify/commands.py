"""The offline commands of `python -m tools`: render, check, same-render, gen-config, application-graph, diff.

Each handler imports what it runs only when it runs, so the command line starts without loading the program.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools.stack_files import ROOT, stack_names


def cmd_render(args: argparse.Namespace) -> int:
    from tools.verify.render import GOLDEN, render, stale_golden, update_golden  # noqa: PLC0415 - loads only what it needs

    names = stack_names()
    unknown = sorted(set(args.stacks) - set(names))
    if unknown:
        print(f"unknown stack(s): {', '.join(unknown)}; stacks: {', '.join(names)}", file=sys.stderr)
        return 2
    if args.update:
        if args.out:
            print("render --update writes tests/golden/<stack>/; --out does not apply", file=sys.stderr)
            return 2
        for stack in args.stacks or names:
            count = update_golden(stack)
            print(f"{stack}: {count} manifests and plan.txt in {(GOLDEN / stack).relative_to(ROOT)}")
        for stale in stale_golden(names):
            print(f"{GOLDEN.relative_to(ROOT) / stale}: no such stack any more; remove it (git rm -r)", file=sys.stderr)
        return 0
    if len(args.stacks) != 1:
        print("render takes one stack (or --update [STACK ...] for the golden renders)", file=sys.stderr)
        return 2
    stack = args.stacks[0]
    out = Path(args.out) if args.out else ROOT / "out" / stack
    rendered = render(stack, out)
    print(rendered.plan.read_text(), end="")
    print(f"\n{len(rendered.manifests)} manifests and plan.txt written to {out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from tools.verify.check import DOCKERFILES, SETUP, check_dockerfile, check_manifests, missing_tools, table  # noqa: PLC0415
    from tools.verify.render import render  # noqa: PLC0415

    missing = missing_tools()
    if missing:
        print(f"kubeport check: {', '.join(missing)} not installed; {SETUP}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.stacks) - set(stack_names()))
    if unknown:
        print(f"unknown stack(s): {', '.join(unknown)}; stacks: {', '.join(stack_names())}", file=sys.stderr)
        return 2
    reports = []
    if args.manifests:
        reports.append(check_manifests(Path(args.manifests).name, Path(args.manifests)))
    else:
        with tempfile.TemporaryDirectory(prefix="kubeport-check-") as tmp:
            for stack in args.stacks or stack_names():
                out = Path(tmp) / stack
                render(stack, out)
                reports.append(check_manifests(stack, out))
    if not args.manifests or args.dockerfile:
        reports += [check_dockerfile(dockerfile) for dockerfile in DOCKERFILES]
    print(table(reports))
    failed = [r.stack for r in reports if r.findings]
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all clean'}")
    return 1 if failed else 0


def cmd_application_graph(args: argparse.Namespace) -> int:
    from stacks.application.parse import read_application  # noqa: PLC0415
    from stacks.application.spec import ScoreError  # noqa: PLC0415
    from tools.stack_files import ROOT  # noqa: PLC0415
    from tools.verify.application_graph import block  # noqa: PLC0415

    try:
        print(block(read_application(ROOT / args.folder, ROOT)))
    except ScoreError as err:
        print(err.message(), file=sys.stderr)
        return 1
    return 0


def cmd_same_render(args: argparse.Namespace) -> int:
    from tools.verify.same_render import main  # noqa: PLC0415

    return main([args.ref, *(["--allow", args.allow] if args.allow else [])])


def cmd_gen_config(args: argparse.Namespace) -> int:
    from tools.verify.gen_config import main  # noqa: PLC0415

    return main(["--check"] if args.check else [])


def cmd_diff(args: argparse.Namespace) -> int:
    from tools.verify.diff import config_changes, workload_differences  # noqa: PLC0415
    from tools.verify.mock_runner import run_program  # noqa: PLC0415

    runs = []
    for stack in (args.a, args.b):
        run = run_program(stack)
        if run.error is not None:
            print(f"stack {stack}: {run.error}", file=sys.stderr)
            return 2
        runs.append(run)
    differences = workload_differences(*runs)
    carried = [d for d in differences if d.carried_by]
    other = [d for d in differences if not d.carried_by]
    print(
        f"workload {args.a} -> {args.b}: {len(carried)} differences, all carried by the Platform"
        if not other
        else f"workload {args.a} -> {args.b}: {len(other)} differences the Platform does not explain"
    )
    for d in carried:
        print(f"  {d.line()}")
    if other:
        print("not explained by the Platform (the workload itself differs):")
        for d in other:
            print(f"  {d.line()}")
    changes = config_changes(args.a, args.b)
    print(
        f"\nmigration cost: {len(changes)} stack-config lines differ between Pulumi.{args.a}.yaml and "
        f"Pulumi.{args.b}.yaml"
    )
    for change in changes:
        print(f"  {change.line()}")
    return 1 if other else 0


def add(sub: Any) -> None:
    """The offline commands, on the command line's subparsers."""
    render = sub.add_parser("render", help="write a stack's Kubernetes objects and resource plan, offline")
    render.add_argument(
        "stacks",
        nargs="*",
        metavar="STACK",
        help="stack name (a Pulumi.<stack>.yaml file); with --update, any number (default: all)",
    )
    render.add_argument("--out", help="output directory (default: out/<stack>)")
    render.add_argument(
        "--update",
        action="store_true",
        help="write the golden renders in tests/golden/<stack>/ that review and the tests compare",
    )
    render.set_defaults(func=cmd_render)

    check = sub.add_parser("check", help="render and validate every stack: schemas, checkov, hadolint")
    check.add_argument("stacks", nargs="*", help=f"stacks (default: all of {', '.join(stack_names())})")
    check.add_argument("--manifests", help="check an already rendered directory instead of rendering")
    check.add_argument("--dockerfile", action="store_true", help="with --manifests: also check app/Dockerfile")
    check.set_defaults(func=cmd_check)

    same = sub.add_parser(
        "same-render", help="render every stack here and at a git revision; exit 1 if any manifest differs"
    )
    same.add_argument("ref", nargs="?", default="HEAD", help="the git revision to compare with (default HEAD)")
    same.add_argument("--allow", help="a regular expression: registrations it matches may differ (on purpose)")
    same.set_defaults(func=cmd_same_render)

    gen = sub.add_parser(
        "gen-config",
        help="write Pulumi.yaml's config block, docs/configuration.md's key table and docs/application.md's "
        "workload-file tables from their tables in code",
    )
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    gen.set_defaults(func=cmd_gen_config)

    graph = sub.add_parser(
        "application-graph",
        aliases=["app-graph"],
        help="an application's services and the calls between them, as Mermaid",
    )
    graph.add_argument("folder", nargs="?", default="walkthrough", help="a folder of workload files")
    graph.set_defaults(func=cmd_application_graph)

    stacks = stack_names()
    diff = sub.add_parser("diff", help="compare two stacks' workloads and count the config lines a migration changes")
    diff.add_argument("a", choices=stacks)
    diff.add_argument("b", choices=stacks)
    diff.set_defaults(func=cmd_diff)
