"""The site and the image's files, checked without running anything."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from app import build_site, serve_local
from components.image import context_files

APP = Path(__file__).resolve().parents[2] / "app"
SITE = APP / "site"
DOCKERFILE = (APP / "Dockerfile").read_text()
INFO_FIELDS = ["target", "namespace", "pod", "node", "image", "version"]
PAGES = sorted(p.name for p in SITE.glob("*.html"))
ASSETS = sorted(p.name for p in SITE.iterdir() if build_site.ASSET.match(p.name))


def test_assets_carry_their_content_hash_and_every_text_file_its_gz_twin() -> None:
    assert build_site.problems() == [], "run: python3 app/build_site.py"
    assert {name.rsplit(".", 1)[1] for name in ASSETS} == {"css", "js", "svg"}


def test_build_site_renames_an_edited_asset_and_fixes_the_links(tmp_path: Path) -> None:
    css = b"p { margin: 0; }\n"
    (tmp_path / "app.00000000.css").write_bytes(css)
    (tmp_path / "index.html").write_text('<link rel="stylesheet" href="/app.00000000.css">\n')
    assert build_site.problems(tmp_path)
    build_site.build(tmp_path)
    assert build_site.problems(tmp_path) == []
    name = f"app.{build_site.content_hash(css)}.css"
    assert f'href="/{name}"' in (tmp_path / "index.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"{name}.gz", "index.html", "index.html.gz"])


@pytest.mark.parametrize("page", PAGES)
def test_pages_are_accessible_and_need_nothing_inline_or_from_elsewhere(page: str) -> None:
    html = (SITE / page).read_text()
    assert html.startswith("<!doctype html>")
    assert '<html lang="en">' in html and '<meta charset="utf-8">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.count("<h1>") == 1 and "<main>" in html
    # The Content-Security-Policy allows scripts and styles from files of this site only.
    assert all(" src=" in tag for tag in re.findall(r"<script\b[^>]*>", html))
    assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"""(?:src|href)=["'](?:[a-z]+:)?//""", html), "no external assets"


@pytest.mark.parametrize("asset", ASSETS)
def test_assets_load_nothing_from_elsewhere(asset: str) -> None:
    text = (SITE / asset).read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]", text), "no external URLs"
    assert "@import" not in text and "url(" not in text


def test_the_page_shows_every_field_of_info() -> None:
    template = (APP / "nginx" / "templates" / "kubeport" / "info.json.template").read_text()
    names = re.findall(r"\$\{(KUBEPORT_[A-Z]+)\}", template)
    rendered = json.loads(serve_local.envsubst_python(template, dict.fromkeys(names, "x"), names))
    assert list(rendered) == INFO_FIELDS
    assert re.findall(r'data-info="([a-z]+)"', (SITE / "index.html").read_text()) == INFO_FIELDS
    (script,) = (SITE / a for a in ASSETS if a.endswith(".js"))
    assert f"const FIELDS = {json.dumps(INFO_FIELDS)};" in script.read_text()
    assert re.search(r'<noscript>.*href="/info".*</noscript>', (SITE / "index.html").read_text())


def test_info_variables_are_defined_in_the_image() -> None:
    # Which the Deployment sets, and from which field, is checked on every stack in tests/test_wiring.py.
    template = (APP / "nginx" / "templates" / "kubeport" / "info.json.template").read_text()
    used = set(re.findall(r"\$\{(\w+)\}", template))
    # Every variable is defined in the image (empty by default), so envsubst replaces it wherever the image runs.
    for name in used:
        assert re.search(rf"^(?:ENV)?\s+{name}=", DOCKERFILE, re.MULTILINE), name


def test_version_baked_into_the_image_is_the_projects() -> None:
    project = tomllib.loads((APP.parent / "pyproject.toml").read_text())["project"]["version"]
    assert serve_local.image_version() == project
    assert "ENV KUBEPORT_VERSION=${KUBEPORT_VERSION}" in DOCKERFILE


def test_serve_local_mirrors_the_images_layout() -> None:
    """serve-local's rewrites and envsubst settings are the image's (app/Dockerfile), not a second copy."""
    assert f"NGINX_ENVSUBST_OUTPUT_DIR={serve_local.IMAGE_TMP} " in DOCKERFILE
    assert f"NGINX_ENVSUBST_FILTER={serve_local.ENVSUBST_FILTER} " in DOCKERFILE
    copies = dict(re.findall(r"^COPY (\S+) (\S+)$", DOCKERFILE, re.MULTILINE))
    assert copies == {
        **{f"nginx/{source}": f"/etc/nginx/{target}" for source, target in serve_local.CONFIG_FILES.items()},
        "nginx/templates/": "/etc/nginx/templates/",
        "site/": f"{serve_local.IMAGE_SITE}/",
    }
    default_conf = (APP / "nginx" / "default.conf").read_text()
    assert f"alias {serve_local.IMAGE_TMP}/kubeport/info.json;" in default_conf
    assert f"root {serve_local.IMAGE_SITE};" in default_conf and serve_local.IMAGE_LISTEN in default_conf


def test_dockerfile_keeps_the_pinned_base_the_user_and_the_healthcheck() -> None:
    assert DOCKERFILE.count("\nFROM ") == 1
    assert (
        "\nFROM nginxinc/nginx-unprivileged:1.29.3-alpine@sha256:"
        "5aea7cc516b419e3526f47dd1531be31a56a046cfe44754d94f9383e13e2ee99\n" in DOCKERFILE
    )
    assert re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE) == ["10101:10101"]
    assert 'CMD ["wget", "-q", "-T", "2", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]' in DOCKERFILE
    assert 'CMD ["nginx", "-g", "daemon off;"]' in DOCKERFILE


def test_build_context_is_the_image_files_only() -> None:
    names = {p.relative_to(APP).as_posix() for p in context_files(APP)}
    expected = {"Dockerfile", "nginx/nginx.conf", "nginx/default.conf", "nginx/templates/kubeport/info.json.template"}
    expected |= {f"site/{p.name}" for p in SITE.iterdir()}
    assert names == expected
