"""The real-run benchmark: `pulumi preview`, `up` and `destroy` of the local-a stack on cluster A, against
kubectl doing the same with the same rendered manifests on the same API server, in the same run.

- preview  vs `kubectl apply --server-side --dry-run=server` (the namespace exists for kubectl's dry run:
  the API server cannot dry-run objects into a namespace that does not exist; Pulumi previews a fresh stack);
- up       vs `kubectl apply --server-side` + `kubectl rollout status` + `kubectl wait` for the smoke Pod
  (what Pulumi's awaits wait for);
- destroy  vs `kubectl delete --wait` of the same files.
Each is the median of ROUNDS rounds. Where Pulumi's time goes is measured, not guessed: the CLI alone, an
empty Python program (engine, language host, Python SDK), a program with only the Kubernetes provider
(plugin start), the program itself under mocks, and the per-resource durations `pulumi up` prints.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tools import processes, realrun
from tools.stack_files import ROOT
from tools.text import columns

STACK = "local-a"
CONTEXT = "kubeport-a"
NAMESPACE = "kubeport"
ROUNDS = 3
ANCHOR = "pulumi/pulumi#13757 reports a 42 s preview for 23 Kubernetes resources"
EMPTY_PROGRAM = "import pulumi\n"
PROVIDER_ONLY = (
    "import pulumi_kubernetes as k8s\n"
    "k8s.Provider('only', context='kubeport-a', cluster_identifier='context/kubeport-a')\n"
)


@dataclass
class Timing:
    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def seconds(done: processes.Done) -> float:
    """The wall time of a command that must have succeeded."""
    if done.code != 0:
        raise RuntimeError(done.describe())
    return done.seconds


def resource_durations(up_output: str) -> dict[str, float]:
    """`+ <type> <name> created (12.3s)` lines of `pulumi up`: how long each resource's create (and await) took."""
    found = {}
    for kind, name, seconds in re.findall(r"\+\s+(\S+)\s+(\S+)\s+created \(([\d.]+)s\)", up_output):
        found[f"{kind} {name}"] = float(seconds)
    return found


def small_project(bench: realrun.Workbench, name: str, program: str) -> Path:
    """A second project beside the program's, sharing its virtualenv, to time Pulumi without kubeport."""
    project = bench.base / name
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {ROOT / '.venv'}\n"
    )
    (project / "__main__.py").write_text(program)
    return project


def run(rounds: int = ROUNDS) -> int:
    missing = realrun.missing_prerequisites()
    if missing:
        print(f"real runs: not measured ({'; '.join(missing)})")
        return 0
    clusters = realrun.ClusterSession.open()
    try:
        with realrun.scratch("kubeport-bench-") as base:
            return _measure(realrun.Workbench(base, kubeconfig=clusters.kubeconfig), rounds)
    finally:
        clusters.close()


