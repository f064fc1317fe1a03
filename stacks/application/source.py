"""A workload file's bytes -> a YAML document, read as untrusted input, before any of its meaning is.

A workload file may come from anyone who can open a pull request, so reading one must neither hang, nor exhaust
memory, nor end in a traceback, and what it says must be what its author wrote. Refused here, each with the file
(and the line, where YAML gives one) named and nothing created:
- a file over MAX_FILE_BYTES, or bytes that are not UTF-8;
- YAML aliases (`*name`: a few hundred bytes of them expand to gigabytes), merge keys (`<<`), nesting deeper than
  MAX_DEPTH, a key twice in one mapping (YAML keeps the last without a word), more than one document.
Then `schema_problems` holds the document to the published Score v1b1 JSON schema (`stacks/application/schemas`), with
`jsonschema`, so a file kubeport accepts is a valid Score file too. `bounded` keeps any message short, whatever
value a file puts into it.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

MAX_FILE_BYTES = 128 * 1024
"""A workload file's size bound: the walkthrough's largest is about 1 KB; file contents go into a ConfigMap."""
MAX_DEPTH = 24
"""Nesting bound: a Score file nests 7 levels at most (containers.<name>.files[i].content is 5)."""
MAX_MESSAGE = 300
"""Characters of one problem shown; a file's value can be long, the message stays readable."""
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "score-v1b1.json"
MERGE_TAG = "tag:yaml.org,2002:merge"


class InputError(Exception):
    """The file cannot be read as a workload file at all: `where` (a line, or empty) and why."""

    def __init__(self, where: str, text: str) -> None:
        self.where = where
        self.text = text
        super().__init__(f"{where}: {text}" if where else text)


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` in at most `limit` characters: its start (the file and the path) and its end (the reason) kept, the
    middle (a long value) cut, with how much said."""
    if len(text) <= limit:
        return text
    marker = f" [...cut, {len(text)} characters in all...] "
    head = (limit - len(marker)) * 2 // 3
    tail = limit - len(marker) - head
    return f"{text[:head]}{marker}{text[len(text) - tail :]}"


def read_text(file: Path) -> str:
    """The file's text: at most MAX_FILE_BYTES of UTF-8."""
    with file.open("rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InputError("", f"larger than {MAX_FILE_BYTES // 1024} KiB, the bound for a workload file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(f"line {line}", f"not UTF-8 text (byte 0x{data[err.start]:02x})") from None


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases, merge keys, duplicate keys or deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ComposerError(None, None, "aliases (*name) are not accepted in a workload file", event.start_mark)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                raise ConstructorError(None, None, "merge keys (<<) are not accepted", key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise ConstructorError(
                        None, None, f"{bounded(repr(key), 60)} appears twice in one mapping", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """The one YAML document in `text`; InputError when it is not YAML this reader accepts."""
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)  # reads the whole text for characters YAML refuses
        return loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise InputError(where, f"not valid YAML: {getattr(err, 'problem', None) or err}") from None
    finally:
        if loader is not None:
            loader.dispose()


@cache
def _validator() -> Draft202012Validator:
    # Imported here: only application stacks read workload files, and the other stacks need not load it.
    from jsonschema import Draft202012Validator  # noqa: PLC0415

    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def dotted(path: Iterable[str | int]) -> str:
    """A path in a document as kubeport's messages write it: `containers.main.files[0].mode`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def schema_problems(document: Any) -> list[tuple[str, str]]:
    """(path, message) for each way `document` is not a valid Score v1b1 workload, as the published schema says."""
    from jsonschema.exceptions import best_match  # noqa: PLC0415

    found: list[tuple[str, str]] = []
    for error in _validator().iter_errors(document):
        # A one-of (files as a list or a mapping) fails as a whole; its most specific branch says what is wrong.
        specific = best_match([error])
        found.append((dotted(specific.absolute_path), bounded(specific.message, 200)))
    return sorted(set(found))


def covered(path: str, by: Sequence[str]) -> bool:
    """Whether a problem at `path` is already told by one at a path in `by`: the same field, inside it, or around it."""

    def within(inner: str, outer: str) -> bool:
        return not outer or inner == outer or inner.startswith((f"{outer}.", f"{outer}["))

    return any(within(path, other) or within(other, path) for other in by)
