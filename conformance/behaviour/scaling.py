"""HPA behaviour: the replica timeline, the policy it must obey, and its plot.

The policy semantics are the HPA's documented ones: within any period, the
replica count may move from the count at the start of that period by at most
what the policies allow (Percent: ceil(n * (1 + p)) up, int(n * (1 - p)) down;
Pods: n +/- v; selectPolicy Max takes the most permissive policy, Min the least,
Disabled none), never outside [minReplicas, maxReplicas], and a scale-down only
after the scale-down stabilization window. The controller itself is at least as
strict (it also counts scale-ups of the period), so a timeline that breaks these
rules is a real violation.

    spec = HpaSpec.from_body(hpa)
    problems = check_scale_down(timeline, spec, tolerance_s=2.0)   # [] when it obeyed

Timestamps are when the suite saw a change (polled), so every check allows
`tolerance_s` of slack in the direction that cannot produce a false failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..svg import LegendEntry, Svg, linear, ticks

# The API's defaults for an HPA without behavior (autoscaling/v2).
_DEFAULT_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_DEFAULT_DOWN = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


@dataclass(frozen=True)
class ScalingPolicy:
    """One HPAScalingPolicy. Example: ScalingPolicy("Percent", 10, 60).propose(3, up=False) == 2"""

    kind: str  # Percent | Pods
    value: int
    period_s: int

    def propose(self, base: int, up: bool) -> int:
        # Same float64 arithmetic as the controller (horizontal.go), so rounding agrees.
        if self.kind == "Pods":
            return base + self.value if up else base - self.value
        if up:
            return math.ceil(float(base) * (1 + float(self.value) / 100))
        return int(float(base) * (1 - float(self.value) / 100))

    def describe(self, up: bool) -> str:
        amount = f"{self.value} %" if self.kind == "Percent" else f"{self.value} pods"
        return f"{'+' if up else '-'}{amount} per {self.period_s} s"


@dataclass(frozen=True)
class ScalingRules:
    """One direction of an HPA's behavior."""

    policies: tuple[ScalingPolicy, ...]
    select: str  # Max | Min | Disabled
    window_s: int

    @classmethod
    def from_body(cls, body: Mapping[str, Any] | None, default: Mapping[str, Any]) -> ScalingRules:
        body = body or {}
        raw = body.get("policies") or default["policies"]
        policies = tuple(ScalingPolicy(str(p["type"]), int(p["value"]), int(p["periodSeconds"])) for p in raw)
        window = body.get("stabilizationWindowSeconds", default["stabilizationWindowSeconds"])
        return cls(policies, str(body.get("selectPolicy") or "Max"), int(window))

    def limit(self, bases: Mapping[int, int], up: bool) -> int:
        """The furthest count allowed, given the count at the start of each policy's period."""
        proposals = [p.propose(bases[p.period_s], up) for p in self.policies]
        if self.select == "Disabled" or not proposals:
            return bases[max(bases)] if bases else 0
        most = max if up else min
        least = min if up else max
        return (most if self.select == "Max" else least)(proposals)

    def describe(self, up: bool) -> str:
        rules = " or ".join(p.describe(up) for p in self.policies)
        return f"{rules} (selectPolicy {self.select}, window {self.window_s} s)"


