"""The site and the image's files, checked without running anything."""

from __future__ import annotations

import gzip
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app import build_site, serve_local
from components.image import context_files

APP = Path(__file__).resolve().parents[2] / "app"
SITE = APP / "site"
DOCKERFILE = (APP / "Dockerfile").read_text()
INFO_FIELDS = ["target", "namespace", "pod", "node", "image", "release", "version"]
PAGES = sorted(p.name for p in SITE.glob("*.html"))
ASSETS = sorted(p.name for p in SITE.iterdir() if build_site.ASSET.match(p.name))


class Page(HTMLParser):
    """A built page as a browser reads it: its elements, their attributes, and the text inside <noscript>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.noscript: list[tuple[str, dict[str, str]]] = []
        self._in_noscript = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag == "noscript":
            self._in_noscript = True
        elif self._in_noscript:
            self.noscript.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag == "noscript":
            self._in_noscript = False

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.elements if name == tag]


def page(name: str) -> Page:
    return Page((SITE / name).read_text())


def test_the_site_is_the_build_of_its_sources() -> None:
    assert build_site.problems() == [], "run: make site"
    assert {name.rsplit(".", 1)[1] for name in ASSETS} == {"css", "js", "svg"}
    for built in SITE.iterdir():
        if built.suffix != ".gz":
            assert gzip.decompress((SITE / f"{built.name}.gz").read_bytes()) == built.read_bytes(), built.name


def test_the_build_minifies_fingerprints_and_relinks(tmp_path: Path) -> None:
    sources, site = tmp_path / "src", tmp_path / "site"
    sources.mkdir()
    (sources / "app.css").write_text("/* a comment */\np {\n  margin: 0px;\n}\n")
    (sources / "icon.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1">\n  <!-- x -->\n</svg>\n'
    )
    (sources / "index.html").write_text(
        '<!doctype html>\n<html lang="en">\n  <link rel="stylesheet" href="/app.css">\n'
        '  <link rel="icon" href="/icon.svg">\n</html>\n'
    )
    build_site.build(sources, site)
    assert build_site.problems(sources, site) == []
    (css,) = site.glob("app.*.css")
    assert css.read_text() == "p{margin:0}"
    assert css.name == f"app.{build_site.content_hash(css.read_bytes())}.css"
    (svg,) = site.glob("icon.*.svg")
    assert svg.read_text() == '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>'  # viewBox keeps its case
    links = {a["href"] for a in Page((site / "index.html").read_text()).all("link")}
    assert links == {f"/{css.name}", f"/{svg.name}"}
    # An edited source is a new name; the old one is gone, and --check would have said so.
    (sources / "app.css").write_text("p { margin: 1px }")
    assert build_site.problems(sources, site)
    build_site.build(sources, site)
    assert not css.exists() and len(list(site.glob("app.*.css"))) == 1


def test_a_page_linking_to_a_missing_source_does_not_build(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<link rel="stylesheet" href="/gone.css">')
    with pytest.raises(ValueError, match=r"gone\.css"):
        build_site.build(tmp_path, tmp_path / "site")


@pytest.mark.parametrize("name", PAGES)
def test_pages_are_accessible_and_need_nothing_inline_or_from_elsewhere(name: str) -> None:
    html = (SITE / name).read_text()
    built = page(name)
    assert html.lower().startswith("<!doctype html>")
    assert built.all("html") == [{"lang": "en"}]
    assert {"charset": "utf-8"} in built.all("meta")
    assert {"name": "viewport", "content": "width=device-width,initial-scale=1"} in built.all("meta")
    assert len(built.all("h1")) == 1 and built.all("main")
    # The Content-Security-Policy allows scripts and styles from files of this site only.
    assert all(attrs.get("src", "").startswith("/") for attrs in built.all("script"))
    assert not built.all("style")
    assert not any(k == "style" or k.startswith("on") for _, attrs in built.elements for k in attrs)
    links = [v for _, attrs in built.elements for k, v in attrs.items() if k in ("src", "href")]
    assert not [link for link in links if "//" in link], "no external assets"


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
    index = page("index.html")
    assert [attrs["data-info"] for _, attrs in index.elements if "data-info" in attrs] == INFO_FIELDS
    (script,) = (SITE / a for a in ASSETS if a.endswith(".js"))
    fields = re.search(r"FIELDS\s*=\s*(\[[^\]]*\])", script.read_text())
    assert fields is not None and json.loads(fields.group(1).replace("`", '"')) == INFO_FIELDS
    assert {"href": "/info"} in [attrs for tag, attrs in index.noscript if tag == "a"]


def test_info_variables_are_defined_in_the_image() -> None:
    # Which the Deployment sets, and from which field, is checked on every stack in tests/across_targets/test_wiring.py.
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
    assert DOCKERFILE.count("\nFROM ") == 1 and "\nFROM ${BASE_IMAGE}\n" in DOCKERFILE
    assert (
        "\nARG BASE_IMAGE=nginxinc/nginx-unprivileged:1.29.3-alpine@sha256:"
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
