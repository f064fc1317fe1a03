"""What every cloud cluster component offers its target module, and the exec kubeconfig they share."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pulumi
import pulumi_kubernetes as k8s

from components.platform import RegistryLogin


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """The inputs every cloud cluster component shares; each cloud's Args adds its own scope."""

    allowed_cidrs: Sequence[str]
    """CIDRs allowed to reach the Kubernetes API's public endpoint."""
    private_api: bool = False
    """No public API endpoint at all."""
    node_count: int = 2
    """Worker nodes in total."""
    node_size: str = ""
    """Machine type; empty: the cloud's default (t3.medium, Standard_D2s_v5, e2-standard-2)."""
    protect: bool = True
    """Protect the cluster and the registry from deletion."""


class ManagedCluster(Protocol):
    """The small surface of `EksCluster`, `AksCluster` and `GkeCluster` (read-only)."""

    @property
    def cluster_name(self) -> pulumi.Output[str]:
        """The cluster's name in its cloud."""

    @property
    def kubeconfig(self) -> pulumi.Output[str]:
        """Secret kubeconfig with exec authentication (no token that expires into a diff)."""

    @property
    def provider(self) -> k8s.Provider:
        """Kubernetes provider built from the kubeconfig, replaced only if the cluster is."""

    @property
    def repository(self) -> pulumi.Output[str]:
        """Image repository in the cloud's registry."""

    @property
    def registry_login(self) -> RegistryLogin:
        """Push credentials for that registry (password secret)."""

    @property
    def ready(self) -> Sequence[pulumi.Resource]:
        """Resources the workload waits for: node pools, pull-right grants."""

    @property
    def identity(self) -> pulumi.Output[str]:
        """The cluster's cloud id: the Kubernetes provider's clusterIdentifier."""


def exec_kubeconfig(
    *,
    name: str,
    server: str,
    certificate_authority_data: str,
    command: str,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    install_hint: str = "",
    provide_cluster_info: bool = False,
) -> str:
    """A one-cluster kubeconfig whose credentials come from `command` at each use (JSON is valid YAML)."""
    exec_config: dict[str, object] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": command,
        "args": list(args),
        "interactiveMode": "Never",
        "provideClusterInfo": provide_cluster_info,
    }
    if env:
        exec_config["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if install_hint:
        exec_config["installHint"] = install_hint
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority-data": certificate_authority_data}}
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": {"exec": exec_config}}],
    }
    return json.dumps(config, indent=2)


def cluster_provider(
    name: str,
    kubeconfig: pulumi.Output[str],
    cluster_id: pulumi.Input[str],
    parent: pulumi.Resource,
    teardown: bool = False,
) -> k8s.Provider:
    """The explicit Kubernetes provider for a cloud cluster.

    `cluster_identifier` pins the provider's identity to the cluster itself: a regenerated kubeconfig
    updates the provider instead of replacing it (and with it every Kubernetes object).
    `teardown` (protection released) lets a destroy drop objects of a cluster that no longer answers.
    """
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig,
        cluster_identifier=cluster_id,
        # In a deliberate teardown, lets `pulumi destroy` finish after the cluster itself is gone.
        delete_unreachable=teardown,
        opts=pulumi.ResourceOptions(parent=parent),
    )
