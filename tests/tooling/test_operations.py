"""migrate, preview/up/destroy plumbing and the smoke check, with a fake workspace (no CLI needed)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.local_http import QuietHandler, serving
from tools.ops.migrate import migrate
from tools.ops.operations import PREVIEW_ENV, AutomationWorkspace, OperationError
from tools.ops.smoke import SmokeResult, image_identity, smoke_check
from tools.stack_files import ROOT

SOURCE_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:5aa1faafced97aae@sha256:" + "a" * 64
TARGET_IMAGE = "europe-west1-docker.pkg.dev/acme/kubeport/kubeport-web:5aa1faafced97aae@sha256:" + "b" * 64


class FakeWorkspace:
    """Records every call; fails at the step named in `fail_at`."""

    def __init__(self, fail_at: str = "") -> None:
        self.fail_at = fail_at
        self.calls: list[tuple[str, str]] = []

    def _call(self, step: str, stack: str) -> None:
        self.calls.append((step, stack))
        if step == self.fail_at:
            raise RuntimeError(f"{step} exploded")

    def preview(self, stack: str) -> Mapping[str, int]:
        self._call("preview", stack)
        return {"create": 40, "same": 0}

    def up(self, stack: str) -> dict[str, Any]:
        self._call("up", stack)
        return {"url": "http://203.0.113.10", "image": TARGET_IMAGE}

    def destroy(self, stack: str) -> None:
        self._call("destroy", stack)

    def outputs(self, stack: str) -> dict[str, Any]:
        self._call("outputs", stack)
        return {"image": SOURCE_IMAGE, "url": "http://k8s.elb.example.com"} if stack == "eks" else {}

    def config(self, stack: str) -> dict[str, str]:
        return {"kubeport:target": stack}

    def cluster_kubeconfig(self, reference: str) -> str:
        self._call("cluster_kubeconfig", reference)
        return f"# kubeconfig of {reference}\n"


def passing_check(url: str, image: str) -> SmokeResult:
    return SmokeResult(image=TARGET_IMAGE, same_digest=False)


def failing_check(url: str, image: str) -> SmokeResult:
    raise OperationError("/healthz answered 503")


def touched_source(ws: FakeWorkspace) -> list[tuple[str, str]]:
    """Every call on the source stack that could change it (reading its outputs cannot)."""
    return [c for c in ws.calls if c[1] == "eks" and c[0] != "outputs"]


@pytest.mark.parametrize("step", ["preview", "up"])
def test_a_failure_before_the_smoke_check_leaves_the_source_untouched(step: str) -> None:
    ws = FakeWorkspace(fail_at=step)
    with pytest.raises(OperationError) as err:
        migrate("eks", "gke", ws, destroy_source=True, yes=True, say=lambda _: None, check=passing_check)
    assert touched_source(ws) == []
    assert "untouched" in str(err.value) or "Nothing was changed" in str(err.value)
    assert (step, "gke") in ws.calls


def test_a_failed_smoke_check_never_destroys_the_source() -> None:
    ws = FakeWorkspace()
    with pytest.raises(OperationError) as err:
        migrate("eks", "gke", ws, destroy_source=True, yes=True, say=lambda _: None, check=failing_check)
    assert touched_source(ws) == []
    assert "'eks' is untouched" in str(err.value) and "destroy gke" in str(err.value)


def test_destroy_source_runs_only_after_a_passed_smoke_check() -> None:
    ws = FakeWorkspace()
    checked: list[str] = []

    def check(url: str, image: str) -> SmokeResult:
        checked.append(url)
        assert ("destroy", "eks") not in ws.calls
        return passing_check(url, image)

    migrate("eks", "gke", ws, destroy_source=True, yes=True, say=lambda _: None, check=check)
    assert checked == ["http://203.0.113.10"]
    assert ws.calls == [("outputs", "eks"), ("preview", "gke"), ("up", "gke"), ("destroy", "eks")]


@pytest.mark.parametrize(
    ("answer", "destroyed"), [("n", False), ("", False), ("no", False), ("y", True), ("YES", True)]
)
def test_without_yes_it_asks_and_only_yes_destroys(answer: str, destroyed: bool) -> None:
    ws = FakeWorkspace()
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return answer

    migrate("eks", "gke", ws, destroy_source=True, ask=ask, say=lambda _: None, check=passing_check)
    assert len(asked) == 1 and "eks" in asked[0]
    assert (("destroy", "eks") in ws.calls) is destroyed


def test_without_destroy_source_nothing_is_asked_or_destroyed() -> None:
    ws = FakeWorkspace()
    said: list[str] = []
    migrate("eks", "gke", ws, ask=lambda _: pytest.fail("asked"), say=said.append, check=passing_check)
    assert touched_source(ws) == []
    assert "eks is kept" in said[-1]


def test_a_source_that_was_never_deployed_stops_before_anything() -> None:
    ws = FakeWorkspace()
    with pytest.raises(OperationError, match="deploy it first"):
        migrate("aks", "gke", ws, say=lambda _: None, check=passing_check)
    assert ws.calls == [("outputs", "aks")]


def test_a_failed_destroy_explains_protection() -> None:
    ws = FakeWorkspace(fail_at="destroy")
    with pytest.raises(OperationError, match="releaseProtection"):
        migrate("eks", "gke", ws, destroy_source=True, yes=True, say=lambda _: None, check=passing_check)


def test_same_stack_is_refused() -> None:
    with pytest.raises(OperationError):
        migrate("eks", "eks", FakeWorkspace(), say=lambda _: None)


# --- smoke check ----------------------------------------------------------------------------------


def fake_fetch(answers: list[tuple[int, bytes]]) -> tuple[list[str], Any]:
    seen: list[str] = []

    def fetch(url: str) -> tuple[int, bytes]:
        seen.append(url)
        return answers.pop(0) if answers else (503, b"")

    return seen, fetch


def info(image: str) -> bytes:
    return json.dumps({"image": image, "target": "gke"}).encode()


PAGE = (200, b"<!doctype html><html><title>kubeport</title><h1>Hello from kubeport</h1>")


def test_smoke_check_passes_on_the_same_build() -> None:
    seen, fetch = fake_fetch([(200, b"ok\n"), PAGE, (200, info(TARGET_IMAGE))])
    result = smoke_check("http://203.0.113.10", SOURCE_IMAGE, fetch=fetch, sleep=lambda _: None)
    assert result == SmokeResult(image=TARGET_IMAGE, same_digest=False)
    assert seen == ["http://203.0.113.10/healthz", "http://203.0.113.10/", "http://203.0.113.10/info"]


def test_smoke_check_needs_the_apps_page_not_just_a_healthz() -> None:
    """Something else answering /healthz (a default backend, another app) is not the app."""
    _, fetch = fake_fetch([(200, b"ok"), (200, b"<title>Welcome to nginx!</title>")] * 3)
    with pytest.raises(OperationError, match="without the app's page"):
        smoke_check("http://x.example", SOURCE_IMAGE, fetch=fetch, sleep=lambda _: None, attempts=3)


def test_smoke_check_reports_an_identical_digest() -> None:
    _, fetch = fake_fetch([(200, b"ok"), PAGE, (200, info(SOURCE_IMAGE))])
    assert smoke_check("http://x.example", SOURCE_IMAGE, fetch=fetch, sleep=lambda _: None).same_digest


def test_smoke_check_waits_for_a_new_load_balancer_a_bounded_time() -> None:
    slept: list[float] = []
    _, fetch = fake_fetch([(503, b""), (502, b""), (200, b"ok"), PAGE, (200, info(TARGET_IMAGE))])
    smoke_check("http://x.example", SOURCE_IMAGE, fetch=fetch, sleep=slept.append, attempts=5, interval=2.0)
    assert slept == [2.0, 2.0]
    seen, fetch = fake_fetch([])
    with pytest.raises(OperationError, match="after 4 attempts"):
        smoke_check("http://x.example", SOURCE_IMAGE, fetch=fetch, sleep=lambda _: None, attempts=4)
    assert len(seen) == 4


def test_smoke_check_refuses_another_build() -> None:
    other = "registry.example/kubeport-web:ffffffffffffffff@sha256:" + "c" * 64
    _, fetch = fake_fetch([(200, b"ok"), PAGE, (200, info(other))])
    with pytest.raises(OperationError, match="not the source's"):
        smoke_check("http://x.example", SOURCE_IMAGE, fetch=fetch, sleep=lambda _: None)


def test_smoke_check_needs_a_url() -> None:
    with pytest.raises(OperationError, match="no reachable url"):
        smoke_check("kubectl get service web", SOURCE_IMAGE, sleep=lambda _: None)


def test_image_identity() -> None:
    assert image_identity("localhost:5001/kubeport-web:abc@sha256:1") == ("abc", "sha256:1")
    assert image_identity("kubeport/web:abc") == ("abc", "")


@pytest.fixture
def app_server() -> Iterator[str]:
    """A stand-in app on 127.0.0.1 answering /healthz and /info like the real page."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server dispatches by this name
            body = {"/healthz": b"ok\n", "/": PAGE[1], "/info": info(TARGET_IMAGE)}.get(self.path)
            self.reply(200 if body else 404, body or b"")

    with serving(Handler) as base:
        yield base


def test_smoke_check_over_real_http(app_server: str) -> None:
    result = smoke_check(app_server, SOURCE_IMAGE, sleep=lambda _: None, attempts=3)
    assert result.image == TARGET_IMAGE


def test_automation_workspace_without_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(OperationError, match=r"get\.pulumi\.com"):
        AutomationWorkspace()


class RecordedStack:
    """Stands in for the Automation API's stack: answers preview, up and destroy."""

    def preview(self, **_: Any) -> Any:
        return type("Result", (), {"change_summary": {"same": 11}})()

    def up(self, **_: Any) -> Any:
        return type("Result", (), {"outputs": {}})()

    def destroy(self, **_: Any) -> None:
        return None


def test_only_previews_skip_the_engines_state_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: "/usr/local/bin/pulumi")
    workspace = AutomationWorkspace(echo=lambda _: None)
    made: list[tuple[str, dict[str, str]]] = []

    def stack(name: str, env: Mapping[str, str] | None = None) -> RecordedStack:
        made.append((name, {**workspace.env, **(env or {})}))
        return RecordedStack()

    monkeypatch.setattr(workspace, "_stack", stack)
    workspace.preview("a")
    workspace.up("a")
    workspace.destroy("a")
    previewed, deployed, destroyed = (env for _, env in made)
    assert previewed.get("PULUMI_SKIP_CHECKPOINTS") == "true"
    # up and destroy keep every checkpoint: the record of what exists if the CLI dies midway
    assert "PULUMI_SKIP_CHECKPOINTS" not in deployed
    assert "PULUMI_SKIP_CHECKPOINTS" not in destroyed


