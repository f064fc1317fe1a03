"""An application's files checked against the stack they deploy with, before any resource: the target can
provision every resource they declare (stacks/application/provision.py), and their routes fit the stack's host
name (kubeport:host). `load()` is what the program calls: the files read, checked alone and together
(parse.py), then here; one ScoreError names every problem."""

from __future__ import annotations

from stacks import ROOT
from stacks.application import provision
from stacks.application.parse import read_application
from stacks.application.placeholders import fill
from stacks.application.spec import Application, ScoreError, Workload
from stacks.config.settings import Settings


def load(settings: Settings) -> Application:
    """The application's files, checked alone, together and against the target; raises ScoreError."""
    application = read_application(ROOT / settings.application, ROOT)
    found = provision.problems(application, settings.target) + route_problems(application, settings.host)
    if found:
        raise ScoreError(found)
    return application


def route_host(text: str, workload: Workload, host: str) -> str | None:
    """A route's `params.host` as kubeport fills it in with the stack's host name: `${metadata.name}` and the
    workload's `dns` hosts; None when it names anything else (no other output is a host name to route)."""
    known = {"metadata.name": workload.name} | {f"resources.{r.name}.host": host for r in workload.resources_of("dns")}
    pieces = fill(text, known.get)
    return None if pieces is None else "".join(pieces)


def route_problems(application: Application, host: str) -> list[str]:
    """With kubeport:host: each route of the public workload goes to that host, on a path an Ingress takes, and
    some workload has one. Without a host nothing is checked here (routes then only make the workload public)."""
    if not host:
        return []
    public = [w for w in application.workloads if w.public]
    if not public:
        return [f"kubeport:host: {host!r} routes to nothing: no workload file declares a route resource"]
    found = []
    (workload,) = public  # the files were checked: at most one public workload
    paths: dict[str, str] = {}
    for resource in workload.resources_of("route"):
        where = f"{workload.file.name}: resources.{resource.name}.params"
        text = resource.params.get("host")
        resolved = route_host(text, workload, host) if isinstance(text, str) else None
        if resolved != host:
            shown = resolved if resolved is not None else text
            found.append(
                f"{where}.host: {shown!r} is not the stack's host {host!r} (kubeport:host): the application's "
                "Ingress serves that host only; write it, or ${resources.<dns resource>.host}"
            )
        path = resource.params.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            found.append(f"{where}.path: {path!r} is not a path for the Ingress; expected one starting with /")
        elif path in paths:
            found.append(f"{where}.path: {path!r} is routed already by resources.{paths[path]}")
        else:
            paths[path] = resource.name
    return found
