"""Live alert proof for the SLO tier: the platform's own SLO alerts, on a real Prometheus.

    live = LiveAlerts.start(policy, manifests, profile, workdir, target_url)  # once the target is scraped
    ...k6 run...
    live.active_between(t0, t1)            # {alertname: {"pending", "firing"}} seen in that window
    live.requests_between(t0, t1)          # requests Prometheus counted in it (what it saw of the run)
    live.wait_firing("TartwareHighLatencyP95", timeout_s=20)
    live.plot(t0, t1, title)               # the recorded SLO series as an SVG (plot.render_svg)
    live.stop()

The rules come from the inventory of `manifests` rendered for `profile` (every PrometheusRule),
scaled by prometheus.TIME_SCALE; SLO alerts are those labelled `slo: <policy key>`.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..alerts.generate import SloAlert, slo_alerts
from ..alerts.rulefiles import RuleFile, prometheus_rules, write_rule_files
from ..cluster.wait import Poll, WaitTimeout, wait_until
from ..errors import InfraError
from ..inventory.build import build_inventory
from ..policy import Policy
from ..rules.observability import _THRESHOLD, threshold
from .evaluate import RunOptions, run_scenario
from .launcher import ReferenceTarget
from .plot import render_svg
from .prometheus import (
    EVALUATION_INTERVAL_S,
    SCRAPE_INTERVAL_S,
    TIME_SCALE,
    Prometheus,
    duration_ms,
    scale_rule_files,
)
from .timeseries import Point, Series

# A fault run: short and slow (cheap on 2 cores), long enough for a scaled `for:` to elapse.
FAULT_RUN = {"rate": 40, "duration_s": 8, "pre_allocated_vus": 60, "max_vus": 100}
FIRE_WAIT_S = 20.0  # after the fault run ends: the windows still hold the breach this long
QUIET_WAIT_S = 20.0  # before a fault run: until an earlier alert resolves
# Prometheus applies discovered targets every 5 s: its first scrape comes that long after it is ready.
FIRST_SCRAPE_WAIT_S = 30.0


@dataclass(frozen=True)
class Fault:
    name: str
    key: str  # the SLO key whose alert must fire
    faults: dict[str, float]  # for ReferenceTarget.set_faults


def faults(policy: Policy) -> list[Fault]:
    """Breaches sized from policy.yaml (never from the rules): each breaks one SLO and no other."""
    slo = policy.require_slo()
    return [
        # Between the two latency bounds: p95 breached, p99 kept (every request takes this long).
        Fault("latency", "latency_p95_ms", {"latency_ms": (slo.latency_p95_ms + slo.latency_p99_ms) / 2}),
        Fault("errors", "error_rate", {"error_rate": min(1.0, 4 * slo.error_rate)}),
    ]


@dataclass(frozen=True)
class FaultOutcome:
    expected: list[str]  # the alerts that must fire
    fired: dict[str, dict[str, str]]  # their labels, from the alerts API
    seen: dict[str, set[str]]  # every SLO alert pending/firing during the run
    start: float  # wall clock
    end: float


class AlertNotFiring(AssertionError):
    """The expected alert did not fire in time (a conformance failure, not a broken run)."""


@dataclass
class LiveAlerts:
    policy: Policy
    prometheus: Prometheus
    files: list[RuleFile]
    alerts: list[SloAlert]

    @classmethod
    def start(
        cls,
        policy: Policy,
        manifests: Path,
        profile: str,
        workdir: Path,
        target_url: str,
        *,
        scrape: dict[str, Any] | None = None,
    ) -> LiveAlerts:
        """Prometheus scraping the reference target with the platform's scaled rules. InfraError if not.

        `scrape`: a scrape config of its own instead of `target_url` (the scaling loop's gateway
        pods, discovered through the cluster's API server); `target_url` then only names it.
        """
        inventory = build_inventory(manifests, profile, policy.namespace)
        files = write_rule_files(prometheus_rules(inventory.objects), workdir / "rules")
        alerts = slo_alerts(files)
        if not alerts:
            raise InfraError(f"no alert labelled slo: <policy key> in the PrometheusRules of {manifests}")
        scaled = scale_rule_files(files, workdir / f"rules-scaled-{TIME_SCALE}x")
        service = policy.entry_service.name if policy.entry_service else "reference-target"
        # The labels a ServiceMonitor gives the entry service's pods (the target models the gateway).
        labels = {
            "namespace": policy.namespace or "default",
            "service": service,
            "pod": f"{service}-0",
            "endpoint": "metrics",
        }
        target = urllib.parse.urlsplit(target_url).netloc or target_url
        prom = Prometheus.start(
            workdir / "prometheus", scaled, target, labels, scrape_configs=[scrape] if scrape else None
        )
        try:
            # Until then a run goes unseen, and a quiet check would pass on nothing.
            wait_until(
                lambda: Poll(bool(prom.query("up == 1")), "no successful scrape yet"),
                what="be scraped by prometheus",
                objects=[target],
                timeout_s=FIRST_SCRAPE_WAIT_S,
                interval_s=SCRAPE_INTERVAL_S,
            )
        except BaseException:
            prom.stop()
            raise
        return cls(policy, prom, files, alerts)

    @property
    def names(self) -> list[str]:
        return sorted({a.name for a in self.alerts})

    def _selector(self) -> str:
        return f'ALERTS{{alertname=~"{"|".join(self.names)}"}}'

    def active_between(self, start: float, end: float) -> dict[str, set[str]]:
        """Which SLO alerts were pending or firing at any evaluation in (start, end] (wall clock)."""
        seen: dict[str, set[str]] = {}
        for sample in self.prometheus.query(
            f"max_over_time({self._selector()}[{_window(start, end)}])", at=end
        ):
            metric = sample["metric"]
            seen.setdefault(metric["alertname"], set()).add(metric["alertstate"])
        return seen

    def requests_between(self, start: float, end: float) -> float:
        """Requests to the target that Prometheus counted in (start, end]: what it saw of a run."""
        obs = self.policy.observability
        if obs is None:  # the tier starts no Prometheus without it
            raise InfraError("policy.yaml declares no observability.metrics: no request counter to read")
        found = self.prometheus.query(f"sum(increase({obs.requests_metric}[{_window(start, end)}]))", at=end)
        return float(found[0]["value"][1]) if found else 0.0

    def firing(self) -> dict[str, dict[str, str]]:
        """Firing SLO alerts now, from the alerts API: name -> labels."""
        return {
            a["labels"]["alertname"]: a["labels"]
            for a in self.prometheus.alerts()
            if a.get("state") == "firing" and a["labels"].get("alertname") in self.names
        }

    def wait_firing(self, name: str, timeout_s: float) -> dict[str, str]:
        """Poll the alerts API until `name` fires; AlertNotFiring (with what was seen) if it does not."""

        def probe() -> Poll[dict[str, str]]:
            now = self.firing()
            pending = [
                a["labels"]["alertname"] for a in self.prometheus.alerts() if a.get("state") == "pending"
            ]
            state = f"firing {sorted(now) or 'none'}, pending {sorted(pending) or 'none'}"
            return Poll(name in now, state, now.get(name))

        try:
            labels = wait_until(
                probe,
                what="fire",
                objects=[f"alert {name}"],
                timeout_s=timeout_s,
                interval_s=EVALUATION_INTERVAL_S,
            )
        except WaitTimeout as err:
            raise AlertNotFiring(str(err)) from None
        return labels or {}

    def wait_quiet(self, timeout_s: float) -> None:
        """Until no SLO alert was pending or firing for two evaluations (between runs); InfraError if not."""
        recent = f"max_over_time({self._selector()}[{duration_ms(2 * EVALUATION_INTERVAL_S)}])"

        def probe() -> Poll[None]:
            active = sorted({s["metric"]["alertname"] for s in self.prometheus.query(recent)})
            return Poll(not active, f"still active: {', '.join(active)}")

        wait_until(
            probe, what="clear", objects=self.names, timeout_s=timeout_s, interval_s=EVALUATION_INTERVAL_S
        )

    def plot(self, start: float, end: float, title: str) -> str:
        """The series the SLO alerts compare, as Prometheus recorded them, drawn by plot.render_svg."""
        lhs: dict[str, str] = {}
        for a in self.alerts:
            expr = a.rule.expr.strip()
            if _THRESHOLD.search(expr):
                lhs.setdefault(a.key, _THRESHOLD.sub("", expr).strip())
        step = EVALUATION_INTERVAL_S

        def values(key: str, scale: float = 1.0) -> dict[float, float]:
            if key not in lhs:
                return {}
            out: dict[float, float] = {}
            for series in self.prometheus.query_range(f"max({lhs[key]})", start, end, step):
                for t, v in series["values"]:
                    if v not in ("NaN", "+Inf", "-Inf"):
                        out[round(float(t) - start, 3)] = float(v) * scale
            return out

        rps = values("alert_request_rate_rps")
        err = values("error_rate")
        p95, p99 = values("latency_p95_ms", 1000), values("latency_p99_ms", 1000)
        times = sorted(set(rps) | set(err) | set(p95) | set(p99))
        points = tuple(
            Point(t, rps.get(t, 0.0), rps.get(t, 0.0) * err.get(t, 0.0), None, p95.get(t), p99.get(t))
            for t in times
        )
        series = Series(step, points, (), 0, 0, end - start)
        slo = {
            "p95 SLO": threshold(self.policy, "latency_p95_ms") * 1000,
            "p99 SLO": threshold(self.policy, "latency_p99_ms") * 1000,
        }
        return render_svg(series, title, slo_lines=slo)

    def breach(self, fault: Fault, target: ReferenceTarget, profile: str, workdir: Path) -> FaultOutcome:
        """Inject `fault`, run a short k6 load, wait for the matching alert (AlertNotFiring if not)."""
        expected = sorted({a.name for a in self.alerts if a.key == fault.key})
        self.wait_quiet(QUIET_WAIT_S)
        target.set_faults(**fault.faults)
        start = now()
        try:
            opts = RunOptions(overrides={"load": FAULT_RUN})
            # k6's own verdict is expected to fail here; only an InfraError (no run) matters.
            run_scenario(self.policy, profile, "load", target.url, workdir, options=opts)
            fired = {n: self.wait_firing(n, FIRE_WAIT_S) for n in expected}
        finally:
            target.set_faults(latency_ms=0, error_rate=0)
        return FaultOutcome(expected, fired, self.active_between(start, now()), start, now())

    def stop(self) -> None:
        self.prometheus.stop()


def _window(start: float, end: float) -> str:
    """(start, end] as a range in exact milliseconds: one rounded up would reach back before `start`
    (to an alert resolved just before)."""
    return f"{max(1, int((end - start) * 1000))}ms"


def now() -> float:
    """Wall-clock seconds (Prometheus timestamps are wall clock; durations use monotonic)."""
    return time.time()
