"""`python -m tools`: kubeport's command line.

Offline (no CLI, no cloud): render, check, diff. On Pulumi's Automation API: preview, up, destroy, migrate.
Local clusters for real runs without Docker: clusters up|down|status|kubeconfig; `eval "$(python -m tools env)"`
puts the built tools on PATH with the local backend and the clusters' kubeconfig.
"""

from __future__ import annotations

import argparse
import json
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


def cmd_app_graph(args: argparse.Namespace) -> int:
    from stacks.score import ScoreError, read_application  # noqa: PLC0415
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


def _workspace() -> Any:
    from tools.ops.operations import AutomationWorkspace  # noqa: PLC0415

    return AutomationWorkspace()


def cmd_preview(args: argparse.Namespace) -> int:
    from tools.ops.operations import OperationError, changes, echo_error  # noqa: PLC0415

    try:
        summary = _workspace().preview(args.stack)
    except OperationError as err:
        return echo_error(err)
    pending = changes(summary)
    print(f"changes: {pending or 'none'}")
    return 1 if args.expect_no_changes and pending else 0


def cmd_up(args: argparse.Namespace) -> int:
    from tools.ops.operations import OperationError, echo_error  # noqa: PLC0415

    try:
        outputs = _workspace().up(args.stack)
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
        _workspace().destroy(args.stack)
    except OperationError as err:
        return echo_error(err)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from tools.ops.operations import OperationError, echo_error, migrate  # noqa: PLC0415

    try:
        workspace = _workspace()
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


def cmd_clusters(args: argparse.Namespace) -> int:
    from tools.localcluster import catalog, clusters  # noqa: PLC0415
    from tools.toolchain import ToolchainMissingError  # noqa: PLC0415

    names = args.names or list(catalog.CLUSTERS)
    unknown = sorted(set(names) - set(catalog.CLUSTERS))
    if unknown:
        print(f"unknown cluster(s): {', '.join(unknown)}; clusters: {', '.join(catalog.CLUSTERS)}", file=sys.stderr)
        return 2
    try:
        if args.action == "up":
            path = clusters.up(names)
            print(f"export KUBECONFIG={path}  # contexts: {', '.join(names)}")
        elif args.action == "down":
            clusters.down(names)
        elif args.action == "kubeconfig":
            print(catalog.kubeconfig_path())
        else:
            found = {c.name: c for c in clusters.running()}
            for name in names:
                cluster = found.get(name)
                print(f"{name}: {'running at ' + cluster.server if cluster else 'stopped'}")
    except (catalog.ClusterError, ToolchainMissingError) as err:
        # The cause, in one message (a half-started cluster is already stopped; the node's, the registry's and the
        # builder's errors are ClusterErrors too): no traceback.
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


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


def cmd_local(args: argparse.Namespace) -> int:
    from tools.localcluster import localstack  # noqa: PLC0415

    if args.command == "local-login":
        return localstack.login(args.stack, application=args.application)
    return localstack.up() if args.command == "local-up" else localstack.down()


def cmd_env(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from tools.localcluster import builder, catalog  # noqa: PLC0415
    from tools.passphrase import FILE, PassphraseError, ensure_file  # noqa: PLC0415
    from tools.toolchain import BUILD_HINT, shell_exports, toolchain  # noqa: PLC0415

    tools = toolchain()
    missing = tools.missing(("pulumi", "kubectl"))
    if missing:
        print(f"kubeport env: {', '.join(missing)} not built; {BUILD_HINT}", file=sys.stderr)
        return 1
    backend = os.environ.get("PULUMI_BACKEND_URL") or f"file://{ROOT / '.pulumi'}"
    (ROOT / ".pulumi").mkdir(exist_ok=True)
    chosen = "PULUMI_CONFIG_PASSPHRASE" in os.environ or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    try:
        passphrase = None if chosen else ensure_file(FILE)
    except PassphraseError as err:
        print(f"kubeport env: {err}", file=sys.stderr)
        return 1
    python = ROOT / ".venv" / "bin" / "python"
    docker = builder.Builder(catalog.builder_home()).docker_config
    print(
        "\n".join(
            shell_exports(
                tools,
                catalog.kubeconfig_path(),
                backend,
                python,
                passphrase_file=passphrase or FILE,
                docker_config=docker,
            )
        )
    )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m tools", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
        "gen-config", help="write Pulumi.yaml's config block and docs/configuration.md's key table from the key table"
    )
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if either file is out of date")
    gen.set_defaults(func=cmd_gen_config)

    graph = sub.add_parser("app-graph", help="an application's services and the calls between them, as Mermaid")
    graph.add_argument("folder", nargs="?", default="walkthrough", help="a folder of workload files")
    graph.set_defaults(func=cmd_app_graph)

    stacks = stack_names()
    diff = sub.add_parser("diff", help="compare two stacks' workloads and count the config lines a migration changes")
    diff.add_argument("a", choices=stacks)
    diff.add_argument("b", choices=stacks)
    diff.set_defaults(func=cmd_diff)

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

    live = sub.add_parser("live", help="the live suite on the local clusters, started once; its file groups at once")
    live.add_argument("--workers", type=int, default=3, help="groups of test files run at once (1: one after another)")
    live.add_argument("--timeout", type=float, default=5400.0, help="seconds before the suite is stopped")
    live.add_argument("pytest_args", nargs="*", help="more arguments for pytest (after --)")
    live.set_defaults(func=cmd_live)

    from tools.localcluster.catalog import CLUSTERS  # noqa: PLC0415 - the names only; nothing is started here

    clusters = sub.add_parser(
        "clusters",
        help="local clusters: real control planes, with kwok nodes (kubeport-a, -b) or nodes that run containers "
        "(kubeport-node, -node-b; each in a network namespace of its own)",
    )
    clusters.add_argument("action", choices=["up", "down", "status", "kubeconfig"])
    clusters.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(CLUSTERS)} (default: all)")
    clusters.set_defaults(func=cmd_clusters)

    local_up = sub.add_parser(
        "local-up", help="make up without minikube: the node cluster, its registry and builder, then up the local stack"
    )
    local_up.set_defaults(func=cmd_local)
    local_down = sub.add_parser("local-down", help="destroy the local stack and stop every local cluster")
    local_down.set_defaults(func=cmd_local)
    local_login = sub.add_parser(
        "local-login",
        help="a stack of your own on kubeport-node: its registry logins (secrets via stdin) and stand-in images",
    )
    local_login.add_argument("stack", help="the stack (created when missing; Pulumi.<stack>.yaml in the checkout)")
    local_login.add_argument(
        "--application",
        action="store_true",
        help="an application of workload files: also the stand-ins for python and postgres",
    )
    local_login.set_defaults(func=cmd_local)

    env = sub.add_parser(
        "env", help='shell exports for the built tools, the local backend and the local clusters: eval "$(... env)"'
    )
    env.set_defaults(func=cmd_env)
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
