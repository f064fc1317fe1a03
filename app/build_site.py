#!/usr/bin/env python3
"""Builds the site nginx serves (app/site) from its readable sources (app/src): minified, fingerprinted,
precompressed.

- HTML and JS by minify-html (JS through the minifier it applies to a page's scripts), CSS by lightningcss:
  maintained minifiers from PyPI, pinned in requirements-dev.txt. SVG: no maintained PyPI minifier keeps a
  standalone SVG valid XML (minify-html lowercases `viewBox` and unquotes attributes; scour is unmaintained
  since 2020), so the SVG only loses its comments and the whitespace between elements, through the standard
  library's XML parser.
- Assets are named `<name>.<first 8 hex digits of the minified content's SHA-256>.<ext>`, so nginx caches
  them for a year as `immutable`; the pages' links are rewritten to those names.
- Every text file gets a `.gz` twin for nginx's `gzip_static`, compressed once here with zopfli (a smaller
  stream than gzip -9 for the same format; no name, no timestamp).

The build is deterministic: `make site` (the dev virtualenv's `python app/build_site.py`) rewrites app/site;
`--check` builds into a scratch folder, changes nothing, lists what differs and exits 1 if anything does.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

APP = Path(__file__).resolve().parent
SOURCES = APP / "src"
SITE = APP / "site"
ASSET = re.compile(r"^(?P<name>[a-z0-9-]+)\.(?P<hash>[0-9a-f]{8})\.(?P<ext>css|js|svg)$")
"""A fingerprinted asset's file name."""
PAGES = ".html"
ASSETS = (".css", ".js", ".svg")
REFERENCE = re.compile(r'(?P<attr>href|src)="/(?P<name>[\w.-]+\.(?:css|js|svg))"')
"""A source page's link to an asset; pages link by `/name`, as the 404 page is served at any depth."""
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def compress(data: bytes) -> bytes:
    import zopfli.gzip  # noqa: PLC0415 - only building needs it

    packed: bytes = zopfli.gzip.compress(data)
    return packed


def minify_svg(text: str) -> str:
    """Comments and the whitespace between elements removed; attributes, case and values untouched."""
    ET.register_namespace("", SVG_NAMESPACE)
    root = ET.fromstring(text)
    for element in root.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return ET.tostring(root, encoding="unicode", short_empty_elements=True).replace(" />", "/>")


def minifiers() -> dict[str, Callable[[str], str]]:
    """The minifier of each kind of file (imported only when building: serving needs none of them)."""
    import lightningcss  # noqa: PLC0415
    import minify_html  # noqa: PLC0415

    def html(text: str) -> str:
        # Spec-conformant output only: optional tags and quotes go where HTML allows it, nothing else.
        minified: str = minify_html.minify(text, minify_css=True, minify_js=True)
        return minified

    def js(text: str) -> str:
        wrapped = html(f"<script>{text}</script>")
        if not (wrapped.startswith("<script>") and wrapped.endswith("</script>")):
            raise ValueError("minify-html did not return the script it was given")
        return wrapped.removeprefix("<script>").removesuffix("</script>")

    def css(text: str) -> str:
        minified: str = lightningcss.process_stylesheet(text, minify=True)
        return minified

    return {".html": html, ".css": css, ".js": js, ".svg": minify_svg}


def _write(path: Path, data: bytes) -> None:
    """Replace a file in one step, so a running nginx never reads half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def build(sources: Path = SOURCES, site: Path = SITE) -> list[str]:
    """Write the site from the sources; returns what changed (empty when it was already up to date)."""
    minify = minifiers()
    site.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for source in sorted(p for p in sources.iterdir() if p.suffix in ASSETS):
        data = minify[source.suffix](source.read_text(encoding="utf-8")).encode()
        name = f"{source.stem}.{content_hash(data)}{source.suffix}"
        names[source.name] = name
        wanted[name] = data
    for page in sorted(p for p in sources.iterdir() if p.suffix == PAGES):
        text = page.read_text(encoding="utf-8")
        missing = sorted({m["name"] for m in REFERENCE.finditer(text)} - set(names))
        if missing:
            raise ValueError(f"{page.name} links to {', '.join(missing)}, which app/src does not have")
        linked = REFERENCE.sub(lambda m: f'{m["attr"]}="/{names[m["name"]]}"', text)
        wanted[page.name] = minify[PAGES](linked).encode()
    for name, data in list(wanted.items()):
        wanted[f"{name}.gz"] = compress(data)

    changed = []
    for name, data in sorted(wanted.items()):
        path = site / name
        if not path.is_file() or path.read_bytes() != data:
            _write(path, data)
            changed.append(f"wrote {name}")
    for stale in sorted(site.iterdir()):
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
            changed.append(f"removed {stale.name}")
    return changed


def problems(sources: Path = SOURCES, site: Path = SITE) -> list[str]:
    """How app/site differs from a fresh build of app/src; empty when it is up to date."""
    with tempfile.TemporaryDirectory(prefix="kubeport-site-") as scratch:
        fresh = Path(scratch)
        build(sources, fresh)
        comparison = filecmp.dircmp(fresh, site, ignore=[])
        found = [f"{name}: missing" for name in comparison.left_only]
        found += [f"{name}: not built from app/src" for name in comparison.right_only]
        _, mismatch, errors = filecmp.cmpfiles(fresh, site, comparison.common_files, shallow=False)
        found += [f"{name}: out of date" for name in mismatch + errors]
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if app/site is out of date")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    for line in build() or ["the site is up to date"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
