"""The image: content-hash tags that follow the build context, and a pinned, non-root Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path

from components.image import context_digest, context_files
from tools.stack_files import ROOT

APP = ROOT / "app"


def make_context(root: Path) -> Path:
    (root / "site").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "site" / "index.html").write_text("<p>v1</p>\n")
    (root / ".dockerignore").write_text("*\n!Dockerfile\n!site\n")
    return root


def test_digest_changes_with_content(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    before = context_digest(ctx)
    assert context_digest(ctx) == before
    (ctx / "site" / "index.html").write_text("<p>v2</p>\n")
    assert context_digest(ctx) != before


def test_digest_ignores_what_docker_ignores(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    before = context_digest(ctx)
    (ctx / "notes.txt").write_text("scratch\n")
    (ctx / "README.md").write_text("x\n")
    assert context_digest(ctx) == before
    (ctx / "site" / "new.css").write_text("p{}\n")
    assert context_digest(ctx) != before


def test_digest_follows_renames(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    before = context_digest(ctx)
    (ctx / "site" / "index.html").rename(ctx / "site" / "home.html")
    assert context_digest(ctx) != before


def test_app_context_is_only_what_the_image_needs() -> None:
    names = {p.relative_to(APP).as_posix() for p in context_files(APP)}
    assert "Dockerfile" in names and "site/index.html" in names and "nginx/default.conf" in names
    assert ".dockerignore" not in names


def test_dockerfile_pins_its_base_and_runs_as_a_numeric_non_root_user() -> None:
    text = (APP / "Dockerfile").read_text()
    # FROM the BASE_IMAGE argument (kubeport:baseImage), whose default is pinned by version and digest.
    assert re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE) == ["${BASE_IMAGE}"]
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", text, re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}", base.group(1)), base.group(1)
    # No frontend image to pull: BuildKit's built-in Dockerfile frontend reads it.
    assert not re.search(r"^#\s*syntax=", text, re.MULTILINE | re.IGNORECASE)
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user and all(re.fullmatch(r"[1-9]\d{4,}:[1-9]\d{4,}", u) for u in user)
    assert re.search(r'^\s*CMD \["wget"', text, re.MULTILINE), "HEALTHCHECK in JSON form"
