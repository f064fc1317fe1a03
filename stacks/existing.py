"""Target existing: any cluster reached through a kubeconfig context (kind, OpenShift, on-premises).

No cloud SDK is imported here. The image is pushed to a registry the cluster can pull from.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components.platform import Exposure, IngressRoute, Platform
from stacks import registry
from stacks.config import Settings


def exposure(settings: Settings) -> Exposure:
    ctx = settings.kube_context
    service_type = settings.service_type or "NodePort"
    if service_type == "NodePort":
        return Exposure(
            service_type="NodePort",
            node_port=settings.node_port,
            node_address=settings.node_address or None,
            address_hint=(
                f"kubectl --context {ctx} get nodes -o wide  # then http://<node address>:{settings.node_port}"
            ),
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


def platform(settings: Settings) -> Platform:
    provider = k8s.Provider(
        "existing",
        context=settings.kube_context,
        cluster_identifier=f"context/{settings.kube_context}",
    )
    return Platform(
        target="existing",
        provider=provider,
        image=registry.pushed(settings),
        exposure=exposure(settings),
        image_pull_policy="IfNotPresent",
        rollout_timeout="10m",
        # The cluster's own controller, named by kubeport:ingressClass (required with a host).
        ingress=IngressRoute(class_name=settings.ingress_class) if settings.host else None,
    )
