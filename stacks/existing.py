"""Target existing: any cluster reached through a kubeconfig context (kind, OpenShift, on-premises).

No cloud SDK is imported here. The image is pushed to a registry the cluster can pull from.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.platform import Exposure, IngressRoute, Platform
from stacks import kubeconfig, registry
from stacks.config import Settings
from stacks.environment import under_mocks

OFFLINE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: {context}, cluster: {{server: "https://127.0.0.1:6443"}}}}]
users: [{{name: {context}, user: {{}}}}]
contexts: [{{name: {context}, context: {{cluster: {context}, user: {context}}}}}]
current-context: {context}
"""
"""Offline runs (tests, render) read no local kubeconfig: a stand-in with the context's name."""


def exposure(settings: Settings) -> Exposure:
    ctx = settings.kube_context
    service_type = settings.service_type or "NodePort"
    if service_type == "NodePort":
        return Exposure(
            service_type="NodePort",
            node_port=settings.node_port,
            node_address=settings.node_address or None,
            address_hint=(f"kubectl --context {ctx} get nodes -o wide  # then http://<node address>:{{node_port}}"),
        )
    if service_type == "LoadBalancer":
        return Exposure(
            service_type="LoadBalancer",
            address_hint=f"kubectl --context {ctx} --namespace {{namespace}} get service {{service}}",
        )
    return Exposure(
        service_type="ClusterIP",
        address_hint=(
            f"kubectl --context {ctx} --namespace {{namespace}} port-forward service/{{service}} 8080:{{port}}"
            "  # then http://127.0.0.1:8080"
        ),
    )


def cluster_kubeconfig(settings: Settings) -> pulumi.Output[str] | None:
    """A cluster stack's kubeconfig for its app stacks: the context, self-contained, as a secret."""
    if settings.part != "cluster":
        return None
    if under_mocks():
        return pulumi.Output.secret(OFFLINE_KUBECONFIG.format(context=settings.kube_context))
    try:
        return pulumi.Output.secret(kubeconfig.flattened_yaml(settings.kube_context))
    except kubeconfig.KubeconfigError as err:
        raise pulumi.RunError(f"kubeport:kubeContext: {err}") from None


def platform(settings: Settings) -> Platform:
    provider = k8s.Provider(
        "existing",
        context=settings.kube_context,
        cluster_identifier=f"context/{settings.kube_context}",
    )
    image = None if settings.part == "cluster" else registry.pushed(settings)
    # The cluster's own controller, named by kubeport:ingressClass (required with a host; a cluster stack
    # hands it to its app stacks).
    offers_ingress = bool(settings.ingress_class) and (settings.host or settings.part == "cluster")
    return Platform(
        target="existing",
        provider=provider,
        image=image,
        exposure=exposure(settings),
        image_pull_policy="IfNotPresent",
        rollout_timeout="10m",
        ingress=IngressRoute(class_name=settings.ingress_class) if offers_ingress else None,
        pull_login=registry.pull_login(settings, image),
        cluster_identity=f"context/{settings.kube_context}",
        kubeconfig=cluster_kubeconfig(settings),
    )
