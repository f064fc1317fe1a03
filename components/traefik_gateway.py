"""TraefikGateway: the weighted routing a canary release needs on a cloud cluster (EKS, AKS, GKE).

kubeport's canary judge moves an HTTPRoute's weights and reads the controller's per-Service request counters
every few seconds. On every cloud it uses the same in-cluster controller, Traefik (the one the local node runs),
behind the cloud's own layer-4 load balancer:
- the cloud's L7 offers (ALB weighted target groups, the GKE Gateway, Application Gateway for Containers) publish
  their request metrics per minute, in each cloud's monitoring API, minutes late: too coarse and too late for
  a step window of seconds, and a second judge per cloud;
- Traefik applies a weight change within seconds and counts each backend Service's requests, errors and
  latency on its own Prometheus endpoint, which the judge reads through the API server's service proxy: no
  public metrics port, no cloud credentials for the judge, one code path on every target.
The cost: TLS is terminated in the cluster, with kubeport:tlsSecret's certificate (not ACM's or a Google-managed
one), and the cluster gets one more load balancer.

Installed here: the Gateway API's standard CRDs at GATEWAY_API_VERSION, and Traefik's Helm chart with only its
Gateway API provider on (no Ingress or Traefik CRD provider, no IngressClass, no default Gateway, no dashboard),
two replicas and a disruption budget, its Service a LoadBalancer with the cloud's annotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

CHART = "traefik"
CHART_VERSION = "41.3.0"
CHART_REPOSITORY = "https://traefik.github.io/charts"
TRAEFIK_VERSION = "3.7.13"
"""The Traefik the local node builds (toolchain/versions.env): the judge's metric labels are verified on it."""
GATEWAY_API_VERSION = "1.6.1"
"""The Gateway API CRDs: the version Traefik's go.mod requires, as on the local node (toolchain/versions.env)."""
GATEWAY_API_CRDS = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/v{GATEWAY_API_VERSION}/standard-install.yaml"
)
NAMESPACE = "kubeport-traefik"
RELEASE = "kubeport-traefik"
"""The Helm release's name; it holds the chart's name, so the chart names its objects after it."""
GATEWAY_CLASS = "kubeport-traefik"
HTTP_PORT = 8000
"""The container port of Traefik's `web` entry point; a Gateway listener names it (the Service maps 80 to it)."""
HTTPS_PORT = 8443
"""The container port of its `websecure` entry point (the Service maps 443 to it)."""
METRICS_PORT = 9100
METRICS = f"{NAMESPACE}/{RELEASE}-metrics:{METRICS_PORT}"
"""The chart's metrics Service, as the judge reads it through the API server's service proxy."""


def chart_values(service_annotations: Mapping[str, str]) -> dict[str, Any]:
    """The chart's values (validated against its values.schema.json in the tests)."""
    return {
        "image": {"tag": f"v{TRAEFIK_VERSION}"},
        "deployment": {"replicas": 2},
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        "providers": {
            "kubernetesGateway": {"enabled": True},
            "kubernetesIngress": {"enabled": False},
            "kubernetesCRD": {"enabled": False},
        },
        # The chart would otherwise make Traefik the cluster's default IngressClass, and a Gateway of its own.
        "ingressClass": {"enabled": False},
        "gateway": {"enabled": False},
        "gatewayClass": {"enabled": True, "name": GATEWAY_CLASS},
        "api": {"dashboard": False},
        "ports": {
            "web": {"port": HTTP_PORT, "exposedPort": 80},
            "websecure": {"port": HTTPS_PORT, "exposedPort": 443},
            "metrics": {"port": METRICS_PORT},
        },
        "metrics": {
            "prometheus": {
                "entryPoint": "metrics",
                "addServicesLabels": True,
                "addEntryPointsLabels": True,
                "service": {"enabled": True},
            }
        },
        "service": {"type": "LoadBalancer", "annotations": dict(service_annotations)},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
    }


@dataclass(frozen=True)
class TraefikGatewayArgs:
    """Inputs of TraefikGateway."""

    provider: k8s.Provider
    """The cluster's explicit Kubernetes provider."""
    service_annotations: Mapping[str, str] = field(default_factory=dict)
    """The cloud's load balancer annotations for Traefik's Service (EKS: a Network Load Balancer)."""
    waits_for: Sequence[pulumi.Resource] = ()
    """The cluster's node pools: the chart's pods need nodes."""


class TraefikGateway(pulumi.ComponentResource):
    """The Gateway API CRDs and Traefik from its chart (see the module)."""

    class_name: str = GATEWAY_CLASS
    metrics: str = METRICS
    http_port: int = HTTP_PORT
    https_port: int = HTTPS_PORT
    ready: list[pulumi.Resource]
    """What a Gateway and its routes wait for: the CRDs and the controller."""
    address: pulumi.Output[str]
    """The load balancer's address (an IP, or a DNS name on EKS): where the host's DNS record points."""

    def __init__(self, name: str, args: TraefikGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeport:cluster:TraefikGateway", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.waits_for))
        crds = k8s.yaml.v2.ConfigFile(f"{name}-gateway-api-crds", file=GATEWAY_API_CRDS, opts=on_cluster)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={"pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/managed-by": "pulumi"},
            ),
            opts=on_cluster,
        )
        release = k8s.helm.v3.Release(
            f"{name}-chart",
            k8s.helm.v3.ReleaseArgs(
                name=RELEASE,
                chart=CHART,
                version=CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
                namespace=namespace.metadata.name,
                values=chart_values(args.service_annotations),
                skip_crds=True,
            ),
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[crds, namespace])),
        )
        self.ready = [crds, release]
        service = k8s.core.v1.Service.get(
            f"{name}-service",
            f"{NAMESPACE}/{RELEASE}",
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[release]),
        )
        self.address = service.status.apply(_load_balancer_address)
        self.register_outputs({"class_name": GATEWAY_CLASS, "metrics": METRICS, "address": self.address})


def _load_balancer_address(status: Any) -> str:
    """The first ingress point of a LoadBalancer Service's status: its IP, or its hostname."""
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    if not ingress:
        return ""
    return ingress[0].ip or ingress[0].hostname or ""
