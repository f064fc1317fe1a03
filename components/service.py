"""ServiceWorkload: one service of an application (a Score workload file), hardened like the web app.

A Deployment (a StatefulSet of one pod when it mounts a volume), its Service (ClusterIP unless the service is
public), a PodDisruptionBudget, a ConfigMap for the
files the containers declare, and one NetworkPolicy that admits exactly the calls the files declare: from the
workloads named as callers, and to the peers this one calls (plus cluster DNS). A public service with a host
name also gets an Ingress for it on the Platform's controller, as the web app does. A workload without service
ports (a worker) gets no Service and admits nothing: the API server refuses a Service without ports, and
nothing can call it. It imports only pulumi_kubernetes and learns the target only from the Platform.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import service_pod as pod
from components.exposure import (
    exposure_behind,
    host_ingress,
    host_url,
    ingress_route,
    reported_address,
    service_annotations,
    url_of,
)
from components.platform import Exposure, IngressRoute, Platform
from components.pod_parts import (
    content_digest,
    scanner_waivers,
)
from components.service_spec import ContainerSpec, Identity, Peer, PortSpec, RouteSpec

DNS_PORTS = [k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol=p) for p in ("UDP", "TCP")]
"""Cluster DNS: a service that calls another by name must resolve it. By port only: where DNS runs differs by
cluster (pods in kube-system, a node-local cache, a host process on kubeport-node)."""


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
    claims: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """PersistentVolumeClaims the containers mount (ContainerSpec.mounts name them by key). With any, the workload
    is a StatefulSet of one pod, stopped before its replacement starts: a ReadWriteOnce volume is attached to one
    node at a time, and two pods writing one folder would meet."""
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None = None
    waivers: Mapping[str, str] = field(default_factory=dict)
    """checkov waivers the image brings (a local, unpushed build's)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist before the pods start (their databases' Secrets)."""
    trusted_ca: pulumi.Input[str] | None = None
    """The CAs (PEM) of the databases this workload declares: a ConfigMap of its own, at POSTGRES_CA in every
    container."""
    identity: Identity | None = None
    """A cloud identity its pods carry, through a ServiceAccount of its own; None: the namespace's default
    account, whose token is never mounted."""


class ServiceWorkload(pulumi.ComponentResource):
    """One hardened service of an application; its Kubernetes objects are named after the workload."""

    service_name: pulumi.Output[str]
    """The Service's name; empty for a workload without ports, which has no Service."""
    url: pulumi.Output[str]
    """Public services: where they are reached from outside (http(s)://<host> with a host); others: their
    in-cluster URL; empty without ports."""
    ingress_address: pulumi.Output[str] | None
    """With a host: the address the Ingress controller reports, where the host's DNS record must point."""
    pods: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet
    """What runs its pods: a Deployment; with claims, a StatefulSet of one pod."""

    def __init__(self, name: str, args: ServiceWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:workload:ServiceWorkload", name, None, opts)
        platform = args.platform
        selector = service_labels(args.application, name)
        w = _Workload(
            name=name,
            args=args,
            selector=selector,
            labels={**selector, "app.kubernetes.io/managed-by": "pulumi"},
            opts=pulumi.ResourceOptions(
                parent=self, provider=platform.provider, depends_on=[*platform.depends_on, *args.depends_on]
            ),
            timeouts=pulumi.CustomTimeouts(create=platform.rollout_timeout, update=platform.rollout_timeout),
        )
        files = [(c.name, path, f.content, f.mode) for c in args.containers for path, f in c.files.items()]
        if files:
            self._files(w, files)
        ca = None if args.trusted_ca is None else self._postgres_ca(w, args.trusted_ca)
        if args.claims and args.replicas != 1:
            raise ValueError(f"{name}: a workload that mounts a volume runs one pod, not {args.replicas}")
        if args.identity is not None:
            w = self._service_account(w, args.identity)
        volumes = pod.volumes(name, files, ca, args.claims)
        containers = [pod.container(spec, args, files) for spec in args.containers]
        self.pods = (
            self._stateful_set(w, containers, volumes) if args.claims else self._deployment(w, containers, volumes)
        )
        route = ingress_route(platform, args.host) if args.public and args.ports else None
        exposure = exposure_behind(platform, route) if args.public else Exposure(service_type="ClusterIP")
        service: k8s.core.v1.Service | None = None
        if args.ports:
            service = self._service(w, exposure, route)
            self.service_name = service.metadata.apply(lambda m: m.name or name)
        else:
            self.service_name = pulumi.Output.from_input("")
        if args.replicas > 1:
            self._disruption_budget(w)
        self._network_policy(w)
        self.ingress_address = None
        if service is None:
            self.url = pulumi.Output.from_input("")
        elif route is not None:
            self.ingress_address = self._ingress(w, route, service)
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

    def _service_account(self, w: _Workload, identity: Identity) -> _Workload:
        """The workload's own ServiceAccount, bound to its cloud identity; `w` with what follows waiting for it."""
        account = k8s.core.v1.ServiceAccount(
            f"{w.name}-account",
            metadata=w.meta(annotations=identity.account_annotations),
            automount_service_account_token=False,
            opts=w.opts,
        )
        return dataclasses.replace(
            w, opts=pulumi.ResourceOptions.merge(w.opts, pulumi.ResourceOptions(depends_on=[account]))
        )

    def _files(self, w: _Workload, files: list[pod.File]) -> None:
        """Declares the ConfigMap of the files the containers declare."""
        k8s.core.v1.ConfigMap(
            f"{w.name}-files",
            metadata=w.meta(f"{w.name}-files"),
            data={pod.file_key(c, i): content for i, (c, _, content, _) in enumerate(files)},
            opts=w.opts,
        )

    def _postgres_ca(self, w: _Workload, trusted_ca: pulumi.Input[str]) -> k8s.core.v1.ConfigMap:
        """Declares the ConfigMap of the CAs of the databases this workload declares."""
        return k8s.core.v1.ConfigMap(
            f"{w.name}-postgres-ca",
            metadata=w.meta(f"{w.name}-postgres-ca", component="database-ca"),
            data={"ca.crt": trusted_ca},
            opts=w.opts,
        )

    def _deployment(
        self, w: _Workload, containers: list[k8s.core.v1.ContainerArgs], volumes: list[k8s.core.v1.VolumeArgs]
    ) -> k8s.apps.v1.Deployment:
        """Declares the Deployment of the workload's pods."""
        args = w.args
        return k8s.apps.v1.Deployment(
            f"{w.name}-deployment",
            metadata=w.meta(annotations=scanner_waivers(dict(args.waivers))),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                revision_history_limit=5,
                selector=_selector(w.selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=_template(w, containers, volumes),
            ),
            opts=w.awaited(),
        )

    def _stateful_set(
        self, w: _Workload, containers: list[k8s.core.v1.ContainerArgs], volumes: list[k8s.core.v1.VolumeArgs]
    ) -> k8s.apps.v1.StatefulSet:
        """Declares the StatefulSet of a workload that mounts a volume: one pod, never two at once (a Deployment's
        Recreate starts a deleted pod's replacement while the old one still runs).

        A release replaces the StatefulSet, deleted first: the provider deletes in the foreground, so its pod is gone
        before the new StatefulSet starts the release's, and `up` waits for that pod as a creation. Updating it in
        place would not be waited for: the pinned provider's StatefulSet await reads the status the controller has
        not yet updated, takes the old pod for the new one and ends `up` at once (seen on the node; fixed upstream by
        pulumi/pulumi-kubernetes#4094, after the pinned provider), as its Deployment await does with Recreate."""
        args = w.args
        return k8s.apps.v1.StatefulSet(
            f"{w.name}-statefulset",
            metadata=w.meta(annotations=scanner_waivers(dict(args.waivers))),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=w.name,
                revision_history_limit=5,
                selector=_selector(w.selector),
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                pod_management_policy="OrderedReady",
                template=_template(w, containers, volumes),
            ),
            opts=pulumi.ResourceOptions.merge(
                w.awaited(), pulumi.ResourceOptions(replace_on_changes=["spec"], delete_before_replace=True)
            ),
        )

    def _service(self, w: _Workload, exposure: Exposure, route: IngressRoute | None) -> k8s.core.v1.Service:
        """Declares the Service on the workload's ports, exposed as the workload is public or not."""
        return k8s.core.v1.Service(
            f"{w.name}-service",
            metadata=w.meta(annotations=service_annotations(exposure, route)),
            spec=k8s.core.v1.ServiceSpecArgs(
                type=exposure.service_type,
                selector=w.selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=p.name,
                        port=p.port,
                        target_port=p.name,
                        protocol="TCP",
                        node_port=exposure.node_port if exposure.service_type == "NodePort" and i == 0 else None,
                    )
                    for i, p in enumerate(w.args.ports)
                ],
            ),
            opts=w.awaited(),
        )

    def _disruption_budget(self, w: _Workload) -> None:
        """Declares the PodDisruptionBudget: one pod down at a time."""
        k8s.policy.v1.PodDisruptionBudget(
            f"{w.name}-pdb",
            metadata=w.meta(),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=_selector(w.selector), unhealthy_pod_eviction_policy="AlwaysAllow"
            ),
            opts=w.opts,
        )

    def _network_policy(self, w: _Workload) -> None:
        """Declares the NetworkPolicy that admits exactly the calls the workload files declare."""
        k8s.networking.v1.NetworkPolicy(
            f"{w.name}-netpol",
            metadata=w.meta(),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=_selector(w.selector),
                policy_types=["Ingress", "Egress"],
                ingress=_ingress_rules(w.args),
                egress=_egress_rules(w.args),
            ),
            opts=w.opts,
        )

    def _ingress(self, w: _Workload, route: IngressRoute, service: k8s.core.v1.Service) -> pulumi.Output[str]:
        """Declares the Ingress that routes the public host to the Service; returns the address it reports."""
        args = w.args
        port_names = {p.port: p.name for p in args.ports}
        routed = host_ingress(
            f"{w.name}-ingress",
            host=args.host,
            tls_secret=args.tls_secret,
            paths=[(r.path, port_names[r.port]) for r in args.routes] or [("/", args.ports[0].name)],
            route=route,
            service=service,
            service_name=self.service_name,
            metadata=w.meta(),
            opts=w.opts,
            timeouts=w.timeouts,
        )
        return routed.status.apply(reported_address)


