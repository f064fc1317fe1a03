"""The live suite's files run in groups at once (tools/verify/livesuite.py): each file in exactly one group, so no file
is left out; no two groups declare the same namespace or node port of the same cluster; and every namespace and node
port a file names is one its group declares."""

from __future__ import annotations

import itertools
import re

from tools.stack_files import ROOT
from tools.verify.livesuite import GROUPS, group_of

LIVE = ROOT / "tests" / "live"
NAMESPACE = re.compile(
    r"""(?:NAMESPACE\s*=\s*|namespace["']?\s*[:=]\s*|["'](?:walkthrough|library)["']:\s*)["']([a-z0-9-]+)["']"""
)
NODE_PORT = re.compile(r"""nodePort["']?\s*[:=]\s*["'](\d+)["']""")


def test_every_live_file_is_in_exactly_one_group() -> None:
    files = sorted(p.name for p in LIVE.glob("test_*.py"))
    grouped = sorted(name for group in GROUPS.values() for name in group.files)
    assert grouped == files
    assert {group_of(name) for name in files} == set(GROUPS)


def test_no_two_groups_take_the_same_namespace_or_node_port_of_a_cluster() -> None:
    for (one, a), (other, b) in itertools.combinations(GROUPS.items(), 2):
        assert not a.namespaces & b.namespaces, (one, other, a.namespaces & b.namespaces)
        assert not a.node_ports & b.node_ports, (one, other, a.node_ports & b.node_ports)


def test_each_file_names_only_namespaces_and_node_ports_its_group_declares() -> None:
    for name, group in GROUPS.items():
        declared_namespaces = {n for _, n in group.namespaces}
        declared_ports = {p for _, p in group.node_ports}
        for file in group.files:
            text = (LIVE / file).read_text()
            assert set(NAMESPACE.findall(text)) <= declared_namespaces, (name, file, NAMESPACE.findall(text))
            assert {int(p) for p in NODE_PORT.findall(text)} <= declared_ports, (name, file)


def test_the_finder_sees_what_the_files_write() -> None:
    text = """NAMESPACE = "fast"\nsettings = {"kubeport:namespace": "moved", "kubeport:nodePort": "30034"}\n"""
    assert NAMESPACE.findall(text) == ["fast", "moved"] and NODE_PORT.findall(text) == ["30034"]