@dataclass(frozen=True)
class HpaSpec:
    """What the checks need from an HPA (API defaults filled in). Example: HpaSpec.from_body(hpa)."""

    name: str
    min_replicas: int
    max_replicas: int
    up: ScalingRules
    down: ScalingRules
    cpu_target_percent: int | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> HpaSpec:
        spec = body.get("spec") or {}
        behavior = spec.get("behavior") or {}
        target = None
        for metric in spec.get("metrics") or []:
            res = metric.get("resource") or {}
            if metric.get("type") == "Resource" and res.get("name") == "cpu":
                target = (res.get("target") or {}).get("averageUtilization")
        return cls(
            name=str((body.get("metadata") or {}).get("name", "")),
            min_replicas=int(spec.get("minReplicas", 1)),
            max_replicas=int(spec["maxReplicas"]),
            up=ScalingRules.from_body(behavior.get("scaleUp"), _DEFAULT_UP),
            down=ScalingRules.from_body(behavior.get("scaleDown"), _DEFAULT_DOWN),
            cpu_target_percent=int(target) if target is not None else None,
        )

    def steps(self, start: int, end: int, up: bool) -> int | None:
        """Policy steps from start to end when each step goes as far as allowed (None: never)."""
        rules = self.up if up else self.down
        count, current = 0, start
        while (current < end) if up else (current > end):
            nxt = rules.limit({p.period_s: current for p in rules.policies}, up)
            nxt = min(nxt, end) if up else max(nxt, end)
            if nxt == current:
                return None
            current, count = nxt, count + 1
        return count


@dataclass(frozen=True)
class Rate:
    """One direction of an HPA policy as policy.yaml states it: Rate(10, 60, 300) = 10 % per 60 s,
    after a 300 s stabilization window (None: the policy does not set a window)."""

    percent: int
    period_s: int
    window_s: int | None = None

    def rules(self, fallback_window_s: int) -> ScalingRules:
        window = self.window_s if self.window_s is not None else fallback_window_s
        return ScalingRules((ScalingPolicy("Percent", self.percent, self.period_s),), "Max", window)


def intended(
    rendered: HpaSpec, up: Rate | None, down: Rate | None, bounds: tuple[int, int] | None
) -> tuple[HpaSpec, list[str]]:
    """The spec a timeline is judged against — the policy's rates, windows and bounds where it sets
    them, the rendered HPA's own values elsewhere — and how the rendered HPA drifts from it.

    >>> spec, drift = intended(rendered, Rate(100, 15, 0), Rate(10, 15, 15), (1, 3))
    """
    spec = HpaSpec(
        name=rendered.name,
        min_replicas=bounds[0] if bounds else rendered.min_replicas,
        max_replicas=bounds[1] if bounds else rendered.max_replicas,
        up=up.rules(rendered.up.window_s) if up else rendered.up,
        down=down.rules(rendered.down.window_s) if down else rendered.down,
        cpu_target_percent=rendered.cpu_target_percent,
    )
    drift = []
    for name, mine, theirs, is_up in (
        ("scaleUp", rendered.up, spec.up, True),
        ("scaleDown", rendered.down, spec.down, False),
    ):
        if mine != theirs:
            drift.append(f"{name}: the HPA says {mine.describe(is_up)}, the policy {theirs.describe(is_up)}")
    if (rendered.min_replicas, rendered.max_replicas) != (spec.min_replicas, spec.max_replicas):
        drift.append(
            f"bounds: the HPA says {rendered.min_replicas}-{rendered.max_replicas}, "
            f"the policy {spec.min_replicas}-{spec.max_replicas}"
        )
    return spec, drift


def drift_in(drift: Sequence[str], *aspects: str) -> list[str]:
    """The lines of `drift` (as intended() words them) about `aspects`: scaleUp, scaleDown, bounds.

    >>> drift_in(["scaleUp: the HPA says ...", "bounds: the HPA says 1-2, ..."], "bounds")
    ['bounds: the HPA says 1-2, ...']
    """
    return [line for line in drift if line.split(":", 1)[0] in aspects]


def compressed(spec: HpaSpec, k: int) -> HpaSpec:
    """`spec` with its scale-down periodSeconds divided by k (as compress_scale_down does to a body)."""
    if k == 1:
        return spec
    policies = tuple(
        ScalingPolicy(p.kind, p.value, max(1, math.ceil(p.period_s / k))) for p in spec.down.policies
    )
    down = ScalingRules(policies, spec.down.select, spec.down.window_s)
    return HpaSpec(spec.name, spec.min_replicas, spec.max_replicas, spec.up, down, spec.cpu_target_percent)


