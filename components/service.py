"""ServiceWorkload: one service of an application (a Score workload file), hardened like the web app.

A Deployment, its Service (ClusterIP unless the service is public), a PodDisruptionBudget, a ConfigMap for the
files the containers declare, and one NetworkPolicy that admits exactly the calls the files declare: from the
workloads named as callers, and to the peers this one calls (plus cluster DNS). A public service with a host
name also gets an Ingress for it on the Platform's controller, as the web app does. A workload without service
ports (a worker) gets no Service and admits nothing: the API server refuses a Service without ports, and
nothing can call it. It imports only pulumi_kubernetes and learns the target only from the Platform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.exposure import (
    exposure_behind,
    host_ingress,
    host_url,
    ingress_route,
    reported_address,
    service_annotations,
    url_of,
)
from components.platform import Exposure, Platform
from components.pod_parts import (
    container_security_context,
    content_digest,
    pod_security_context,
    resources,
    scanner_waivers,
)
from components.service_spec import ContainerSpec, HttpCheck, Peer, PortSpec, RouteSpec

DNS_PORTS = [k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol=p) for p in ("UDP", "TCP")]
"""Cluster DNS: a service that calls another by name must resolve it. By port only: where DNS runs differs by
cluster (pods in kube-system, a node-local cache, a host process on kubeport-node)."""
POSTGRES_CA = "/etc/kubeport/postgres/ca.crt"
"""Where a workload's containers find the CAs of the databases it declares (one bundle): a Score postgres
resource's `sslrootcert`, and libpq's PGSSLROOTCERT there."""
DEFAULT_REQUESTS = {"cpu": "50m", "memory": "32Mi"}
DEFAULT_LIMITS = {"cpu": "250m", "memory": "128Mi"}


def service_labels(application: str, workload: str) -> dict[str, str]:
    """What selects one workload's pods: the application (part-of) and the workload (instance)."""
    return {
        "app.kubernetes.io/name": workload,
        "app.kubernetes.io/instance": workload,
        "app.kubernetes.io/part-of": application,
    }


@dataclass(frozen=True)
class ServiceWorkloadArgs:
    """Inputs of ServiceWorkload."""

    application: str
    """The application's name (the part-of label)."""
    platform: Platform
    """The target's Platform: provider, exposure, pull policy, timeouts."""
    namespace: pulumi.Input[str]
    """The application's namespace (created by the caller, Pod Security restricted)."""
    containers: Sequence[ContainerSpec]
    ports: Sequence[PortSpec] = ()
    """Service ports. None: no Service (a worker), exposed nowhere."""
    public: bool = False
    """Reachable from outside the cluster as the Platform exposes services; otherwise ClusterIP only."""
    host: str = ""
    """A public service's host name, routed to it through an Ingress (the Platform says which controller)."""
    tls_secret: str = ""
    """A kubernetes.io/tls Secret for the host: the Ingress serves HTTPS."""
    routes: Sequence[RouteSpec] = ()
    """With a host: what the Ingress sends to this service; empty: / to the first port."""
    callers: Sequence[Peer] = ()
    """Workloads that call this one (each on one of its target ports)."""
    calls: Sequence[Peer] = ()
    """What this workload calls in the namespace: other workloads, its databases."""
    replicas: int = 2
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None
    waivers: Mapping[str, str] = field(default_factory=dict)
    """checkov waivers the image brings (a local, unpushed build's)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist before the pods start (their databases' Secrets)."""
    trusted_ca: pulumi.Input[str] | None = None
    """The CAs (PEM) of the databases this workload declares: a ConfigMap of its own, at POSTGRES_CA in every
    container."""


