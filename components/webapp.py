"""WebApp: the portable workload. It imports only pulumi_kubernetes and learns the target only from the Platform."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.canary import CanaryRelease, unless_aborted
from components.canary_rollout import CanaryRollout, CanaryRolloutArgs
from components.exposure import (
    exposure_behind,
    host_ingress,
    host_url,
    ingress_route,
    reported_address,
    service_annotations,
    url_of,
)
from components.options import Autoscaling, Canary
from components.platform import IngressRoute, Platform
from components.pod_parts import (
    LOCAL_IMAGE_WAIVERS,
    RELEASE_ANNOTATION,
    common_labels,
    scanner_waivers,
    selector_labels,
    web_network_policy,
    web_pod_spec,
    web_service_spec,
)
from components.pull import pull_secret, restricted_namespace
from components.smoke import SmokeCheck, SmokeCheckArgs


@dataclass(frozen=True)
class WebAppArgs:
    """Inputs of WebApp."""

    platform: Platform
    """The target's Platform: provider, exposure, pull policy, timeouts. The only way the target enters."""
    image: pulumi.Input[str]
    """Image reference to run (digest-pinned when pushed)."""
    namespace: str
    """Namespace the objects live in."""
    replicas: int = 2
    """Pods in the Deployment."""
    smoke_check: bool = True
    """Create the smoke-check Pod that proves the Service answers inside the cluster."""
    create_namespace: bool = True
    """Create (and own) the namespace; False when several WebApps share one created elsewhere."""
    autoscaling: Autoscaling | None = None
    """Scale on CPU between bounds instead of running `replicas` pods."""
    host: str = ""
    """Route this host name to the Service through an Ingress (the Platform says which controller)."""
    tls_secret: str = ""
    """A kubernetes.io/tls Secret for the host: the Ingress serves HTTPS."""
    canary: Canary | None = None
    """Release by canary: the host is routed by a weighted HTTPRoute on the Platform's Gateway API controller, and
    a new release takes a share of its traffic, step by step, before it replaces the running one."""