def test_make_preview_alone_skips_the_state_copies() -> None:
    recipes: dict[str, str] = {}
    target = ""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line and not line[0].isspace() and ":" in line and not line.startswith("#"):
            target = line.split(":", 1)[0]
        elif line.startswith("\t"):
            recipes[target] = recipes.get(target, "") + line + "\n"
    skipping = {name for name, recipe in recipes.items() if "PULUMI_SKIP_CHECKPOINTS" in recipe}
    assert skipping == {"preview"}
    assert "PULUMI_SKIP_CHECKPOINTS=true pulumi preview" in recipes["preview"]
    assert "export PULUMI_SKIP_CHECKPOINTS" not in (ROOT / "Makefile").read_text()
    assert PREVIEW_ENV == {"PULUMI_SKIP_CHECKPOINTS": "true"}


# --- the smoke check through the API server (targets without a reachable url) -----------------------


def cluster_objects(
    replicas: int, available: int, images: list[str], ready: bool | list[bool] = True
) -> dict[str, Any]:
    pods: list[dict[str, Any]] = [
        {
            "metadata": {"name": f"web-{i}"},
            "spec": {"containers": [{"name": "web", "image": image}]},
            "status": {"podIP": f"10.244.0.{i + 10}"},
        }
        for i, image in enumerate(images)
    ]
    each = ready if isinstance(ready, list) else [ready] * len(pods)
    endpoints = [
        {"addresses": [p["status"]["podIP"]], "conditions": {"ready": r}} for p, r in zip(pods, each, strict=True)
    ]
    return {
        "deployments": {"items": [{"spec": {"replicas": replicas}, "status": {"availableReplicas": available}}]},
        "pods": {"items": pods},
        "endpointslices": {"items": [{"endpoints": endpoints}]},
    }


def fake_kubectl(states: list[dict[str, Any]]) -> tuple[list[list[str]], Any]:
    """kubectl answering `get <kind>` from one state per attempt (a new attempt starts at `deployments`)."""
    calls: list[list[str]] = []
    attempt = [-1]

    def kubectl(args: list[str]) -> str:
        calls.append(args)
        kind = args[args.index("get") + 1]
        if kind == "deployments":
            attempt[0] += 1
        return json.dumps(states[min(attempt[0], len(states) - 1)][kind])

    return calls, kubectl


def test_cluster_smoke_check_passes_when_every_replica_is_available_and_listed_ready() -> None:
    from tools.ops.smoke import cluster_smoke_check

    calls, kubectl = fake_kubectl([cluster_objects(2, 2, [SOURCE_IMAGE, SOURCE_IMAGE])])
    result = cluster_smoke_check(
        ["--context", "kubeport-b"], "kubeport", SOURCE_IMAGE, kubectl=kubectl, sleep=lambda _: None
    )
    assert result == SmokeResult(image=SOURCE_IMAGE, same_digest=True)
    assert all(c[:4] == ["--context", "kubeport-b", "--namespace", "kubeport"] for c in calls)