class ServiceWorkload(pulumi.ComponentResource):
    """One hardened service of an application; its Kubernetes objects are named after the workload."""

    service_name: pulumi.Output[str]
    """The Service's name; empty for a workload without ports, which has no Service."""
    url: pulumi.Output[str]
    """Public services: where they are reached from outside (http(s)://<host> with a host); others: their
    in-cluster URL; empty without ports."""
    ingress_address: pulumi.Output[str] | None
    """With a host: the address the Ingress controller reports, where the host's DNS record must point."""
    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: ServiceWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:ServiceWorkload", name, None, opts)
        platform = args.platform
        timeouts = pulumi.CustomTimeouts(create=platform.rollout_timeout, update=platform.rollout_timeout)
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=platform.provider, depends_on=[*platform.depends_on, *args.depends_on]
        )
        selector = service_labels(args.application, name)
        labels = {**selector, "app.kubernetes.io/managed-by": "pulumi"}

        def meta(annotations: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=args.namespace,
                labels=labels,
                annotations=dict(annotations) if annotations else None,
            )

        files = [(c.name, path, f.content, f.mode) for c in args.containers for path, f in c.files.items()]
        if files:
            k8s.core.v1.ConfigMap(
                f"{name}-files",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-files", namespace=args.namespace, labels=labels),
                data={_file_key(c, i): content for i, (c, _, content, _) in enumerate(files)},
                opts=k8s_opts,
            )
        volumes = [
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="32Mi"))
        ]
        if args.trusted_ca is not None:
            ca = k8s.core.v1.ConfigMap(
                f"{name}-postgres-ca",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{name}-postgres-ca",
                    namespace=args.namespace,
                    labels={**labels, "app.kubernetes.io/component": "database-ca"},
                ),
                data={"ca.crt": args.trusted_ca},
                opts=k8s_opts,
            )
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="postgres-ca",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                        name=ca.metadata.apply(lambda m: m.name or f"{name}-postgres-ca"), default_mode=0o444
                    ),
                )
            )
        if files:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="files",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                        name=f"{name}-files",
                        items=[
                            k8s.core.v1.KeyToPathArgs(key=_file_key(c, i), path=_file_key(c, i), mode=mode)
                            for i, (c, _, _, mode) in enumerate(files)
                        ],
                    ),
                )
            )
        containers = []
        for spec in args.containers:
            mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
            if args.trusted_ca is not None:
                mounts.append(
                    k8s.core.v1.VolumeMountArgs(
                        name="postgres-ca", mount_path=POSTGRES_CA.rsplit("/", 1)[0], read_only=True
                    )
                )
            mounts += [
                k8s.core.v1.VolumeMountArgs(name="files", mount_path=path, sub_path=_file_key(c, i), read_only=True)
                for i, (c, path, _, _) in enumerate(files)
                if c == spec.name
            ]
            requests = {**DEFAULT_REQUESTS, **spec.requests}
            limits = {**DEFAULT_LIMITS, **spec.limits}
            containers.append(
                k8s.core.v1.ContainerArgs(
                    name=spec.name,
                    image=spec.image,
                    image_pull_policy=platform.image_pull_policy,
                    command=list(spec.command) or None,
                    args=list(spec.args) or None,
                    env=list(spec.env) or None,
                    ports=[
                        k8s.core.v1.ContainerPortArgs(name=p.name, container_port=p.target_port, protocol="TCP")
                        for p in args.ports
                    ]
                    if spec is args.containers[0]
                    else None,
                    readiness_probe=_probe(spec.readiness, period=5, failures=2),
                    liveness_probe=_probe(spec.liveness, period=10, failures=3, delay=5),
                    resources=resources(requests["cpu"], requests["memory"], limits["cpu"], limits["memory"]),
                    security_context=container_security_context(),
                    volume_mounts=mounts,
                )
            )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(scanner_waivers(dict(args.waivers))),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    # A new CA (a database's certificate was renewed) rolls the pods onto it.
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        annotations=None
                        if args.trusted_ca is None
                        else {
                            "kubeport.dev/trusted-ca": pulumi.Output.from_input(args.trusted_ca).apply(content_digest)
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        image_pull_secrets=list(args.pull_secrets) if args.pull_secrets else None,
                        security_context=pod_security_context(),
                        termination_grace_period_seconds=20,
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="kubernetes.io/hostname",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                            )
                        ],
                        containers=containers,
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts)),
        )
        route = ingress_route(platform, args.host) if args.public and args.ports else None
        exposure = exposure_behind(platform, route) if args.public else Exposure(service_type="ClusterIP")
        service: k8s.core.v1.Service | None = None
        if args.ports:
            service = k8s.core.v1.Service(
                f"{name}-service",
                metadata=meta(service_annotations(exposure, route)),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type=exposure.service_type,
                    selector=selector,
                    ports=[
                        k8s.core.v1.ServicePortArgs(
                            name=p.name,
                            port=p.port,
                            target_port=p.name,
                            protocol="TCP",
                            node_port=exposure.node_port if exposure.service_type == "NodePort" and i == 0 else None,
                        )
                        for i, p in enumerate(args.ports)
                    ],
                ),
                opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(custom_timeouts=timeouts)),
            )
            self.service_name = service.metadata.apply(lambda m: m.name or name)
        else:
            self.service_name = pulumi.Output.from_input("")
        if args.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=meta(),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=k8s_opts,
            )
        target_ports = sorted({p.target_port for p in args.ports})
        # Without ports nothing listens, and nothing is admitted (a rule without ports would admit every port).
        # A public service, as the web app: traffic from anywhere (node ports, load balancers, the Ingress
        # controller, wherever it runs), on its target ports only.
        ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgs] = []
        if target_ports and args.public:
            ingress.append(
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in target_ports]
                )
            )
        elif target_ports:
            ingress += [
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=_selector(peer.labels))],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=peer.port, protocol="TCP")],
                )
                for peer in args.callers
            ]
        egress = [
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=peer.cidr))
                    if peer.cidr is not None
                    else k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=_selector(peer.labels))
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=peer.port, protocol="TCP")],
            )
            for peer in args.calls
        ]
        if args.calls:
            egress.append(k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=DNS_PORTS))
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=meta(),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=_selector(selector), policy_types=["Ingress", "Egress"], ingress=ingress, egress=egress
            ),
            opts=k8s_opts,
        )
        self.ingress_address = None
        if service is None:
            self.url = pulumi.Output.from_input("")
        elif route is not None:
            port_names = {p.port: p.name for p in args.ports}
            routed = host_ingress(
                f"{name}-ingress",
                host=args.host,
                tls_secret=args.tls_secret,
                paths=[(r.path, port_names[r.port]) for r in args.routes] or [("/", args.ports[0].name)],
                route=route,
                service=service,
                service_name=self.service_name,
                metadata=meta(),
                opts=k8s_opts,
                timeouts=timeouts,
            )
            self.ingress_address = routed.status.apply(reported_address)
            self.url = pulumi.Output.from_input(host_url(args.host, args.tls_secret))
        elif args.public:
            self.url = url_of(platform.exposure, service)
        else:
            self.url = pulumi.Output.concat(
                "http://", self.service_name, ".", args.namespace, ".svc:", str(args.ports[0].port)
            )
        self.register_outputs(
            {"service_name": self.service_name, "url": self.url, "ingress_address": self.ingress_address}
        )


def _file_key(container: str, index: int) -> str:
    return f"{container}-{index}"


def _selector(labels: Mapping[str, str]) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels))


def _probe(probe: HttpCheck | None, *, period: int, failures: int, delay: int = 0) -> k8s.core.v1.ProbeArgs | None:
    if probe is None:
        return None
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=probe.path, port=probe.port),
        initial_delay_seconds=delay,
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )
