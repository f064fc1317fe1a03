"""What a cluster stack hands its app stacks: one place for both sides of the stack reference.

A cluster stack (`kubeport:part cluster`) exports its kubeconfig (secret), its provider identity and the
Platform's facts — exposure, pull policy, timeout, the Ingress controller it offers, the registries its
nodes may pull from, the image platforms it runs — as one JSON-able record. An app stack (target `stackref`)
reads them back through a `pulumi.StackReference` into the same Platform, so `WebApp` cannot tell the
difference. The record carries a schema number: an app stack refuses a record it does not understand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from components.options import PULL_POLICIES, SERVICE_TYPES, PullPolicy, ServiceType
from components.platform import Exposure, IngressRoute, Platform

SCHEMA = 1
FACTS = "kubeportCluster"
KUBECONFIG = "kubeconfig"
IDENTITY = "clusterIdentifier"
REGISTRY = "registry"
NEEDED = (FACTS, KUBECONFIG, IDENTITY)
"""The outputs an app stack needs from its cluster stack."""


def _exposure(exposure: Exposure) -> dict[str, Any]:
    return {
        "serviceType": exposure.service_type,
        "annotations": dict(exposure.annotations),
        "nodeAddress": exposure.node_address,
        "addressHint": exposure.address_hint,
    }


def facts_of(platform: Platform, build_platforms: Sequence[str] = ()) -> dict[str, Any]:
    """The Platform's facts as a cluster stack exports them (Outputs inside are resolved by the engine)."""
    route = platform.ingress
    return {
        "schema": SCHEMA,
        "target": platform.target,
        "exposure": _exposure(platform.exposure),
        "imagePullPolicy": platform.image_pull_policy,
        "rolloutTimeout": platform.rollout_timeout,
        "ingress": None
        if route is None
        else {
            "className": route.class_name,
            "annotations": dict(route.annotations),
            "serviceAnnotations": dict(route.service_annotations),
            "exposure": _exposure(route.exposure) if route.exposure else None,
        },
        "nodesPullFrom": list(platform.nodes_pull_from),
        "buildPlatforms": list(build_platforms),
    }


def export_cluster(platform: Platform, build_platforms: Sequence[str] = ()) -> None:
    """A cluster stack's outputs: everything an app stack needs, the kubeconfig as a secret."""
    if platform.kubeconfig is None:
        raise ValueError(f"target {platform.target!r} has no kubeconfig to hand to app stacks")
    pulumi.export(KUBECONFIG, pulumi.Output.secret(platform.kubeconfig))
    pulumi.export(IDENTITY, platform.cluster_identity)
    pulumi.export(FACTS, facts_of(platform, build_platforms))
    for name, value in platform.outputs.items():
        if name != KUBECONFIG:
            pulumi.export(name, value)


@dataclass(frozen=True)
class ClusterFacts:
    """A cluster stack's facts, read back and checked."""

    target: str
    exposure: Exposure
    image_pull_policy: PullPolicy
    rollout_timeout: str
    ingress: IngressRoute | None
    nodes_pull_from: tuple[str, ...] = ()
    build_platforms: tuple[str, ...] = ()


class HandoffError(Exception):
    """The referenced stack's outputs are not a cluster stack's; the message says what is missing."""


def _read_exposure(data: Any, where: str) -> Exposure:
    if not isinstance(data, Mapping) or data.get("serviceType") not in SERVICE_TYPES:
        raise HandoffError(f"{where} is not a Service exposure")
    return Exposure(
        service_type=cast(ServiceType, data["serviceType"]),
        annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
        node_address=data.get("nodeAddress") or None,
        address_hint=str(data.get("addressHint") or ""),
    )


def read_facts(data: Any) -> ClusterFacts:
    """Check and read a cluster stack's facts record; raise HandoffError naming what is wrong."""
    if not isinstance(data, Mapping):
        raise HandoffError(f"its {FACTS} output is not a record")
    if data.get("schema") != SCHEMA:
        raise HandoffError(f"its {FACTS} output has schema {data.get('schema')!r}; this kubeport reads {SCHEMA}")
    if data.get("imagePullPolicy") not in PULL_POLICIES:
        raise HandoffError(f"its {FACTS} output has no image pull policy")
    route = data.get("ingress")
    ingress = None
    if route is not None:
        if not isinstance(route, Mapping):
            raise HandoffError(f"its {FACTS} output has an unreadable ingress entry")
        ingress = IngressRoute(
            class_name=route.get("className"),
            annotations={str(k): str(v) for k, v in (route.get("annotations") or {}).items()},
            service_annotations={str(k): str(v) for k, v in (route.get("serviceAnnotations") or {}).items()},
            exposure=_read_exposure(route["exposure"], "its ingress exposure") if route.get("exposure") else None,
        )
    return ClusterFacts(
        target=str(data.get("target") or "cluster"),
        exposure=_read_exposure(data.get("exposure"), f"its {FACTS}.exposure"),
        image_pull_policy=cast(PullPolicy, data["imagePullPolicy"]),
        rollout_timeout=str(data.get("rolloutTimeout") or "10m"),
        ingress=ingress,
        nodes_pull_from=tuple(str(h) for h in data.get("nodesPullFrom") or ()),
        build_platforms=tuple(str(p) for p in data.get("buildPlatforms") or ()),
    )
