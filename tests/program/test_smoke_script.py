"""The smoke check's own program (components.smoke.CHECK_SCRIPT), run here with the machine's sh and wget against
addresses on 127.0.0.1: what it says when the app does not answer, and that it stays up when it does."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from components.smoke import CHECK_SCRIPT, READY_CHECK, check_window
from tests.support.local_http import QuietHandler, serving
from tools.stack_files import ROOT

pytestmark = pytest.mark.skipif(shutil.which("wget") is None and os.environ.get("CI") != "true", reason="no wget")


def run_check(
    url: str, tmp_path: Path, window: int = 2, timeout: float = 15, release: str = "", script: str = CHECK_SCRIPT
) -> tuple[int | None, str]:
    """(exit code, or None while it still runs after `timeout`; what it reported). With `release`, /info beside
    `url` must report it."""
    report = tmp_path / "termination-log"
    env = {"PATH": os.environ["PATH"], "URL": url, "HOST": "web.shop.svc", "SERVICE": "web", "APP_PORT": "8080",
           "WINDOW": str(window), "REPORT": str(report), "INFO_URL": url.replace("/healthz", "/info")}  # fmt: skip
    if release:
        env["RELEASE"] = release
    process = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        code: int | None = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
        process.terminate()
        process.wait(timeout=10)
    return code, report.read_text() if report.exists() else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_refused_connection_names_the_selector_and_the_target_port(tmp_path: Path) -> None:
    code, report = run_check(f"http://127.0.0.1:{free_port()}/healthz", tmp_path)
    assert code == 1
    assert "did not answer within 2s" in report
    assert "its selector matches no ready web pod, or its targetPort is not the port nginx listens on (8080)" in report


def test_a_peer_that_takes_the_connection_and_never_answers_ends_the_check_within_its_window(tmp_path: Path) -> None:
    # GNU wget retries a timed-out request 20 times; each try must end in seconds, or the check outlasts the
    # Pod's create timeout and Pulumi reports a bare "timed out waiting to be Ready" instead of the cause.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        code, report = run_check(f"http://127.0.0.1:{silent.getsockname()[1]}/healthz", tmp_path, timeout=12)
    assert code == 1, "the check still ran 12 s into a 2 s window"
    assert "did not answer within 2s: nothing answers: a NetworkPolicy drops the traffic" in report


def test_a_try_that_gets_no_answer_does_not_hide_the_refusals_before_it(tmp_path: Path) -> None:
    # On a busy node one try can go unanswered (a lost DNS packet waits out the resolver's 5 s) just as the window
    # ends; the refusals the earlier tries got still name the cause.
    port = free_port()
    with socket.socket() as silent:
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def take_the_port() -> None:
            silent.bind(("127.0.0.1", port))
            silent.listen(16)

        timer = threading.Timer(1.5, take_the_port)
        timer.start()
        try:
            code, report = run_check(f"http://127.0.0.1:{port}/healthz", tmp_path, window=3, timeout=15)
        finally:
            timer.join()
    assert code == 1, report
    assert "its selector matches no ready web pod" in report, report
    assert "last try: no answer: timed out after 4s" in report, report
    assert re.search(r"; [1-9] of [2-9] tries got no answer in time\)", report), report


def test_an_unhealthy_app_is_told_apart_from_a_missing_route(tmp_path: Path) -> None:
    class Unhealthy(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.reply(503, b"not ready")

    with serving(Unhealthy) as base:
        code, report = run_check(f"{base}/healthz", tmp_path)
    assert code == 1 and "the app answers, but not healthy" in report and "503" in report


def test_an_answer_keeps_it_running_and_reports_nothing(tmp_path: Path) -> None:
    class Healthy(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.reply(200, b"ok\n", "text/plain")

    with serving(Healthy) as base:
        code, report = run_check(f"{base}/healthz", tmp_path, timeout=5)
    assert code is None and report == ""


def serving_release(release: str) -> type[QuietHandler]:
    """The app as nginx serves it: /healthz, and /info as app/nginx/templates/kubeport/info.json.template renders it."""
    template = (ROOT / "app" / "nginx" / "templates" / "kubeport" / "info.json.template").read_text()
    info = template.replace("${KUBEPORT_RELEASE}", release).encode()

    class App(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.reply(200, info if self.path == "/info" else b"ok\n", "application/json")

    return App


def test_answers_only_from_an_earlier_release_fail_the_check_naming_both(tmp_path: Path) -> None:
    with serving(serving_release("0ld0ld0ld0ld0ld0")) as base:
        code, report = run_check(f"{base}/healthz", tmp_path, release="c61b6dc56db8a228")
        ready = run_check(f"{base}/healthz", tmp_path, release="c61b6dc56db8a228", script=READY_CHECK, timeout=10)
    assert code == 1, report
    assert "answered only from pods of another release (0ld0ld0ld0ld0ld0), not release c61b6dc56db8a228" in report
    assert "the new pods never turned Ready" in report
    assert ready[0] == 1, "the readiness probe fails too"


def test_an_answer_from_the_release_it_checks_keeps_it_running_and_makes_it_ready(tmp_path: Path) -> None:
    with serving(serving_release("c61b6dc56db8a228")) as base:
        code, report = run_check(f"{base}/healthz", tmp_path, timeout=5, release="c61b6dc56db8a228")
        ready = run_check(f"{base}/healthz", tmp_path, release="c61b6dc56db8a228", script=READY_CHECK, timeout=10)
    assert code is None and report == ""
    assert ready[0] == 0


@pytest.mark.parametrize(("timeout", "window"), [("30s", 10), ("45s", 15), ("90s", 30), ("10m", 30), ("15m", 30)])
def test_the_check_tries_a_third_of_the_rollout_timeout_between_10_and_30_s(timeout: str, window: int) -> None:
    assert check_window(timeout) == window
