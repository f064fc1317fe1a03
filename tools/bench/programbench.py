"""`make bench`: how long evaluating each stack's program takes under mocks, against floors from the same run.

Every measurement runs in a fresh interpreter (imports are most of the cost and must not be cached) and
times the whole evaluation, imports included. Floors:
- baseline: import pulumi and pulumi_kubernetes and register one Deployment under the same mocks;
- per cloud stack: import exactly the provider SDK modules that stack's program imports (its cloud's,
  pulumi_kubernetes' and pulumi_docker_build's), plus that one Deployment.
Goals: every stack <= 1.5x its floor (minikube and existing: the baseline); 100 WebApps <= 12x the time of 10.
An app stack is timed on its own program: its cluster stack's outputs are computed first, outside the timing,
and handed to it as the stack reference's value (as the engine would).
Then, when the real-run toolchain is built, the real thing: tools/bench/realbench.py, and migrate's write stop by
the size of the data: tools/bench/migratebench.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()

from stacks.config.target import cloud_sdks  # noqa: E402 - after START: the bench's own clock starts first
from tools import processes  # noqa: E402
from tools.stack_files import ROOT  # noqa: E402

CLOUD_PACKAGES = cloud_sdks()
SDK_PACKAGES = {*CLOUD_PACKAGES.values(), "pulumi_kubernetes", "pulumi_docker_build"}
STACK_GOAL = 1.5
SCALE_GOAL = 12.0
REFERENCES = "references.json"

ONE_DEPLOYMENT = """
import importlib
import pulumi_kubernetes as k8s

for module in {modules!r}:
    importlib.import_module(module)

provider = k8s.Provider("bench", context="bench")
k8s.apps.v1.Deployment(
    "one",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="one"),
    spec=k8s.apps.v1.DeploymentSpecArgs(
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels={{"app": "one"}}),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={{"app": "one"}}),
            spec=k8s.core.v1.PodSpecArgs(containers=[k8s.core.v1.ContainerArgs(name="web", image="nginx:1.29")]),
        ),
    ),
    opts=__import__("pulumi").ResourceOptions(provider=provider),
)
"""

MANY_WEBAPPS = """
import stacks
from components import WebApp, WebAppArgs

settings = stacks.load_settings()
platform = stacks.platform_for(settings)
for i in range({count}):
    WebApp(f"svc{{i}}", WebAppArgs(platform=platform, image="kubeport/web:0123456789abcdef", namespace=f"svc{{i}}"))
