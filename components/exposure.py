"""How the app is reached from outside: the url a stack exports, the addresses load balancers and Ingress
controllers report, and what Pulumi waits for on the Service and the Ingress."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.platform import Exposure
from components.pod_parts import SERVICE_PORT, authority

WAIT_FOR = "pulumi.com/waitFor"


ADDRESS_WAIT = {WAIT_FOR: "jsonpath={.status.loadBalancer.ingress[0]}"}


CLUSTER_IP_WAIT = {WAIT_FOR: "jsonpath={.spec.clusterIP}"}


def await_annotations(service_type: str) -> dict[str, str]:
    """What Pulumi waits for after creating or updating the Service, instead of its built-in Service await.

    The built-in await watches the Service's endpoints and then sleeps 10 s for them to settle, on every
    update; it proves that some pod is selected, not that one answers. kubeport's SmokeCheck, created after the
    Deployment and the Service, proves more: the app answers through the Service's name and port, and it
    says why when it does not (a selector that matches no pod, a targetPort nobody listens on).
    """
    return dict(ADDRESS_WAIT if service_type == "LoadBalancer" else CLUSTER_IP_WAIT)


def url_of(exposure: Exposure, service: k8s.core.v1.Service) -> pulumi.Output[str]:
    """Where a browser reaches the app, or else the command that prints it, for this exposure."""
    names = pulumi.Output.all(service.metadata.name, service.metadata.namespace)
    hint = names.apply(
        lambda n: exposure.address_hint.format(
            service=n[0], namespace=n[1], port=SERVICE_PORT, node_port=exposure.node_port or ""
        )
    )
    if exposure.service_type == "LoadBalancer":
        address = service.status.apply(reported_address)
        return pulumi.Output.all(address, hint).apply(lambda a: f"http://{authority(a[0])}" if a[0] else str(a[1]))
    if exposure.service_type == "NodePort" and exposure.node_address and exposure.node_port:
        return pulumi.Output.from_input(f"http://{exposure.node_address}:{exposure.node_port}")
    return hint


def reported_address(status: k8s.core.v1.outputs.ServiceStatus | k8s.networking.v1.outputs.IngressStatus | None) -> str:
    """The first address a load balancer or an Ingress controller reports: an IP, or a hostname (EKS's); empty
    until it reports one. Services and Ingresses report it in the same shape."""
    balancer = status.load_balancer if status else None
    for entry in (balancer.ingress if balancer else None) or []:
        if entry.ip or entry.hostname:
            return str(entry.ip or entry.hostname)
    return ""