@dataclass(frozen=True)
class Sample:
    """One observation of the scale target and its HPA."""

    t: float  # seconds since the timeline began
    replicas: int  # the scale target's spec.replicas (what the HPA set)
    utilization: int | None = None  # HPA status: average CPU utilization, %
    limited: str = ""  # reason of ScalingLimited=True (ScaleUpLimit, ScaleDownLimit, TooManyReplicas, ...)


@dataclass(frozen=True)
class Change:
    """A replica count change as observed: Change(t=10.0, before=1, after=2)."""

    t: float
    before: int
    after: int


@dataclass
class Timeline:
    """Replica samples plus the moments the scenario acted ("raise", "max", "lower", "min")."""

    samples: list[Sample] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def replicas_at(self, t: float) -> int:
        current = self.samples[0].replicas
        for s in self.samples:
            if s.t > t:
                break
            current = s.replicas
        return current

    def values_during(self, t0: float, t1: float) -> list[int]:
        """Every replica count in effect at some moment of [t0, t1]."""
        values = [self.replicas_at(t0)]
        values += [s.replicas for s in self.samples if t0 < s.t <= t1]
        return values

    def changes(self) -> list[Change]:
        out = []
        for prev, cur in zip(self.samples, self.samples[1:], strict=False):
            if cur.replicas != prev.replicas:
                out.append(Change(cur.t, prev.replicas, cur.replicas))
        return out

    def render(self) -> str:
        """The timeline as text: marks and every change."""
        events = [(t, f"{name}") for name, t in self.marks.items()]
        events += [(c.t, f"replicas {c.before} -> {c.after}") for c in self.changes()]
        start = self.samples[0].replicas if self.samples else "?"
        lines = [f"t=   0.0 s  replicas {start}"]
        lines += [f"t={t:6.1f} s  {text}" for t, text in sorted(events)]
        return "\n".join(lines)


def _bases(tl: Timeline, t: float, rules: ScalingRules, tolerance_s: float, up: bool) -> dict[int, int]:
    """Count at the start of each policy period, read leniently: up takes the highest count
    seen around that moment, down the lowest (either only widens the allowed range)."""
    out = {}
    for p in rules.policies:
        values = tl.values_during(t - p.period_s - tolerance_s, t - p.period_s + tolerance_s)
        out[p.period_s] = max(values) if up else min(values)
    return out


def check_bounds(tl: Timeline, spec: HpaSpec) -> list[str]:
    """Replicas never below minReplicas nor above maxReplicas ([] when they stayed inside)."""
    out = []
    for s in tl.samples:
        if s.replicas < spec.min_replicas:
            out.append(f"at t={s.t:.1f} s replicas {s.replicas} are below minReplicas {spec.min_replicas}")
            break
    for s in tl.samples:
        if s.replicas > spec.max_replicas:
            out.append(f"at t={s.t:.1f} s replicas {s.replicas} are above maxReplicas {spec.max_replicas}")
            break
    return out


def check_scale_up(tl: Timeline, spec: HpaSpec, expected_max: int, tolerance_s: float = 2.0) -> list[str]:
    """Every increase within scaleUp; no decrease while usage was high; `expected_max` reached."""
    out = []
    raised = tl.marks.get("raise", 0.0)
    lowered = tl.marks.get("lower", math.inf)
    for c in tl.changes():
        if c.after > c.before:
            limit = spec.up.limit(_bases(tl, c.t, spec.up, tolerance_s, up=True), up=True)
            if c.after > limit:
                out.append(
                    f"at t={c.t:.1f} s replicas went {c.before} -> {c.after}, but scaleUp allows at most "
                    f"{limit} ({spec.up.describe(True)})"
                )
            if c.t < raised + spec.up.window_s - tolerance_s:
                out.append(
                    f"at t={c.t:.1f} s replicas went {c.before} -> {c.after}, {c.t - raised:.1f} s after "
                    f"usage was raised; the scale-up stabilization window is {spec.up.window_s} s"
                )
        elif raised <= c.t < lowered:
            out.append(
                f"at t={c.t:.1f} s replicas went {c.before} -> {c.after} while usage was still above target"
            )
    during = [s.replicas for s in tl.samples if raised <= s.t < lowered] or [s.replicas for s in tl.samples]
    peak = max(during)
    if peak < expected_max:
        why = f" (the HPA's maxReplicas is {spec.max_replicas})" if spec.max_replicas < expected_max else ""
        out.append(f"replicas peaked at {peak} under load but {expected_max} were expected{why}")
    elif peak > expected_max:
        out.append(f"replicas reached {peak} under load, above the expected maximum {expected_max}")
    return out + check_bounds(tl, spec)


