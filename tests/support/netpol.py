"""Kubernetes NetworkPolicy semantics over registered objects: which pods a policy selects, which it admits.

Enough of the API's rules for the workload's policies (pod and namespace selectors with matchLabels and
matchExpressions, named and numeric ports); an ipBlock peer never matches a pod here. The real analyzer
(cyclonus over the rendered manifests) asks the same questions in tests/across_targets/test_traffic.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PodView:
    """A pod as the policies see it: where it is, its labels and its container ports by name."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: every matchLabels pair and every matchExpression holds. `{}` selects everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        holds = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not holds:
            return False
    return True


def policy_selects(policy: Mapping[str, Any], pod: PodView) -> bool:
    return policy["metadata"].get("namespace") == pod.namespace and selector_matches(
        policy["spec"].get("podSelector") or {}, pod.labels
    )


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, pod: PodView) -> bool:
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if pods is None and namespaces is None:
        return False  # an ipBlock: not a pod
    in_namespace = (
        selector_matches(namespaces, pod.namespace_labels)
        if namespaces is not None
        else pod.namespace == policy_namespace
    )
    return in_namespace and (pods is None or selector_matches(pods, pod.labels))


def _port_matches(rule_ports: Iterable[Mapping[str, Any]] | None, pod: PodView, port: int, protocol: str) -> bool:
    listed = list(rule_ports or [])
    if not listed:
        return True
    for entry in listed:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        number = pod.ports.get(wanted) if isinstance(wanted, str) else wanted
        if wanted is None or (number is not None and number <= port <= int(entry.get("endPort") or number)):
            return True
    return False


def _admitted(
    policies: Sequence[Mapping[str, Any]],
    subject: PodView,
    peer: PodView,
    port_owner: PodView,
    port: int,
    protocol: str,
) -> bool:
    direction = "ingress" if subject is port_owner else "egress"
    kind = direction.capitalize()
    selecting = [p for p in policies if policy_selects(p, subject) and kind in (p["spec"].get("policyTypes") or [])]
    if not selecting:
        return True
    peer_key = "from" if direction == "ingress" else "to"
    for policy in selecting:
        for rule in policy["spec"].get(direction) or []:
            peers = rule.get(peer_key)
            peer_ok = not peers or any(_peer_matches(p, policy["metadata"]["namespace"], peer) for p in peers)
            if peer_ok and _port_matches(rule.get("ports"), port_owner, port, protocol):
                return True
    return False


def allowed(
    policies: Sequence[Mapping[str, Any]], source: PodView, destination: PodView, port: int, protocol: str = "TCP"
) -> bool:
    """Whether `source` may open a connection to `destination` on `port`: its egress and their ingress agree."""
    return _admitted(policies, source, destination, destination, port, protocol) and _admitted(
        policies, destination, source, destination, port, protocol
    )
