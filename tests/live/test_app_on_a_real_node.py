"""The app for real, on the node that runs containers (kubeport-node): the chain a kubeport user relies on.

`pulumi up` of the local stack builds app/ with the docker-build provider through BuildKit, pushes it over TLS
with a user name and password, and deploys it by digest; the node pulls it through the pull Secret; nginx
starts under the hardened pod spec and passes its real probes; the smoke Pod gets the page through the
Service's DNS name. Then a release rolls out and back while a request loop sees no failure, and three kinds of
broken release fail `up` in a bounded time while the running one keeps serving. Last, `migrate` between a
kwok cluster and the real node, in both directions. The tests run in file order on one stack.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.support import plants
from tests.support.app_serving import CHROMIUM, CHROMIUM_ARGS, require
from tests.support.live import ok
from tests.support.realnode import (
    NAMESPACE,
    NODE,
    PAGE_MARKER,
    STACK,
    RequestLoop,
    assert_served,
    change_the_page,
    code_edited,
    http_get,
    node_builder,
    node_registry,
    requests_during,
    running_digests,
    service_url,
    set_up_stack,
    settles_on,
    web_pods,
    write_timing,
)
from tools import processes
from tools.localcluster import builder, catalog
from tools.localcluster.realrun import Workbench
from tools.processes import Done
from tools.stack_files import ROOT

pytestmark = pytest.mark.live

ROLLOUT_TIMEOUT = "45s"
"""The failure cases' rollout bound, not the provider's 10 minutes."""
FAILURE_BOUND = 45 + 60
"""Seconds a broken release's `up` may take to fail: the rollout bound, and a minute for the engine and a build."""
RELEASE_0: dict[str, str] = {}
"""The first release's image reference, for rolling back to it by config."""


def outputs(bench: Workbench, stack: str = STACK) -> dict[str, str]:
    data: dict[str, str] = json.loads(ok(bench.pulumi("stack", "output", "--json", "--stack", stack)).stdout)
    return data


def up(bench: Workbench, stack: str = STACK) -> tuple[int, str, float]:
    done = bench.pulumi("up", "--yes", "--skip-preview", "--stack", stack, timeout=900)
    return done.code, done.stdout + done.stderr, done.seconds


def test_up_builds_app_pushes_it_by_digest_and_the_node_pulls_it_through_the_pull_secret(bench: Workbench) -> None:
    set_up_stack(bench, rolloutTimeout="2m")
    code, output, seconds = up(bench)
    assert code == 0, output[-6000:]
    write_timing("first up: build, push, deploy, smoke check", seconds)
    image = outputs(bench)["image"]
    repository, _, digest = image.partition("@")
    name, _, tag = repository.rpartition(":")
    assert name == f"{node_registry().host}/kubeport/kubeport-web" and re.fullmatch(r"[0-9a-f]{16}", tag), image
    # What the registry holds under that tag is what the Deployment names and what the node runs.
    assert node_registry().digest("kubeport/kubeport-web", tag) == digest
    deployment = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "deployment", "web")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert running_digests(bench) == {digest}
    # The registry refuses anonymous pulls: the node pulled with the Secret the pods name, which holds the login
    # that may only pull. That login reads the image and cannot change it; the build's login stays out of the pods.
    assert node_registry().get("/v2/kubeport/kubeport-web/tags/list", auth=False)[0] == 401
    secret = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "secret", "web-pull")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert all(p["spec"]["imagePullSecrets"] == [{"name": "web-pull"}] for p in web_pods(bench))
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    (login,) = config["auths"].values()
    pull_login = node_registry().pull_credentials()
    assert (login["username"], login["password"]) == pull_login
    assert node_registry().credentials()[1] not in json.dumps(config)
    manifest = f"/v2/kubeport/kubeport-web/manifests/{digest}"
    assert node_registry().get(manifest, login=pull_login)[0] == 200
    for method, path in (("POST", "/v2/kubeport/kubeport-web/blobs/uploads/"), ("DELETE", manifest),
                         ("PUT", "/v2/kubeport/kubeport-web/manifests/overwritten")):  # fmt: skip
        assert node_registry().get(path, login=pull_login, method=method)[0] == 403, (method, path)
    RELEASE_0["image"] = image


