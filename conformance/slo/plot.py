"""Latency and throughput over time as one self-contained SVG (drawn with `conformance.svg`).

Top panel: requests/s achieved vs requested, failed requests/s. Bottom panel:
p50/p95/p99 latency per bucket on a log scale (a 2 ms run and a 500 ms SLO
line stay readable together), with the policy's p95/p99 bounds dashed.

    svg = render_svg(series, title="load (ci)", requested=[(0, 300), (20, 300)],
                     slo_lines={"p95 SLO": 500, "p99 SLO": 1000})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ..svg import AXIS, LegendEntry, Svg, linear, ticks
from .timeseries import Series

WIDTH, HEIGHT = 900, 560
LEFT, RIGHT = 70, 160  # margins: axis labels on the left, legend on the right
PLOT_RIGHT = WIDTH - RIGHT
PANELS = ((40, 250), (300, 510))  # (top, bottom) y of each panel
COLOURS = {
    "achieved": "#1f77b4",
    "requested": "#555555",
    "failed": "#d62728",
    "p50": "#2ca02c",
    "p95": "#ff7f0e",
    "p99": "#9467bd",
    "slo": "#d62728",
    "replicas": "#8c564b",
}

Scale = Callable[[float], float]


def render_svg(
    series: Series,
    title: str,
    requested: Sequence[tuple[float, float]] = (),
    slo_lines: dict[str, float] | None = None,
    replicas: Sequence[tuple[float, int]] = (),
) -> str:
    """The plot as SVG text. `requested`: (t_s, rate) corners of the requested rate; `replicas`:
    (t_s, count) samples of the scaled workload, drawn as steps on the top panel's right axis."""
    svg = Svg(WIDTH, HEIGHT)
    end = series.points[-1].t_s + series.bucket_s if series.points else 1.0
    x_max = max([end, *(t for t, _ in requested)])
    x_of = linear(x_max, LEFT, PLOT_RIGHT)
    svg.text(WIDTH / 2, 22, title, anchor="middle", size=14, weight="bold")
    _throughput(svg, series, x_of, requested, replicas)
    _latency(svg, series, x_of, slo_lines or {})
    bottom = PANELS[1][1]
    svg.x_ticks(ticks(x_max, 10), x_of, bottom)
    svg.text((LEFT + PLOT_RIGHT) / 2, bottom + 34, "seconds since first request", anchor="middle")
    return svg.document()


def _throughput(
    svg: Svg,
    series: Series,
    x_of: Scale,
    requested: Sequence[tuple[float, float]],
    replicas: Sequence[tuple[float, int]],
) -> None:
    """The top panel (linear): requested, achieved and failed requests/s, replicas if given."""
    top, bottom = PANELS[0]
    y_max = max([1.0, *(p.rps for p in series.points), *(r for _, r in requested)]) * 1.1
    y_of = linear(y_max, bottom, top)
    _frame(svg, top, bottom, "requests/s")
    svg.y_grid(ticks(y_max), y_of, LEFT, PLOT_RIGHT)
    mid = series.bucket_s / 2  # each bucket at its centre
    svg.polyline([(x_of(t), y_of(r)) for t, r in requested], COLOURS["requested"], dash="6,4")
    svg.polyline([(x_of(p.t_s + mid), y_of(p.rps)) for p in series.points], COLOURS["achieved"])
    svg.polyline([(x_of(p.t_s + mid), y_of(p.failed_per_s)) for p in series.points], COLOURS["failed"])
    entries = [
        LegendEntry("achieved", COLOURS["achieved"]),
        LegendEntry("requested", COLOURS["requested"], "6,4"),
        LegendEntry("failed", COLOURS["failed"]),
    ]
    if replicas:
        _replicas(svg, replicas, x_of)
        entries.append(LegendEntry("replicas (right)", COLOURS["replicas"]))
    svg.legend(PLOT_RIGHT + 12, top + (32 if replicas else 8), entries)


def _replicas(svg: Svg, samples: Sequence[tuple[float, int]], x_of: Scale) -> None:
    """A count over time as steps, on its own axis at the top panel's right edge (0 .. max + 1)."""
    top, bottom = PANELS[0]
    r_max = max(count for _, count in samples) + 1
    y_of = linear(r_max, bottom, top)
    svg.steps([(x_of(t), y_of(count)) for t, count in samples], COLOURS["replicas"])
    for count in range(0, r_max + 1, max(1, r_max // 5)):
        svg.text(PLOT_RIGHT + 4, y_of(count) + 4, str(count), size=10)


def _latency(svg: Svg, series: Series, x_of: Scale, slo_lines: dict[str, float]) -> None:
    """The bottom panel (log10): p50/p95/p99 per bucket and the SLO bounds, dashed."""
    top, bottom = PANELS[1]
    values = [v for p in series.points for v in (p.p50_ms, p.p95_ms, p.p99_ms) if v is not None and v > 0]
    lo = 10 ** math.floor(math.log10(max(min(values, default=1.0), 0.01)))
    hi = 10 ** math.ceil(math.log10(max([*values, *slo_lines.values(), lo * 10]) * 1.05))
    decades = round(math.log10(hi / lo))
    to_px = linear(decades, bottom, top)

    def y_of(v: float) -> float:
        return to_px(math.log10(min(max(v, lo), hi) / lo))

    _frame(svg, top, bottom, "latency ms (log)")
    svg.y_grid([lo * 10**i for i in range(decades + 1)], y_of, LEFT, PLOT_RIGHT)
    for name, bound in slo_lines.items():
        svg.line(LEFT, y_of(bound), PLOT_RIGHT, y_of(bound), COLOURS["slo"], dash="4,3")
        svg.text(PLOT_RIGHT + 4, y_of(bound) + 4, f"{name} {bound:g}", size=10)
    mid = series.bucket_s / 2
    for key in ("p50", "p95", "p99"):
        points = [(p.t_s + mid, getattr(p, f"{key}_ms")) for p in series.points]
        svg.polyline([(x_of(t), y_of(v)) for t, v in points if v is not None], COLOURS[key])
    svg.legend(PLOT_RIGHT + 12, bottom - 48, [LegendEntry(k, COLOURS[k]) for k in ("p50", "p95", "p99")])


def _frame(svg: Svg, top: float, bottom: float, label: str) -> None:
    """A panel's border and its axis label, turned up the left edge."""
    svg.rect(LEFT, top, PLOT_RIGHT - LEFT, bottom - top, stroke=AXIS)
    svg.text(18, (top + bottom) / 2, label, anchor="middle", rotate=-90)


__all__ = ["render_svg"]
