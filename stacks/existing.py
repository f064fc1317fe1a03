"""Target existing: any cluster reached through a kubeconfig context (kind, OpenShift, on-premises).

Its keys and rules, and its Platform. No cloud SDK is imported here. The image is pushed to a registry the
cluster can pull from.
"""

from __future__ import annotations

import dataclasses
import re
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from components.options import SERVICE_TYPES, ServiceType
from components.platform import Exposure, GatewayRoute, IngressRoute, Platform
from stacks import kubeconfig, registry
from stacks.config import Key, Needs, Reader, Settings
from stacks.config.forms import DNS1123_SUBDOMAIN, is_host
from stacks.config.keys import RegistryKind
from stacks.environment import under_mocks

KEYS: tuple[Key, ...] = (
    Key(
        "serviceType",
        "string",
        "",
        "Service exposure on target existing: ClusterIP | NodePort | LoadBalancer (empty: NodePort). "
        "minikube always uses NodePort; clouds use LoadBalancer.",
        targets=("existing",),
        shown_default="NodePort",
    ),
    Key(
        "nodeAddress",
        "string",
        "",
        "Host or IP where a NodePort is reachable on target existing, used for the `url` output.",
        targets=("existing",),
    ),
    Key(
        "ingressClass",
        "string",
        "",
        "IngressClass of the cluster's ingress controller (target existing; required with a host there).",
        targets=("existing",),
    ),
    Key(
        "gatewayClass",
        "string",
        "",
        "GatewayClass of the cluster's Gateway API controller, whose weighted routes split a canary's traffic "
        "(target existing; required with kubeport:releaseStrategy canary).",
        targets=("existing",),
    ),
    Key(
        "controllerMetrics",
        "string",
        "",
        "Where that controller serves its Prometheus metrics (target existing; required with a canary): "
        "namespace/service:port for a controller in pods, read through the API server's service proxy, e.g. "
        "kube-system/traefik:metrics; or a URL the machine running `up` reaches, e.g. http://10.250.0.2:8082/metrics "
        "(kubeport's local nodes).",
        targets=("existing",),
    ),
)
TOOLS = ("docker",)
"""What a real run needs on the machine (stacks.preflight says how to install each)."""
DEFAULT_REGISTRY: RegistryKind = "server"
"""Where the image goes when kubeport:registry is empty."""
SDK = ""
"""The cloud SDK `platform()` imports (none)."""

OFFLINE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: {context}, cluster: {{server: "https://127.0.0.1:6443"}}}}]
users: [{{name: {context}, user: {{}}}}]
contexts: [{{name: {context}, context: {{cluster: {context}, user: {context}}}}}]
current-context: {context}
"""
"""Offline runs (tests, render) read no local kubeconfig: a stand-in with the context's name."""


def check(r: Reader, settings: Settings) -> Settings:
    """existing's own rules: an explicit context, how the Service is exposed, the cluster's IngressClass."""
    if not settings.kube_context:
        r.problem(
            "kubeContext",
            "is required with target existing (deploying to whatever context is current is how workloads "
            "land on the wrong cluster); expected a context from `kubectl config get-contexts`",
        )
    service_type = cast(ServiceType, r.choice("serviceType", SERVICE_TYPES) or "NodePort")
    node_address = r.string("nodeAddress")
    if node_address and not is_host(node_address):
        r.problem("nodeAddress", f"{node_address!r} is not a host name or IP address")
    # With the app: the class of the Ingress for kubeport:host. A cluster stack hands it to its app stacks.
    ingress_class = r.string("ingressClass")
    if settings.part == "all" and not settings.host:
        if r.is_set("ingressClass"):
            r.problem("ingressClass", "only applies with kubeport:host (no Ingress without a host name)")
        ingress_class = ""
    elif settings.part == "all" and settings.canary is not None:
        # The host is routed by an HTTPRoute on kubeport:gatewayClass, whose weights split a canary's traffic.
        if r.is_set("ingressClass"):
            r.problem("ingressClass", "does not apply with a canary: its host is routed through kubeport:gatewayClass")
        ingress_class = ""
    elif settings.part == "all" and not ingress_class:
        r.problem(
            "ingressClass",
            "is required with kubeport:host on target existing: the IngressClass of the cluster's ingress "
            "controller (`kubectl get ingressclass`)",
        )
    elif ingress_class and not DNS1123_SUBDOMAIN.match(ingress_class):
        r.problem("ingressClass", f"{ingress_class!r} is not an IngressClass name")
    gateway_class, controller_metrics = _canary_routing(r, settings)
    return dataclasses.replace(
        settings,
        service_type=service_type,
        node_address=node_address,
        ingress_class=ingress_class,
        gateway_class=gateway_class,
        controller_metrics=controller_metrics,
    )


CONTROLLER_METRICS = re.compile(
    r"^([a-z0-9-]{1,63}/[a-z0-9-]{1,63}:[a-z0-9-]{1,15}"  # namespace/service:port, the port by name or number
    r"|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?)$"  # or a URL
)


def _canary_routing(r: Reader, settings: Settings) -> tuple[str, str]:
    """The GatewayClass and the controller's metrics a canary needs; refused without one."""
    gateway_class, metrics = r.string("gatewayClass"), r.string("controllerMetrics")
    if settings.canary is None:
        for name in ("gatewayClass", "controllerMetrics"):
            if r.is_set(name):
                r.problem(name, "only applies with kubeport:releaseStrategy canary")
        return "", ""
    if not gateway_class:
        r.problem(
            "gatewayClass",
            "is required with a canary on target existing: the GatewayClass of a controller that splits traffic by "
            "HTTPRoute weights (`kubectl get gatewayclass`)",
        )
    elif not DNS1123_SUBDOMAIN.match(gateway_class):
        r.problem("gatewayClass", f"{gateway_class!r} is not a GatewayClass name")
    if not CONTROLLER_METRICS.match(metrics):
        r.problem(
            "controllerMetrics",
            f"{metrics!r} is not accepted; expected the controller's Prometheus metrics as namespace/service:port "
            "(a controller in pods) or a URL, e.g. kube-system/traefik:metrics or http://10.250.0.2:8082/metrics",
        )
    return gateway_class, metrics


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


def platform(settings: Settings, needs: Needs) -> Platform:
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
        gateway=(
            GatewayRoute(settings.gateway_class, settings.controller_metrics, kube_context=settings.kube_context)
            if settings.canary is not None
            else None
        ),
        pull_login=registry.pull_login(settings, image),
        cluster_identity=f"context/{settings.kube_context}",
        kubeconfig=cluster_kubeconfig(settings),
    )