def revision_of(parts: list[Any]) -> str:
    """A short digest of the objects the smoke check depends on, as the cluster has them."""
    text = json.dumps(parts, sort_keys=True, default=lambda value: getattr(value, "__dict__", str(value)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class WebApp(pulumi.ComponentResource):
    """Namespace, Deployment, Service, PodDisruptionBudget, NetworkPolicies and the smoke-check Pod.

    Kubernetes object names derive from the component name, so several instances coexist in one
    program (and one namespace with `create_namespace=False`).
    """

    namespace: pulumi.Output[str]
    """The namespace the objects are in."""
    service_name: pulumi.Output[str]
    """The Service's name (its in-cluster DNS name is `<service>.<namespace>.svc`)."""
    release: pulumi.Output[str]
    """A digest of the web pods' template: their RELEASE_ANNOTATION, which /info reports."""
    url: pulumi.Output[str]
    """Where the app is reached from outside, or the command that prints it."""
    ingress_address: pulumi.Output[str] | None
    """With a host: the address the Ingress controller reports, where the host's DNS record must point."""

    def __init__(self, name: str, args: WebAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:WebApp", name, None, opts)
        platform = args.platform
        timeouts = pulumi.CustomTimeouts(create=platform.rollout_timeout, update=platform.rollout_timeout)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=list(platform.depends_on))
        # Waivers follow from the Platform: only a local, unpushed build lacks a digest.
        local_build = platform.image is not None and not platform.image.push
        image_waivers = LOCAL_IMAGE_WAIVERS if local_build else {}

        if args.create_namespace:
            self.namespace = restricted_namespace(
                f"{name}-namespace", args.namespace, labels=common_labels(name, "namespace"), opts=k8s_opts
            )
        else:
            self.namespace = pulumi.Output.from_input(args.namespace)

        pull_secrets = pull_secret(
            name, login=platform.pull_login, namespace=self.namespace, labels=common_labels(name, "pull"), opts=k8s_opts
        )
        self.release = _release_of(name, args, pull_secrets)
        canary = self._canary(name, args, pull_secrets, image_waivers)
        deployment = self._deployment(
            name, args, pull_secrets, image_waivers, k8s_opts, timeouts=timeouts,
            judged_by=canary.judge if canary is not None else None,
        )  # fmt: skip

        route = ingress_route(platform, args.host) if canary is None else None
        exposure = exposure_behind(platform, route)
        service_spec = web_service_spec(exposure, selector_labels(name, "web"))
        service = self._service(name, service_spec, service_annotations(exposure, route), k8s_opts, timeouts)
        self.service_name = service.metadata.apply(lambda m: m.name or name)

        self._disruption_budget(name, k8s_opts)

        web_network_policy(name, "web", self.namespace, k8s_opts)

        checks: list[pulumi.Resource] = [deployment, service]
        if args.smoke_check:
            smoke = self._smoke_check(
                name, args, pull_secrets, image_waivers, deployment, service=service, service_spec=service_spec
            )
            checks.append(smoke)
        if canary is not None:
            canary.promote(after=checks)

        if args.autoscaling:
            self._autoscaler(name, args.autoscaling, deployment, self._meta(name, common_labels(name, "web")), k8s_opts)

        self.ingress_address = None
        if route is not None:
            self.ingress_address = self._ingress(name, args, route, service, k8s_opts, timeouts=timeouts)
        elif canary is not None and platform.gateway is not None and platform.gateway.address is not None:
            self.ingress_address = pulumi.Output.from_input(platform.gateway.address)
        if route is not None or canary is not None:
            self.url = pulumi.Output.from_input(host_url(args.host, args.tls_secret))
        else:
            self.url = url_of(exposure, service)
        self.register_outputs({"namespace": self.namespace, "service_name": self.service_name, "url": self.url,
                               "ingress_address": self.ingress_address})  # fmt: skip

    def _canary(
        self,
        name: str,
        args: WebAppArgs,
        pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None,
        image_waivers: dict[str, str],
    ) -> CanaryRollout | None:
        """With kubeport:releaseStrategy canary, what the release adds beside the stable objects; else None."""
        if args.canary is None:
            return None
        return CanaryRollout(
            f"{name}-canary",
            CanaryRolloutArgs(
                app=name,
                namespace=self.namespace,
                platform=args.platform,
                settings=args.canary,
                host=args.host,
                tls_secret=args.tls_secret,
                release=self.release,
                pod_spec=_web_spec(args, selector_labels(name, "web-canary"), pull_secrets, args.image),
                waivers=image_waivers,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _meta(self, object_name: str, labels: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
        """The metadata of an object in the app's namespace."""
        return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=self.namespace, labels=labels)

    def _deployment(
        self,
        name: str,
        args: WebAppArgs,
        pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None,
        image_waivers: dict[str, str],
        k8s_opts: pulumi.ResourceOptions,
        *,
        timeouts: pulumi.CustomTimeouts,
        judged_by: CanaryRelease | None = None,
    ) -> k8s.apps.v1.Deployment:
        """Declares the Deployment of the web pods, their template marked with its release (self.release). After
        a canary's judge, the image waits for its verdict: an aborted release fails the update here, before the
        Deployment changes."""
        web_labels = common_labels(name, "web")
        web_selector = selector_labels(name, "web")
        image: pulumi.Input[str] = args.image
        if judged_by is not None:
            image = pulumi.Output.all(judged_by.verdict, judged_by.report, args.image).apply(unless_aborted)
        pod_spec = _web_spec(args, web_selector, pull_secrets, image)
        return k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=self.namespace,
                labels=web_labels,
                annotations=scanner_waivers(image_waivers) or None,
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.autoscaling.min_replicas if args.autoscaling else args.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=web_selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=web_labels, annotations={RELEASE_ANNOTATION: self.release}
                    ),
                    spec=pod_spec,
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(
                    custom_timeouts=timeouts,
                    depends_on=[judged_by] if judged_by is not None else None,
                    # With an autoscaler the count is its own: the minimum to start with, then whatever it chose.
                    # Server-side apply then sends the live count on every update (never resetting it), and
                    # turning the autoscaler on keeps the running count instead of dropping to the default of 1.
                    ignore_changes=["spec.replicas"] if args.autoscaling else None,
                ),
            ),
        )

    def _service(
        self,
        name: str,
        spec: k8s.core.v1.ServiceSpecArgs,
        annotations: dict[str, str],
        k8s_opts: pulumi.ResourceOptions,
        timeouts: pulumi.CustomTimeouts,
    ) -> k8s.core.v1.Service:
        """Declares the Service in front of the web pods."""
        return k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=self.namespace,
                labels=common_labels(name, "web"),
                annotations=annotations or None,
            ),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts)),
        )

    def _disruption_budget(self, name: str, k8s_opts: pulumi.ResourceOptions) -> None:
        """Declares the web pods' PodDisruptionBudget: one pod down at a time."""
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=self._meta(name, common_labels(name, "web")),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name, "web")),
                # Lets a drain evict pods that are not Ready anyway instead of blocking on them.
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=k8s_opts,
        )

    def _smoke_check(
        self,
        name: str,
        args: WebAppArgs,
        pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None,
        image_waivers: dict[str, str],
        deployment: k8s.apps.v1.Deployment,
        *,
        service: k8s.core.v1.Service,
        service_spec: k8s.core.v1.ServiceSpecArgs,
    ) -> k8s.core.v1.Pod:
        """Declares the SmokeCheck that proves the Service answers inside the cluster; returns its Pod."""
        platform = args.platform
        smoke = SmokeCheck(
            f"{name}-smoke",
            SmokeCheckArgs(
                app=name,
                namespace=self.namespace,
                service_name=self.service_name,
                image=args.image,
                image_pull_policy=platform.image_pull_policy,
                provider=platform.provider,
                timeout=platform.rollout_timeout,
                pull_secrets=pull_secrets,
                waivers=image_waivers,
                waits_for=platform.depends_on,
                checks=[deployment, service],
                release=self.release,
                # The Service as asked for, not as its await returned it: that object can be the one from
                # before the update (its condition holds for both), and a stale revision would skip the check.
                revision=pulumi.Output.all(
                    pulumi.Output.from_input(service_spec), deployment.spec.apply(lambda spec: spec.template)
                ).apply(revision_of),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return smoke.pod

    def _ingress(
        self,
        name: str,
        args: WebAppArgs,
        route: IngressRoute,
        service: k8s.core.v1.Service,
        k8s_opts: pulumi.ResourceOptions,
        *,
        timeouts: pulumi.CustomTimeouts,
    ) -> pulumi.Output[str]:
        """Declares the Ingress that routes the host to the Service; returns the address its controller reports."""
        ingress = host_ingress(
            f"{name}-ingress",
            host=args.host,
            tls_secret=args.tls_secret,
            paths=[("/", "http")],
            route=route,
            service=service,
            service_name=self.service_name,
            metadata=self._meta(name, common_labels(name, "web")),
            opts=k8s_opts,
            timeouts=timeouts,
        )
        return ingress.status.apply(reported_address)

    def _autoscaler(
        self,
        name: str,
        scaling: Autoscaling,
        deployment: k8s.apps.v1.Deployment,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        k8s_opts: pulumi.ResourceOptions,
    ) -> None:
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=metadata,
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=scaling.cpu_target
                            ),
                        ),
                    )
                ],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=scaling.scale_down_window
                    )
                ),
            ),
            opts=k8s_opts,
        )


def _web_spec(
    args: WebAppArgs,
    selector: dict[str, str],
    pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None,
    image: pulumi.Input[str],
) -> k8s.core.v1.PodSpecArgs:
    """The web pods' spec for this app (stable or canary, told apart by `selector`)."""
    return web_pod_spec(
        image=image,
        target=args.platform.target,
        pull_policy=args.platform.image_pull_policy,
        selector=selector,
        pull_secrets=pull_secrets,
    )


def _release_of(
    name: str, args: WebAppArgs, pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None
) -> pulumi.Output[str]:
    """The release: a digest of the stable pods' template as declared (their RELEASE_ANNOTATION, which /info
    reports). A canary's pods carry the same."""
    spec = _web_spec(args, selector_labels(name, "web"), pull_secrets, args.image)
    return pulumi.Output.all(pulumi.Output.from_input(spec), common_labels(name, "web")).apply(revision_of)
