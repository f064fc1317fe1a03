"""The endpoints over HTTP, from the host's nginx running the image's config (app/serve-local)."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from pathlib import Path

import pytest

from app import bench, serve_local
from tests.support.app_serving import INFO_ENV, Server

SITE = Path(__file__).resolve().parents[2] / "app" / "site"
ASSETS = bench.page_assets((SITE / "index.html").read_text())
GZIP = {"Accept-Encoding": "gzip"}
IMMUTABLE = "public, max-age=31536000, immutable"


def test_page(server: Server) -> None:
    page = server.get("/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<h1>Hello from kubeport</h1>" in page.body
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["etag"] and page.headers["last-modified"]


def test_liveness_and_readiness(server: Server) -> None:
    for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
        probe = server.get(path)
        assert (probe.status, probe.body) == (200, body), path
        assert probe.headers["content-type"] == "text/plain; charset=utf-8"


def test_info_says_where_it_runs(server: Server) -> None:
    info = server.get("/info")
    assert info.status == 200
    assert info.headers["content-type"] == "application/json"
    assert info.headers["cache-control"] == "no-cache"
    expected = {name.removeprefix("KUBEPORT_").lower(): value for name, value in INFO_ENV.items()}
    assert json.loads(info.body) == {**expected, "version": serve_local.image_version()}


def test_unknown_paths_get_a_small_404_page(server: Server) -> None:
    for path in ("/no/such/page", "/app.00000000.js", "/info/", "/404.html"):
        missing = server.get(path)
        assert missing.status == 404, path
        assert missing.headers["content-type"] == "text/html; charset=utf-8"
        assert b"<h1>Page not found</h1>" in missing.body and len(missing.body) < 1024
        # Not even a fingerprint-shaped name caches a 404 for a year.
        assert missing.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/", "/info", "/healthz", "/readyz", "/no/such/page", *ASSETS])
def test_security_headers_on_every_response(server: Server, path: str) -> None:
    headers = server.get(path).headers
    policy = [directive.strip() for directive in headers["content-security-policy"].split(";")]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["server"] == "nginx", "server_tokens off: no version"


@pytest.mark.parametrize("path", ASSETS)
def test_fingerprinted_assets_are_cached_as_immutable(server: Server, path: str) -> None:
    asset = server.get(path)
    assert asset.status == 200
    assert asset.headers["cache-control"] == IMMUTABLE
    assert asset.body == (SITE / path.lstrip("/")).read_bytes()


@pytest.mark.parametrize("path", ["/", "/no/such/page", *ASSETS])
def test_text_is_gzipped_for_clients_that_accept_it(server: Server, path: str) -> None:
    plain, packed = server.get(path), server.get(path, GZIP)
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(packed.body) == plain.body
    assert len(packed.body) < len(plain.body)


@pytest.mark.parametrize("headers", [{}, GZIP], ids=["identity", "gzip"])
def test_page_revalidates_to_304_without_a_body(server: Server, headers: dict[str, str]) -> None:
    first = server.get("/", headers)
    by_etag = server.get("/", {**headers, "If-None-Match": first.headers["etag"]})
    by_date = server.get("/", {**headers, "If-Modified-Since": first.headers["last-modified"]})
    for again in (by_etag, by_date):
        assert (again.status, again.body) == (304, b"")
        assert again.headers["etag"] == first.headers["etag"]
    changed = server.get("/", {**headers, "If-None-Match": '"something-else"'})
    assert (changed.status, changed.body) == (200, first.body)


def test_access_log_is_json_lines_on_stdout(server: Server) -> None:
    probe = f"/?probe={uuid.uuid4().hex}"
    server.get("/healthz")
    server.get(probe, {"User-Agent": 'tester "quoted"'})
    entries: list[dict[str, object]] = []
    # nginx flushes its log buffer at least once a second.
    deadline = time.monotonic() + 5
    for _ in range(50):
        entries = [json.loads(line) for line in server.access_log.read_text().splitlines()]
        if any(e["uri"] == probe for e in entries) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    (entry,) = [e for e in entries if e["uri"] == probe]
    assert entry["method"] == "GET" and entry["status"] == 200 and entry["user_agent"] == 'tester "quoted"'
    assert isinstance(entry["bytes_sent"], int) and isinstance(entry["request_time"], float)
    assert not [e for e in entries if e["uri"] in ("/healthz", "/readyz")], "probes are not logged"
