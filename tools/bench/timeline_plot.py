"""An autoscaling run drawn as an SVG step chart: the Deployment's replicas and ready pods, and the CPU the autoscaler
measured (in % of the pods' request), against seconds since the load began, with the run's marks as vertical
lines. The live autoscaling test draws it (KUBEPORT_HPA_PLOT); docs/scaling-and-routing.md shows one.

Written out by hand: two step series and a few labels are a page of SVG, where a plotting library would bring
numpy and tens of megabytes into the dev environment for one picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from itertools import pairwise
from typing import Any

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 40, 44


def _steps(points: Sequence[tuple[float, float]]) -> str:
    """An SVG path that holds each value until the next sample."""
    if not points:
        return ""
    parts = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for (_, y0), (x1, y1) in pairwise(points):
        parts.append(f"H{x1:.1f}")
        if y1 != y0:
            parts.append(f"V{y1:.1f}")
    return " ".join(parts)


def timeline_svg(samples: Sequence[Mapping[str, Any]], marks: Sequence[tuple[float, str]]) -> str:
    """The chart of `samples` (each with t, replicas, ready, cpu) and `marks` ((t, what), as vertical lines)."""
    end = max([float(s["t"]) for s in samples] + [t for t, _ in marks] + [1.0])
    most_pods = max([int(s["replicas"]) for s in samples] + [1])
    most_cpu = max([int(s["cpu"] or 0) for s in samples] + [100])
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + inner_w * t / end

    def y_pods(n: float) -> float:
        return TOP + inner_h * (1 - n / (most_pods + 1))

    def y_cpu(p: float) -> float:
        return TOP + inner_h * (1 - p / (most_cpu * 1.1))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{LEFT + inner_w}" y2="{TOP + inner_h}" stroke="#333"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + inner_h}" stroke="#333"/>',
        f'<line x1="{LEFT + inner_w}" y1="{TOP}" x2="{LEFT + inner_w}" y2="{TOP + inner_h}" stroke="#333"/>',
    ]
    out.append(f'<text x="{LEFT - 8}" y="{TOP - 8}" text-anchor="end">pods</text>')
    for n in range(most_pods + 1):
        out.append(f'<text x="{LEFT - 8}" y="{y_pods(n) + 4:.1f}" text-anchor="end">{n}</text>')
    for p in range(0, int(most_cpu * 1.1) + 1, 50 if most_cpu <= 300 else 100):
        out.append(f'<text x="{LEFT + inner_w + 8}" y="{y_cpu(p) + 4:.1f}" fill="#c0392b">{p}%</text>')
    step = 10 if end <= 120 else 30
    for second in range(0, int(end) + 1, step):
        out.append(f'<text x="{x(second):.1f}" y="{TOP + inner_h + 16}" text-anchor="middle">{second}</text>')
    out.append(f'<text x="{LEFT + inner_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">seconds since the load began'
               "</text>")  # fmt: skip
    for t, what in marks:
        out.append(f'<line x1="{x(t):.1f}" y1="{TOP}" x2="{x(t):.1f}" y2="{TOP + inner_h}" stroke="#999" '
                   'stroke-dasharray="4 3"/>')  # fmt: skip
        out.append(f'<text x="{x(t) + 3:.1f}" y="{TOP + 10}" fill="#555" font-size="10">{escape(what)}</text>')
    series = (
        ("replicas", "#2c3e50", y_pods, "replicas"),
        ("ready", "#27ae60", y_pods, "ready pods"),
        ("cpu", "#c0392b", y_cpu, "CPU, % of request (right axis)"),
    )
    for index, (key, colour, scale, label) in enumerate(series):
        points = [(x(float(s["t"])), scale(float(s[key] or 0))) for s in samples]
        dash = ' stroke-dasharray="6 3"' if key == "ready" else ""
        out.append(f'<path d="{_steps(points)}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{LEFT + 190 * index}" y="16" fill="{colour}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
