"""What a ServiceWorkload is made of, as plain records: its containers, ports, routes, probes and files, and the
peers its NetworkPolicy names. The workload-file pipeline (stacks/application/convert.py) fills them in; the
component (components/service.py) turns them into Kubernetes objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class PortSpec:
    """A Service port: its name (the container port's too), the port the Service listens on, the container's."""

    name: str
    port: int
    target_port: int


@dataclass(frozen=True)
class RouteSpec:
    """With a host: a path prefix the Ingress sends to the Service port `port`."""

    path: str
    port: int


@dataclass(frozen=True)
class HttpCheck:
    """An HTTP probe: GET `path` on the container's `port`."""

    path: str
    port: int


@dataclass(frozen=True)
class FileSpec:
    """A file a container sees, placeholders already filled in, with its mode."""

    content: pulumi.Input[str]
    mode: int


@dataclass(frozen=True)
class MountSpec:
    """A claim of the workload's (ServiceWorkloadArgs.claims, by its key) a container sees at `target`: the volume's
    root, or `sub_path` inside it."""

    claim: str
    target: str
    sub_path: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class Peer:
    """Pods in the same namespace, by their labels, on one port; or, with `cidr`, addresses outside the cluster
    (a managed database in the cluster's network)."""

    labels: Mapping[str, str]
    port: int
    cidr: pulumi.Input[str] | None = None
    """An egress destination by address block instead of by pod labels."""


@dataclass(frozen=True)
class Identity:
    """A cloud identity a workload's pods carry (a bucket reached without a key): the workload gets a
    ServiceAccount of its own, named after it, which the cloud binds to the identity."""

    account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """On the ServiceAccount (AKS's client id, GKE's Google service account)."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """On the pods (AKS's webhook selects them by one)."""


@dataclass(frozen=True)
class ContainerSpec:
    """One container as its workload file declares it, placeholders already resolved."""

    name: str
    image: pulumi.Input[str]
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    files: Mapping[str, FileSpec] = field(default_factory=dict)
    """Absolute path -> the file."""
    mounts: Sequence[MountSpec] = ()
    """The workload's claims this container mounts."""
    liveness: HttpCheck | None = None
    readiness: HttpCheck | None = None
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)
