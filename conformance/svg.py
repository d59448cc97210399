"""The drawing primitives of the suite's plots: one small SVG writer both plots share.

The SLO tier's latency/throughput panels (`slo/plot.py`) and the HPA replica timeline
(`behaviour/scaling.py`) are drawn with this and nothing else. No plotting library, on purpose:
the result is one self-contained SVG (no script, no web font, no external reference) that opens
from file:// inside the Allure report as it is, and two plots do not justify a dependency the
suite would pin, install and type-check on every CI run.

    svg = Svg(600, 300)
    x, y = linear(60, 50, 550), linear(200, 270, 30)   # seconds and requests/s -> pixels
    svg.y_grid(ticks(200), y, 50, 550)
    svg.polyline([(x(t), y(v)) for t, v in points], "#1f77b4")
    svg.legend(560, 40, [LegendEntry("achieved", "#1f77b4")])
    path.write_text(svg.document())

Coordinates are pixels from the top left; text is escaped here, so callers pass plain strings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple
from xml.sax.saxutils import escape

GRID = "#e5e5e5"
AXIS = "#333"


class LegendEntry(NamedTuple):
    """One key of a legend: a line swatch (dashed if `dash`) or, with `box`, a filled square."""

    name: str
    colour: str
    dash: str = ""
    box: bool = False


def fmt(value: float) -> str:
    """A tick label: fmt(2.0) == "2", fmt(0.5) == "0.5", fmt(20000) == "20k"."""
    return f"{value:g}" if abs(value) < 1e4 else f"{value / 1000:g}k"


def nice_step(span: float, count: int = 5) -> float:
    """A 1, 2 or 5 x 10^n step that cuts `span` into about `count` parts: nice_step(85, 10) == 10."""
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), 10 * magnitude)


def ticks(high: float, count: int = 5) -> list[float]:
    """Tick values from 0 up to `high` at a nice step: ticks(85, 10) == [0, 10, ..., 80]."""
    step = nice_step(high, count)
    return [i * step for i in range(int(high / step + 1e-9) + 1)]


def linear(domain_max: float, start: float, end: float) -> Callable[[float], float]:
    """Map 0 .. domain_max onto start .. end pixels (end < start for a y axis, which grows up)."""
    return lambda value: start + (end - start) * value / domain_max


def _value(value: float | str) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return escape(str(value), {'"': "&quot;"})


def _attrs(attrs: dict[str, float | str]) -> str:
    """`stroke_width=2` -> ` stroke-width="2"`; empty strings are left out (an unset option)."""
    return "".join(f' {k.replace("_", "-")}="{_value(v)}"' for k, v in attrs.items() if v != "")


class Svg:
    """An SVG document being drawn: add elements, then `document()` for the text."""

    def __init__(self, width: int, height: int, font_size: int = 11) -> None:
        self.width, self.height, self.font_size = width, height, font_size
        self.parts: list[str] = []

    def element(self, tag: str, content: str | None = None, /, **attrs: float | str) -> None:
        """Any element; `content` is text (escaped here), None for an empty element."""
        end = "/>" if content is None else f">{escape(content)}</{tag}>"
        self.parts.append(f"<{tag}{_attrs(attrs)}{end}")

    def text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        anchor: str = "",
        size: int | str = "",
        weight: str = "",
        fill: str = "",
        rotate: int = 0,
    ) -> None:
        """Text at (x, y), the baseline's start (anchor "middle"/"end" to centre or right-align)."""
        turn = f"rotate({rotate} {x:.1f} {y:.1f})" if rotate else ""
        style: dict[str, float | str] = {"font_size": size, "text_anchor": anchor, "font_weight": weight}
        self.element("text", s, x=x, y=y, **style, fill=fill, transform=turn)

    def line(
        self, x1: float, y1: float, x2: float, y2: float, colour: str, *, dash: str = "", width: float = 1
    ) -> None:
        self.element(
            "line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=colour, stroke_width=width, stroke_dasharray=dash
        )

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str = "none", stroke: str = "") -> None:
        self.element("rect", x=x, y=y, width=w, height=h, fill=fill, stroke=stroke)

    def polyline(
        self, points: Sequence[tuple[float, float]], colour: str, *, dash: str = "", width: float = 1.6
    ) -> None:
        """A line through `points`; a single point is still drawn, as a dot, and none draws nothing."""
        if len(points) == 1:
            self.element("circle", cx=points[0][0], cy=points[0][1], r=2.5, fill=colour)
        elif points:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            style: dict[str, float | str] = {"stroke_width": width, "stroke_dasharray": dash}
            self.element("polyline", points=coords, fill="none", stroke=colour, **style)

    def steps(
        self, points: Sequence[tuple[float, float]], colour: str, *, width: float = 1.6, end_x: float = -1
    ) -> None:
        """A value held until its next sample (a step line), held on to `end_x` if given (>= 0)."""
        if not points:
            return
        d = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
        for (_, before), (x, y) in itertools.pairwise(points):
            if y != before:
                d.append(f"H{x:.1f} V{y:.1f}")
        d.append(f"H{max(end_x, points[-1][0]):.1f}")
        self.element("path", d=" ".join(d), fill="none", stroke=colour, stroke_width=width)

    def y_grid(
        self,
        values: Iterable[float],
        y_of: Callable[[float], float],
        left: float,
        right: float,
        *,
        label: Callable[[float], str] = fmt,
        colour: str = GRID,
    ) -> None:
        """A horizontal grid line across left .. right at each value, labelled left of `left`."""
        for value in values:
            self.line(left, y_of(value), right, y_of(value), colour)
            self.text(left - 6, y_of(value) + 4, label(value), anchor="end")

    def x_ticks(self, values: Iterable[float], x_of: Callable[[float], float], y: float) -> None:
        """A tick mark down from `y` at each value, labelled under it."""
        for value in values:
            self.line(x_of(value), y, x_of(value), y + 4, AXIS)
            self.text(x_of(value), y + 16, fmt(value), anchor="middle")

    def legend(self, x: float, y: float, entries: Iterable[LegendEntry], *, across: bool = False) -> None:
        """Entries stacked down from (x, y), or side by side with `across`."""
        for entry in entries:
            right = self.legend_entry(x, y, entry)
            x, y = (right + 12, y) if across else (x, y + 16)

    def legend_entry(self, x: float, y: float, entry: LegendEntry) -> float:
        """One key with its swatch centred on y; returns about where its text ends."""
        if entry.box:
            self.rect(x, y - 5, 22, 10, fill=entry.colour)
        else:
            self.line(x, y, x + 22, y, entry.colour, dash=entry.dash, width=2)
        self.text(x + 28, y + 4, entry.name)
        return x + 28 + 6.5 * len(entry.name)

    def document(self) -> str:
        """The whole SVG text, on a white background (a dark report theme would hide the lines)."""
        size = f'width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} {self.height}"'
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" {size} font-family="sans-serif" '
            f'font-size="{self.font_size}">\n<rect width="100%" height="100%" fill="white"/>'
        )
        return "\n".join([head, *self.parts, "</svg>\n"])


__all__ = ["AXIS", "GRID", "LegendEntry", "Svg", "fmt", "linear", "nice_step", "ticks"]
