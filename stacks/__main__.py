"""`python -m stacks`: kubeport's command line (offline preview and checks; see README)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from stacks.offline import ROOT, stack_names


def cmd_render(args: argparse.Namespace) -> int:
    from stacks.render import render  # noqa: PLC0415 - each command loads only what it needs

    out = Path(args.out) if args.out else ROOT / "out" / args.stack
    rendered = render(args.stack, out)
    print(rendered.plan.read_text(), end="")
    print(f"\n{len(rendered.manifests)} manifests and plan.txt written to {out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from stacks.check import check_dockerfile, check_manifests, table  # noqa: PLC0415
    from stacks.render import render  # noqa: PLC0415

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
        reports.append(check_dockerfile())
    print(table(reports))
    failed = [r.stack for r in reports if r.findings]
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all clean'}")
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m stacks", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = sub.add_parser("render", help="write a stack's Kubernetes objects and resource plan, offline")
    render.add_argument("stack", choices=stack_names(), help="stack name (a Pulumi.<stack>.yaml file)")
    render.add_argument("--out", help="output directory (default: out/<stack>)")
    render.set_defaults(func=cmd_render)

    check = sub.add_parser("check", help="render and validate every stack: schemas, checkov, hadolint")
    check.add_argument("stacks", nargs="*", help=f"stacks (default: all of {', '.join(stack_names())})")
    check.add_argument("--manifests", help="check an already rendered directory instead of rendering")
    check.add_argument("--dockerfile", action="store_true", help="with --manifests: also check app/Dockerfile")
    check.set_defaults(func=cmd_check)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
