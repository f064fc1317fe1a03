"""WebApp: the portable workload. It imports only pulumi_kubernetes and learns the target only from the Platform."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.platform import Exposure, IngressRoute, Platform, RegistryLogin

APP_PORT = 8080
"""The container port nginx listens on (unprivileged: no port below 1024)."""
SERVICE_PORT = 80
"""The Service's port: plain HTTP's own, so URLs need none."""
HEALTH_PATH = "/healthz"
"""nginx's liveness location (app/nginx/default.conf): answers 200 while nginx runs."""
READY_PATH = "/readyz"
"""nginx's readiness location: 200 once the site and /info are in place, 503 before."""
RUN_AS = 10101
"""Numeric UID/GID the containers run as (>= 10000 keeps clear of host users)."""
PSS_LEVEL = "restricted"


@dataclass(frozen=True)
class AutoscalingArgs:
    """A HorizontalPodAutoscaler on the Deployment's CPU; the Deployment's replica count is then its."""

    min_replicas: int
    """Fewest pods."""
    max_replicas: int
    """Most pods."""
    cpu_target: int
    """Average CPU utilisation the autoscaler aims for, in percent of the pods' CPU request."""


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
    autoscaling: AutoscalingArgs | None = None
    """Scale on CPU between bounds instead of running `replicas` pods."""
    host: str = ""
    """Route this host name to the Service through an Ingress (the Platform says which controller)."""
    tls_secret: str = ""
    """A kubernetes.io/tls Secret for the host: the Ingress then serves HTTPS."""


def selector_labels(name: str, component: str) -> dict[str, str]:
    """Labels that identify one component of one WebApp instance."""
    return {
        "app.kubernetes.io/name": "kubeport",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
    }


def common_labels(name: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(name, component),
        "app.kubernetes.io/part-of": "kubeport",
        "app.kubernetes.io/managed-by": "pulumi",
    }


LOCAL_IMAGE_WAIVERS = {
    "CKV_K8S_43": "local build loaded into the cluster's own Docker: no registry, so no digest exists; "
    "the tag is a content hash",
    "CKV_K8S_15": "local build loaded into the cluster's own Docker: pulling (Always) would fail; "
    "the content-hash tag changes with every change",
}
SMOKE_WAIVERS = {
    "CKV_K8S_8": "the smoke-check container only sleeps; its readiness probe is the check, and a liveness "
    "probe could only restart a healthy sleeper",
}


def scanner_waivers(waivers: dict[str, str]) -> dict[str, str]:
    """checkov's inline skips: one annotation per check, each with the reason a reviewer reads."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(waivers.items()), 1)}


def pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        fs_group=RUN_AS,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": cpu, "memory": memory, "ephemeral-storage": "16Mi"},
        limits={"cpu": cpu_limit, "memory": memory_limit, "ephemeral-storage": "64Mi"},
    )


def http_probe(path: str, period: int, failures: int, delay: int = 0) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        initial_delay_seconds=delay,
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )


def url_of(exposure: Exposure, service: k8s.core.v1.Service) -> pulumi.Output[str]:
    """Where a browser reaches the app, or else the command that prints it, for this exposure."""
    names = pulumi.Output.all(service.metadata.name, service.metadata.namespace)
    hint = names.apply(
        lambda n: exposure.address_hint.format(
            service=n[0], namespace=n[1], port=SERVICE_PORT, node_port=exposure.node_port or ""
        )
    )
    if exposure.service_type == "LoadBalancer":
        address = service.status.apply(load_balancer_address)
        return pulumi.Output.all(address, hint).apply(lambda a: f"http://{authority(a[0])}" if a[0] else str(a[1]))
    if exposure.service_type == "NodePort" and exposure.node_address and exposure.node_port:
        return pulumi.Output.from_input(f"http://{exposure.node_address}:{exposure.node_port}")
    return hint


def authority(host: str, port: int = SERVICE_PORT) -> str:
    """`host`, with `:port` unless it is HTTP's own 80."""
    return host if port == 80 else f"{host}:{port}"


