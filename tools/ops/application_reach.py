"""What `migrate` of an application reaches of one side's cluster, and how: its databases (through `kubectl exec`,
tools/ops/application_data.py), its Deployments' availability and the probe Pod of the smoke check
(tools/ops/application_smoke.py), all through the stack's own kubectl access. The rules and the steps that use them
are in tools/ops/application_migrate.py; the tests give stand-ins with the same shape."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tools.ops.application_data import Facts, Fingerprint, PodDatabases, Record, Side
from tools.ops.application_smoke import ClusterProbe, deployments_unavailable
from tools.ops.operations import OperationError, Workspace, cluster_access
from tools.ops.smoke import Kubectl, run_kubectl


class Databases(Protocol):
    """One side's databases of the application (tools.ops.application_data.PodDatabases; a fake in tests)."""

    def instances(self) -> list[str]: ...
    def facts(self, instance: str) -> Facts: ...
    def set_read_only(self, instance: str, read_only: bool) -> None: ...
    def fingerprint(self, instance: str) -> Fingerprint: ...
    def record(self, instance: str, record: Record, source_system: str, target_system: str) -> None: ...
    def backup(self, instance: str, role: str, path: Path) -> None: ...
    def prove_writable(self, instance: str) -> str: ...
    def copy_into(self, instance: str, target: object, target_instance: str, role: str) -> None: ...


class Prober(Protocol):
    def cleanup(self) -> None: ...
    def start(self, services: Sequence[tuple[str, int]]) -> None: ...
    def ask(self, urls: Sequence[str]) -> dict[str, str]: ...


@dataclass
class Reach:
    """What migrate reaches of one stack's cluster."""

    side: Side
    databases: Databases
    server: str
    """The API server's URL: the same server and namespace on both sides is the same database."""
    unavailable: Callable[[str], list[str]]
    """The application's Deployments without all their replicas available."""
    prober: Callable[[str, str], Prober]
    """(application, image) -> the probe Pod."""


Reacher = Callable[[Workspace, Mapping[str, str], str], contextlib.AbstractContextManager[Reach]]


@contextlib.contextmanager
def kubectl_reach(
    workspace: Workspace, config: Mapping[str, str], namespace: str, kubectl: Kubectl = run_kubectl
) -> Iterator[Reach]:
    """A stack's cluster through kubectl: its context, or its cluster stack's kubeconfig."""
    with cluster_access(workspace, config) as (access, _):
        if not access:
            raise OperationError("migrating an application's data needs the stack's cluster (kubeport:kubeContext or "
                                 "kubeport:clusterStack)")  # fmt: skip
        side = Side(access, namespace)
        server = kubectl([*access, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"])
        yield Reach(
            side=side,
            databases=PodDatabases(side, kubectl),
            server=server.strip(),
            unavailable=lambda application: deployments_unavailable(side, application, kubectl),
            prober=lambda application, image: ClusterProbe(side, application, image, kubectl),
        )
