"""The autoscaling chart (tools.bench.timeline_plot): valid SVG whose step paths follow the samples."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from tools.bench.timeline_plot import timeline_svg

SAMPLES: list[dict[str, Any]] = [
    {"t": 0.0, "replicas": 1, "ready": 1, "cpu": 2},
    {"t": 10.0, "replicas": 3, "ready": 1, "cpu": 146},
    {"t": 20.0, "replicas": 3, "ready": 3, "cpu": 64},
    {"t": 40.0, "replicas": 1, "ready": 1, "cpu": None},
]
SVG = "{http://www.w3.org/2000/svg}"


def test_each_series_is_a_step_path_that_rises_and_falls_with_the_samples() -> None:
    root = ET.fromstring(timeline_svg(SAMPLES, [(5.0, "load & starts")]))
    paths = [p.get("d", "") for p in root.iter(f"{SVG}path")]
    assert len(paths) == 3
    replicas = paths[0].split()
    # Start at 1 replica, step up to 3 at t=10 (held, not interpolated), down to 1 at t=40.
    heights = [float(part[1:]) for part in replicas if part.startswith("V")]
    start = float(replicas[0].split(",")[1])
    assert len(heights) == 2 and heights[0] < start and heights[1] == start
    assert all(part[0] in "MHV" for part in replicas)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "load & starts" in texts  # escaped in the file, read back whole
    assert "CPU, % of request (right axis)" in texts
