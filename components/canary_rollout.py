"""CanaryRollout: what a WebApp adds to release by canary (kubeport:releaseStrategy canary).

- a canary Deployment with the new pod template and, at rest, no pods; its Service and NetworkPolicy;
- a Gateway of the Platform's GatewayClass for the host (HTTP, and HTTPS with the TLS Secret, port 80 then
  redirecting), and the HTTPRoute whose two backends are the stable Service (weight 100) and the canary's (0);
- the judge (components.canary), which the stable Deployment waits for, and after the stable Deployment rolled
  out, the promotion that puts all traffic back on it.

The route's weights at rest are 100 and 0, as declared: a judge or a promotion leaves them so, whatever it
verdict, so the state keeps describing the cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.canary import CanaryObjects, CanaryRelease, CanaryReleaseArgs, Phase, promoted_or_fail
from components.options import Canary
from components.platform import Exposure, GatewayRoute, Platform
from components.pod_parts import (
    RELEASE_ANNOTATION,
    SERVICE_PORT,
    common_labels,
    scanner_waivers,
    selector_labels,
    web_network_policy,
    web_service_spec,
)
from components.smoke import duration_seconds

GATEWAY_API = "gateway.networking.k8s.io/v1"
CANARY_COMPONENT = "web-canary"


@dataclass(frozen=True)
class CanaryRolloutArgs:
    """Inputs of CanaryRollout."""

    app: str
    """The WebApp's name: its stable Deployment and Service have it, the canary's are `<app>-canary`."""
    namespace: pulumi.Input[str]
    platform: Platform
    """Its `gateway` says which controller splits the traffic and where its metrics are."""
    settings: Canary
    host: str
    tls_secret: str
    release: pulumi.Input[str]
    """The release this update rolls out (the stable pods' RELEASE_ANNOTATION; the canary pods carry it too)."""
    pod_spec: k8s.core.v1.PodSpecArgs
    """The canary pods' spec: the stable one's, with the canary's selector in its spreading rules."""
    waivers: dict[str, str] = field(default_factory=dict)
    """checkov waivers the image brings (a local build's)."""


class CanaryRollout(pulumi.ComponentResource):
    """The canary's Deployment, Service, NetworkPolicy, Gateway, HTTPRoute(s) and judge (see the module)."""

    judge: CanaryRelease
    """The stable Deployment depends on it, and its image on its verdict."""

    def __init__(self, name: str, args: CanaryRolloutArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:CanaryRollout", name, None, opts)
        gateway = args.platform.gateway
        if gateway is None or not args.host:
            raise ValueError(f"{name}: a canary needs a host and a Platform with weighted routing (Platform.gateway)")
        self._args, self._gateway = args, gateway
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.platform.provider, depends_on=list(args.platform.depends_on)
        )
        deployment = self._deployment(args, k8s_opts)
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=self._meta(self.canary_name),
            spec=web_service_spec(Exposure(service_type="ClusterIP"), selector_labels(args.app, CANARY_COMPONENT)),
            opts=k8s_opts,
        )
        policy = web_network_policy(args.app, CANARY_COMPONENT, args.namespace, k8s_opts)
        route = self._routes(args, gateway, k8s_opts)
        self.judge = CanaryRelease(
            f"{name}-judge",
            self._phase("judge"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment, service, policy, route]),
        )
        self.register_outputs({})

    @property
    def canary_name(self) -> str:
        return f"{self._args.app}-canary"

    def promote(self, after: Sequence[pulumi.Resource]) -> CanaryRelease:
        """Declares the promotion: after `after` (the stable Deployment, its Service, the smoke check), all traffic
        back on the stable backend and the canary at 0 replicas."""
        promotion = CanaryRelease(
            f"{self.canary_name}-promote",
            self._phase("promote"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.judge, *after]),
        )
        # The update waits for this check like any output, and fails on it cleanly.
        pulumi.Output.all(promotion.verdict, promotion.report).apply(promoted_or_fail)
        return promotion

    def _meta(self, object_name: str, component: str = CANARY_COMPONENT) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=object_name, namespace=self._args.namespace, labels=common_labels(self._args.app, component)
        )

    def _phase(self, phase: Phase) -> CanaryReleaseArgs:
        args, gateway = self._args, self._gateway
        return CanaryReleaseArgs(
            phase=phase,
            objects=CanaryObjects(
                namespace=args.namespace,
                stable=args.app,
                canary=self.canary_name,
                route=args.app,
                canary_selector=selector_labels(args.app, CANARY_COMPONENT),
            ),
            release=args.release,
            canary=args.settings,
            metrics=gateway.metrics,
            timeout_seconds=duration_seconds(args.platform.rollout_timeout),
            kube_context=gateway.kube_context,
            kubeconfig=gateway.kubeconfig,
        )

    def _deployment(self, args: CanaryRolloutArgs, k8s_opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        """The canary Deployment: the new pod template, no pods at rest (the judge scales it for the steps)."""
        labels = common_labels(args.app, CANARY_COMPONENT)
        timeout = args.platform.rollout_timeout
        return k8s.apps.v1.Deployment(
            f"{self.canary_name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.canary_name,
                namespace=args.namespace,
                labels=labels,
                annotations=scanner_waivers(args.waivers) or None,
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=0,
                revision_history_limit=2,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(args.app, CANARY_COMPONENT)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={RELEASE_ANNOTATION: args.release}),
                    spec=args.pod_spec,
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout))
            ),
        )

    def _routes(
        self, args: CanaryRolloutArgs, gateway: GatewayRoute, k8s_opts: pulumi.ResourceOptions
    ) -> k8s.apiextensions.CustomResource:
        """The Gateway and the weighted HTTPRoute (with TLS, also the route that redirects port 80 to HTTPS)."""
        gateway_object = k8s.apiextensions.CustomResource(
            f"{self.canary_name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=self._meta(args.app, "web"),
            spec=gateway_spec(gateway, args.host, args.tls_secret),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=list(gateway.depends_on))),
        )
        route_opts = pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[gateway_object, *gateway.depends_on])
        )
        if args.tls_secret:
            k8s.apiextensions.CustomResource(
                f"{self.canary_name}-redirect-route",
                api_version=GATEWAY_API,
                kind="HTTPRoute",
                metadata=self._meta(f"{args.app}-redirect", "web"),
                spec=redirect_route_spec(args.app, args.host),
                opts=route_opts,
            )
        return k8s.apiextensions.CustomResource(
            f"{self.canary_name}-route",
            api_version=GATEWAY_API,
            kind="HTTPRoute",
            metadata=self._meta(args.app, "web"),
            spec=weighted_route_spec(args.app, self.canary_name, args.host, tls=bool(args.tls_secret)),
            opts=route_opts,
        )


