"""The data model of an application of workload files: what kubeport reads out of a folder of `score.dev/v1b1`
files (tools and tests read it too). Plain, frozen records; nothing here reads a file or creates a resource.
How the records are read and checked: stacks/application/parse.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.application.catalogue import RESOURCE_TYPES
from stacks.application.source import bounded

API_VERSION = "score.dev/v1b1"


SUFFIX = ".score.yaml"


BUILD_ANNOTATION = "kubeport.dev/build"
"""`metadata.annotations` key: the folder (relative to the file) whose Dockerfile builds an `image: .`."""


RESOURCE_OUTPUTS: Mapping[str, tuple[str, ...]] = {name: tuple(t.outputs) for name, t in RESOURCE_TYPES.items()}
"""What each supported resource type provides to placeholders (stacks/application/catalogue.py)."""


SECRET_OUTPUTS: Mapping[str, frozenset[str]] = {name: t.secret_outputs for name, t in RESOURCE_TYPES.items()}
"""Outputs that are credentials: a variable holding one is read from a Kubernetes Secret, never inlined."""


RESOURCE_PARAMS: Mapping[str, Mapping[str, bool]] = {
    name: {param: spec.required for param, spec in t.params.items()} for name, t in RESOURCE_TYPES.items()
}
"""Each type's params: name -> required."""


MAX_PROBLEMS = 25
"""Problems listed in one error; the count of the rest is given."""


class ScoreError(Exception):
    """Every problem found in an application's workload files; nothing has been created."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(self.message())

    def message(self) -> str:
        lines = ["invalid workload files; nothing was created:"]
        lines += [f"  - {bounded(p)}" for p in self.problems[:MAX_PROBLEMS]]
        if len(self.problems) > MAX_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_PROBLEMS} more")
        lines.append("kubeport reads score.dev/v1b1 files; what it supports: docs/application.md.")
        return "\n".join(lines)


@dataclass(frozen=True)
class HttpProbe:
    path: str
    port: int


@dataclass(frozen=True)
class ContainerFile:
    """A file the container sees at `target`, written from `content` (placeholders filled unless no_expand)."""

    target: str
    content: str
    mode: str = "0444"
    no_expand: bool = False
    where: str = ""
    """Its path in the file, for messages: `containers.main.files[0]`, or `containers.main.files./etc/x`."""


@dataclass(frozen=True)
class VolumeMount:
    """A `volume` resource of the file (`source`) the container sees at `target`: its root, or `path` inside it."""

    target: str
    source: str
    """The resource's name."""
    path: str = ""
    read_only: bool = False
    where: str = ""
    """Its path in the file, for messages: `containers.main.volumes./data`, or `containers.main.volumes[0]`."""


DEFAULT_VOLUME_SIZE = "1Gi"
"""A `volume` resource's size when its params give none."""


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    """An image reference, or `.`: build the workload's `build` folder."""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    files: tuple[ContainerFile, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    liveness: HttpProbe | None = None
    readiness: HttpProbe | None = None
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target_port: int


@dataclass(frozen=True)
class Resource:
    name: str
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """One validated workload file."""

    name: str
    file: Path
    containers: tuple[Container, ...]
    ports: tuple[ServicePort, ...] = ()
    resources: tuple[Resource, ...] = ()
    build: Path | None = None
    """The folder an `image: .` builds (its Dockerfile), from the `kubeport.dev/build` annotation."""

    @property
    def keeps_data(self) -> bool:
        """It mounts a `volume`: one pod at a time, replaced (not rolled) on a release, since a ReadWriteOnce volume
        is attached to one node and two writers of one folder would meet."""
        return bool(self.resources_of("volume"))

    @property
    def public(self) -> bool:
        """A `route` resource makes the workload reachable from outside the cluster."""
        return any(r.type == "route" for r in self.resources)

    def resources_of(self, kind: str) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.type == kind)

    def port(self, name: str) -> ServicePort:
        return next(p for p in self.ports if p.name == name)

    def provisioned_name(self, resource: Resource) -> str:
        """The name of what one of its resources provisions, on every target: `<workload>-<resource>`
        (payments-db): the database's objects, and how `migrate` pairs a source's database with the target's."""
        return f"{self.name}-{resource.name}"


@dataclass(frozen=True)
class Edge:
    """`client` calls `server` (a workload, or `<workload>/<resource>` for a provisioned resource) on `port`."""

    client: str
    server: str
    port: int


@dataclass(frozen=True)
class Application:
    """The validated workloads of one folder, in name order, and the traffic edges they declare."""

    folder: Path
    workloads: tuple[Workload, ...]

    def workload(self, name: str) -> Workload:
        return next(w for w in self.workloads if w.name == name)

    def edges(self) -> tuple[Edge, ...]:
        """Every call the files declare: service-port resources, and each workload to its own databases."""
        found: list[Edge] = []
        for workload in self.workloads:
            for resource in workload.resources:
                if resource.type == "service-port":
                    server = self.workload(str(resource.params["workload"]))
                    port = server.port(str(resource.params["port"]))
                    found.append(Edge(workload.name, server.name, port.target_port))
                elif resource.type == "postgres":
                    found.append(Edge(workload.name, f"{workload.name}/{resource.name}", 5432))
        return tuple(found)