def check_scale_down(
    tl: Timeline, spec: HpaSpec, expected_min: int | None = None, tolerance_s: float = 2.0
) -> list[str]:
    """Every decrease within scaleDown, none before the stabilization window, ends at minReplicas."""
    out = []
    lowered = tl.marks.get("lower")
    if lowered is None:
        return ["usage was never lowered: no scale-down to judge"]
    downs = [c for c in tl.changes() if c.after < c.before and c.t >= lowered]
    if downs and downs[0].t < lowered + spec.down.window_s - tolerance_s:
        first = downs[0]
        out.append(
            f"at t={first.t:.1f} s replicas went {first.before} -> {first.after}, "
            f"{first.t - lowered:.1f} s after usage was lowered; the scale-down stabilization window is "
            f"{spec.down.window_s} s"
        )
    for c in downs:
        limit = spec.down.limit(_bases(tl, c.t, spec.down, tolerance_s, up=False), up=False)
        if c.after < limit:
            out.append(
                f"at t={c.t:.1f} s replicas went {c.before} -> {c.after}, but scaleDown allows no fewer "
                f"than {limit} ({spec.down.describe(False)})"
            )
    want = spec.min_replicas if expected_min is None else expected_min
    end = tl.samples[-1].replicas if tl.samples else None
    if end != want:
        source = (
            "minReplicas" if expected_min is None else f"expected minimum; minReplicas {spec.min_replicas}"
        )
        out.append(f"replicas ended at {end} after usage was lowered, expected {want} ({source})")
    return out + check_bounds(tl, spec)


# -- scale-down budget --------------------------------------------------------------------


def projected_scale_down_s(spec: HpaSpec, lag_s: float, sync_s: float) -> float:
    """Seconds from lowering usage (after holding at max long enough for the first step to be
    bound by the policy) until minReplicas, if every step comes as early as the policy allows."""
    steps = spec.steps(spec.max_replicas, spec.min_replicas, up=False)
    if steps is None:
        return math.inf
    period = max(p.period_s for p in spec.down.policies)
    return max(period, spec.down.window_s) + lag_s + max(0, steps - 1) * (period + sync_s)


def compress_scale_down(
    body: Mapping[str, Any], budget_s: float, lag_s: float, sync_s: float
) -> tuple[dict[str, Any], int]:
    """A copy of the HPA whose scale-down periodSeconds are divided by the smallest integer k that
    makes the projected scale-down fit `budget_s`; k == 1 means unchanged. Percent/Pods values,
    selectPolicy, windows, bounds, metrics and scale-up stay as rendered."""
    import copy

    for k in range(1, 61):
        out = copy.deepcopy(dict(body))
        policies = (((out.get("spec") or {}).get("behavior") or {}).get("scaleDown") or {}).get(
            "policies"
        ) or []
        for policy in policies:
            policy["periodSeconds"] = max(1, math.ceil(int(policy["periodSeconds"]) / k))
        if projected_scale_down_s(HpaSpec.from_body(out), lag_s, sync_s) <= budget_s:
            return out, k
    return copy.deepcopy(dict(body)), 1


# -- plot -----------------------------------------------------------------------------------

