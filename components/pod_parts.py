"""The parts every kubeport pod is made of: what the app image offers, labels, security contexts, resources,
probes and the scanners' waivers. Plain builders of `pulumi_kubernetes` Args, shared by WebApp and SmokeCheck."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.options import PullPolicy
from components.platform import Exposure

APP_PORT = 8080
"""The container port nginx listens on (unprivileged: no port below 1024)."""
SERVICE_PORT = 80
"""The Service's port: plain HTTP's own, so URLs need none."""
HEALTH_PATH = "/healthz"
"""nginx's liveness location (app/nginx/default.conf): answers 200 while nginx runs."""
READY_PATH = "/readyz"
"""nginx's readiness location: 200 once the site and /info are in place, 503 before."""
INFO_PATH = "/info"
"""Where nginx says where it runs: pod, node, image, release (app/nginx/templates/kubeport/info.json.template)."""
RELEASE_ANNOTATION = "kubeport.dev/release"
"""On the web pods' template: a digest of the rest of the template. /info reports it, so the smoke check can tell
the release it checks from an earlier one that still answers."""
RUN_AS = 10101
"""Numeric UID/GID the containers run as (>= 10000 keeps clear of host users)."""
PSS_LEVEL = "restricted"
"""The Pod Security level the namespace enforces."""
DRAIN_SECONDS = 5
"""How long a stopping web pod keeps serving before nginx is told to quit: long enough for kube-proxy and load
balancers to stop sending it new connections, so a rollout drops no request."""

LOCAL_IMAGE_WAIVERS = {
    "CKV_K8S_43": "local build loaded into the cluster's own Docker: no registry, so no digest exists; "
    "the tag is a content hash",
    "CKV_K8S_15": "local build loaded into the cluster's own Docker: pulling (Always) would fail; "
    "the content-hash tag changes with every change",
}
"""checkov waivers for an image built into minikube's Docker (no registry, no digest)."""


def pod_security_labels() -> dict[str, str]:
    """A namespace's labels that make the API server enforce (and audit and warn about) PSS_LEVEL."""
    return {
        "pod-security.kubernetes.io/enforce": PSS_LEVEL,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": PSS_LEVEL,
        "pod-security.kubernetes.io/warn": PSS_LEVEL,
    }


def selector_labels(name: str, component: str) -> dict[str, str]:
    """Labels that identify one component of one WebApp instance."""
    return {
        "app.kubernetes.io/name": "kubeport",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
    }


def common_labels(name: str, component: str) -> dict[str, str]:
    """The selector labels plus the ones that say who manages the object."""
    return {
        **selector_labels(name, component),
        "app.kubernetes.io/part-of": "kubeport",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def content_digest(text: str) -> str:
    """A short digest of a public text (a certificate): a pod template annotation that changes when it does."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def scanner_waivers(waivers: dict[str, str]) -> dict[str, str]:
    """checkov's inline skips: one annotation per check, each with the reason a reviewer reads."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(waivers.items()), 1)}


def pod_security_context(fs_group_change_policy: str | None = None) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        fs_group=RUN_AS,
        fs_group_change_policy=fs_group_change_policy,
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


def authority(host: str, port: int = SERVICE_PORT) -> str:
    """`host`, with `:port` unless it is HTTP's own 80."""
    return host if port == 80 else f"{host}:{port}"


def web_pod_spec(
    *,
    image: pulumi.Input[str],
    target: str,
    pull_policy: PullPolicy,
    selector: dict[str, str],
    pull_secrets: list[k8s.core.v1.LocalObjectReferenceArgs] | None,
) -> k8s.core.v1.PodSpecArgs:
    """The web pods: nginx on APP_PORT under the hardened spec, probes on its locations, /info from the
    downward API, spread over nodes and zones where the cluster has several."""
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
        containers=[_web_container(image, target, pull_policy)],
        volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="32Mi"))],
    )


def _web_container(image: pulumi.Input[str], target: str, pull_policy: PullPolicy) -> k8s.core.v1.ContainerArgs:
    """The web container: nginx on APP_PORT, hardened, told where it runs, draining before it stops."""
    return k8s.core.v1.ContainerArgs(
        name="web",
        image=image,
        image_pull_policy=pull_policy,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=APP_PORT, protocol="TCP")],
        env=[
            k8s.core.v1.EnvVarArgs(name="KUBEPORT_TARGET", value=target),
            k8s.core.v1.EnvVarArgs(name="KUBEPORT_IMAGE", value=image),
            _field_env("KUBEPORT_RELEASE", f"metadata.annotations['{RELEASE_ANNOTATION}']"),
            _field_env("KUBEPORT_POD", "metadata.name"),
            _field_env("KUBEPORT_NAMESPACE", "metadata.namespace"),
            _field_env("KUBEPORT_NODE", "spec.nodeName"),
        ],
        readiness_probe=http_probe(READY_PATH, period=5, failures=2),
        liveness_probe=http_probe(HEALTH_PATH, period=10, failures=3, delay=5),
        resources=resources("50m", "32Mi", "250m", "64Mi"),
        security_context=container_security_context(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        # The kubelet's own sleep (no shell needed in the image), then the image's STOPSIGNAL (SIGQUIT):
        # nginx finishes what it has in flight.
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=DRAIN_SECONDS))
        ),
    )


def _field_env(var: str, path: str) -> k8s.core.v1.EnvVarArgs:
    """An environment variable the downward API fills from a field of the pod."""
    return k8s.core.v1.EnvVarArgs(
        name=var,
        value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path)),
    )


def web_network_policy(
    name: str, component: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """The NetworkPolicy of a WebApp's web pods (component `web`, or a canary's `web-canary`): the app port in,
    nothing out."""
    return k8s.networking.v1.NetworkPolicy(
        f"{name}-{component}-netpol",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-{component}", namespace=namespace, labels=common_labels(name, component)
        ),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name, component)),
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
        opts=opts,
    )


def web_service_spec(exposure: Exposure, selector: dict[str, str]) -> k8s.core.v1.ServiceSpecArgs:
    """The Service's spec: its HTTP port, exposed as the target says."""
    return k8s.core.v1.ServiceSpecArgs(
        type=exposure.service_type,
        selector=selector,
        ports=[
            k8s.core.v1.ServicePortArgs(
                name="http",
                port=SERVICE_PORT,
                target_port="http",
                protocol="TCP",
                node_port=exposure.node_port if exposure.service_type == "NodePort" else None,
            )
        ],
    )


def server_network_policy(
    resource_name: str,
    selector: Mapping[str, str],
    clients: Sequence[Mapping[str, str]],
    *,
    port: int,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """An in-cluster server's NetworkPolicy (PostgreSQL's, Redis's): its `port` from the `clients`' pods only, and
    no egress at all."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=metadata,
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
            policy_types=["Ingress", "Egress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(client))
                        )
                        for client in clients
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")],
                )
            ],
            egress=[],
        ),
        opts=opts,
    )
