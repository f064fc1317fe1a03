"""The app's whole chain on the node that runs containers (part of `make bench`, tools/bench/realbench.py): `pulumi
up` of the local stack (build app/, push by digest, deploy, smoke check) against the same by hand, `buildctl build`
+ push with the same BuildKit and registry, then `kubectl apply --server-side` + `rollout status`; and a rolling
update (a new page) against `kubectl set image` + `rollout status`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from tools import processes
from tools.bench import eventlog
from tools.bench.measure import Timing, ok
from tools.localcluster import builder, catalog, localstack, realrun, registry
from tools.verify.mock_runner import ProgramRun, run_program
from tools.verify.render import api_version_and_kind

NODE = catalog.REAL_NODE


def objects_for_kubectl(run: ProgramRun) -> str:
    """A run's Kubernetes objects as kubectl applies them: the real values, secrets included (render redacts them)."""
    docs = []
    for obj in run.kubernetes_objects():
        api_version, kind = api_version_and_kind(obj.type)
        docs.append({"apiVersion": api_version, "kind": kind, **{k: v for k, v in obj.inputs.items()
                                                                 if k not in ("apiVersion", "kind")}})  # fmt: skip
    return yaml.safe_dump_all(docs, sort_keys=False)


def measure_node_chain(
    bench: realrun.Workbench, rounds: int, log: Path
) -> tuple[list[list[str]], dict[str, list[eventlog.Part]], str]:
    """The app's whole chain on the real node, Pulumi against BuildKit + kubectl with the same engine and registry.

    Both sides start from the same change (a new page, so a new layer to build and push) with BuildKit's cache
    warm from earlier builds, and end when the pods of the new build are Ready behind the Service. Then an `up`
    that changes nothing times the engine's fixed cost. Returns the table's rows, where the last round's first
    `up`, release and unchanged `up` spent their time (the engine's events), and the release's floor.

    Longer than 60 lines: each round times both sides in the order they run, with the closures they share (the
    page, the build, kubectl); spread over helpers, what is inside a timing would be harder to see.
    """
    node_registry = registry.Registry(catalog.registry_home())
    node_builder = builder.Builder(catalog.builder_home())
    base = builder.base_image(node_builder, node_registry, bench.tools, say=lambda _: None)
    plain, secret = localstack.stack_settings(node_registry, base)
    kubectl = [str(bench.tools.tool("kubectl")), "--context", NODE]
    buildctl = [str(bench.tools.tool("buildctl")), "--addr", node_builder.address]
    env = node_builder.env(bench.tools)
    page = bench.project / "app" / "site" / "index.html"
    original = page.read_text()
    timings = {name: Timing() for name in ("up", "update", "noop", "k-up", "k-update")}
    serial, proof = Timing(), Timing()
    parts: dict[str, list[eventlog.Part]] = {}

    def change_page(marker: str) -> None:
        page.write_text(original.replace("Hello from kubeport", f"Hello from kubeport ({marker})"))

    def build_and_push(tag: str) -> tuple[str, float]:
        metadata = bench.base / "build.json"
        started = time.monotonic()
        ok(processes.run([*buildctl, "build", "--frontend", "dockerfile.v0", "--local",
                          f"context={bench.project / 'app'}", "--local", f"dockerfile={bench.project / 'app'}",
                          "--opt", f"build-arg:BASE_IMAGE={base}", "--metadata-file", str(metadata), "--output",
                          f"type=image,name={node_registry.host}/kubeport/kubeport-web:{tag},push=true"],
                         timeout=900, env={**bench.env, **env}))  # fmt: skip
        digest = json.loads(metadata.read_text())["containerimage.digest"]
        return f"{node_registry.host}/kubeport/kubeport-web:{tag}@{digest}", time.monotonic() - started

    def k(*args: str, timeout: float = 600) -> processes.Done:
        return bench.run([*kubectl, *args], timeout=timeout)

    try:
        for i in range(rounds):
            stack = f"chain-{i}"
            bench.add_stack_file(stack, {**plain, "namespace": "chain", "nodePort": "30051"}, like="local")
            ok(bench.pulumi("stack", "init", stack))
            for key, value in secret.items():
                ok(bench.set_secret(stack, key, value))
            change_page(f"bench {i} pulumi first")
            up, events = eventlog.run_logged(lambda a: bench.pulumi(*a, timeout=1800),
                                             ["up", "--yes", "--skip-preview", "--stack", stack], log)  # fmt: skip
            timings["up"].seconds.append(ok(up))
            parts["first up"] = eventlog.breakdown(events, up.seconds)
            change_page(f"bench {i} pulumi update")
            update, events = eventlog.run_logged(lambda a: bench.pulumi(*a, timeout=1800),
                                                 ["up", "--yes", "--skip-preview", "--stack", stack], log)  # fmt: skip
            timings["update"].seconds.append(ok(update))
            parts["release (a new page)"] = eventlog.breakdown(events, update.seconds)
            serial.seconds.append(eventlog.serial_seconds(parts["release (a new page)"]))
            proof.seconds.append(eventlog.proof_seconds(parts["release (a new page)"]))
            # The same stack again, nothing changed: what the engine and the program cost any release.
            noop, events = eventlog.run_logged(lambda a: bench.pulumi(*a, timeout=1800),
                                               ["up", "--yes", "--skip-preview", "--stack", stack], log)  # fmt: skip
            timings["noop"].seconds.append(ok(noop))
            parts["up that changes nothing"] = eventlog.breakdown(events, noop.seconds)
            ok(bench.pulumi("destroy", "--yes", "--stack", stack, timeout=900))
            ok(bench.pulumi("stack", "rm", "--yes", stack))

            change_page(f"bench {i} kubectl first")
            ref, built = build_and_push(f"bench-{i}-a")
            manifests = bench.base / "chain.yaml"
            bench.add_stack_file("chain-k", like="local")
            run = run_program("chain-k", {**plain, "image": ref, "builder": None, "baseImage": None,
                                          "namespace": "chain-k", "nodePort": "30052"}, secret,
                              config_root=bench.project)  # fmt: skip
            if run.error is not None:
                raise RuntimeError(str(run.error))
            manifests.write_text(objects_for_kubectl(run))
            started = time.monotonic()
            ok(k("apply", "--server-side", "-f", str(manifests)))
            ok(k("--namespace", "chain-k", "rollout", "status", "deployment/web", "--timeout=600s"))
            ok(k("--namespace", "chain-k", "wait", "--for=condition=Ready", "pod/web-smoke", "--timeout=600s"))
            timings["k-up"].seconds.append(built + time.monotonic() - started)
            change_page(f"bench {i} kubectl update")
            ref, built = build_and_push(f"bench-{i}-b")
            started = time.monotonic()
            ok(k("--namespace", "chain-k", "set", "image", "deployment/web", f"web={ref}"))
            ok(k("--namespace", "chain-k", "rollout", "status", "deployment/web", "--timeout=600s"))
            timings["k-update"].seconds.append(built + time.monotonic() - started)
            ok(k("delete", "--wait", "-f", str(manifests)))
    finally:
        page.write_text(original)
    rows = []
    for pulumi, kube, what_p, what_k in (
        ("up", "k-up", "up: build, push, deploy, smoke check",
         "buildctl build + push, apply --server-side, rollout status, smoke Pod Ready"),
        ("update", "k-update", "up: new page, build, push, rolling update, smoke check",
         "buildctl build + push, set image, rollout status"),
    ):  # fmt: skip
        ratio = timings[pulumi].median / timings[kube].median
        rows.append([f"pulumi {what_p}", f"{timings[pulumi].median:.2f} s", f"kubectl: {what_k}",
                     f"{timings[kube].median:.2f} s", f"{ratio:.2f}x"])  # fmt: skip
    rows.append(["pulumi up that changes nothing (the engine's and the program's fixed cost)",
                 f"{timings['noop'].median:.2f} s", "-", "-", "-"])  # fmt: skip
    floor = eventlog.release_floor(serial.median, timings["k-update"].median, proof.median, timings["update"].median)
    return rows, parts, floor
