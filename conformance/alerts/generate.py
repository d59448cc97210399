"""promtool unit tests generated from policy.yaml for every SLO alert (never hand-written).

An SLO alert is an alerting rule labelled `slo: <key>` (see rule slo-alert-thresholds). For
each one the generator writes synthetic series of the metrics the services export
(policy.yaml observability.metrics) and four promtool test groups:

  firing    the SLO quantity just above the policy threshold for longer than alert_for:
            the alert fires, with severity (policy) and slo labels, for the breaching
            service only (a neighbour service just below it stays quiet)
  silent    just below the threshold the whole time: the alert is never even pending
  pending   above it for less than alert_for: pending, not firing
  recorded  the alert's left-hand side (a recording rule, typically) equals the quantity
            computed from the synthetic series

The threshold, `for` and severity come from policy.yaml, never from the rule, so a raised
threshold, a longer `for:` or a broken label matcher in the rules fails a case that names
the alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..policy import Observability, Policy
from ..rules.observability import _THRESHOLD, ALERT_KEYS, threshold
from .promtool import inspect
from .rulefiles import Rule, RuleFile

STEP_S = 15  # sample and evaluation interval of the synthetic series (a common scrape interval)
MARGIN_STEPS = 2  # pending is checked this many steps before `for` elapses, firing this many after
NEAR = 0.02  # "just above/below": 2 % beyond the threshold
TOLERANCE = 1e-6  # relative, for recorded values (floating-point rates)
CASES = ("firing", "silent", "pending", "recorded")
_QUANTILE = re.compile(r"^latency_p(\d+)_ms$")


@dataclass(frozen=True)
class Quantity:
    """What an SLO key measures, and over which labels an alert on it is scoped."""

    kind: str  # "rate" (requests/s at the entry service), "ratio" (5xx share), "quantile"
    scope: tuple[str, ...]  # labels that identify one alert ((): one for the platform)
    q: float = 0.0  # for quantiles


def quantity(key: str) -> Quantity | None:
    if key == "alert_request_rate_rps":
        return Quantity("rate", ())
    if key == "error_rate":
        return Quantity("ratio", ("namespace", "service"))
    match = _QUANTILE.match(key)
    if match:
        return Quantity("quantile", ("namespace", "service"), int(match.group(1)) / 100)
    return None


@dataclass(frozen=True)
class SloAlert:
    rule: Rule
    key: str

    @property
    def name(self) -> str:
        return self.rule.name


@dataclass
class Case:
    """One generated test: a promtool test group, or why it cannot be generated."""

    alert: SloAlert
    case: str
    test_name: str
    proves: str
    skip: str | None = None  # reason it does not apply
    group: dict[str, Any] = field(default_factory=dict)


def slo_alerts(files: Iterable[RuleFile]) -> list[SloAlert]:
    found = []
    for f in files:
        for rule in f.rules():
            key = (rule.body.get("labels") or {}).get("slo")
            if "alert" in rule.body and key in ALERT_KEYS:
                found.append(SloAlert(rule, str(key)))
    return found


def _fmt(v: float) -> str:
    return repr(float(v))


def _sel(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _counter(name: str, labels: dict[str, str], per_s: float, steps: int) -> dict[str, str]:
    """A counter from 0 growing `per_s` per second, one sample per STEP_S."""
    return {"series": _sel(name, labels), "values": f"0+{_fmt(per_s * STEP_S)}x{steps}"}


@dataclass(frozen=True)
class Traffic:
    """Synthetic traffic of one service: rate, 5xx share, and the latency bucket all requests fall in."""

    service: str
    rps: float
    errors: float = 0.0
    latency: tuple[float, float] | None = None  # (lower, upper] bucket of every request


class Generator:
    """Builds the cases of every SLO alert from the policy and the rule files."""

    def __init__(self, policy: Policy, files: list[RuleFile]) -> None:
        self.policy = policy
        self.obs: Observability | None = policy.observability
        self.files = files
        entry = policy.entry_service
        names = list(policy.services)
        self.breaching = entry.name if entry else (names[0] if names else "service")
        others = [n for n in names if n != self.breaching]
        self.neighbour = others[0] if others else None
        self._windows = self._recorded_windows()

    def _recorded_windows(self) -> dict[str, float]:
        """Longest range window behind each recorded series, through the rules it reads."""
        records = [r for f in self.files for r in f.rules() if "record" in r.body]
        parsed = inspect([r.expr for r in records])
        direct = {
            r.name: (p.metrics, max(p.ranges_s, default=0.0)) for r, p in zip(records, parsed, strict=True)
        }
        memo: dict[str, float] = {}

        def window(name: str, seen: frozenset[str]) -> float:
            if name not in direct or name in seen:
                return 0.0
            if name not in memo:
                metrics, own = direct[name]
                memo[name] = max([own, *(window(m, seen | {name}) for m in metrics)])
            return memo[name]

        return {name: window(name, frozenset()) for name in direct}

    def labels(self, service: str) -> dict[str, str]:
        # What Prometheus adds from a ServiceMonitor target: namespace, service, pod.
        return {"namespace": self.policy.namespace or "default", "service": service, "pod": f"{service}-0"}

    def series(self, traffic: Iterable[Traffic], steps: int) -> list[dict[str, str]]:
        assert self.obs is not None
        out = []
        for t in traffic:
            base = self.labels(t.service)
            out.append(
                _counter(self.obs.requests_metric, {**base, "code": "200"}, t.rps * (1 - t.errors), steps)
            )
            if t.errors:
                out.append(
                    _counter(self.obs.requests_metric, {**base, "code": "500"}, t.rps * t.errors, steps)
                )
            if t.latency:
                lo, hi = t.latency
                # Cumulative buckets: nothing at or below `lo`, every request at or below `hi`.
                for le, share in ((lo, 0.0), (hi, 1.0), (float("inf"), 1.0)):
                    le_text = "+Inf" if le == float("inf") else _fmt(le)
                    bucket = {**base, "le": le_text}
                    out.append(_counter(f"{self.obs.latency_metric}_bucket", bucket, t.rps * share, steps))
                out.append(_counter(f"{self.obs.latency_metric}_count", base, t.rps, steps))
                out.append(_counter(f"{self.obs.latency_metric}_sum", base, t.rps * hi, steps))
        return out

    def cases(self) -> list[Case]:
        return [case for alert in slo_alerts(self.files) for case in self.alert_cases(alert)]

    def alert_cases(self, alert: SloAlert) -> list[Case]:
        names = {c: f"{alert.name} {c} [{alert.rule.obj.ref} {alert.rule.group}]" for c in CASES}
        what = quantity(alert.key)
        reason = None
        if self.obs is None:
            reason = "policy.yaml has no observability section (metric names, alert_for, severities)"
        elif what is None:
            reason = f"no synthetic-traffic model for slo key {alert.key!r}"
        elif alert.key not in self.obs.alert_severity:
            reason = f"policy.yaml observability.alert_severity names no severity for {alert.key}"
        if reason or what is None or self.obs is None:
            return [Case(alert, c, names[c], "", skip=reason) for c in CASES]
        return _Builder(self, alert, what, self.obs, names).build()


class _Builder:
    """The four cases of one alert (a class only to share the figures between them)."""

    def __init__(
        self, gen: Generator, alert: SloAlert, what: Quantity, obs: Observability, names: dict[str, str]
    ) -> None:
        self.gen, self.alert, self.what, self.obs, self.names = gen, alert, what, obs, names
        self.thr = threshold(gen.policy, alert.key)
        self.for_s = obs.alert_for_s
        lhs = (
            _THRESHOLD.sub("", alert.rule.expr.strip())
            if _THRESHOLD.search(alert.rule.expr.strip())
            else None
        )
        self.lhs = lhs.strip() if lhs else None
        # When the alert condition first holds: a ratio or quantile is exact as soon as two
        # samples are in its windows; an absolute rate only once its window is full.
        window = max([gen._windows.get(m, 0.0) for m in self._lhs_metrics()] + [0.0])
        self.active_s = float(STEP_S) if what.kind != "rate" else max(window, float(STEP_S))
        self.pending_at = self.active_s + self.for_s - MARGIN_STEPS * STEP_S
        self.firing_at = self.active_s + self.for_s + MARGIN_STEPS * STEP_S
        self.steps = int(self.firing_at // STEP_S) + 1

    def _lhs_metrics(self) -> tuple[str, ...]:
        if self.lhs is None:
            return ()
        (parsed,) = inspect([self.alert.rule.expr])
        return parsed.metrics

    def level(self, above: bool) -> float:
        return self.thr * (1 + NEAR if above else 1 - NEAR)

    def traffic(self, above: bool) -> list[Traffic]:
        """The breaching service at the case's level; a neighbour just below (or at the entry-only rate)."""
        kind, gen = self.what.kind, self.gen
        out = []
        for service, hot in ((gen.breaching, above), (gen.neighbour, kind == "rate")):
            if service is None:
                continue
            if kind == "rate":
                # Only the entry service counts: a neighbour as busy must not add to it.
                out.append(Traffic(service, self.level(hot)))
            elif kind == "ratio":
                out.append(Traffic(service, 100.0, errors=self.level(hot)))
            else:
                t = self.thr
                bucket = (t, t * (1 + NEAR)) if hot else (t * (1 - NEAR), t)
                out.append(Traffic(service, 100.0, latency=bucket))
        return out

    def measured(self, traffic: Traffic) -> float:
        """The SLO quantity of synthetic traffic, as Prometheus computes it."""
        if self.what.kind == "rate":
            return traffic.rps
        if self.what.kind == "ratio":
            return traffic.errors
        assert traffic.latency is not None
        lo, hi = traffic.latency  # histogram_quantile interpolates linearly inside the bucket
        return lo + (hi - lo) * self.what.q

    def alert_labels(self, state: str) -> str:
        labels = {"alertname": self.alert.name, "alertstate": state}
        labels["severity"] = self.obs.alert_severity[self.alert.key]
        labels["slo"] = self.alert.key
        for name in self.what.scope:
            labels[name] = self.gen.labels(self.gen.breaching)[name]
        return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"

    def alerts_selector(self) -> str:
        return f'ALERTS{{alertname="{self.alert.name}"}}'

    def alerts_expr(self) -> str:
        by = ", ".join(["alertname", "alertstate", "severity", "slo", *self.what.scope])
        return f"count by ({by}) ({self.alerts_selector()})"

    def group(self, case: str, above: bool, tests: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": self.names[case],
            "interval": f"{STEP_S}s",
            "input_series": self.gen.series(self.traffic(above), self.steps),
            "promql_expr_test": tests,
        }

    def build(self) -> list[Case]:
        a, thr, unit = self.alert, self.thr, _unit(self.alert.key)
        up, down = self.level(True), self.level(False)
        scope = f"service {self.gen.breaching}" if self.what.scope else "the platform"
        hold = f"for {_dur(self.firing_at)} ({_dur(self.for_s)} alert_for + {_dur(self.active_s)} to measure)"
        cases = [
            Case(
                a,
                "firing",
                self.names["firing"],
                f"{a.key} {_v(up, unit)} (> {_v(thr, unit)}) at {scope} {hold} -> firing, "
                f"labels {self.alert_labels('firing')}",
                group=self.group(
                    "firing",
                    True,
                    [
                        {
                            "expr": self.alerts_expr(),
                            "eval_time": f"{int(self.firing_at)}s",
                            "exp_samples": [{"labels": self.alert_labels("firing"), "value": 1}],
                        },
                    ],
                ),
            ),
            Case(
                a,
                "silent",
                self.names["silent"],
                f"{a.key} {_v(down, unit)} (< {_v(thr, unit)}) at {scope} for {_dur(self.firing_at)} -> "
                "never pending or firing",
                group=self.group(
                    "silent",
                    False,
                    [
                        {
                            "expr": f"count_over_time({self.alerts_selector()}[{int(self.firing_at)}s])",
                            "eval_time": f"{int(self.firing_at)}s",
                            "exp_samples": [],
                        },
                    ],
                ),
            ),
            Case(
                a,
                "pending",
                self.names["pending"],
                f"{a.key} {_v(up, unit)} for {_dur(self.pending_at)} (< {_dur(self.active_s)} + "
                f"{_dur(self.for_s)} alert_for) -> pending, not firing",
                group=self.group(
                    "pending",
                    True,
                    [
                        {
                            "expr": self.alerts_expr(),
                            "eval_time": f"{int(self.pending_at)}s",
                            "exp_samples": [{"labels": self.alert_labels("pending"), "value": 1}],
                        },
                    ],
                ),
            ),
        ]
        cases.append(self.recorded())
        return cases

    def recorded(self) -> Case:
        a, unit = self.alert, _unit(self.alert.key)
        name = self.names["recorded"]
        if self.lhs is None:
            return Case(
                a, "recorded", name, "", skip="the alert expression does not end with `> <threshold>`"
            )
        tests, figures = [], []
        for t in self.traffic(True):
            if self.what.kind == "rate" and t.service != self.gen.breaching:
                continue
            value = self.measured(t)
            lhs = f"({self.lhs})"
            if self.what.scope:
                lhs = f'({lhs} and on (service) label_replace(vector(1), "service", "{t.service}", "", ""))'
            lo, hi = value * (1 - TOLERANCE), value * (1 + TOLERANCE)
            by = ", ".join(self.what.scope)
            expr = f"sum by ({by}) (({lhs} > bool {_fmt(lo)}) * ({lhs} < bool {_fmt(hi)}))"
            labels = {k: self.gen.labels(t.service)[k] for k in self.what.scope}
            tests.append(
                {
                    "expr": expr,
                    "eval_time": f"{int(self.firing_at)}s",
                    "exp_samples": [
                        {"labels": "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": 1}
                    ],
                }
            )
            figures.append(f"{t.service if self.what.scope else 'platform'} {_v(value, unit)}")
        return Case(
            a,
            "recorded",
            name,
            f"`{self.lhs}` on the synthetic series equals {', '.join(figures)} (within {TOLERANCE:g})",
            group=self.group("recorded", True, tests),
        )


def _unit(key: str) -> str:
    return "s" if key.endswith("_ms") else ("/s" if key.endswith("_rps") else "")


def _v(value: float, unit: str) -> str:
    return f"{value:.6g}{' ' + unit if unit else ''}"


def _dur(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def write_tests(cases: list[Case], files: list[RuleFile], folder: Path) -> list[Path]:
    """One promtool test file per alert; rule files in their order (groups evaluated as written)."""
    by_alert: dict[int, list[Case]] = {}
    for case in cases:
        if case.skip is None:
            by_alert.setdefault(id(case.alert), []).append(case)
    order: list[str] = []
    for f in files:
        for g in f.groups:
            name = str(g.get("name", "")) if isinstance(g, dict) else ""
            if name and name not in order:
                order.append(name)
    paths = []
    for i, group_cases in enumerate(by_alert.values()):
        path = folder / f"{i:03d}-{group_cases[0].alert.name}.test.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "rule_files": [str(f.path) for f in files],
                    "evaluation_interval": f"{STEP_S}s",
                    "group_eval_order": order,
                    "tests": [c.group for c in group_cases],
                },
                sort_keys=False,
                width=10_000,
            )
        )
        paths.append(path)
    return paths
