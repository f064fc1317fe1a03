"""The benchmark's breakdown of a `pulumi up` from the engine's events: each step of a resource timed on its own,
a replacement's steps included."""

from __future__ import annotations

from tools.bench.eventlog import Event, Part, breakdown

POD = "urn:pulumi:local::kubeport::kubeport:workload:SmokeCheck$kubernetes:core/v1:Pod::web-smoke"
DEPLOYMENT = "urn:pulumi:local::kubeport::kubeport:workload:WebApp$kubernetes:apps/v1:Deployment::web-deployment"


def step(at: float, kind: str, urn: str, op: str) -> Event:
    return Event(at, kind, {"metadata": {"urn": urn, "op": op}})


def test_a_replacement_is_timed_step_by_step_and_unchanged_resources_are_left_out() -> None:
    events = [
        Event(0.4, "preludeEvent", {}),
        step(1.0, "resourcePreEvent", DEPLOYMENT, "same"),
        step(1.0, "resOutputsEvent", DEPLOYMENT, "same"),
        step(1.1, "resourcePreEvent", DEPLOYMENT, "update"),
        step(2.6, "resOutputsEvent", DEPLOYMENT, "update"),
        step(2.7, "resourcePreEvent", POD, "delete-replaced"),
        step(3.5, "resOutputsEvent", POD, "delete-replaced"),
        step(3.5, "resourcePreEvent", POD, "replace"),
        step(3.5, "resOutputsEvent", POD, "replace"),
        step(3.6, "resourcePreEvent", POD, "create-replacement"),
        step(5.1, "resOutputsEvent", POD, "create-replacement"),
        Event(5.3, "summaryEvent", {}),
    ]
    parts = breakdown(events, 5.9)
    assert [(p.name, round(p.seconds, 2)) for p in parts] == [
        ("CLI and engine start, to the engine's first event", 0.4),
        ("language host, program and plugins, to the first resource step", 0.6),
        ("update Deployment web-deployment", 1.5),
        ("delete-replaced Pod web-smoke", 0.8),
        ("replace Pod web-smoke", 0.0),
        ("create-replacement Pod web-smoke", 1.5),
        ("engine finish, to the summary", 0.2),
        ("after the summary: state written, exit", 0.6),
    ]


def test_without_events_the_whole_command_is_one_part() -> None:
    assert breakdown([], 3.0) == [Part("the whole command (no engine events)", 0.0, 3.0)]