@dataclass(frozen=True)
class _Workload:
    """What every object of one ServiceWorkload shares: its name, inputs, labels and options."""

    name: str
    args: ServiceWorkloadArgs
    selector: dict[str, str]
    """The labels that select its pods."""
    labels: dict[str, str]
    opts: pulumi.ResourceOptions
    timeouts: pulumi.CustomTimeouts
    """How long Pulumi waits for what it awaits (the Deployment, the Service, the Ingress)."""

    def meta(
        self, object_name: str = "", *, component: str = "", annotations: Mapping[str, pulumi.Input[str]] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        """An object's metadata in the application's namespace: the workload's name (or `object_name`) and labels
        (with `component`, if given)."""
        return k8s.meta.v1.ObjectMetaArgs(
            name=object_name or self.name,
            namespace=self.args.namespace,
            labels={**self.labels, "app.kubernetes.io/component": component} if component else self.labels,
            annotations=dict(annotations) if annotations else None,
        )

    def awaited(self) -> pulumi.ResourceOptions:
        """The options of an object whose readiness Pulumi awaits, within the rollout bound."""
        return pulumi.ResourceOptions.merge(self.opts, pulumi.ResourceOptions(custom_timeouts=self.timeouts))


def _ingress_rules(args: ServiceWorkloadArgs) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgs]:
    """What the NetworkPolicy admits: anyone on a public service's target ports, else the declared callers."""
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
    return ingress


def _egress_rules(args: ServiceWorkloadArgs) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """What the NetworkPolicy lets the workload call: its declared peers, and cluster DNS if it calls any."""
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
    return egress


def _template(
    w: _Workload, containers: list[k8s.core.v1.ContainerArgs], volumes: list[k8s.core.v1.VolumeArgs]
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The workload's pod template, labelled; a new CA (a database's certificate was renewed) rolls the pods onto
    it."""
    trusted_ca = w.args.trusted_ca
    identity = w.args.identity
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(
            labels=w.labels if identity is None else {**w.labels, **identity.pod_labels},
            annotations=None
            if trusted_ca is None
            else {"kubeport.dev/trusted-ca": pulumi.Output.from_input(trusted_ca).apply(content_digest)},
        ),
        spec=pod.pod_spec(w.args, w.selector, containers, volumes, account=None if identity is None else w.name),
    )


def _selector(labels: Mapping[str, str]) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels))
