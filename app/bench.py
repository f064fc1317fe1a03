#!/usr/bin/env python3
"""Benchmark the app's nginx (app/serve-local: the image's config and its built site) against a stock nginx
serving the site as written (app/src: readable, unminified, no precompressed twins) — the seed's `FROM nginx`
with the files copied in.

Both run on 127.0.0.1 in the same run, with the host's nginx:
  - requests/s: wrk on `/` with `Accept-Encoding: gzip` (as a browser asks), the servers taking turns;
  - first load: the page and the assets it links, fetched like a browser; bytes on the wire and of bodies;
  - revisit: the same requests made conditional with the first load's validators (ETag, Last-Modified).
"stock" is Debian's default nginx.conf and default site without gzip: plain `root`, no caching headers.
Ours serves app/site: minified, fingerprinted, with gzip twins (app/build_site.py), behind the image's config.
Needs nginx and wrk (Debian packages `nginx`, `wrk`); standard library only. Says which goals are met.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO

APP = Path(__file__).resolve().parent
SERVE_LOCAL = APP / "serve-local"
SITE = APP / "site"
SOURCES = APP / "src"
NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
START_TIMEOUT = 10.0
"""Seconds a server gets to answer after it is started, and to stop after SIGTERM."""
POLL = 0.05
"""Seconds between two looks at a starting server."""

GOAL_SPEEDUP = 1.0
GOAL_SAVING = 0.60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Response:
    """One HTTP response as it came over the wire."""

    status: int
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    """The body as sent (still compressed when Content-Encoding says so)."""
    wire: int
    """Bytes received: status line, headers and body."""


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def fetch(port: int, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> Response:
    """GET `path` from 127.0.0.1:`port` over a fresh connection and count every byte received."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"GET {path}: no end of the response within {timeout}s")
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Response(status=int(status_line.split()[1]), headers=parsed, body=body, wire=len(raw))


class _Assets(HTMLParser):
    """Collects what a browser fetches on loading a page: stylesheets, icons, scripts of this site."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        rel = (found.get("rel") or "").split()
        url = found.get("href") if tag == "link" and ("stylesheet" in rel or "icon" in rel) else found.get("src")
        if tag in ("link", "script") and url and url.startswith("/") and not url.startswith("//"):
            self.paths.append(url)


def page_assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.paths


BROWSER = {"Accept-Encoding": "gzip", "User-Agent": "kubeport-bench"}


def first_load(port: int) -> dict[str, Response]:
    """The page and its assets, as a browser with an empty cache fetches them."""
    page = fetch(port, "/", BROWSER)
    html = gzip.decompress(page.body) if page.headers.get("content-encoding") == "gzip" else page.body
    loaded = {"/": page}
    for path in page_assets(html.decode()):
        loaded[path] = fetch(port, path, BROWSER)
    return loaded


def revisit(port: int, first: Mapping[str, Response]) -> dict[str, Response]:
    """The first load again, each request conditional on the validators its first response carried."""
    again = {}
    for path, response in first.items():
        headers = dict(BROWSER)
        if "etag" in response.headers:
            headers["If-None-Match"] = response.headers["etag"]
        if "last-modified" in response.headers:
            headers["If-Modified-Since"] = response.headers["last-modified"]
        again[path] = fetch(port, path, headers)
    return again


def _answers(port: int, path: str) -> bool:
    try:
        return fetch(port, path, timeout=1.0).status == 200
    except OSError:
        return False


@contextmanager
def running(
    argv: Sequence[str],
    port: int,
    *,
    ready_path: str = "/",
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in its own session until it answers 200 on `ready_path`; always stop it afterwards.

    Waiting is bounded in tries and in time (START_TIMEOUT), and so is stopping: see `stop`.
    """
    process = subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    try:
        ready, deadline = False, time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / POLL)):
            if process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with status {process.returncode} before answering")
            ready = _answers(port, ready_path)
            if ready or time.monotonic() > deadline:
                break
            time.sleep(POLL)
        if not ready:
            raise RuntimeError(f"{argv[0]} did not answer on 127.0.0.1:{port}{ready_path} in {START_TIMEOUT:.0f}s")
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a bounded wait, then SIGKILL for the process's whole session (only what it started)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stock_config(workdir: Path, port: int, site: Path) -> Path:
    """Debian's default nginx.conf and default site, gzip off, paths in `workdir`: what `apt install nginx` serves."""
    user = "user root;" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""{user}
worker_processes auto;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;

events {{
    worker_connections 768;
}}

