"""Target stackref: the app alone, on the cluster another stack created (`kubeport:clusterStack`).

Clusters and apps have different lifecycles: a cluster stack (`kubeport:part cluster`) creates and upgrades
the cluster; app stacks reference it. This module reads the reference's outputs (stacks.handoff) into the
same Platform an all-in-one stack builds, imports no cloud SDK and registers no cloud resource. Moving the
app to another cluster is one line: another `kubeport:clusterStack`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.platform import Platform
from stacks import registry, stop
from stacks.config import ConfigError, Key, Needs, Reader, Settings
from stacks.config.keys import RegistryKind
from stacks.handoff import FACTS, IDENTITY, KUBECONFIG, NEEDED, HandoffError, read_facts
from stacks.sync import resolve_now

KEYS: tuple[Key, ...] = (
    Key(
        "clusterStack",
        "string",
        "",
        "The cluster stack an app stack deploys onto: <organization>/<project>/<stack> (target stackref, required; "
        "with the local file backend: organization/kubeport/<stack>).",
        targets=("stackref",),
    ),
)
TOOLS = ("docker",)
"""What a real run needs on the machine (stacks.preflight says how to install each)."""
DEFAULT_REGISTRY: RegistryKind = "server"
"""Where the image goes when kubeport:registry is empty."""
SDK = ""
"""The cloud SDK `platform()` imports (none)."""
STACK_REFERENCE = re.compile(r"([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+")
"""<organization>/<project>/<stack>, <project>/<stack> or <stack>: one to three parts, nothing else."""

REFERENCE = "clusterStack"
"""The StackReference's resource name: the engine's own error for a stack it cannot find names it."""
PROVIDER = "cluster"


def check(r: Reader, settings: Settings) -> Settings:
    """stackref's own rule: the cluster stack to deploy onto, named as a stack reference."""
    cluster_stack = r.string("clusterStack")
    if not cluster_stack:
        r.problem(
            "clusterStack",
            "is required with target stackref: the cluster stack to deploy onto, "
            "e.g. organization/kubeport/eks-cluster",
        )
    elif not STACK_REFERENCE.fullmatch(cluster_stack):
        r.problem("clusterStack", f"{cluster_stack!r} is not a stack name such as organization/kubeport/eks-cluster")
    return dataclasses.replace(settings, cluster_stack=cluster_stack)


def _problem(settings: Settings, text: str) -> ConfigError:
    return ConfigError([f"kubeport:clusterStack: stack {settings.cluster_stack!r} {text}"])


def read_outputs(settings: Settings, reference: pulumi.StackReference) -> dict[str, Any]:
    """The cluster stack's outputs, before anything else is registered; stop with one message if they are
    missing or are not a kubeport cluster stack's. Secret outputs stay secret (only their presence is read)."""
    try:
        details = {name: resolve_now(reference.get_output_details(name)) for name in NEEDED}
    except Exception as err:  # the engine's own error for a stack it cannot read, whatever its type
        stop(_problem(settings, f"cannot be read ({err}); expected <organization>/<project>/<stack> of a stack "
                                "that exists in this backend"))  # fmt: skip
    missing = [name for name, d in details.items() if d.value is None and d.secret_value is None]
    if missing:
        stop(
            _problem(
                settings,
                f"has no {', '.join(missing)} output: it is not a kubeport cluster stack (set kubeport:part "
                "cluster there and run `pulumi up` on it)",
            )
        )
    if details[KUBECONFIG].secret_value is None:
        stop(_problem(settings, "exports its kubeconfig in plain text; a cluster stack exports it as a secret"))
    return {FACTS: details[FACTS].value, IDENTITY: details[IDENTITY].value}


def platform(settings: Settings, needs: Needs) -> Platform:
    reference = pulumi.StackReference(REFERENCE, stack_name=settings.cluster_stack)
    outputs = read_outputs(settings, reference)
    try:
        facts = read_facts(outputs[FACTS])
    except HandoffError as err:
        stop(_problem(settings, f"is not a cluster stack this kubeport understands: {err}"))
    if settings.host and facts.ingress is None:
        stop(
            ConfigError(
                [
                    f"kubeport:host: cluster stack {settings.cluster_stack!r} offers no Ingress controller; set "
                    "kubeport:ingressController true there (existing clusters: kubeport:ingressClass)"
                ]
            )
        )
    exposure = facts.exposure
    if exposure.service_type == "NodePort":
        exposure = dataclasses.replace(exposure, node_port=settings.node_port)
    image = registry.pushed(settings, facts.build_platforms)
    pull = registry.pull_login(settings, image)
    image_host = (settings.image or (settings.registry_server if image else "")).split("/", 1)[0]
    if image_host in facts.nodes_pull_from:
        pull = None  # the cluster's own registry: its nodes may pull already
    provider = k8s.Provider(
        PROVIDER,
        kubeconfig=reference.get_output(KUBECONFIG),
        # The cluster's identity, not the kubeconfig: a rotated kubeconfig updates the provider; another
        # cluster stack replaces it, and with it every object (created on the new cluster first).
        cluster_identifier=str(outputs[IDENTITY]),
    )
    return Platform(
        target=facts.target,
        provider=provider,
        image=image,
        exposure=exposure,
        image_pull_policy=facts.image_pull_policy,
        rollout_timeout=facts.rollout_timeout,
        ingress=facts.ingress,
        pull_login=pull,
        cluster_identity=str(outputs[IDENTITY]),
        outputs={"clusterStack": settings.cluster_stack},
    )
