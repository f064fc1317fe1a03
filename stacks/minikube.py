"""Target minikube: the laptop cluster of the seed walkthrough. Its rules and its Platform; no cloud SDK."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Callable

import pulumi_kubernetes as k8s

from components.platform import Exposure, IngressRoute, Platform
from stacks import registry
from stacks.config import Key, Needs, Reader, Settings
from stacks.config.keys import RegistryKind

KEYS: tuple[Key, ...] = ()
"""minikube reads only keys every target shares (kubeContext is the profile)."""
TOOLS = ("docker",)
"""What a real run needs on the machine (stacks.preflight says how to install each)."""
DEFAULT_REGISTRY: RegistryKind = "local"
"""Where the image goes when kubeport:registry is empty."""
SDK = ""
"""The cloud SDK `platform()` imports (none)."""
DEFAULT_PROFILE = "minikube"
INGRESS = IngressRoute(class_name="nginx")
"""minikube's `ingress` add-on: ingress-nginx with the IngressClass `nginx` (the preflight checks it is on)."""


def minikube_ip(profile: str) -> str | None:
    """The node IP from `minikube ip`, or None when minikube is absent or the cluster is not running."""
    binary = shutil.which("minikube")
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [binary, "ip", "--profile", profile], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout.strip()
    try:
        return str(ipaddress.ip_address(text)) if done.returncode == 0 else None
    except ValueError:
        return None


def check(r: Reader, settings: Settings) -> Settings:
    """minikube adds no rule of its own: the shared keys say all it needs (the registry rules know `local`)."""
    del r
    return settings


def exposure(settings: Settings, node_ip: str | None) -> Exposure:
    """NodePort on the configured port: a LoadBalancer never gets an address on minikube and Pulumi would wait."""
    profile = settings.kube_context or DEFAULT_PROFILE
    return Exposure(
        service_type="NodePort",
        node_port=settings.node_port,
        node_address=node_ip,
        address_hint=f"minikube service --profile {profile} --namespace {{namespace}} {{service}} --url",
    )


def platform(settings: Settings, needs: Needs, node_ip_of: Callable[[str], str | None] = minikube_ip) -> Platform:
    profile = settings.kube_context or DEFAULT_PROFILE
    provider = k8s.Provider(
        "minikube",
        context=profile,
        # The provider (and so every object) is replaced only if this identity changes, not on kubeconfig churn.
        cluster_identifier=f"minikube/{profile}",
    )
    image = registry.local(settings) if settings.registry == "local" else registry.pushed(settings)
    return Platform(
        target="minikube",
        provider=provider,
        image=image,
        exposure=exposure(settings, node_ip_of(profile)),
        # A local build exists only in minikube's Docker: never try to pull it.
        image_pull_policy="IfNotPresent",
        rollout_timeout="5m",
        ingress=INGRESS if settings.host else None,
        pull_login=registry.pull_login(settings, image),
        cluster_identity=f"minikube/{profile}",
    )
