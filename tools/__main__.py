"""`python -m tools`: kubeport's command line.

Offline (no CLI, no cloud): render, check, diff. On Pulumi's Automation API: preview, up, destroy, migrate.
Local clusters for real runs without Docker: clusters up|down|status|kubeconfig; `eval "$(python -m tools env)"`
puts the built tools on PATH with the local backend and the clusters' kubeconfig.
"""

from __future__ import annotations

import argparse
import sys

from tools.stack_files import stack_names


def cmd_live(args: argparse.Namespace) -> int:
    """The live suite: the local clusters started once (left running if they were), the test files' groups run at
    once (tools/verify/livesuite.py), then the clusters stopped if this started them."""
    from tools.localcluster import catalog, realrun  # noqa: PLC0415
    from tools.toolchain import ToolchainMissingError  # noqa: PLC0415
    from tools.verify import livesuite  # noqa: PLC0415

    missing = realrun.missing_prerequisites()
    if missing:
        print(f"error: real runs not possible: {'; '.join(missing)}", file=sys.stderr)
        return 1
    try:
        session = realrun.ClusterSession.open()
    except (catalog.ClusterError, ToolchainMissingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        return livesuite.run(args.workers, args.pytest_args, args.timeout)
    finally:
        session.close()


def parser() -> argparse.ArgumentParser:
    """Each package declares its own commands; the live suite, which needs two of them, is declared here."""
    from tools.localcluster import commands as local_commands  # noqa: PLC0415
    from tools.ops import commands as ops_commands  # noqa: PLC0415
    from tools.verify import commands as verify_commands  # noqa: PLC0415

    root = argparse.ArgumentParser(prog="python -m tools", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify_commands.add(sub)
    ops_commands.add(sub, stack_names())
    live = sub.add_parser("live", help="the live suite on the local clusters, started once; its file groups at once")
    live.add_argument("--workers", type=int, default=3, help="groups of test files run at once (1: one after another)")
    live.add_argument("--timeout", type=float, default=5400.0, help="seconds before the suite is stopped")
    live.add_argument("pytest_args", nargs="*", help="more arguments for pytest (after --)")
    live.set_defaults(func=cmd_live)

    local_commands.add(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    from tools.passphrase import PassphraseError  # noqa: PLC0415

    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except PassphraseError as err:
        print(f"kubeport: {err}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
