"""The README and docs/ stay true: links resolve, and every command, stack, path and key they name exists; so do
the paths the code's own docstrings and comments name."""

from __future__ import annotations

import argparse
import io
import re
import shlex
import tokenize
from pathlib import Path

import pytest
import yaml

from tools.__main__ import parser
from tools.stack_files import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
PAGE_IDS = [str(p.relative_to(ROOT)) for p in PAGES]

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
MAKE = re.compile(r"(?:^|[\s;&(])make((?: [a-z][a-z0-9-]*)+)")
TOOLS = re.compile(r"python -m tools ([^#\n`]*)")
REPO_PATH = re.compile(
    r"(?<![\w./-])((?:app|components|stacks|tools|toolchain|policy|tests|docs|\.ci|\.github)/[\w./-]*)(?![<*{\w./-])"
)
STACK_FILE = re.compile(r"Pulumi\.([a-z0-9-]+)\.yaml")
NOT_A_PATH = re.compile(r"^policy/v\d|^policy/Amazon")
"""Named like a folder of the repo, but not one: Kubernetes' `policy/v1` API group, an AWS managed policy's ARN."""
CODE_FOLDERS = ("app", "components", "stacks", "tools", "tests", "policy", "walkthrough", ".ci")
FILE_SUFFIXES = {"py", "md", "yaml", "yml", "json", "txt", "sh", "toml", "conf", "pem", "html", "sql", "env", "csv"}
"""What ends a file's name: `tools/x.yaml` names that file, never an attribute of tools/x.py."""


def code(text: str) -> list[str]:
    """What a page shows as code: fenced blocks, then inline spans outside them."""
    blocks = FENCE.findall(text)
    return blocks + INLINE.findall(FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(FENCE.sub("", page.read_text()))}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def test_the_readme_is_read_in_ten_minutes() -> None:
    assert len(README.read_text().splitlines()) < 200


def test_every_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / target.split("#")[0]).resolve() for target in LINK.findall(README.read_text())}
    assert {p.resolve() for p in PAGES[1:]} <= linked


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_make_target_named_exists(page: Path) -> None:
    named = {word for snippet in code(page.read_text()) for m in MAKE.finditer(snippet) for word in m.group(1).split()}
    assert named - make_targets() == set()


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_tools_command_parses(page: Path) -> None:
    """Each concrete `python -m tools …` parses with the real parser: subcommand, flags and stack names."""
    cli = parser()
    commands = {name for a in cli._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices}
    for snippet in code(page.read_text()):
        for match in TOOLS.finditer(snippet):
            line = match.group(1).strip().rstrip(")\"'")
            if not line or re.search(r"[A-Z|<\[…]|\.\.\.", line):  # placeholders: STACK, A B, a|b, <name>, [opt]
                continue
            words = shlex.split(line)
            if len(words) == 1 and words[0] in commands:  # the command named, not run
                continue
            try:
                cli.parse_args(words)
            except SystemExit as stopped:
                if stopped.code in (0, None):  # --help
                    continue
                pytest.fail(f"{page.name}: `python -m tools {line}` does not parse")


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_stack_file_and_repo_path_named_exists(page: Path) -> None:
    text = page.read_text()
    # A stack file the page makes (`cp Pulumi.local.yaml Pulumi.mine.yaml`) is the reader's, not the repo's.
    made = set(re.findall(r"cp Pulumi\.[a-z0-9-]+\.yaml Pulumi\.([a-z0-9-]+)\.yaml", text))
    stacks = {name for name in STACK_FILE.findall(text)} - made
    assert {s for s in stacks if not (ROOT / f"Pulumi.{s}.yaml").exists()} == set()
    selected = set(re.findall(r"pulumi stack select (?:--create )?([a-z0-9-]+)", text))
    assert {s for s in selected if not (ROOT / f"Pulumi.{s}.yaml").exists()} == set()
    paths = {m.rstrip(".,:;") for snippet in code(text) for m in REPO_PATH.findall(snippet)}
    assert {p for p in paths if not (ROOT / p).exists()} == set()


def named_in_code(source: str) -> list[tuple[int, str]]:
    """The repo paths a module's strings and comments name, with their lines (a module may be named without its
    `.py`, or with an attribute after it: `tools/localcluster/registry.nginx_conf`)."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.STRING, tokenize.COMMENT):
            found += [
                (token.start[0] + token.string.count("\n", 0, m.start()), m.group(1).rstrip(".,:;)'\""))
                for m in REPO_PATH.finditer(token.string)
            ]
    return [(line, path) for line, path in found if not NOT_A_PATH.match(path)]


def exists(path: str) -> bool:
    """The path, or a module named without its `.py`, or a module's attribute
    (`tools/localcluster/registry.nginx_conf`)."""
    module, _, attribute = path.rpartition(".")
    as_attribute = bool(module) and "/" not in attribute and attribute not in FILE_SUFFIXES
    return any((ROOT / p).exists() for p in (path, f"{path}.py", *([f"{module}.py"] if as_attribute else [])))


def test_every_repo_path_named_in_the_code_exists() -> None:
    """Docstrings and comments that point at a moved file send the reader nowhere."""
    modules = [ROOT / "__main__.py", *(p for folder in CODE_FOLDERS for p in sorted((ROOT / folder).rglob("*.py")))]
    missing = [
        f"{module.relative_to(ROOT)}:{line}: {path}"
        for module in modules
        if module.resolve() != Path(__file__).resolve()  # the detectors' own samples below
        for line, path in named_in_code(module.read_text())
        if not exists(path)
    ]
    assert missing == []


def test_the_configuration_page_documents_exactly_the_declared_keys() -> None:
    # The project's own keys (kubeport:*) are declared bare; `pulumi:…` settings are the engine's.
    declared = {key for key in yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"] if ":" not in key}
    keys_table = (ROOT / "docs" / "configuration.md").read_text().split("\n## ")[0]
    rows = re.findall(r"^\| (`[^|]+`) \|", keys_table, re.MULTILINE)
    documented = {key for cell in rows for key in re.findall(r"`([A-Za-z][A-Za-z0-9]*)`", cell)}
    assert documented - declared == set(), "documented but not declared in Pulumi.yaml"
    assert declared - documented == set(), "declared in Pulumi.yaml but not documented"


def test_the_detectors_see_what_they_check() -> None:
    sample = (
        "```sh\nmake clusters   # x\npython -m tools diff eks gke\n```\n"
        "run `make site` and `tools/localcluster/kwok/x.yaml`\n"
    )
    snippets = code(sample)
    assert {w for s in snippets for m in MAKE.finditer(s) for w in m.group(1).split()} == {"clusters", "site"}
    assert [m.group(1).strip() for s in snippets for m in TOOLS.finditer(s)] == ["diff eks gke"]
    assert {p for s in snippets for p in REPO_PATH.findall(s)} == {"tools/localcluster/kwok/x.yaml"}
    source = (
        '"""See tests/nowhere.py and tools/localcluster/registry.nginx_conf."""\n'
        'x = "policy/v1"  # tools/ops/application_smoke\n'
    )
    assert named_in_code(source) == [
        (1, "tests/nowhere.py"),
        (1, "tools/localcluster/registry.nginx_conf"),
        (2, "tools/ops/application_smoke"),
    ]
    assert [exists(p) for _, p in named_in_code(source)] == [False, True, True]
    assert not exists("tools/realnode.sh") and not exists("tools/render.yaml") and exists("tools/verify/render.py")
    assert slug("Same stack, new cloud (change `kubeport:target`)") == "same-stack-new-cloud-change-kubeporttarget"
