"""How the app is reached from outside: the url a stack exports, the addresses load balancers and Ingress
controllers report, what Pulumi waits for on the Service and the Ingress, and the Ingress that routes a host
name (the web app's and an application's public workload's, through the Platform's IngressRoute)."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.platform import Exposure, IngressRoute, Platform
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


class NoIngressError(ValueError):
    """A host name to route on a target whose Platform offers no Ingress controller."""


def ingress_route(platform: Platform, host: str) -> IngressRoute | None:
    """How the Platform serves an Ingress for `host`; None without a host; NoIngressError where it serves none."""
    if not host:
        return None
    if platform.ingress is None:
        raise NoIngressError(f"target {platform.target!r} offers no Ingress controller for host {host!r}")
    return platform.ingress


def exposure_behind(platform: Platform, route: IngressRoute | None) -> Exposure:
    """How a Service is exposed: behind an Ingress as its route says (clouds: ClusterIP), else as the Platform says."""
    return route.exposure if route is not None and route.exposure is not None else platform.exposure


def service_annotations(exposure: Exposure, route: IngressRoute | None) -> dict[str, str]:
    """A public Service's annotations: its exposure's, what the Ingress controller needs, what Pulumi waits for."""
    return {
        **exposure.annotations,
        **(route.service_annotations if route else {}),
        **await_annotations(exposure.service_type),
    }


def host_url(host: str, tls_secret: str) -> str:
    """Where a browser reaches a routed host: https when the Ingress has a TLS Secret."""
    return f"{'https' if tls_secret else 'http'}://{host}"


def host_ingress(
    resource_name: str,
    *,
    host: str,
    tls_secret: str,
    paths: Sequence[tuple[str, str]],
    route: IngressRoute,
    service: k8s.core.v1.Service,
    service_name: pulumi.Input[str],
    metadata: k8s.meta.v1.ObjectMetaArgs,
    opts: pulumi.ResourceOptions,
    timeouts: pulumi.CustomTimeouts,
) -> k8s.networking.v1.Ingress:
    """An Ingress for `host` on the Platform's controller: each (path prefix, Service port name) to `service`,
    with TLS from `tls_secret` when set. Pulumi waits for the controller to report an address."""

    def backend(port_name: str) -> k8s.networking.v1.IngressBackendArgs:
        return k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=service_name, port=k8s.networking.v1.ServiceBackendPortArgs(name=port_name)
            )
        )

    return k8s.networking.v1.Ingress(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=metadata.name,
            namespace=metadata.namespace,
            labels=metadata.labels,
            annotations={**route.annotations, **ADDRESS_WAIT},
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=route.class_name,
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            k8s.networking.v1.HTTPIngressPathArgs(path=path, path_type="Prefix", backend=backend(port))
                            for path, port in paths
                        ]
                    ),
                )
            ],
            tls=[k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=tls_secret)] if tls_secret else None,
        ),
        opts=pulumi.ResourceOptions.merge(
            opts,
            # merge() adds these to the dependencies already in opts (the Platform's).
            pulumi.ResourceOptions(custom_timeouts=timeouts, depends_on=[service, *route.depends_on]),
        ),
    )
