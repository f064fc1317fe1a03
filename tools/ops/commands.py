"""The commands of `python -m tools` that operate on real stacks (Automation API): preview, up, destroy, migrate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def open_workspace() -> Any:
    """The Automation API workspace every command here runs on (the tests give a stand-in)."""
    from tools.ops.operations import AutomationWorkspace  # noqa: PLC0415

    return AutomationWorkspace()


def cmd_preview(args: argparse.Namespace) -> int:
    from tools.ops.operations import OperationError, changes, echo_error  # noqa: PLC0415

    try:
        summary = open_workspace().preview(args.stack)
    except OperationError as err:
        return echo_error(err)
    pending = changes(summary)
    print(f"changes: {pending or 'none'}")
    return 1 if args.expect_no_changes and pending else 0


def cmd_up(args: argparse.Namespace) -> int:
    from tools.ops.operations import OperationError, echo_error  # noqa: PLC0415

    try:
        outputs = open_workspace().up(args.stack)
    except OperationError as err:
        return echo_error(err)
    print(f"outputs: {json.dumps(outputs, sort_keys=True)}")
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    from tools.ops.operations import OperationError, confirmed, echo_error  # noqa: PLC0415

    if not args.yes and not confirmed(f"Destroy every resource of stack {args.stack!r}?"):
        print("nothing was destroyed")
        return 1
    try:
        open_workspace().destroy(args.stack)
    except OperationError as err:
        return echo_error(err)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from tools.ops.migrate import migrate  # noqa: PLC0415
    from tools.ops.operations import OperationError, echo_error  # noqa: PLC0415

    try:
        workspace = open_workspace()
        if workspace.config(args.source).get("kubeport:application"):
            # Several services and their databases: the data moves too (tools/ops/application_migrate.py says how).
            from tools.ops.application_migrate import BACKUPS, migrate_application  # noqa: PLC0415

            migrate_application(
                args.source, args.target, workspace, destroy_source=args.destroy_source, yes=args.yes,
                replace_target_data=args.replace_target_data, allow_read_only_source=args.allow_read_only_source,
                backups=Path(args.backups) if args.backups else BACKUPS,
            )  # fmt: skip
        else:
            refused = [f for f in ("replace_target_data", "allow_read_only_source", "backups") if getattr(args, f)]
            if refused:
                flags = ", ".join("--" + f.replace("_", "-") for f in refused)
                raise OperationError(f"{flags}: only for an application with its data (kubeport:application)")
            migrate(args.source, args.target, workspace, destroy_source=args.destroy_source, yes=args.yes)
    except OperationError as err:
        return echo_error(err)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from tools.ops.operations import OperationError, backend_url, echo_error  # noqa: PLC0415
    from tools.ops.rollback import listing, read_updates, rollback  # noqa: PLC0415

    try:
        workspace = open_workspace()
        if args.list:
            lines = listing(read_updates(args.stack, workspace, backend_url()))
            print("\n".join(lines) if lines else f"stack {args.stack!r} has no update yet")
            return 0
        rollback(args.stack, workspace, to=args.to, yes=args.yes)
    except OperationError as err:
        return echo_error(err)
    return 0


def add(sub: Any, stacks: list[str]) -> None:
    """The commands on real stacks, on the command line's subparsers."""
    preview = sub.add_parser("preview", help="pulumi preview --diff of a stack (Automation API)")
    preview.add_argument("stack", choices=stacks)
    preview.add_argument("--expect-no-changes", action="store_true", help="exit 1 if anything would change")
    preview.set_defaults(func=cmd_preview)

    up = sub.add_parser("up", help="deploy a stack (Automation API); prints its outputs")
    up.add_argument("stack", choices=stacks)
    up.set_defaults(func=cmd_up)

    destroy = sub.add_parser("destroy", help="delete a stack's resources (asks unless --yes)")
    destroy.add_argument("stack", choices=stacks)
    destroy.add_argument("--yes", action="store_true", help="do not ask")
    destroy.set_defaults(func=cmd_destroy)

    migrate = sub.add_parser(
        "migrate", help="move the app to another stack: preview, up, smoke-check, then optionally destroy the source"
    )
    migrate.add_argument("--from", dest="source", required=True, choices=stacks)
    migrate.add_argument("--to", dest="target", required=True, choices=stacks)
    migrate.add_argument("--destroy-source", action="store_true", help="destroy the source after a passed smoke check")
    migrate.add_argument("--yes", action="store_true", help="do not ask before destroying the source")
    migrate.add_argument(
        "--replace-target-data",
        action="store_true",
        help="an application's target databases may hold rows: copy them to a file first, then replace them",
    )
    migrate.add_argument(
        "--allow-read-only-source",
        action="store_true",
        help="move from databases an earlier migrate left read-only (when they hold the newest copy)",
    )
    migrate.add_argument(
        "--backups",
        metavar="DIR",
        help="where --replace-target-data keeps the target's rows (default .kubeport/backups, private to you)",
    )
    migrate.set_defaults(func=cmd_migrate)

    rollback = sub.add_parser(
        "rollback",
        help="return a stack's app to the image and settings of an earlier successful update, building nothing",
    )
    rollback.add_argument("--stack", required=True, choices=stacks)
    rollback.add_argument(
        "--to", type=int, metavar="N", help="the update to return to (--list numbers them; default: the release "
        "before the running one, or the last good one when the newest update failed)",
    )  # fmt: skip
    rollback.add_argument("--list", action="store_true", help="list the stack's updates and images; change nothing")
    rollback.add_argument("--yes", action="store_true", help="do not ask before rolling back")
    rollback.set_defaults(func=cmd_rollback)
