"""Latency and throughput over time as one self-contained SVG (no plotting library).

Top panel: requests/s achieved vs requested, failed requests/s. Bottom panel:
p50/p95/p99 latency per bucket on a log scale (a 2 ms run and a 500 ms SLO
line stay readable together), with the policy's p95/p99 bounds dashed.

    svg = render_svg(series, title="load (ci)", requested=[(0, 300), (20, 300)],
                     slo_lines={"p95 SLO": 500, "p99 SLO": 1000})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

from .timeseries import Series

WIDTH, HEIGHT = 900, 560
LEFT, RIGHT = 70, 160  # margins: axis labels on the left, legend on the right
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


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(ticks, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), 10 * mag)


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e4 else f"{v / 1000:g}k"


class _Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(
        self, x: float, y: float, s: str, *, anchor: str = "start", size: int = 11, weight: str = "normal"
    ) -> None:
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}">{escape(s)}</text>'
        )

    def line(
        self, x1: float, y1: float, x2: float, y2: float, colour: str, *, dash: str = "", width: float = 1
    ) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
            f'stroke-width="{width}"{extra}/>'
        )

    def polyline(self, points: Sequence[tuple[float, float]], colour: str, dash: str = "") -> None:
        if len(points) < 2:
            for x, y in points:  # a single sample is still worth a dot
                self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
            return
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6"{extra}/>')


def render_svg(
    series: Series,
    title: str,
    requested: Sequence[tuple[float, float]] = (),
    slo_lines: dict[str, float] | None = None,
    replicas: Sequence[tuple[float, int]] = (),
) -> str:
    """The plot as SVG text. `requested`: (t_s, rate) corners of the requested rate; `replicas`:
    (t_s, count) samples of the scaled workload, drawn as steps on the top panel's right axis."""
    svg = _Svg()
    x_max = max(
        [series.points[-1].t_s + series.bucket_s if series.points else 1.0, *(t for t, _ in requested)]
    )
    plot_w = WIDTH - LEFT - RIGHT

    def x_of(t: float) -> float:
        return LEFT + plot_w * t / x_max

    mid = series.bucket_s / 2  # plot each bucket at its centre
    svg.text(WIDTH / 2, 22, title, anchor="middle", size=14, weight="bold")

    # Throughput panel (linear).
    top, bottom = PANELS[0]
    y_max = max([1.0, *(p.rps for p in series.points), *(r for _, r in requested)]) * 1.1
    step = _nice_step(y_max)

    def y_rate(v: float) -> float:
        return bottom - (bottom - top) * v / y_max

    _frame(svg, top, bottom, "requests/s")
    tick = 0.0
    while tick <= y_max:
        svg.line(LEFT, y_rate(tick), LEFT + plot_w, y_rate(tick), "#e5e5e5")
        svg.text(LEFT - 6, y_rate(tick) + 4, _fmt(tick), anchor="end")
        tick += step
    svg.polyline([(x_of(t), y_rate(r)) for t, r in requested], COLOURS["requested"], dash="6,4")
    svg.polyline([(x_of(p.t_s + mid), y_rate(p.rps)) for p in series.points], COLOURS["achieved"])
    svg.polyline([(x_of(p.t_s + mid), y_rate(p.failed_per_s)) for p in series.points], COLOURS["failed"])
    entries = [
        ("achieved", COLOURS["achieved"], ""),
        ("requested", COLOURS["requested"], "6,4"),
        ("failed", COLOURS["failed"], ""),
    ]
    if replicas:
        _steps(svg, replicas, (top, bottom), x_of)
        entries.append(("replicas (right)", COLOURS["replicas"], ""))
    _legend(svg, top + 24 if replicas else top, entries)

    # Latency panel (log10).
    top, bottom = PANELS[1]
    lines = slo_lines or {}
    values = [v for p in series.points for v in (p.p50_ms, p.p95_ms, p.p99_ms) if v is not None and v > 0]
    lo = 10 ** math.floor(math.log10(max(min(values, default=1.0), 0.01)))
    hi = 10 ** math.ceil(math.log10(max([*values, *lines.values(), lo * 10]) * 1.05))

    def y_lat(v: float) -> float:
        v = min(max(v, lo), hi)
        return bottom - (bottom - top) * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    _frame(svg, top, bottom, "latency ms (log)")
    decade = lo
    while decade <= hi * 1.0001:
        svg.line(LEFT, y_lat(decade), LEFT + plot_w, y_lat(decade), "#e5e5e5")
        svg.text(LEFT - 6, y_lat(decade) + 4, _fmt(decade), anchor="end")
        decade *= 10
    for name, bound in lines.items():
        svg.line(LEFT, y_lat(bound), LEFT + plot_w, y_lat(bound), COLOURS["slo"], dash="4,3")
        svg.text(LEFT + plot_w + 4, y_lat(bound) + 4, f"{name} {bound:g}", size=10)
    legend = []
    for key in ("p50", "p95", "p99"):
        pts = [
            (x_of(p.t_s + mid), y_lat(v)) for p in series.points if (v := getattr(p, f"{key}_ms")) is not None
        ]
        svg.polyline(pts, COLOURS[key])
        legend.append((key, COLOURS[key], ""))
    _legend(svg, bottom - 56, legend)

    _time_axis(svg, x_max, x_of, bottom)
    body = "\n".join(svg.parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
    )


def _time_axis(svg: _Svg, x_max: float, x_of: Callable[[float], float], bottom: float) -> None:
    """The shared time axis under the bottom panel."""
    step = _nice_step(x_max, 10)
    tick = 0.0
    while tick <= x_max + 1e-9:
        svg.line(x_of(tick), bottom, x_of(tick), bottom + 4, "#333")
        svg.text(x_of(tick), bottom + 16, _fmt(tick), anchor="middle")
        tick += step
    svg.text((LEFT + WIDTH - RIGHT) / 2, bottom + 34, "seconds since first request", anchor="middle")


def _steps(
    svg: _Svg,
    samples: Sequence[tuple[float, int]],
    panel: tuple[float, float],
    x_of: Callable[[float], float],
) -> None:
    """A count over time as steps, on its own axis at the panel's right edge (0 .. max + 1)."""
    top, bottom = panel
    r_max = max(count for _, count in samples) + 1

    def y_count(v: float) -> float:
        return bottom - (bottom - top) * v / r_max

    corners: list[tuple[float, float]] = []
    for i, (t, count) in enumerate(samples):
        if i:
            corners.append((x_of(t), y_count(samples[i - 1][1])))
        corners.append((x_of(t), y_count(count)))
    svg.polyline(corners, COLOURS["replicas"])
    for count in range(0, r_max + 1, max(1, r_max // 5)):
        svg.text(WIDTH - RIGHT + 4, y_count(count) + 4, str(count), size=10)


def _frame(svg: _Svg, top: float, bottom: float, label: str) -> None:
    right = WIDTH - RIGHT
    size = f'width="{right - LEFT}" height="{bottom - top}"'
    svg.add(f'<rect x="{LEFT}" y="{top}" {size} fill="none" stroke="#333"/>')
    svg.add(
        f'<text x="18" y="{(top + bottom) / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 18 {(top + bottom) / 2:.1f})">{escape(label)}</text>'
    )


def _legend(svg: _Svg, top: float, entries: list[tuple[str, str, str]]) -> None:
    x = WIDTH - RIGHT + 12
    for i, (name, colour, dash) in enumerate(entries):
        y = top + 8 + i * 16
        svg.line(x, y, x + 22, y, colour, dash=dash, width=2)
        svg.text(x + 28, y + 4, name)


__all__ = ["render_svg"]
