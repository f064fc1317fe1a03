"""The live tests' request loop and what they say when a request fails (tests.support.realnode), offline: a loop
against a server on 127.0.0.1 that refuses some requests records each failure with its time, and the explanation
gathers the namespace's warnings, the node's conditions and the ready endpoints."""

from __future__ import annotations

import re
import threading
from typing import Any, cast

import pytest

from tests.support.local_http import QuietHandler, serving
from tests.support.realnode import RequestLoop, assert_served
from tools.localcluster.realrun import Workbench


class FlakyHandler(QuietHandler):
    """Answers /healthz 200 except every third request, which gets a 503."""

    seen = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        FlakyHandler.seen += 1
        self.reply(503 if FlakyHandler.seen % 3 == 0 else 200, b'{"image": "kubeport-web@sha256:0"}')


class FakeBench:
    """The two reads the explanation makes, answered from fixed objects."""

    def kubectl_json(self, context: str, *args: str) -> dict[str, Any]:
        if "events" in args:
            return {"items": [
                {"type": "Warning", "reason": "Unhealthy", "count": 2, "lastTimestamp": "2026-12-07T07:00:01Z",
                 "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": "Readiness probe failed: timeout"},
                {"type": "Normal", "reason": "Pulled", "involvedObject": {"kind": "Pod", "name": "web-1"},
                 "message": "pulled"},
            ]}  # fmt: skip
        if "node" in args:
            return {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                              {"type": "Ready", "status": "True"}]}}  # fmt: skip
        endpoints = [{"conditions": {"ready": True}}, {"conditions": {"ready": False}}]
        return {"items": [{"metadata": {"name": "web-abc"}, "endpoints": endpoints}]}


def test_failed_requests_are_timed_and_explained_from_the_clusters_records() -> None:
    FlakyHandler.seen = 0
    with serving(FlakyHandler) as url:
        loop = RequestLoop(url, interval=0.01, limit=5)
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop,))
        thread.start()
        threading.Timer(0.3, stop.set).start()
        thread.join(timeout=10)
    assert loop.ok > 0 and loop.failed
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3} /(healthz|info): HTTP 503$", f) for f in loop.failed), loop.failed
    with pytest.raises(AssertionError) as raised:
        assert_served(cast(Workbench, FakeBench()), loop)
    said = str(raised.value)
    assert "Pod/web-1 Unhealthy (x2): Readiness probe failed: timeout" in said
    assert "Pulled" not in said
    assert "node: MemoryPressure=False" in said and "ready endpoints now: {'web-abc': 1}" in said


def test_a_loop_with_no_failure_and_enough_answers_passes() -> None:
    loop = RequestLoop("http://127.0.0.1:9", ok=30)
    assert_served(cast(Workbench, FakeBench()), loop, at_least=20)
    with pytest.raises(AssertionError):
        assert_served(cast(Workbench, FakeBench()), loop, at_least=30)