def test_the_pods_run_restricted_with_a_read_only_root_and_pass_their_real_probes(bench: Workbench) -> None:
    labels = bench.kubectl_json(NODE, "get", "namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = web_pods(bench)
    assert len(pods) == 2
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["runAsNonRoot"] is True
        assert context["capabilities"] == {"drop": ["ALL"]} and context["seccompProfile"]["type"] == "RuntimeDefault"
        (status,) = pod["status"]["containerStatuses"]
        # Ready is the kubelet's verdict on the readiness probe it ran against nginx; no restart means the
        # liveness probe never failed either.
        assert status["ready"] is True and status["restartCount"] == 0 and "running" in status["state"]
    # nginx runs as the numeric user, and cannot write outside /tmp.
    pod = pods[0]["metadata"]["name"]
    whoami = ok(bench.kubectl(NODE, "--namespace", NAMESPACE, "exec", pod, "--", "id", "-u"))
    assert whoami.stdout.strip() == "10101"
    refused = bench.kubectl(NODE, "--namespace", NAMESPACE, "exec", pod, "--", "touch", "/usr/share/nginx/html/x")
    assert refused.code != 0 and "Read-only file system" in refused.stdout + refused.stderr


def test_the_smoke_pod_gets_the_page_from_the_services_dns_name(bench: Workbench) -> None:
    smoke = bench.kubectl_json(NODE, "--namespace", NAMESPACE, "get", "pod", "web-smoke")
    assert {c["type"]: c["status"] for c in smoke["status"]["conditions"]}["Ready"] == "True"
    fetch = ["wget", "-q", "-T", "5", "-O", "-", "http://web.kubeport.svc/"]
    page = ok(bench.kubectl(NODE, "--namespace", NAMESPACE, "exec", "web-smoke", "--", *fetch))
    assert PAGE_MARKER in page.stdout and "Hello from kubeport" in page.stdout


def test_info_reports_the_real_pod_and_the_url_serves_the_page_to_this_machine(bench: Workbench) -> None:
    url = outputs(bench)["url"]
    assert url == "http://10.250.0.2:30020"
    status, page = http_get(url + "/")
    assert status == 200 and PAGE_MARKER in page
    pods = {p["metadata"]["name"]: p for p in web_pods(bench)}
    seen = set()
    for _ in range(20):
        status, body = http_get(url + "/info")
        info = json.loads(body)
        assert info["pod"] in pods and info["namespace"] == NAMESPACE
        assert info["node"] == pods[info["pod"]]["spec"]["nodeName"] == NODE
        assert info["image"] == RELEASE_0["image"]
        # The release the smoke check waited for: the pod's own template annotation, through the downward API.
        assert info["release"] == pods[info["pod"]]["metadata"]["annotations"]["kubeport.dev/release"] != ""
        seen.add(info["pod"])
    assert seen, "the Service answered"


def test_the_url_in_chromium_shows_the_pod_that_served_it(bench: Workbench) -> None:
    """What a person sees: the page in a real browser, filled in from /info by the pod that served it.

    The screenshot goes to KUBEPORT_SCREENSHOT when set (the docs' picture is made this way)."""
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright  # a dev-only package: imported where it is used

    url = outputs(bench)["url"]
    pods = {p["metadata"]["name"] for p in web_pods(bench)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url + "/", timeout=10_000)
            expect(page.locator('[data-info="node"]')).to_have_text(NODE, timeout=10_000)
            assert page.locator('[data-info="pod"]').inner_text() in pods
            expect(page.locator('[data-info="image"]')).to_have_text(RELEASE_0["image"])
            page.screenshot(path=str(bench.base / "page.png"))
            if os.environ.get("KUBEPORT_SCREENSHOT"):
                page.screenshot(path=os.environ["KUBEPORT_SCREENSHOT"])
        finally:
            browser.close()


def test_release_1_rolls_out_without_a_failed_request(bench: Workbench) -> None:
    change_the_page(bench, "release 1")
    target = service_url(bench)
    with requests_during(target) as loop:
        code, output, seconds = up(bench)
    assert code == 0, output[-6000:]
    write_timing("release 0 -> 1 (build, push, rolling update)", seconds)
    image = outputs(bench)["image"]
    assert image != RELEASE_0["image"]
    assert_served(bench, loop, at_least=50)
    settles_on(bench, image.partition("@")[2])  # every pod ends on the new digest
    assert "release 1" in http_get(target + "/")[1]
    RELEASE_0["release 1"] = image


def test_rolling_back_to_release_0_by_config_drops_no_request(bench: Workbench) -> None:
    for key in ("builder", "baseImage"):
        ok(bench.pulumi("config", "rm", f"kubeport:{key}", "--stack", STACK))
    ok(bench.pulumi("config", "set", "kubeport:image", RELEASE_0["image"], "--stack", STACK))
    with requests_during(service_url(bench)) as loop:
        code, output, seconds = up(bench)
    assert code == 0, output[-6000:]
    write_timing("release 1 -> 0 by config (rolling update)", seconds)
    assert_served(bench, loop, at_least=20)
    settles_on(bench, RELEASE_0["image"].partition("@")[2])
    assert "release 1" not in http_get(service_url(bench) + "/")[1]


def failing_up(bench: Workbench, what: str) -> tuple[str, RequestLoop]:
    """`up` of a broken release while a request loop runs: it must fail within the rollout bound (and a minute
    for the engine and the build), and is timed. Returns its output and the loop."""
    with requests_during(service_url(bench)) as loop:
        code, output, seconds = up(bench)
    assert code != 0, output[-4000:]
    write_timing(f"{what}: up fails after", seconds)
    assert "Traceback" not in output and "unhandled exception" not in output, output[-4000:]
    assert seconds < FAILURE_BOUND, f"up took {seconds:.0f} s to fail"
    return output, loop


@contextmanager
def repaired_after(bench: Workbench, *repairs: Callable[[], Done]) -> Iterator[None]:
    """The block breaks the release; afterwards, whether its checks passed or not, each repair runs and `up` must
    deploy a working release again: one failed check never leaves the next test a broken stack."""
    try:
        yield
    finally:
        for repair in repairs:
            ok(repair())
        code, output, _ = up(bench)
        assert code == 0, output[-4000:]


def config_set(bench: Workbench, key: str, value: str) -> Callable[[], Done]:
    return lambda: bench.pulumi("config", "set", f"kubeport:{key}", value, "--stack", STACK)


def test_an_image_the_node_cannot_pull_fails_up_in_bounded_time_and_the_release_keeps_serving(
    bench: Workbench,
) -> None:
    missing = f"{node_registry().host}/kubeport/kubeport-web@sha256:" + "0" * 64
    with repaired_after(
        bench, config_set(bench, "image", RELEASE_0["image"]), config_set(bench, "rolloutTimeout", "2m")
    ):
        ok(config_set(bench, "image", missing)())
        ok(config_set(bench, "rolloutTimeout", ROLLOUT_TIMEOUT)())
        output, loop = failing_up(bench, "a digest the node cannot pull")
        assert re.search(r"ErrImagePull|ImagePullBackOff", output), output[-4000:]
        assert "not found" in output, output[-4000:]
        assert_served(bench, loop)
        assert running_digests(bench) == {RELEASE_0["image"].partition("@")[2]}
        # That release is stopped, not undone: its pod waits on the pull. `rollback` (by default the last good
        # release, the newest update having failed) undoes it from the history, and no pod of it is left.
        with requests_during(service_url(bench)) as loop:
            undone = bench.stacks_cli("rollback", "--stack", STACK, "--yes")
        assert undone.code == 0, undone.describe()
        write_timing("rollback after a failed release (nothing built)", undone.seconds)
        assert_served(bench, loop)
        only_release_0 = {RELEASE_0["image"]}
        deadline = time.monotonic() + 60
        while (images := {c["image"] for p in web_pods(bench) for c in p["spec"]["containers"]}) != only_release_0:
            assert time.monotonic() < deadline, f"pods of {sorted(images)} 60 s after the rollback"
            time.sleep(1)
        ok(bench.pulumi("preview", "--expect-no-changes", "--stack", STACK))


def test_a_wrong_registry_password_fails_up_with_the_registrys_refusal_and_keeps_the_release(
    bench: Workbench,
) -> None:
    # Build again (release 2), so the build pushes: with a password the registry refuses. Afterwards the right
    # password is back and release 2 is deployed.
    _, password = node_registry().credentials()
    with repaired_after(bench, lambda: bench.set_secret(STACK, "kubeport:registryToken", password)):
        ok(bench.pulumi("config", "rm", "kubeport:image", "--stack", STACK))
        set_up_stack_keys(bench)
        change_the_page(bench, "release 2")
        ok(bench.set_secret(STACK, "kubeport:registryToken", "not-the-password"))
        before = running_digests(bench)
        output, loop = failing_up(bench, "a wrong registry password")
        assert_served(bench, loop)
        assert re.search(r"401 Unauthorized|unauthorized", output, re.IGNORECASE), output[-4000:]
        assert running_digests(bench) == before, "the running release is untouched"


def set_up_stack_keys(bench: Workbench) -> None:
    """Building again: the builder and the stand-in base back in the stack's config."""
    base = builder.base_image(node_builder(), node_registry(), bench.tools, say=lambda _: None)
    ok(bench.pulumi("config", "set", "kubeport:builder", builder.BUILDER, "--stack", STACK))
    ok(bench.pulumi("config", "set", "kubeport:baseImage", base, "--stack", STACK))


def test_a_pod_nginx_cannot_start_in_is_caught_by_its_probes_and_the_release_keeps_serving(
    bench: Workbench,
) -> None:
    # A broken release of the workload itself: the web pod without its writable /tmp (nginx writes its pid
    # file there) on a read-only root filesystem. The same image, so no build is involved.
    with (
        repaired_after(bench, config_set(bench, "rolloutTimeout", "2m")),
        code_edited(bench, plants.NO_WRITABLE_TMP),
    ):
        ok(config_set(bench, "rolloutTimeout", ROLLOUT_TIMEOUT)())
        before = running_digests(bench)
        output, loop = failing_up(bench, "a pod nginx cannot start in")
        assert re.search(r"containers with unready status: \[web\]", output), output[-4000:]
        assert re.search(r"CrashLoopBackOff|terminated|exit code 1", output), output[-4000:]
        assert_served(bench, loop)
        assert running_digests(bench) == before


def listed_updates(bench: Workbench) -> list[list[str]]:
    """`python -m tools rollback --list`, each line split: number, date, time, kind, result, image[, <-, default]."""
    return [line.split() for line in ok(bench.stacks_cli("rollback", "--stack", STACK, "--list")).stdout.splitlines()]


def test_rollback_returns_to_the_release_before_last_from_the_history_building_nothing(bench: Workbench) -> None:
    """Release 2 runs (built by the password test's repair). `rollback` with no number returns to the release
    before it, release 0, from the stack's history alone: no build, no failed request, and the state matches the
    stack file. `--to N` then returns to release 2 by its number. The stack file is put back in any case."""
    stack_file = bench.project / f"Pulumi.{STACK}.yaml"
    saved = stack_file.read_bytes()
    running = outputs(bench)["image"]
    try:
        updates = listed_updates(bench)
        default = [u for u in updates if u[-1] == "default"]
        assert len(default) == 1 and default[0][5] == RELEASE_0["image"], updates
        failed = next(u[0] for u in updates if u[4] == "failed")
        refused = bench.stacks_cli("rollback", "--stack", STACK, "--to", failed, "--yes")
        assert refused.code == 1 and "only a successful update can be returned to" in refused.stderr, refused.describe()
        assert "Traceback" not in refused.stderr and stack_file.read_bytes() == saved

        with requests_during(service_url(bench)) as loop:
            back = bench.stacks_cli("rollback", "--stack", STACK, "--yes")
        assert back.code == 0, back.describe()
        write_timing("rollback to the release before last (nothing built)", back.seconds)
        assert f"runs update {default[0][0]}'s release again" in back.stdout, back.stdout[-3000:]
        assert_served(bench, loop, at_least=20)
        settles_on(bench, RELEASE_0["image"].partition("@")[2])
        assert "release 2" not in http_get(service_url(bench) + "/")[1]
        assert not [r for r in bench.state_resources(STACK) if r["type"].startswith("docker-build:")], "a build ran"
        pinned = ok(bench.pulumi("config", "get", "kubeport:image", "--stack", STACK)).stdout.strip()
        assert pinned == RELEASE_0["image"]
        ok(bench.pulumi("preview", "--expect-no-changes", "--stack", STACK))

        newest = max(
            (u for u in listed_updates(bench) if u[4] == "succeeded" and u[5] == running), key=lambda u: int(u[0])
        )
        forward = bench.stacks_cli("rollback", "--stack", STACK, "--to", newest[0], "--yes")
        assert forward.code == 0, forward.describe()
        write_timing("rollback --to a later release (nothing built)", forward.seconds)
        settles_on(bench, running.partition("@")[2])
    finally:
        stack_file.write_bytes(saved)
        code, output, _ = up(bench)
        assert code == 0, output[-4000:]


def test_migrate_from_a_kwok_cluster_to_the_real_node_sees_nginx_answer_and_back(bench: Workbench) -> None:
    image = outputs(bench)["image"]
    user, password = node_registry().pull_credentials()
    # The same build on both sides: kwok never pulls it; the node pulls it with the login that may only pull.
    bench.add_stack_file("on-kwok", {"image": image, "namespace": "moving", "nodePort": "30031"}, like="local-a")
    pull = {"registryServer": f"{node_registry().host}/kubeport", "registryUser": user, "image": image}
    bench.add_stack_file("on-node", {**pull, "namespace": "moving", "nodePort": "30031", "builder": None,
                                     "baseImage": None}, like=STACK)  # fmt: skip
    for stack in ("on-kwok", "on-node"):
        ok(bench.pulumi("stack", "init", stack))
    ok(bench.set_secret("on-node", "kubeport:registryToken", password))
    ok(bench.pulumi("up", "--yes", "--skip-preview", "--stack", "on-kwok", timeout=600))

    started = time.monotonic()
    forward = ok(bench.stacks_cli("migrate", "--from", "on-kwok", "--to", "on-node"))
    write_timing("migrate kwok -> real node", time.monotonic() - started)
    # The real node's url answers this machine: the smoke step fetched the page and /info from nginx itself.
    assert "smoke-check http://10.250.0.2:30031" in forward.stdout, forward.stdout
    assert f"on-node serves {image}" in forward.stdout
    assert len(web_pods(bench, "moving")) == 2

    started = time.monotonic()
    back = ok(bench.stacks_cli("migrate", "--from", "on-node", "--to", "on-kwok", "--destroy-source", "--yes"))
    write_timing("migrate real node -> kwok, destroying the source", time.monotonic() - started)
    # kwok runs no nginx and its NodePort has no address: the API server is asked instead.
    assert "smoke-check through the API server of kubeport-a" in back.stdout, back.stdout
    assert "on-node destroyed; on-kwok is serving" in back.stdout
    ok(bench.pulumi("destroy", "--yes", "--stack", "on-kwok", timeout=600))
    for stack in ("on-kwok", "on-node"):
        ok(bench.pulumi("stack", "rm", "--yes", stack))


MINE = "mine"
"""A stack of one's own, made as docs/real-runs.md says."""


def test_a_stack_of_ones_own_deploys_with_the_documented_commands_alone(bench: Workbench) -> None:
    """A copy of the local stack's file with its own namespace and port; `python -m tools local-login` gives it
    the registry's logins and the stand-in base; then, in a shell set up by `eval "$(python -m tools env)"` and
    nothing else, `pulumi up` builds through kubeport-node's builder and the page answers on the new port."""
    bench.add_stack_file(MINE, {"namespace": MINE, "nodePort": "30042"}, like=STACK)
    # The machine's toolchain and clusters, which a user's shell finds by default and the workbench's own HOME
    # and TMPDIR would hide.
    machine = {"KUBEPORT_TOOLCHAIN": str(bench.tools.root), "KUBEPORT_CLUSTERS": str(catalog.state_dir())}
    python = str(ROOT / ".venv" / "bin" / "python")
    shell = {name: bench.env[name] for name in ("HOME", "TMPDIR", "LANG", "NO_COLOR", "PULUMI_BACKEND_URL",
                                                "PULUMI_CONFIG_PASSPHRASE")}  # fmt: skip
    shell |= {"PATH": "/usr/local/bin:/usr/bin:/bin", **machine}
    try:
        login = ok(processes.run([python, "-m", "tools", "local-login", MINE], timeout=300, env=shell,
                                 cwd=bench.project))  # fmt: skip
        said = login.stdout + login.stderr
        assert "kubeport:registryPullUser=kubeport-pull" in said, said
        assert node_registry().credentials()[1] not in said and node_registry().pull_credentials()[1] not in said
        script = (f'eval "$({python} -m tools env)" && pulumi up --yes --skip-preview --stack {MINE} '
                  f"--non-interactive && pulumi stack output url --stack {MINE} --non-interactive")  # fmt: skip
        done = processes.run(["bash", "-c", script], timeout=900, env=shell, cwd=bench.project)
        assert done.code == 0, done.describe()
        url = done.stdout.strip().splitlines()[-1]
        assert url == "http://10.250.0.2:30042", done.stdout[-2000:]
        status, page = http_get(f"{url}/")
        assert status == 200 and PAGE_MARKER in page, page[:500]
    finally:
        stacks = json.loads(ok(bench.pulumi("stack", "ls", "--json")).stdout or "[]")
        if MINE in {s["name"] for s in stacks}:
            ok(bench.pulumi("destroy", "--yes", "--stack", MINE, timeout=600))
            ok(bench.pulumi("stack", "rm", "--yes", MINE))


def test_destroy_leaves_the_node_empty(bench: Workbench) -> None:
    ok(bench.pulumi("destroy", "--yes", "--stack", STACK, timeout=600))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and bench.kubectl(NODE, "get", "namespace", NAMESPACE).code == 0:
        time.sleep(1)
    assert bench.kubectl(NODE, "get", "namespace", NAMESPACE).code != 0
    # Nothing of this file's is left on the node (other files' applications run beside it, in their own namespaces).
    for namespace in (NAMESPACE, "moving", MINE):
        assert bench.kubectl_json(NODE, "--namespace", namespace, "get", "pods")["items"] == []
    ok(bench.pulumi("stack", "rm", "--yes", STACK))
