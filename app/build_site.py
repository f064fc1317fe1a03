#!/usr/bin/env python3
"""Fingerprints the site's assets and precompresses its text files, so nginx serves both as they are.

Assets are named `<name>.<first 8 hex digits of the content's SHA-256>.<ext>`, which lets nginx cache them
for a year as `immutable`: a changed asset gets a new name. After editing one, run `python3 app/build_site.py`:
it renames the asset, rewrites the references in the HTML pages and refreshes the `.gz` copies that nginx's
`gzip_static` sends to clients accepting gzip (deterministic: level 9, no name, no timestamp).
`--check` changes nothing: it lists what is out of date and exits 1 if anything is.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"
ASSET = re.compile(r"^(?P<name>[a-z0-9-]+)\.(?P<hash>[0-9a-f]{8})\.(?P<ext>css|js|svg)$")
"""A fingerprinted asset's file name."""
COMPRESSED = (".html", ".css", ".js", ".svg")
"""Files that get a precompressed `.gz` copy."""
REFERENCE = re.compile(r'(?:href|src)="/([\w.-]+\.[a-z]+)"')
"""A page's link to a file of the site; pages link by `/name`, as the 404 page is served at any depth."""


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _write(path: Path, data: bytes) -> None:
    """Replace a file in one step, so a running nginx never reads half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _sources(site: Path) -> list[Path]:
    return sorted(p for p in site.iterdir() if p.is_file() and p.name.endswith(COMPRESSED))


def _current_name(asset: Path) -> str | None:
    """The name the asset should have, or None if it is not a fingerprinted asset."""
    match = ASSET.match(asset.name)
    if match is None:
        return None
    return f"{match['name']}.{content_hash(asset.read_bytes())}.{match['ext']}"


def problems(site: Path = SITE) -> list[str]:
    """What is out of date in the site; empty when names, references and `.gz` copies are current."""
    found = []
    sources = _sources(site)
    for path in sources:
        name = _current_name(path)
        if name is not None and name != path.name:
            found.append(f"{path.name}: its content hash says {name}")
        if path.suffix == ".html":
            for ref in REFERENCE.findall(path.read_text(encoding="utf-8")):
                if not (site / ref).is_file():
                    found.append(f"{path.name}: /{ref} does not exist")
        packed = path.with_name(path.name + ".gz")
        if not packed.is_file():
            found.append(f"{packed.name}: missing")
        elif gzip.decompress(packed.read_bytes()) != path.read_bytes():
            found.append(f"{packed.name}: out of date")
    names = {p.name + ".gz" for p in sources}
    found += [f"{p.name}: no source file" for p in sorted(site.glob("*.gz")) if p.name not in names]
    return found


def build(site: Path = SITE) -> list[str]:
    """Bring names, references and `.gz` copies up to date; returns what changed."""
    changed = []
    renames = {}
    for path in _sources(site):
        name = _current_name(path)
        if name is not None and name != path.name:
            renames[path.name] = name
            os.replace(path, site / name)
            changed.append(f"renamed {path.name} -> {name}")
    for page in sorted(site.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        updated = REFERENCE.sub(lambda m: m[0].replace(m[1], renames.get(m[1], m[1])), text)
        if updated != text:
            _write(page, updated.encode())
            changed.append(f"updated links in {page.name}")
    sources = _sources(site)
    for path in sources:
        packed = path.with_name(path.name + ".gz")
        data = path.read_bytes()
        if not packed.is_file() or gzip.decompress(packed.read_bytes()) != data:
            _write(packed, compress(data))
            changed.append(f"compressed {packed.name}")
    names = {p.name + ".gz" for p in sources}
    for stale in sorted(site.glob("*.gz")):
        if stale.name not in names:
            stale.unlink()
            changed.append(f"removed {stale.name}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the site is out of date")
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
