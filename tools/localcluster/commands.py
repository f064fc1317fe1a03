"""The local clusters' commands of `python -m tools`: clusters, local-up, local-down, local-login, env."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tools.stack_files import ROOT


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


def add(sub: Any) -> None:
    """The local clusters' commands, on the command line's subparsers."""
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
        help="an application of workload files: also the stand-ins for python, postgres, redis and versitygw",
    )
    local_login.set_defaults(func=cmd_local)

    env = sub.add_parser(
        "env", help='shell exports for the built tools, the local backend and the local clusters: eval "$(... env)"'
    )
    env.set_defaults(func=cmd_env)