def gateway_spec(gateway: GatewayRoute, host: str, tls_secret: str) -> dict[str, Any]:
    """A Gateway of the controller's class for one host: HTTP, and HTTPS terminated with `tls_secret` when there is
    one, on the controller's ports (80 and 443 where it listens on them itself); routes from its own namespace
    only."""
    same_namespace = {"namespaces": {"from": "Same"}}
    http = {"name": "http", "protocol": "HTTP", "port": gateway.http_port, "hostname": host}
    listeners: list[dict[str, Any]] = [{**http, "allowedRoutes": same_namespace}]
    if tls_secret:
        listeners.append(
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": gateway.https_port,
                "hostname": host,
                "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": tls_secret}]},
                "allowedRoutes": same_namespace,
            }
        )
    return {"gatewayClassName": gateway.class_name, "listeners": listeners}


def weighted_route_spec(stable: str, canary: str, host: str, *, tls: bool) -> dict[str, Any]:
    """The host's route: every request to the stable Service (weight 100), none to the canary's (0); the judge
    moves the weights for its steps and puts them back. On the HTTPS listener with TLS."""
    backends = [
        {"name": stable, "port": SERVICE_PORT, "weight": 100},
        {"name": canary, "port": SERVICE_PORT, "weight": 0},
    ]
    return {
        "parentRefs": [{"name": stable, "sectionName": "https" if tls else "http"}],
        "hostnames": [host],
        "rules": [{"backendRefs": backends}],
    }


def redirect_route_spec(gateway: str, host: str) -> dict[str, Any]:
    """With TLS: the host on port 80 answers 301 to the same URL over HTTPS."""
    redirect = {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    return {
        "parentRefs": [{"name": gateway, "sectionName": "http"}],
        "hostnames": [host],
        "rules": [{"filters": [redirect]}],
    }
