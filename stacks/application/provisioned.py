"""What a provisioner (stacks/application/provision.py) gets and gives: the Request, naming the resource, who
declared it and where the application lives; and the Provisioned, what the resource offers the declaring workload
(its outputs, its credentials by Secret reference, the egress it needs, the CA its clients trust, the variables
and cloud identity its containers carry). Records only: nothing here creates a resource."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.platform import ManagedBucket, Platform
from components.service_spec import Peer
from stacks.application.spec import Resource, Workload
from stacks.config.settings import Settings


@dataclass(frozen=True)
class Request:
    """What a provisioner gets: the resource, who declared it, and where the application lives."""

    application: str
    workload: Workload
    resource: Resource
    settings: Settings
    platform: Platform
    namespace: pulumi.Input[str]
    client_labels: Mapping[str, str]
    """The declaring workload's pod labels: the only pods that may reach what is provisioned."""
    pull_secrets: Sequence[k8s.core.v1.LocalObjectReferenceArgs] | None
    opts: pulumi.ResourceOptions


POSTGRES_SSLMODE = "verify-full"
"""The only way kubeport's clients reach a database: encrypted, and to the server the certificate names."""


@dataclass(frozen=True)
class Provisioned:
    """What a provisioned resource offers its workload."""

    outputs: Mapping[str, pulumi.Input[str]]
    """Plain outputs, by the names RESOURCE_OUTPUTS gives the type."""
    secrets: Mapping[str, tuple[pulumi.Input[str], str]] = field(default_factory=dict)
    """Credential outputs: name -> (Kubernetes Secret name, key in it)."""
    peer: Peer | None = None
    """In-cluster pods the workload must be let through to (its egress NetworkPolicy rule)."""
    trusted_ca: pulumi.Input[str] | None = None
    """A CA (PEM) the workload's containers trust, at POSTGRES_CA: the one its server's certificate chains to."""
    claim: pulumi.Input[str] | None = None
    """A `volume`'s PersistentVolumeClaim: the name the workload's pods mount it by."""
    depends_on: Sequence[pulumi.Resource] = ()
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Variables the workload's containers get beside the file's own (an SDK's: `AWS_REGION`, `AWS_CA_BUNDLE`)."""
    secret_env: Mapping[str, tuple[pulumi.Input[str], str]] = field(default_factory=dict)
    """Such variables read from a Secret: name -> (Secret name, key in it)."""
    egress: Sequence[Peer] = ()
    """Addresses outside the cluster the workload must reach besides `peer` (a cloud's API, its token endpoint)."""
    identity: ManagedBucket | None = None
    """The cloud identity the workload's ServiceAccount and pods carry (its annotations and labels)."""


Provisioner = Callable[[Request], Provisioned]


def owned(request: Request, component: str) -> dict[str, str]:
    """The labels of an object provisioned for the declaring workload (its claim, its cache's Secret)."""
    return {
        "app.kubernetes.io/part-of": request.application,
        "app.kubernetes.io/name": request.workload.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "pulumi",
    }