def _measure(bench: realrun.Workbench, rounds: int) -> int:
    bench.add_stack_file(STACK)
    manifests = bench.base / "manifests"
    render = bench.run([sys.executable, "-m", "tools", "render", STACK, "--out", str(manifests)], timeout=300)
    if render.code != 0:
        raise RuntimeError(render.describe())
    files = ["-f", str(manifests)]
    namespace_file = next(manifests.glob("*-namespace-*.yaml"))
    timings = {name: Timing(name, []) for name in ("preview", "up", "destroy", "dry-run", "apply", "delete")}
    durations: list[dict[str, float]] = []
    resources = 0

    def k(*args: str, timeout: float = 300) -> processes.Done:
        return bench.run([str(bench.tools.tool("kubectl")), "--context", CONTEXT, *args], timeout=timeout)

    def gone() -> bool:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if k("get", "namespace", NAMESPACE).code != 0:
                return True
            time.sleep(0.5)
        return False

    for i in range(rounds):
        stack = f"{STACK}-{i}"
        bench.add_stack_file(stack, like=STACK)
        bench.pulumi("stack", "init", stack)
        preview = bench.pulumi("preview", "--stack", stack)
        timings["preview"].seconds.append(seconds(preview))
        planned = re.search(r"\+ (\d+) to create", preview.stdout)
        resources = int(planned.group(1)) if planned else 0
        up = bench.pulumi("up", "--yes", "--skip-preview", "--stack", stack)
        timings["up"].seconds.append(seconds(up))
        durations.append(resource_durations(up.stdout))
        timings["destroy"].seconds.append(seconds(bench.pulumi("destroy", "--yes", "--stack", stack)))
        bench.pulumi("stack", "rm", "--yes", stack)
        assert gone(), "namespace left after destroy"

        k("apply", "--server-side", "-f", str(namespace_file))
        timings["dry-run"].seconds.append(seconds(k("apply", "--server-side", "--dry-run=server", *files)))
        k("delete", "-f", str(namespace_file), "--wait")
        assert gone()

        def apply_and_wait() -> processes.Done:
            started = time.monotonic()
            for step in (
                ("apply", "--server-side", *files),
                ("--namespace", NAMESPACE, "rollout", "status", "deployment/web", "--timeout=300s"),
                ("--namespace", NAMESPACE, "wait", "--for=condition=Ready", "pod/web-smoke", "--timeout=300s"),
            ):
                done = k(*step)
                if done.code != 0:
                    return done
            return processes.Done(("kubectl apply + wait",), 0, "", "", time.monotonic() - started)

        timings["apply"].seconds.append(seconds(apply_and_wait()))
        timings["delete"].seconds.append(seconds(k("delete", "--wait", "--ignore-not-found", *files)))
        assert gone()

    # Where Pulumi's time goes.
    pulumi = str(bench.tools.tool("pulumi"))
    parts = {
        "CLI start (pulumi version)": statistics.median(
            seconds(bench.run([pulumi, "version"], 60)) for _ in range(rounds)
        )
    }
    for label, name, program in (
        ("preview of an empty Python program", "empty", EMPTY_PROGRAM),
        ("preview of a program with only the Kubernetes provider", "provider-only", PROVIDER_ONLY),
    ):
        project = small_project(bench, name, program)
        bench.run([pulumi, "stack", "init", "bench", "--non-interactive"], 60, project)
        runs = [seconds(bench.run([pulumi, "preview", "--non-interactive"], 300, project)) for _ in range(rounds)]
        parts[label] = statistics.median(runs)
    parts["kubeport's program under mocks (fresh interpreter)"] = statistics.median(
        _program_seconds() for _ in range(rounds)
    )
    awaits = {key: statistics.median(d.get(key, 0.0) for d in durations) for key in durations[0]}

    print(f"\nReal runs: stack {STACK} on {CONTEXT} (API server + controllers + kwok), median of {rounds}")
    pairs = [("preview", "dry-run", "kubectl apply --server-side --dry-run=server"),
             ("up", "apply", "kubectl apply --server-side + rollout status + wait smoke Pod"),
             ("destroy", "delete", "kubectl delete --wait")]  # fmt: skip
    rows = [
        [f"pulumi {p}", f"{timings[p].median:.2f} s", kubectl_name, f"{timings[q].median:.2f} s",
         f"{timings[p].median / timings[q].median:.1f}x"]
        for p, q, kubectl_name in pairs
    ]  # fmt: skip
    print(table(["pulumi", "time", "kubectl, same manifests", "time", "ratio"], rows))
    preview_median = timings["preview"].median
    print(f"anchor: {ANCHOR}; here {resources} resources (the stack included) previewed in {preview_median:.2f} s")
    print("\nWhere a pulumi up's time goes (medians):")
    print(table(["part", "seconds"], [[name, f"{value:.2f}"] for name, value in parts.items()]))
    slowest = sorted(awaits.items(), key=lambda item: -item[1])[:5]
    print(table(["resource created (and awaited)", "seconds"], [[n, f"{v:.2f}"] for n, v in slowest]))
    return 0


def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(columns([header, *rows]))


def _program_seconds() -> float:
    script = "from tools.mock_runner import run_program; assert run_program('local-a').error is None"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=300, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(run())
