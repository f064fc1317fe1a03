"""Real runs of the program: the built Pulumi CLI against the local clusters, in a scratch copy of the project.

A `Workbench` is a temporary directory holding a copy of the program (its stack files may be edited there
freely), a file backend for the state and a PULUMI_HOME whose plugins are the ones built from Go modules;
it runs `pulumi` and `kubectl` with an environment that can reach nothing else (no plugin downloads, no
update check). Shared by the live tests (tests/live) and the real-run benchmark (`make bench`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from stacks.config import qualified
from tools import processes
from tools.localcluster import catalog, clusters, controlplane
from tools.processes import Done
from tools.stack_files import ROOT
from tools.toolchain import Toolchain, ToolchainMissingError, toolchain

PROJECT_FILES = ("__main__.py", "Pulumi.yaml", "stacks", "components", "app", "walkthrough", "tools")
"""The program and its tooling (the scratch project runs `python -m tools` too)."""
REAL_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "kubectl")
PASSPHRASE = "kubeport-real-runs"


def missing_prerequisites(tools: Toolchain | None = None) -> list[str]:
    """What a real run needs and this machine lacks, one line each."""
    tools = tools or toolchain()
    lines = [f"{name} not built" for name in tools.missing(REAL_TOOLS + controlplane.TOOLS)]
    plugin = tools.pulumi_home / "plugins"
    if not any(plugin.glob("resource-kubernetes-v*")):
        lines.append(f"the Kubernetes provider plugin is not installed in {plugin}")
    if shutil.which("openssl") is None:
        lines.append("openssl not found (it makes the local clusters' certificates)")
    if not (ROOT / ".venv" / "bin" / "python").exists():
        lines.append("the program's virtualenv .venv is missing (make venv)")
    if lines:
        lines.append("build the toolchain with `make toolchain`")
    return lines


class Workbench:
    """A scratch project, state backend and PULUMI_HOME; every command runs with a deadline."""

    def __init__(self, base: Path, tools: Toolchain | None = None, kubeconfig: Path | None = None) -> None:
        self.tools = tools or toolchain()
        missing = self.tools.missing(REAL_TOOLS)
        if missing:
            raise ToolchainMissingError(f"not built: {', '.join(missing)}; run `make toolchain`")
        self.base = base
        self.project = base / "project"
        self.state = base / "state"
        self.home = base / "pulumi-home"
        # The Kubernetes provider writes each kubeconfig it is given to a temp file for Helm and never removes
        # it: keep those credentials in this run's directory, not in the machine's /tmp.
        self.tmp = base / "tmp"
        for path in (self.project, self.state, self.home, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        for name in PROJECT_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, self.project / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, self.project / name)
        # Pulumi.yaml names the virtualenv .venv next to it: the checkout's own, with the pinned SDKs.
        (self.project / ".venv").symlink_to(ROOT / ".venv")
        # The plugins built from Go modules, shared read-only; everything else of PULUMI_HOME is this run's.
        (self.home / "plugins").symlink_to(self.tools.pulumi_home / "plugins")
        self.kubeconfig = kubeconfig or catalog.kubeconfig_path()
        venv_bin = ROOT / ".venv" / "bin"
        self.env = {
            "PATH": os.pathsep.join([str(venv_bin), str(self.tools.bin), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(base),
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": f"file://{self.state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_PYTHON_CMD": str(venv_bin / "python"),
            "KUBECONFIG": str(self.kubeconfig),
            "TMPDIR": str(self.tmp),
            # The node cluster's buildx builder (BuildKit on its socket) and the local registry's login.
            "DOCKER_CONFIG": str(catalog.builder_home() / "docker"),
            "NO_COLOR": "1",
            # Offers `--event-log` (the engine's events, which the benchmark reads its breakdown from).
            "PULUMI_DEBUG_COMMANDS": "true",
            "LANG": "C.UTF-8",
        }

    def add_stack_file(
        self, stack: str, config: Mapping[str, str | None] | None = None, like: str | None = None
    ) -> Path:
        """Write Pulumi.<stack>.yaml: a copy of the repo's Pulumi.<like>.yaml (default: same name), then `config`
        (a value of None removes the key)."""
        import yaml  # noqa: PLC0415

        source = ROOT / f"Pulumi.{like or stack}.yaml"
        data = yaml.safe_load(source.read_text()) if source.exists() else {"config": {}}
        data.setdefault("config", {})
        for key, value in (config or {}).items():
            if value is None:
                data["config"].pop(qualified(key), None)
            else:
                data["config"][qualified(key)] = value
        path = self.project / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def run(
        self,
        args: Sequence[str],
        timeout: float,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input_text: str | None = None,
    ) -> Done:
        return processes.run(
            args, timeout=timeout, env={**self.env, **(env or {})}, cwd=cwd or self.project, input_text=input_text
        )

    def pulumi(
        self, *args: str, timeout: float = 600, env: Mapping[str, str] | None = None, input_text: str | None = None
    ) -> Done:
        """`pulumi ARGS` in the scratch project; `env` adds to the workbench's environment for this command."""
        command = [str(self.tools.tool("pulumi")), *args, "--non-interactive"]
        return processes.run(
            command, timeout=timeout, env={**self.env, **(env or {})}, cwd=self.project, input_text=input_text
        )

    def set_secret(self, stack: str, key: str, value: str) -> Done:
        """`pulumi config set --secret KEY` with the value on its standard input, never on its command line (where
        any local user's `ps` would read it)."""
        return self.pulumi("config", "set", "--secret", key, "--stack", stack, input_text=value)

    def kubectl(self, context: str, *args: str, timeout: float = 60, input_text: str | None = None) -> Done:
        return self.run([str(self.tools.tool("kubectl")), "--context", context, *args], timeout, input_text=input_text)

    def kubectl_json(self, context: str, *args: str) -> dict[str, Any]:
        done = self.kubectl(context, *args, "-o", "json")
        if done.code != 0:
            raise AssertionError(done.describe())
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def stacks_cli(self, *args: str, timeout: float = 900) -> Done:
        """`python -m tools ...` from the scratch project (its Automation API uses this environment)."""
        return self.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "tools", *args], timeout)

    def state_resources(self, stack: str) -> list[dict[str, Any]]:
        """The resources in the stack's state (`pulumi stack export`)."""
        done = self.pulumi("stack", "export", "--stack", stack, timeout=120)
        if done.code != 0:
            raise AssertionError(done.describe())
        deployment = json.loads(done.stdout).get("deployment") or {}
        resources: list[dict[str, Any]] = deployment.get("resources") or []
        return resources