def docker_config_json(*, registry: str, username: str, password: str) -> str:
    """A `kubernetes.io/dockerconfigjson` Secret's payload: one registry's credentials, as `docker login` writes."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}})


def ingress_address(status: k8s.networking.v1.outputs.IngressStatus | None) -> str:
    """The first address an Ingress controller reports (IP or hostname); empty until it reports one."""
    balancer = status.load_balancer if status else None
    for entry in (balancer.ingress if balancer else None) or []:
        if entry.ip or entry.hostname:
            return str(entry.ip or entry.hostname)
    return ""


def load_balancer_address(status: k8s.core.v1.outputs.ServiceStatus | None) -> str | None:
    """The first ingress address; EKS load balancers report a hostname, the others an IP."""
    balancer = status.load_balancer if status else None
    for ingress in (balancer.ingress if balancer else None) or []:
        if ingress.ip or ingress.hostname:
            return ingress.ip or ingress.hostname
    return None


class WebApp(pulumi.ComponentResource):
    """Namespace, Deployment, Service, PodDisruptionBudget, NetworkPolicies and the smoke-check Pod.

    Kubernetes object names derive from the component name, so several instances coexist in one
    program (and one namespace with `create_namespace=False`).
    """

    namespace: pulumi.Output[str]
    """The namespace the objects are in."""
    service_name: pulumi.Output[str]
    """The Service's name (its in-cluster DNS name is `<service>.<namespace>.svc`)."""
    url: pulumi.Output[str]
    """Where the app is reached from outside, or the command that prints it."""
    ingress_address: pulumi.Output[str] | None
    """With a host: the address the Ingress controller reports, where the host's DNS record must point."""

    def __init__(self, name: str, args: WebAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:WebApp", name, None, opts)
        platform = args.platform
        timeouts = pulumi.CustomTimeouts(create=platform.rollout_timeout, update=platform.rollout_timeout)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=platform.provider, depends_on=list(platform.depends_on))
        web_labels = common_labels(name, "web")
        web_selector = selector_labels(name, "web")
        # Waivers follow from the Platform: only a local, unpushed build lacks a digest.
        local_build = platform.image is not None and not platform.image.push
        image_waivers = LOCAL_IMAGE_WAIVERS if local_build else {}

        if args.create_namespace:
            ns = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=args.namespace,
                    labels={
                        **common_labels(name, "namespace"),
                        "pod-security.kubernetes.io/enforce": PSS_LEVEL,
                        "pod-security.kubernetes.io/enforce-version": "latest",
                        "pod-security.kubernetes.io/audit": PSS_LEVEL,
                        "pod-security.kubernetes.io/warn": PSS_LEVEL,
                    },
                ),
                opts=k8s_opts,
            )
            self.namespace = ns.metadata.apply(lambda m: m.name or args.namespace)
        else:
            self.namespace = pulumi.Output.from_input(args.namespace)

        def meta(object_name: str, labels: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=self.namespace, labels=labels)

        pull_secrets = self._pull_secret(name, platform.pull_login, common_labels(name, "pull"), k8s_opts)
        deployment = k8s.apps.v1.Deployment(
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
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=web_labels),
                    spec=self._web_pod_spec(name, args, web_selector, pull_secrets),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(
                    custom_timeouts=timeouts,
                    # With an autoscaler the count is its own: the minimum to start with, then whatever it chose.
                    # Server-side apply then sends the live count on every update (never resetting it), and
                    # turning the autoscaler on keeps the running count instead of dropping to the default of 1.
                    ignore_changes=["spec.replicas"] if args.autoscaling else None,
                ),
            ),
        )

        route = self._route(args)
        exposure = route.exposure if route is not None and route.exposure is not None else platform.exposure
        service_annotations = {**exposure.annotations, **(route.service_annotations if route else {})}
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=self.namespace,
                labels=web_labels,
                annotations=service_annotations or None,
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type=exposure.service_type,
                selector=web_selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="http",
                        port=SERVICE_PORT,
                        target_port="http",
                        protocol="TCP",
                        node_port=exposure.node_port if exposure.service_type == "NodePort" else None,
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts)),
        )
        self.service_name = service.metadata.apply(lambda m: m.name or name)

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(name, web_labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=web_selector),
                # Lets a drain evict pods that are not Ready anyway instead of blocking on them.
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=k8s_opts,
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-web-netpol",
            metadata=meta(f"{name}-web", web_labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=web_selector),
                policy_types=["Ingress", "Egress"],
                # Public web traffic (node ports, load balancers) arrives from anywhere, on the app port only.
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=APP_PORT, protocol="TCP")]
                    )
                ],
                # A static site calls nothing: no egress at all.
                egress=[],
            ),
            opts=k8s_opts,
        )

        if args.smoke_check:
            self._smoke_check(
                name=name,
                args=args,
                k8s_opts=k8s_opts,
                timeouts=timeouts,
                depends_on=[deployment, service],
                waivers=image_waivers | SMOKE_WAIVERS,
                pull_secrets=pull_secrets,
            )

        if args.autoscaling:
            self._autoscaler(name, args.autoscaling, deployment, meta(name, web_labels), k8s_opts)

        self.ingress_address = None
        if route is not None:
            ingress = self._ingress(
                name=name,
                args=args,
                route=route,
                service=service,
                metadata=meta(name, web_labels),
                k8s_opts=k8s_opts,
                timeouts=timeouts,
            )
            self.ingress_address = ingress.status.apply(ingress_address)
            scheme = "https" if args.tls_secret else "http"
            self.url = pulumi.Output.from_input(f"{scheme}://{args.host}")
        else:
            self.url = url_of(exposure, service)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_name": self.service_name,
                "url": self.url,
                "ingress_address": self.ingress_address,
            }
        )

    @staticmethod
    def _route(args: WebAppArgs) -> IngressRoute | None:
        if not args.host:
            return None
        if args.platform.ingress is None:
            raise ValueError(f"target {args.platform.target!r} offers no Ingress controller for host {args.host!r}")
        return args.platform.ingress

    def _autoscaler(
        self,
        name: str,
        scaling: AutoscalingArgs,
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
            ),
            opts=k8s_opts,
        )

    def _ingress(
        self,
        *,
        name: str,
        args: WebAppArgs,
        route: IngressRoute,
        service: k8s.core.v1.Service,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        k8s_opts: pulumi.ResourceOptions,
        timeouts: pulumi.CustomTimeouts,
    ) -> k8s.networking.v1.Ingress:
        backend = k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=self.service_name, port=k8s.networking.v1.ServiceBackendPortArgs(name="http")
            )
        )
        return k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata.name,
                namespace=metadata.namespace,
                labels=metadata.labels,
                annotations=dict(route.annotations) or None,
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=route.class_name,
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=args.host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[k8s.networking.v1.HTTPIngressPathArgs(path="/", path_type="Prefix", backend=backend)]
                        ),
                    )
                ],
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=[args.host], secret_name=args.tls_secret)]
                if args.tls_secret
                else None,
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts,
                # merge() adds these to the Platform's dependencies in k8s_opts.
                pulumi.ResourceOptions(custom_timeouts=timeouts, depends_on=[service, *route.depends_on]),
            ),
        )

    def _pull_secret(
        self,
        name: str,
        login: RegistryLogin | None,
        labels: dict[str, str],
        k8s_opts: pulumi.ResourceOptions,
    ) -> list[k8s.core.v1.LocalObjectReferenceArgs] | None:
        """An image pull secret from the Platform's pull credentials; its data stays secret in Pulumi's state."""
        if login is None:
            return None
        config: pulumi.Output[str] = pulumi.Output.all(login.address, login.username, login.password).apply(
            lambda v: docker_config_json(registry=v[0], username=v[1], password=v[2])
        )
        payload: pulumi.Output[str] = pulumi.Output.secret(config)
        secret = k8s.core.v1.Secret(
            f"{name}-pull-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-pull", namespace=self.namespace, labels=labels),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": payload},
            opts=k8s_opts,
        )
        return [k8s.core.v1.LocalObjectReferenceArgs(name=secret.metadata.apply(lambda m: m.name or f"{name}-pull"))]

    def _web_pod_spec(
        self,
        name: str,
        args: WebAppArgs,
        selector: dict[str, str],
        pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None,
    ) -> k8s.core.v1.PodSpecArgs:
        def field_env(var: str, path: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(
                name=var,
                value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path)),
            )

        return k8s.core.v1.PodSpecArgs(
            automount_service_account_token=False,
            enable_service_links=False,
            image_pull_secrets=pull_secrets,
            security_context=pod_security_context(),
            termination_grace_period_seconds=20,
            affinity=k8s.core.v1.AffinityArgs(
                pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
                    preferred_during_scheduling_ignored_during_execution=[
                        k8s.core.v1.WeightedPodAffinityTermArgs(
                            weight=100,
                            pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                                topology_key="kubernetes.io/hostname",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                            ),
                        )
                    ]
                )
            ),
            topology_spread_constraints=[
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key=key,
                    # Spread where the cluster can; a one-node minikube still schedules every replica.
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                )
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ],
            containers=[
                k8s.core.v1.ContainerArgs(
                    name="web",
                    image=args.image,
                    image_pull_policy=args.platform.image_pull_policy,
                    ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=APP_PORT, protocol="TCP")],
                    env=[
                        k8s.core.v1.EnvVarArgs(name="KUBEPORT_TARGET", value=args.platform.target),
                        k8s.core.v1.EnvVarArgs(name="KUBEPORT_IMAGE", value=args.image),
                        field_env("KUBEPORT_POD", "metadata.name"),
                        field_env("KUBEPORT_NAMESPACE", "metadata.namespace"),
                        field_env("KUBEPORT_NODE", "spec.nodeName"),
                    ],
                    readiness_probe=http_probe(READY_PATH, period=5, failures=2),
                    liveness_probe=http_probe(HEALTH_PATH, period=10, failures=3, delay=5),
                    resources=resources("50m", "32Mi", "250m", "64Mi"),
                    security_context=container_security_context(),
                    volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
                )
            ],
            volumes=[
                k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="32Mi"))
            ],
        )

    def _smoke_check(
        self,
        *,
        name: str,
        args: WebAppArgs,
        k8s_opts: pulumi.ResourceOptions,
        timeouts: pulumi.CustomTimeouts,
        depends_on: list[pulumi.Resource],
        waivers: dict[str, str],
        pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None,
    ) -> None:
        """A standalone Pod, Ready only while the app answers through its Service's cluster DNS name.

        Pulumi waits for a Pod to become Ready, so `pulumi up` itself proves in-cluster reachability.
        Its component label differs from the web pods', so the Service never selects it.
        """
        smoke_labels = common_labels(name, "smoke-check")
        smoke_selector = selector_labels(name, "smoke-check")
        # `<service>.<namespace>.svc` resolves through the pod's DNS search path whatever the cluster domain.
        host = pulumi.Output.concat(self.service_name, ".", self.namespace, ".svc")
        target_url = host.apply(lambda h: f"http://{authority(h)}{HEALTH_PATH}")
        check = target_url.apply(lambda url: ["wget", "-q", "-T", "3", "-O", "/dev/null", url])

        k8s.networking.v1.NetworkPolicy(
            f"{name}-smoke-netpol",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-smoke", namespace=self.namespace, labels=smoke_labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=smoke_selector),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                egress=[
                    # DNS, wherever the cluster runs it.
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="UDP"),
                            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="TCP"),
                        ]
                    ),
                    # The app's pods (policies apply after the Service's address translation).
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name, "web"))
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=APP_PORT, protocol="TCP")],
                    ),
                ],
            ),
            opts=k8s_opts,
        )

        k8s.core.v1.Pod(
            f"{name}-smoke",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}-smoke",
                namespace=self.namespace,
                labels=smoke_labels,
                annotations=scanner_waivers(waivers),
            ),
            spec=k8s.core.v1.PodSpecArgs(
                automount_service_account_token=False,
                enable_service_links=False,
                image_pull_secrets=pull_secrets,
                security_context=pod_security_context(),
                termination_grace_period_seconds=5,
                restart_policy="Always",
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name="smoke-check",
                        # The app image carries busybox wget, so the check needs no second image or registry.
                        image=args.image,
                        image_pull_policy=args.platform.image_pull_policy,
                        command=["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 30 & wait $!; done"],
                        readiness_probe=k8s.core.v1.ProbeArgs(
                            exec_=k8s.core.v1.ExecActionArgs(command=check),
                            period_seconds=10,
                            timeout_seconds=5,
                            failure_threshold=1,
                        ),
                        resources=resources("10m", "16Mi", "100m", "32Mi"),
                        security_context=container_security_context(),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts, depends_on=depends_on)
            ),
        )
