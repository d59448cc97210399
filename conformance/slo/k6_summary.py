"""k6 end-of-test summaries, read into one model whatever the format.

We run k6 with a ``handleSummary`` that writes its data as JSON (k6/lib/summary.js).
Why not ``--summary-export``: in that file a threshold's boolean means
"crossed" (``"p(95)<500": false`` is a *pass*), an easy trap; the
handleSummary data says ``{"ok": true}`` for a pass, carries the run state
(duration) and the stats requested in ``summaryTrendStats``. Both formats
parse here (someone may hand us an export file), each with its own meaning,
into ``Threshold.passed``. In both, a `rate` metric such as http_req_failed
counts failed requests as ``passes``: read its ``rate``, never ``passes``.

    summary = parse_summary(path.read_text(), origin=str(path))
    summary.threshold("http_req_duration", "p(95)<500")  # True: passed
    summary.value("http_req_duration", "p(95)")          # 12.3 (ms)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import InfraError


class SummaryError(InfraError):
    """The summary is missing or not a k6 summary: the run cannot be judged."""


class SummaryFormat(Enum):
    HANDLE_SUMMARY = "handleSummary"  # thresholds: {"expr": {"ok": passed}}
    SUMMARY_EXPORT = "summary-export"  # thresholds: {"expr": crossed}


@dataclass(frozen=True)
class Threshold:
    metric: str
    expression: str
    passed: bool


@dataclass(frozen=True)
class Summary:
    format: SummaryFormat
    metrics: dict[str, dict[str, float]]  # metric -> stat -> value
    thresholds: tuple[Threshold, ...]
    duration_ms: float | None  # handleSummary only

    def value(self, metric: str, stat: str) -> float | None:
        return self.metrics.get(metric, {}).get(stat)

    def threshold(self, metric: str, expression: str) -> bool | None:
        """True = passed, False = failed, None = no such threshold."""
        for t in self.thresholds:
            if t.metric == metric and t.expression == expression:
                return t.passed
        return None

    @property
    def failed(self) -> list[Threshold]:
        return [t for t in self.thresholds if not t.passed]


def _detect(metrics: dict[str, Any], origin: str) -> SummaryFormat:
    kinds = {"values" in m for m in metrics.values() if isinstance(m, dict)}
    if kinds == {True}:
        return SummaryFormat.HANDLE_SUMMARY
    if kinds == {False}:
        return SummaryFormat.SUMMARY_EXPORT
    raise SummaryError(f"{origin}: metrics mix the handleSummary and --summary-export layouts")


def parse_summary(text: str, origin: str = "k6 summary") -> Summary:
    """Parse handleSummary JSON or a --summary-export file. Raises SummaryError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SummaryError(f"{origin}: not JSON ({err.msg} at line {err.lineno})") from None
    metrics_raw = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics_raw, dict) or not metrics_raw:
        raise SummaryError(f"{origin}: no `metrics` object: not a k6 summary")
    fmt = _detect(metrics_raw, origin)
    metrics: dict[str, dict[str, float]] = {}
    thresholds = []
    for name, m in metrics_raw.items():
        if not isinstance(m, dict):
            raise SummaryError(f"{origin}: metric {name} is not an object")
        values = m.get("values", {}) if fmt is SummaryFormat.HANDLE_SUMMARY else m
        stats = {
            k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if fmt is SummaryFormat.SUMMARY_EXPORT and {"passes", "fails", "value"} <= stats.keys():
            stats["rate"] = stats["value"]  # the export names a rate metric's rate `value`
        metrics[name] = stats
        for expr, verdict in (m.get("thresholds") or {}).items():
            if fmt is SummaryFormat.HANDLE_SUMMARY:
                if not (isinstance(verdict, dict) and isinstance(verdict.get("ok"), bool)):
                    raise SummaryError(
                        f"{origin}: threshold {name} {expr}: expected {{'ok': bool}}, got {verdict!r}"
                    )
                passed = verdict["ok"]
            else:
                if not isinstance(verdict, bool):
                    raise SummaryError(
                        f"{origin}: threshold {name} {expr}: expected a boolean, got {verdict!r}"
                    )
                passed = not verdict  # --summary-export: true means the threshold was crossed
            thresholds.append(Threshold(name, expr, passed))
    duration = None
    state = data.get("state")
    if isinstance(state, dict) and isinstance(state.get("testRunDurationMs"), int | float):
        duration = float(state["testRunDurationMs"])
    return Summary(fmt, metrics, tuple(thresholds), duration)


__all__ = ["Summary", "SummaryError", "SummaryFormat", "Threshold", "parse_summary"]