"""


def probe(kind: str, arg: str, program_dir: str) -> None:
    """Child side: evaluate one program under mocks and print the elapsed time and the modules loaded."""
    from tools.verify.fake_clouds import FakeCloud  # noqa: PLC0415 - timed: the import is part of the cost
    from tools.verify.mock_runner import run_program  # noqa: PLC0415 - timed: the import is part of the cost

    program = None
    mocks = None
    stack = arg
    if kind == "floor":
        program = Path(program_dir) / "floor.py"
        program.write_text(ONE_DEPLOYMENT.format(modules=json.loads(arg)))
        stack = "dev"
    elif kind == "many":
        program = Path(program_dir) / "many.py"
        program.write_text(MANY_WEBAPPS.format(count=int(arg)))
        stack = "dev"
    elif kind == "stackref":
        references = json.loads((Path(program_dir) / REFERENCES).read_text())
        mocks = FakeCloud(references={name: (outputs, secrets) for name, (outputs, secrets) in references.items()})
    run = run_program(stack, program=program, mocks=mocks) if program else run_program(stack, mocks=mocks)
    if run.error is not None:
        raise SystemExit(f"{kind} {arg}: {run.error}")
    elapsed = time.perf_counter() - START
    modules = sorted(m for m in sys.modules if m.split(".")[0] in SDK_PACKAGES)
    print(json.dumps({"seconds": elapsed, "modules": modules, "resources": len(run.resources)}))


def measure(kind: str, arg: str, repeat: int, references: object = None) -> tuple[float, dict[str, object]]:
    """Median seconds over `repeat` fresh interpreters, and the last child's report."""
    times, report = [], {}
    with tempfile.TemporaryDirectory(prefix="kubeport-bench-") as tmp:
        if references is not None:
            (Path(tmp) / REFERENCES).write_text(json.dumps(references))
        for _ in range(repeat):
            done = processes.run(
                [sys.executable, "-m", "tools.bench", "--probe", kind, arg, tmp], cwd=ROOT, timeout=600
            )
            if done.code != 0:
                raise RuntimeError(f"the bench's probe {kind} {arg} failed: {done.stderr[-2000:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            times.append(float(report["seconds"]))
    return statistics.median(times), report


def main(repeat: int, real: bool = True) -> int:
    from tools.stack_files import stack_names  # noqa: PLC0415
    from tools.text import columns  # noqa: PLC0415

    rows: list[tuple[str, str, str, str, str]] = []
    ok = True
    baseline, _ = measure("floor", "[]", repeat)
    rows.append(("baseline: 1 Deployment", f"{baseline:.2f}", "", "", ""))
    for stack in stack_names():
        if stack_target(stack) == "stackref":
            seconds, report = measure("stackref", stack, repeat, app_references(stack))
        else:
            seconds, report = measure("stack", stack, repeat)
        floor_name, floor = "baseline", baseline
        if stack_target(stack) in CLOUD_PACKAGES:
            modules = [str(m) for m in report["modules"]]  # type: ignore[attr-defined]
            floor, _ = measure("floor", json.dumps(modules), repeat)
            floor_name = f"floor: {len(modules)} SDK modules + 1 Deployment = {floor:.2f}"
        ratio = seconds / floor
        ok &= ratio <= STACK_GOAL
        rows.append(
            (
                f"stack {stack} ({report['resources']} resources)",
                f"{seconds:.2f}",
                floor_name,
                f"{ratio:.2f}x",
                "ok" if ratio <= STACK_GOAL else f"MISSED (goal {STACK_GOAL}x)",
            )
        )
    ten, _ = measure("many", "10", repeat)
    hundred, _ = measure("many", "100", repeat)
    scale = hundred / ten
    ok &= scale <= SCALE_GOAL
    rows.append(("10 WebApps", f"{ten:.2f}", "", "", ""))
    rows.append(
        (
            "100 WebApps",
            f"{hundred:.2f}",
            "10 WebApps",
            f"{scale:.2f}x",
            "ok" if scale <= SCALE_GOAL else f"MISSED (goal {SCALE_GOAL}x)",
        )
    )

    header = ("program under mocks", "median s", "compared with", "ratio", "goal")
    print(f"median of {repeat} fresh interpreters each; Python {sys.version.split()[0]}")
    print("\n".join(columns([header, *rows])))
    if real:
        from tools.bench import migratebench, realbench  # noqa: PLC0415 - only this part needs the toolchain and clusters

        ok &= realbench.run() == 0
        ok &= migratebench.run() == 0
    return 0 if ok else 1


def app_references(stack: str) -> dict[str, tuple[dict[str, object], list[str]]]:
    """The outputs of an app stack's cluster stack, from that stack's own file run offline."""
    from tools.stack_files import stack_config  # noqa: PLC0415
    from tools.verify.mock_runner import cluster_references  # noqa: PLC0415

    config, _ = stack_config(stack)
    references = cluster_references(config, ROOT)
    if not references:
        reference = config.get("kubeport:clusterStack")
        raise SystemExit(f"stack {stack}: its cluster stack ({reference}) does not run offline")
    return references


def stack_target(stack: str) -> str:
    from tools.stack_files import stack_config  # noqa: PLC0415

    config, _ = stack_config(stack)
    return config.get("kubeport:target", "")


def cli(argv: list[str] | None = None) -> int:
    """`python -m tools.bench` (`make bench`): the program under mocks, then the real runs if the toolchain is built."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="fresh interpreters per measurement (median)")
    parser.add_argument("--no-real", action="store_true", help="skip the real runs (pulumi vs kubectl)")
    parser.add_argument("--probe", nargs=3, metavar=("KIND", "ARG", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        probe(*args.probe)
        return 0
    return main(args.repeat, real=not args.no_real)