http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;

    server {{
        listen 127.0.0.1:{port} default_server;
        root {site};
        index index.html index.htm index.nginx-debian.html;
        server_name _;
        location / {{
            try_files $uri $uri/ =404;
        }}
    }}
}}
"""
    )
    return conf


def wrk(port: int, seconds: int, connections: int, threads: int) -> float:
    """Requests per second wrk measures for GET / with `Accept-Encoding: gzip`; errors are fatal."""
    url = f"http://127.0.0.1:{port}/"
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-H", "Accept-Encoding: gzip", url]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30)
    if re.search(r"Non-2xx or 3xx responses|Socket errors", done.stdout):
        raise RuntimeError(f"wrk saw errors:\n{done.stdout}")
    match = re.search(r"^Requests/sec:\s+([\d.]+)", done.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{done.stdout}")
    return float(match[1])


@contextmanager
def servers() -> Iterator[tuple[int, int]]:
    """Ours (app/serve-local) and stock nginx on free ports of 127.0.0.1; yields (ours, stock) ports."""
    ours, stock = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="kubeport-bench-") as tmp:
        work = Path(tmp)
        stock_conf = stock_config(work, stock, SOURCES)
        stock_cmd = [NGINX, "-p", f"{work}/", "-e", "stderr", "-c", str(stock_conf), "-g", "daemon off;"]
        # Both log every request to a file: serve-local's stdout here, stock's access.log in `work`.
        with (
            (work / "ours-access.log").open("wb") as log,
            running([str(SERVE_LOCAL), "--port", str(ours)], ours, ready_path="/readyz", stdout=log),
            running(stock_cmd, stock),
        ):
            yield ours, stock


def measure(seconds: int, rounds: int, connections: int, threads: int) -> tuple[Figures, Figures]:
    """Both servers' first load, revisit, and wrk runs taking turns after a short warm-up each."""
    with servers() as (ours_port, stock_port):
        ours, stock = Figures.load(ours_port), Figures.load(stock_port)
        for port in (ours_port, stock_port):
            wrk(port, 2, connections, threads)
        for _ in range(rounds):
            ours.rates.append(wrk(ours_port, seconds, connections, threads))
            stock.rates.append(wrk(stock_port, seconds, connections, threads))
    return ours, stock


@dataclass
class Figures:
    """What one server did: first load, revisit, and the requests/s of each wrk run."""

    first: dict[str, Response]
    again: dict[str, Response]
    rates: list[float]

    @classmethod
    def load(cls, port: int) -> Figures:
        first = first_load(port)
        return cls(first=first, again=revisit(port, first), rates=[])

    @property
    def rate(self) -> float:
        return sum(self.rates) / len(self.rates)


def wire_bytes(responses: Mapping[str, Response]) -> int:
    return sum(r.wire for r in responses.values())


def body_bytes(responses: Mapping[str, Response]) -> int:
    return sum(len(r.body) for r in responses.values())


def statuses(responses: Mapping[str, Response]) -> str:
    codes = [r.status for r in responses.values()]
    return ", ".join(f"{codes.count(code)} x {code}" for code in sorted(set(codes)))


def report(ours: Figures, stock: Figures) -> list[tuple[str, bool]]:
    """Print the figures as a table; returns each goal with whether it is met."""
    speedup = ours.rate / stock.rate
    ours_wire, stock_wire = wire_bytes(ours.first), wire_bytes(stock.first)
    ours_body, stock_body = body_bytes(ours.first), body_bytes(stock.first)
    wire_saving, body_saving = 1 - ours_wire / stock_wire, 1 - ours_body / stock_body
    rows = [
        ("", "ours", "stock", "ours vs stock"),
        ("requests/s, GET / (gzip)", f"{ours.rate:,.0f}", f"{stock.rate:,.0f}", f"{speedup:.2f}x"),
        ("first load, bytes on the wire", f"{ours_wire:,}", f"{stock_wire:,}", f"{wire_saving:.0%} fewer"),
        ("first load, body bytes", f"{ours_body:,}", f"{stock_body:,}", f"{body_saving:.0%} fewer"),
        ("revisit, responses", statuses(ours.again), statuses(stock.again), ""),
        ("revisit, body bytes", f"{body_bytes(ours.again):,}", f"{body_bytes(stock.again):,}", ""),
        ("revisit, bytes on the wire", f"{wire_bytes(ours.again):,}", f"{wire_bytes(stock.again):,}", ""),
        ("first load, header bytes", f"{ours_wire - ours_body:,}", f"{stock_wire - stock_body:,}", ""),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    print(f"first load: GET {', '.join(ours.first)} with Accept-Encoding: gzip; revisit: the same, conditional")
    for row in rows:
        cells = [
            cell.rjust(width) if column else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    if wire_saving < GOAL_SAVING <= body_saving:
        print(
            f"on the wire, headers are {ours_wire - ours_body:,} of our {ours_wire:,} bytes (stock: "
            f"{stock_wire - stock_body:,}): the Content-Security-Policy, nosniff, Referrer-Policy, Cache-Control and "
            "validators every response carries. The bodies meet the goal; the wire cannot without dropping them."
        )
    return [
        (f"requests/s >= {GOAL_SPEEDUP:.1f}x stock", speedup >= GOAL_SPEEDUP),
        (f"first-load bytes on the wire >= {GOAL_SAVING:.0%} fewer", wire_saving >= GOAL_SAVING),
        (f"first-load body bytes >= {GOAL_SAVING:.0%} fewer", body_saving >= GOAL_SAVING),
        ("revisit answered 304 with no body", all((r.status, r.body) == (304, b"") for r in ours.again.values())),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run (default: 8)")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per server, taking turns (default: 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default: 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default: 2)")
    args = parser.parse_args(argv)
    for tool, package in ((NGINX, "nginx"), (WRK, "wrk")):
        if shutil.which(tool) is None:
            print(f"bench: {tool} not found; install it (Debian: apt-get install {package})", file=sys.stderr)
            return 127
    ours, stock = measure(args.seconds, args.rounds, args.connections, args.threads)
    for goal, met in report(ours, stock):
        print(f"{'met   ' if met else 'MISSED'}  goal: {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