def test_cluster_smoke_check_waits_for_availability_and_ready_endpoints_a_bounded_time() -> None:
    from tools.ops.smoke import cluster_smoke_check

    states = [
        cluster_objects(2, 1, [SOURCE_IMAGE]),
        cluster_objects(2, 2, [SOURCE_IMAGE, SOURCE_IMAGE], ready=False),
        cluster_objects(2, 2, [TARGET_IMAGE, TARGET_IMAGE]),
    ]
    _, kubectl = fake_kubectl(states)
    result = cluster_smoke_check(["--context", "b"], "kubeport", SOURCE_IMAGE, kubectl=kubectl, sleep=lambda _: None)
    assert result.same_digest is False  # the same build, rebuilt elsewhere
    _, never = fake_kubectl([cluster_objects(3, 1, [SOURCE_IMAGE])])
    with pytest.raises(OperationError, match="1 of 3 replicas available"):
        cluster_smoke_check(
            ["--context", "b"], "kubeport", SOURCE_IMAGE, kubectl=never, sleep=lambda _: None, attempts=4
        )


@pytest.mark.parametrize("ready", [[True, True, False], [False, True, True], [True, False, False]])
def test_cluster_smoke_check_needs_every_web_pod_as_a_ready_endpoint(ready: list[bool]) -> None:
    """Available replicas are not enough: each web pod must be a ready endpoint of the Service."""
    from tools.ops.smoke import cluster_smoke_check

    _, kubectl = fake_kubectl([cluster_objects(3, 3, [SOURCE_IMAGE] * 3, ready=ready)])
    with pytest.raises(OperationError, match=f"list {sum(ready)} of 3 web pods as ready"):
        cluster_smoke_check(
            ["--context", "b"], "kubeport", SOURCE_IMAGE, kubectl=kubectl, sleep=lambda _: None, attempts=3
        )


def test_cluster_smoke_check_refuses_another_build() -> None:
    from tools.ops.smoke import cluster_smoke_check

    other = "registry.example/kubeport-web:0000000000000000"
    _, kubectl = fake_kubectl([cluster_objects(1, 1, [other])])
    with pytest.raises(OperationError, match="not the source's"):
        cluster_smoke_check(["--context", "b"], "kubeport", SOURCE_IMAGE, kubectl=kubectl, sleep=lambda _: None)


class NoUrlWorkspace(FakeWorkspace):
    """A target on a cluster reached by context, whose url is only a hint (a NodePort without an address)."""

    def up(self, stack: str) -> dict[str, Any]:
        self._call("up", stack)
        return {"url": "kubectl --context kubeport-b get nodes -o wide", "image": SOURCE_IMAGE, "namespace": "kp"}

    def config(self, stack: str) -> dict[str, str]:
        return {"kubeport:kubeContext": "kubeport-b"} if stack == "gke" else {}


def test_migrate_without_a_reachable_url_checks_through_the_target_api_server() -> None:
    asked: list[tuple[list[str], str, str]] = []

    def cluster_check(access: Sequence[str], namespace: str, image: str) -> SmokeResult:
        asked.append((list(access), namespace, image))
        return SmokeResult(image=image, same_digest=True)

    workspace = NoUrlWorkspace()
    migrate("eks", "gke", workspace, check=failing_check, cluster_check=cluster_check, say=lambda _: None)
    assert asked == [(["--context", "kubeport-b"], "kp", SOURCE_IMAGE)]
    assert ("destroy", "eks") not in workspace.calls


class AppStackWorkspace(NoUrlWorkspace):
    """A target that is an app stack: its cluster comes from a cluster stack's kubeconfig."""

    def config(self, stack: str) -> dict[str, str]:
        return {"kubeport:target": "stackref", "kubeport:clusterStack": "organization/kubeport/cluster-b"}


def test_migrate_to_an_app_stack_checks_through_its_cluster_stacks_kubeconfig() -> None:
    seen: list[str] = []

    def cluster_check(access: Sequence[str], namespace: str, image: str) -> SmokeResult:
        assert access[0] == "--kubeconfig"
        seen.append(Path(access[1]).read_text())
        assert Path(access[1]).stat().st_mode & 0o077 == 0, "the revealed kubeconfig is private"
        return SmokeResult(image=image, same_digest=True)

    workspace = AppStackWorkspace()
    migrate("eks", "gke", workspace, check=failing_check, cluster_check=cluster_check, say=lambda _: None)
    assert seen == ["# kubeconfig of organization/kubeport/cluster-b\n"]
    assert ("cluster_kubeconfig", "organization/kubeport/cluster-b") in workspace.calls
