"""The benchmark's breakdown of a `pulumi up` from the engine's events: each step of a resource timed on its own,
a replacement's steps included."""

from __future__ import annotations

import pytest

from tools.bench.eventlog import Event, Part, breakdown, proof_seconds, release_floor, serial_seconds

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


def test_the_serial_parts_are_what_no_resource_step_overlaps() -> None:
    parts = [
        Part("CLI and engine start, to the engine's first event", 0.0, 0.4),
        Part("language host, program and plugins, to the first resource step", 0.4, 0.6),
        Part("update Deployment web-deployment", 1.0, 1.5),
        Part("engine finish, to the summary", 2.5, 0.2),
        Part("after the summary: state written, exit", 2.7, 0.3),
    ]
    assert round(serial_seconds(parts), 2) == 1.5


def test_the_smoke_checks_time_is_its_pods_steps() -> None:
    parts = [
        Part("update Deployment web-deployment", 2.3, 2.7),
        Part("delete-replaced Pod web-smoke", 5.0, 0.7),
        Part("replace Pod web-smoke", 5.8, 0.0),
        Part("create-replacement Pod web-smoke", 5.8, 1.2),
        Part("create Pod web-smoke-x", 7.0, 5.0),
    ]
    assert round(proof_seconds(parts), 2) == 1.9


@pytest.mark.parametrize(
    ("serial", "proof", "verdict"),
    [
        (0.5, 0.5, "(1.17x without the check): within 1.5x: the release could gain 3.00 s"),
        (1.2, 1.9, "within 1.5x only without the smoke check, the proof the hand-made release lacks"),
        (2.4, 1.9, "out of reach on this engine: its serial parts alone are more than 50% of the hand-made"),
    ],
)
def test_the_release_floor_names_what_keeps_it_from_one_and_a_half_times(
    serial: float, proof: float, verdict: str
) -> None:
    line = release_floor(serial=serial, by_hand=3.0, proof=proof, release=7.0)
    assert verdict in line
    floor = serial + 3.0 + proof
    assert f"= {floor:.2f} s, {floor / 3.0:.2f}x the hand-made" in line
    assert f"The release took 7.00 s, {7.0 - floor:.2f} s above its floor" in line
