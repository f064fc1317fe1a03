"""The option types the config model and the components share: plain values, no Pulumi import.

`stacks.config` reads stack config into them and the components take them as they are, so each option has one
type on both sides of the seam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
"""How a Service is exposed."""
SERVICE_TYPES: tuple[ServiceType, ...] = get_args(ServiceType)
PullPolicy = Literal["Always", "IfNotPresent", "Never"]
"""A container's imagePullPolicy."""
PULL_POLICIES: tuple[PullPolicy, ...] = get_args(PullPolicy)


@dataclass(frozen=True)
class Autoscaling:
    """A HorizontalPodAutoscaler on the Deployment's CPU; the Deployment's replica count is then its."""

    min_replicas: int
    """Fewest pods (the Deployment starts with this many)."""
    max_replicas: int
    """Most pods."""
    cpu_target: int
    """Average CPU utilisation the autoscaler aims for, in percent of the pods' CPU request."""
    scale_down_window: int = 300
    """Seconds of recommendations the autoscaler looks back over before removing pods (Kubernetes' default)."""


ReleaseStrategy = Literal["rolling", "canary"]
"""How a new release replaces the running one."""
RELEASE_STRATEGIES: tuple[ReleaseStrategy, ...] = get_args(ReleaseStrategy)


@dataclass(frozen=True)
class Canary:
    """A release judged on a share of real traffic before it takes all of it (kubeport:releaseStrategy canary)."""

    steps: tuple[int, ...] = (10, 50, 100)
    """The canary's share of the traffic at each step, in percent, rising; each is judged before the next."""
    window: int = 60
    """Seconds each step is judged over."""
    max_error_rate: int = 1
    """The most of the canary's requests, in percent, that may fail (5xx) in a step's window."""
    max_latency_ms: int = 500
    """The canary's mean response time in a step's window may not exceed this, in milliseconds."""