@dataclass(frozen=True)
class AuditEvent:
    """One change the API server recorded: what, to which object, by whom, and when it completed."""

    verb: str
    resource: str
    namespace: str
    name: str
    user_agent: str
    code: int
    at: datetime


def audit_events(log: Path, since: datetime | None = None) -> list[AuditEvent]:
    """The API server's own record of changes (its audit log), oldest first."""
    events = []
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        if entry.get("stage") != "ResponseComplete":
            continue
        ref = entry.get("objectRef") or {}
        at = datetime.fromisoformat(entry["stageTimestamp"].replace("Z", "+00:00"))
        if since is not None and at < since:
            continue
        events.append(
            AuditEvent(
                verb=entry["verb"],
                resource=ref.get("resource", ""),
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                user_agent=entry.get("userAgent", ""),
                code=int((entry.get("responseStatus") or {}).get("code", 0)),
                at=at,
            )
        )
    return sorted(events, key=lambda e: e.at)


def preview_steps(stdout: str) -> list[dict[str, Any]]:
    """The steps of `pulumi preview --json`."""
    steps: list[dict[str, Any]] = json.loads(stdout).get("steps") or []
    return steps


@dataclass
class ClusterSession:
    """The local clusters for one session: started if they were not running, stopped only if started here."""

    started_here: bool
    kubeconfig: Path

    @classmethod
    def open(cls) -> ClusterSession:
        running = {c.name for c in clusters.running()}
        if running >= set(catalog.CLUSTERS):
            return cls(False, clusters.write_kubeconfig())
        return cls(True, clusters.up())

    def close(self) -> None:
        if self.started_here:
            clusters.down()


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happened."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)
