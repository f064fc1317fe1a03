"""The `${...}` placeholders of workload files, parsed in one place: `${metadata.name}` and
`${resources.<name>.<output>}` in variables and file contents, `$${` for a literal `${`. The checks
(stacks/application/parse.py), the routes' host (checks.py) and the values the containers get (convert.py) all
read a text through here."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")
ESCAPE = "$${"
T = TypeVar("T")


def references(text: str) -> list[str]:
    """The `${...}` references in a text, in order, without the `$${` escapes."""
    return [m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(0) != ESCAPE]


def fill(text: str, value: Callable[[str], T | None]) -> list[str | T] | None:
    """The text as pieces, each reference replaced by `value(reference)` and each `$${` by `${`; None as soon as
    `value` knows a reference not."""
    pieces: list[str | T] = []
    last = 0
    for match in PLACEHOLDER.finditer(text):
        pieces.append(text[last : match.start()])
        if match.group(0) == ESCAPE:
            pieces.append("${")
        else:
            found = value(match.group(1))
            if found is None:
                return None
            pieces.append(found)
        last = match.end()
    pieces.append(text[last:])
    return pieces


def whole_reference(text: str) -> str | None:
    """The reference when the whole text is exactly one `${...}` (a credential may only be used that way)."""
    match = PLACEHOLDER.fullmatch(text)
    return None if match is None or match.group(0) == ESCAPE else match.group(1)
