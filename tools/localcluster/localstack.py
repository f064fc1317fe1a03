"""`python -m tools local-up` and `local-down`: `make up` on a machine without minikube, and how to stop it.

`local-up` builds (or reuses) the real-run toolchain, starts the local cluster with a node that runs
containers (tools.localcluster.clusters: kubeport-node, with its registry and BuildKit), puts the stand-in base image in
the registry, then runs `pulumi up` on the `local` stack (Pulumi.local.yaml) with the built Pulumi CLI and the
repo's file backend: the app is built from app/, pushed by digest, pulled by the node through its pull Secret,
and `pulumi up` returns once the smoke Pod got the page through the Service. It prints the url. A second run
finds everything built and running and only runs `pulumi up` again (nothing to change).
`local-down` destroys the stack's resources and stops every local cluster, leaving nothing behind.
`local-login STACK` gives a stack of one's own on kubeport-node what `local-up` gives `local`: the registry's
logins (the push one and the pull-only one, secrets set through standard input) and the stand-in images, which
change with each start of the registry.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from tools import processes
from tools.localcluster import builder, catalog, clusters, nodekinds, registry
from tools.passphrase import passphrase_env
from tools.stack_files import ROOT
from tools.toolchain import BUILD_SCRIPT, Toolchain, shell_exports, toolchain

STACK = "local"
PACKAGES_SCRIPT = ROOT / "toolchain" / "install-packages"
NEEDED = ("pulumi", "pulumi-language-python", "kubectl", "kubelet", "buildkitd", "buildx", "coredns")
PROJECT = ROOT / ".pulumi" / "local-project"
"""Where `local-up` runs Pulumi: links to the program, and a stack file of this machine's own (the registry's
password and the base image's digest change with each start), so the repo's Pulumi.local.yaml stays as it is."""
LINKED = ("__main__.py", "Pulumi.yaml", "stacks", "components", "app", ".venv")


def local_project() -> Path:
    """The project folder `local-up` runs in: the repo's program by links, the stack file copied from the repo's
    (keeping this machine's encryption salt, so its secrets stay readable)."""
    PROJECT.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = PROJECT / name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(ROOT / name)
    stack_file = PROJECT / f"Pulumi.{STACK}.yaml"
    salt = [line for line in stack_file.read_text().splitlines() if line.startswith("encryptionsalt:")] if (
        stack_file.exists()) else []  # fmt: skip
    text = (ROOT / f"Pulumi.{STACK}.yaml").read_text()
    stack_file.write_text(text + "".join(f"{line}\n" for line in salt))
    return PROJECT


def stack_settings(node_registry: registry.Registry, base_image: str) -> tuple[dict[str, str], dict[str, str]]:
    """What the `local` stack takes from this start of the registry: (plain config, secret config). The build
    pushes with the push login; the pods' pull Secret holds the login that may only pull."""
    user, password = node_registry.credentials()
    pull_user, pull_password = node_registry.pull_credentials()
    plain = {"kubeport:registryUser": user, "kubeport:registryPullUser": pull_user, "kubeport:baseImage": base_image}
    return plain, {"kubeport:registryToken": password, "kubeport:registryPullToken": pull_password}


def application_settings(tools: Toolchain) -> tuple[dict[str, str], dict[str, str]]:
    """What an application stack on kubeport-node takes from this start of the registry: its login, and the
    stand-ins (tools/standin) for the five images Docker Hub and GitHub's registry would give:
    nginx-unprivileged, python, postgres, redis, versitygw."""
    node_registry = registry.Registry(catalog.registry_home())
    node_builder = builder.Builder(catalog.builder_home())

    def standin(kind: builder.Standin) -> str:
        return builder.base_image(node_builder, node_registry, tools, say=lambda _: None, standin=kind)

    plain, secret = stack_settings(node_registry, standin(builder.NGINX))
    plain |= {
        "kubeport:serviceBaseImage": standin(builder.PYTHON),
        "kubeport:postgresImage": standin(builder.POSTGRES),
        "kubeport:redisImage": standin(builder.REDIS),
        "kubeport:s3Image": standin(builder.VERSITYGW),
    }
    return plain, secret


def pulumi_env(tools: Toolchain, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment `eval "$(python -m tools env)"` gives a shell (the node's builder included), with the
    passphrase settled and BuildKit's plain progress."""
    environ = dict(os.environ if environ is None else environ)
    backend = environ.get("PULUMI_BACKEND_URL") or f"file://{ROOT / '.pulumi'}"
    env = dict(environ)
    docker = builder.Builder(catalog.builder_home()).docker_config
    python = ROOT / ".venv" / "bin" / "python"
    for line in shell_exports(tools, catalog.kubeconfig_path(), backend, python, docker_config=docker):
        name, _, value = line.removeprefix("export ").partition("=")
        if name == "PATH":
            env["PATH"] = f"{tools.bin}{os.pathsep}{environ.get('PATH', '')}"
        else:
            env[name] = value.strip("'")
    env.update(passphrase_env(environ))
    env.setdefault("BUILDKIT_PROGRESS", "plain")
    return env


def echo_line(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.flush()


def step(say: Callable[[str], None], text: str, started: float, command: str = "make up") -> None:
    say(f"[{command} {time.monotonic() - started:5.0f} s] {text}")


def up(say: Callable[[str], None] = print) -> int:
    started = time.monotonic()
    tools = toolchain()
    if tools.missing(NEEDED):
        step(say, "building the toolchain from Go modules (once; about 30 minutes on 2 cores, then cached)", started)
        if processes.attached([str(BUILD_SCRIPT)]) != 0:
            say("the toolchain did not build; see the log it names above")
            return 1
    else:
        step(say, f"toolchain: built ({tools.root})", started)
    node_missing = nodekinds.missing_real_node_prerequisites(tools)
    if node_missing and PACKAGES_SCRIPT.exists():
        # The Debian packages: installed (as root, or through sudo), saying which; anything else still missing is
        # named below.
        step(say, "installing the Debian packages the node needs (toolchain/install-packages)", started)
        processes.attached([str(PACKAGES_SCRIPT)])
        node_missing = nodekinds.missing_real_node_prerequisites(tools)
    if node_missing:
        say("the local node needs what is not installed:\n" + "\n".join(f"  - {line}" for line in node_missing))
        say("On Debian: sudo apt-get install containerd runc containernetworking-plugins iptables conntrack "
            "iproute2 docker-registry apache2-utils mmdebstrap openssl")  # fmt: skip
        return 1
    if catalog.REAL_NODE in {c.name for c in clusters.running()}:
        step(say, f"cluster {catalog.REAL_NODE}: running", started)
        clusters.write_kubeconfig()
    else:
        step(say, f"starting cluster {catalog.REAL_NODE}: control plane, node, registry, BuildKit", started)
        clusters.up([catalog.REAL_NODE])
    node_registry = registry.Registry(catalog.registry_home())
    node_builder = builder.Builder(catalog.builder_home())
    step(say, "base image: the stand-in for nginx-unprivileged in the local registry", started)
    base = builder.base_image(node_builder, node_registry, tools, say)
    env = pulumi_env(tools)
    project = local_project()

    pulumi = pulumi_runner(tools, env, project)
    failed = configure(pulumi, STACK, *stack_settings(node_registry, base))
    if failed:
        say(failed)
        return 1
    step(say, f"pulumi up --stack {STACK}: build app/, push, deploy, wait for the smoke check", started)
    # --refresh: the state may be of a cluster that was stopped since (make clusters-down); refresh reads it anew.
    deployed = pulumi("up", "--yes", "--skip-preview", "--refresh", "--stack", STACK, stream=True, timeout=1800)
    if deployed.code != 0:
        say("pulumi up failed (above). The cluster keeps running; `make down` stops everything.")
        return 1
    url = pulumi("stack", "output", "url", "--stack", STACK).stdout.strip()
    step(say, f"done: the app answers at {url}  (stop everything: make down)", started)
    return 0


class Pulumi(Protocol):
    def __call__(
        self, *args: str, stream: bool = False, timeout: float = 120, input_text: str | None = None
    ) -> processes.Done: ...


def pulumi_runner(tools: Toolchain, env: Mapping[str, str], project: Path) -> Pulumi:
    """`pulumi ARGS --non-interactive` in `project` with `env`; `stream` echoes its output as it comes."""

    def pulumi(*args: str, stream: bool = False, timeout: float = 120, input_text: str | None = None) -> processes.Done:
        return processes.run(
            [str(tools.tool("pulumi")), *args, "--non-interactive"], timeout=timeout, env=env, cwd=project,
            echo=echo_line if stream else None, input_text=input_text,
        )  # fmt: skip

    return pulumi


def configure(pulumi: Pulumi, stack: str, plain: Mapping[str, str], secret: Mapping[str, str]) -> str | None:
    """Select (or create) `stack` and set its config; what failed, or None. Secrets go through standard input: a
    command line is readable by every local user."""
    steps = [("stack", "select", "--create", stack), *(("config", "set", k, v, "--stack", stack)
                                                        for k, v in plain.items())]  # fmt: skip
    for args in steps:
        done = pulumi(*args)
        if done.code != 0:
            return done.describe()
    for key, value in secret.items():
        done = pulumi("config", "set", "--secret", key, "--stack", stack, input_text=value)
        if done.code != 0:
            return f"pulumi config set --secret {key} --stack {stack} failed: {done.stderr.strip()[-500:]}"
    return None


def login(stack: str, application: bool = False, say: Callable[[str], None] = print) -> int:
    """`python -m tools local-login STACK [--application]`: the registry's logins and the stand-in images, set on
    a stack of this checkout (created when missing) that deploys to kubeport-node."""
    tools = toolchain()
    if tools.missing(NEEDED):
        say(f"not built: {', '.join(tools.missing(NEEDED))}; run `make toolchain`")
        return 1
    if catalog.REAL_NODE not in {c.name for c in clusters.running()}:
        say(f"{catalog.REAL_NODE} is not running: start it with `make clusters` (or `python -m tools clusters "
            f"up {catalog.REAL_NODE}`), then run this again")  # fmt: skip
        return 1
    node_registry = registry.Registry(catalog.registry_home())
    node_builder = builder.Builder(catalog.builder_home())
    if application:
        plain, secret = application_settings(tools)
    else:
        plain, secret = stack_settings(node_registry, builder.base_image(node_builder, node_registry, tools, say))
    failed = configure(pulumi_runner(tools, pulumi_env(tools), ROOT), stack, plain, secret)
    if failed:
        say(failed)
        return 1
    say(f"stack {stack}: " + ", ".join(f"{k}={v}" for k, v in plain.items()))
    say(f"stack {stack}: secrets {', '.join(secret)} set (they change with each start of the registry: run this "
        f"again after `make clusters`)")  # fmt: skip
    say(f'next: pulumi up --stack {stack}   (in a shell with `eval "$(.venv/bin/python -m tools env)"`)')
    return 0


def down(say: Callable[[str], None] = print) -> int:
    started = time.monotonic()
    tools = toolchain()
    if not tools.missing(("pulumi",)) and catalog.REAL_NODE in {c.name for c in clusters.running()}:
        env = pulumi_env(tools)
        project = local_project()
        listed = processes.run([str(tools.tool("pulumi")), "stack", "ls", "--non-interactive"], timeout=60, env=env,
                               cwd=project)  # fmt: skip
        if any(line.split()[:1] in ([STACK], [f"{STACK}*"]) for line in listed.stdout.splitlines()):
            step(say, f"pulumi destroy --stack {STACK}", started, "make down")
            processes.run([str(tools.tool("pulumi")), "destroy", "--yes", "--stack", STACK, "--non-interactive"],
                          timeout=900, env=env, cwd=project, echo=echo_line)  # fmt: skip
    step(say, "stopping the local clusters", started, "make down")
    clusters.down([c.name for c in clusters.running()] or [catalog.REAL_NODE])
    step(say, "done: nothing of kubeport's runs on this machine", started, "make down")
    return 0


def main(argv: list[str]) -> int:
    return up() if argv[:1] == ["up"] else down()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