_W, _H, _L, _R, _T, _B = 860, 420, 60, 150, 56, 76
_PLOT_RIGHT, _PLOT_BOTTOM = _W - _R, _H - _B
_REPLICAS, _CPU, _WINDOW = "#2ca02c", "#ff7f0e", "#fde9c8"
_MARKS = {"raise": "#d62728", "lower": "#1f77b4"}  # other marks grey
_LEGEND = (
    LegendEntry("replicas", _REPLICAS),
    LegendEntry("CPU utilization (% of request)", _CPU),
    LegendEntry("scale-down stabilization window", _WINDOW, box=True),
)


def render_svg(tl: Timeline, spec: HpaSpec, title: str, subtitle: str = "") -> str:
    """Replicas over time as a step line, with minReplicas/maxReplicas, the moments usage was
    raised and lowered, the scale-down stabilization window, and CPU utilization (right axis)."""
    if not tl.samples:
        empty = Svg(_W, 80)
        empty.text(10, 40, f"{title}: no samples")
        return empty.document()
    svg = Svg(_W, _H)
    svg.text(_L, 22, title, size=14, weight="bold")
    svg.text(_L, 40, subtitle, fill="#555")
    t_end = max(tl.samples[-1].t, *tl.marks.values(), 1.0)
    top = max(spec.max_replicas, *(s.replicas for s in tl.samples)) + 1
    x, y = linear(t_end, _L, _PLOT_RIGHT), linear(top, _PLOT_BOTTOM, _T)
    lowered = tl.marks.get("lower")
    if lowered is not None:
        window_end = x(min(lowered + spec.down.window_s, t_end))
        svg.rect(x(lowered), _T, window_end - x(lowered), _PLOT_BOTTOM - _T, fill=_WINDOW)
    svg.y_grid(range(top + 1), y, _L, _PLOT_RIGHT, label=lambda r: f"{r:g}", colour="#eee")
    svg.x_ticks(ticks(t_end, 10), x, _PLOT_BOTTOM)
    svg.text((_L + _PLOT_RIGHT) / 2, _PLOT_BOTTOM + 32, "seconds", anchor="middle")
    for value, name in ((spec.min_replicas, "minReplicas"), (spec.max_replicas, "maxReplicas")):
        svg.line(_L, y(value), _PLOT_RIGHT, y(value), "#888", dash="6,4")
        svg.text(_PLOT_RIGHT + 4, y(value) + 4, f"{name} {value}")
    for name, t in sorted(tl.marks.items(), key=lambda kv: kv[1]):
        svg.line(x(t), _T, x(t), _PLOT_BOTTOM, _MARKS.get(name, "#999"), dash="3,3")
        svg.text(x(t) + 3, _T + 12, name, fill=_MARKS.get(name, "#999"))
    _cpu(svg, tl, spec, x)
    svg.steps([(x(s.t), y(s.replicas)) for s in tl.samples], _REPLICAS, width=2.5, end_x=x(t_end))
    svg.legend(_L, _H - 15, _LEGEND, across=True)
    return svg.document()


def _cpu(svg: Svg, tl: Timeline, spec: HpaSpec, x: Callable[[float], float]) -> None:
    """CPU utilization on its own scale (0 .. the highest of samples, target and 100 %)."""
    utils = [(s.t, s.utilization) for s in tl.samples if s.utilization is not None]
    if not utils:
        return
    util_top = max([u for _, u in utils] + [spec.cpu_target_percent or 0, 100])
    y = linear(util_top, _PLOT_BOTTOM, _T)
    svg.polyline([(x(t), y(u)) for t, u in utils], _CPU, width=1)
    if spec.cpu_target_percent:
        target = y(spec.cpu_target_percent)
        svg.line(_L, target, _PLOT_RIGHT, target, _CPU, dash="2,4")
    svg.text(_PLOT_RIGHT + 4, _PLOT_BOTTOM - 4, f"CPU % (0-{util_top})", fill=_CPU)


def summarize(changes: Sequence[Change]) -> str:
    """summarize([Change(10.0, 1, 2)]) == "1->2 at 10.0 s"."""
    return ", ".join(f"{c.before}->{c.after} at {c.t:.1f} s" for c in changes) or "no change"
