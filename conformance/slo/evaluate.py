"""One scenario end to end: config -> k6 -> summary + time series -> one result per SLO.

    run = run_scenario(policy, "ci", "load", "http://127.0.0.1:8080", workdir)
    for result in run.results.values():
        print(result.passed, result.message)
    # load: p95 latency 3.1 ms, required < 500.0 ms (slo.latency_p95_ms)

Verdicts. k6 judges the threshold SLOs (p95, p99, error rate, checks); the
harness judges achieved rate and run integrity from the same run. Exit 99
with a parsed summary means some SLO failed; exit 0 means thresholds passed.
Everything else raises InfraError (broken, not failed): another exit code, a
timeout, a missing or unparseable summary, an exit code that contradicts the
summary, no requests at all, or no HTTP response to any request (target down).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import InfraError
from ..policy import Policy
from ..tools import REPO
from .config import (
    ARRIVAL_RATE,
    GRACEFUL_STOP_S,
    REQUEST_TIMEOUT_S,
    ScenarioPlan,
    build_config,
    plans,
    slo_specs,
    write_config,
)
from .live import CsvTail
from .plot import render_svg
from .runner import EXIT_OK, EXIT_THRESHOLDS_CROSSED, K6Process, LogDigest, digest_log, run_k6
from .summary import Summary, SummaryError, parse_summary
from .timeseries import Series, parse_csv

K6_DIR = REPO / "k6"
# Scenarios the SLO tier runs every session (stress and spike are for explicit runs).
TIER_SCENARIOS = ("smoke", "load")
THRESHOLD_SLOS = ("p95", "p99", "error_rate", "checks")
# Dropped iterations tolerated before a run counts as not trustworthy (share of scheduled).
DROPPED_TOLERANCE = 0.01
PREFLIGHT_TIMEOUT_S = 3.0
TRANSPORT_ERRORS = "tartware_transport_errors"  # k6/lib/checks.js


def slo_ids(scenario: str) -> tuple[str, ...]:
    """The SLO results a scenario produces (known before running, for test collection)."""
    rate = ("achieved_rate",) if scenario in ARRIVAL_RATE else ()
    return (*THRESHOLD_SLOS, *rate, "integrity")


@dataclass(frozen=True)
class SloResult:
    scenario: str
    slo: str
    title: str
    passed: bool
    measured: str
    required: str
    detail: str = ""

    @property
    def message(self) -> str:
        """`load: p95 latency 612.0 ms, required < 500.0 ms (slo.latency_p95_ms)`"""
        text = f"{self.scenario}: {self.title} {self.measured}, required {self.required}"
        return f"{text}; {self.detail}" if self.detail else text


@dataclass(frozen=True)
class RunOptions:
    overrides: dict[str, dict[str, Any]] | None = None  # per-scenario size overrides (self-tests)
    preflight: bool = True  # probe the base URL before starting k6
    script: Path | None = None  # default: k6/<scenario>.js
    timeout_s: float | None = None  # default: scheduled time + margins
    k6: Path | None = None
    live: Callable[[str], None] | None = None  # gets a line of live figures every few seconds


@dataclass
class ScenarioRun:
    scenario: str
    profile: str
    base_url: str
    plan: ScenarioPlan
    workdir: Path
    process: K6Process
    summary: Summary
    series: Series
    log: LogDigest
    results: dict[str, SloResult] = field(default_factory=dict)
    # What the load generator could not do (dropped iterations, too few VUs): the run measured
    # k6's limits, not the target's, so a caller may measure once more (the SLO tier's SloSession.run does).
    generator_faults: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: k6, harness

    @property
    def summary_path(self) -> Path:
        return self.workdir / "summary.json"

    @property
    def plot_path(self) -> Path:
        return self.workdir / "plot.svg"

    @property
    def routes_path(self) -> Path:
        return self.workdir / "routes.txt"

    @property
    def config_path(self) -> Path:
        return self.workdir / "k6-config.json"


def preflight(base_url: str, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Any HTTP answer from GET <base>/healthz will do; no answer at all is InfraError."""
    parts = urlsplit(base_url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.hostname or "", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", f"{parts.path.rstrip('/')}/healthz")
        conn.getresponse().read()
    except (OSError, http.client.HTTPException) as err:
        raise InfraError(f"SLO target {base_url} is unreachable ({err}): nothing to measure") from None
    finally:
        conn.close()


def _threshold_results(scenario: str, policy: Policy, summary: Summary) -> dict[str, SloResult]:
    out = {}
    for spec in slo_specs(policy):
        verdict = summary.threshold(spec.metric, spec.expression)
        value = summary.value(spec.metric, spec.stat)
        if verdict is None or value is None:
            raise SummaryError(
                f"{scenario}: the k6 summary has no threshold {spec.metric} {spec.expression!r} "
                f"(or no {spec.stat} value): the script did not use the generated config"
            )
        out[spec.id] = SloResult(
            scenario, spec.id, spec.title, verdict, spec.render(value), f"{spec.required()} ({spec.source})"
        )
    return out


def _achieved(scenario: str, policy: Policy, plan: ScenarioPlan, summary: Summary) -> SloResult:
    requested = plan.requested_rate or 0.0
    ratio_min = policy.require_slo().min_achieved_ratio
    responded = (summary.value("http_reqs", "count") or 0) - (summary.value(TRANSPORT_ERRORS, "count") or 0)
    achieved = responded / plan.scheduled_s
    ratio = achieved / requested if requested else 0.0
    dropped = int(summary.value("dropped_iterations", "count") or 0)
    return SloResult(
        scenario,
        "achieved_rate",
        "achieved rate",
        ratio >= ratio_min,
        f"{achieved:.1f} req/s of {requested:g} requested ({ratio * 100:.1f} %)",
        f">= {ratio_min * 100:g} % of requested ({ratio_min * requested:.1f} req/s; slo.min_achieved_ratio)",
        f"{int(responded)} responses in {plan.scheduled_s:g} s, {dropped} iterations dropped by k6",
    )


def _generator_faults(plan: ScenarioPlan, summary: Summary, log: LogDigest) -> list[str]:
    """Problems of the load generator itself (it could not hold the schedule), not of the target."""
    faults = []
    expected = plan.expected_iterations
    if expected:
        dropped = summary.value("dropped_iterations", "count") or 0
        ran = summary.value("iterations", "count") or 0
        if dropped > expected * DROPPED_TOLERANCE:
            faults.append(
                f"k6 dropped {dropped:.0f} of {expected:.0f} scheduled iterations "
                f"({dropped / expected * 100:.1f} %): the load generator could not hold the rate"
            )
        if ran + dropped < expected * (1 - DROPPED_TOLERANCE):
            faults.append(
                f"only {ran + dropped:.0f} of {expected:.0f} scheduled iterations started or "
                f"were dropped: the run ended early"
            )
    slow_vus = sum(n for msg, n in log.warnings.items() if "Insufficient VUs" in msg)
    if slow_vus:
        faults.append(f"k6 ran out of VUs {slow_vus} time(s) (max_vus too low for the target's latency)")
    return faults


def _integrity(
    scenario: str, plan: ScenarioPlan, summary: Summary, log: LogDigest, faults: list[str]
) -> SloResult:
    problems = []
    if log.script_errors:
        problems.append(
            f"{log.script_errors} script exception(s) interrupted iterations "
            f"(first: {(log.first_script_error or '?').splitlines()[0][:160]})"
        )
    problems += [f"k6 logged an error: {msg[:160]}" for msg in log.errors]
    problems += faults
    all_passed = not summary.failed
    if problems and all_passed:
        problems.insert(0, "thresholds passed, but the run is not trustworthy")
    required = "no script exceptions or k6 errors"
    if plan.expected_iterations:
        required += f", dropped iterations <= {DROPPED_TOLERANCE * 100:g} % of scheduled"
    measured = "clean" if not problems else f"{len(problems) - (1 if all_passed else 0)} problem(s)"
    return SloResult(
        scenario, "integrity", "run integrity", not problems, measured, required, "; ".join(problems)
    )


def _requested_curve(plan: ScenarioPlan) -> list[tuple[float, float]]:
    s = plan.sizes
    if plan.executor == "constant-arrival-rate":
        return [(0.0, s["rate"]), (s["duration_s"], s["rate"])]
    if plan.executor == "ramping-arrival-rate":
        t, points = 0.0, [(0.0, float(s["start_rate"]))]
        for st in s["stages"]:
            t += st["duration_s"]
            points.append((t, st["target"]))
        return points
    return []


def _live_figures(
    live: Callable[[str], None] | None, scenario: str, scheduled_s: float, csv_path: Path
) -> Callable[[float], None] | None:
    """A tick callback posting k6's figures of the last interval, or None without a listener."""
    if live is None:
        return None
    tail = CsvTail(csv_path)
    post = live

    def tick(elapsed_s: float) -> None:
        post(f"slo: {scenario}: k6 {elapsed_s:.0f}/{scheduled_s:.0f} s: {tail.window().describe()}")

    return tick


def run_scenario(
    policy: Policy,
    profile: str,
    scenario: str,
    base_url: str,
    workdir: Path,
    *,
    options: RunOptions = RunOptions(),
) -> ScenarioRun:
    """Run one scenario with k6 and judge every SLO. Raises InfraError if it cannot be judged."""
    began = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = build_config(policy, profile, base_url, options.overrides)
    plan = plans(policy, profile, options.overrides)[scenario]
    config_path = write_config(cfg, workdir / "k6-config.json")
    summary_path = (workdir / "summary.json").resolve()
    csv_path = (workdir / "timeseries.csv").resolve()
    summary_path.unlink(missing_ok=True)
    csv_path.unlink(missing_ok=True)  # the live tail must read this run's series, not the last one
    if options.preflight:
        preflight(base_url)
    timeout = options.timeout_s or plan.scheduled_s + GRACEFUL_STOP_S + REQUEST_TIMEOUT_S + 30
    script = options.script or K6_DIR / f"{scenario}.js"
    proc = run_k6(
        script,
        workdir,
        {"TARTWARE_K6_CONFIG": str(config_path), "TARTWARE_K6_SUMMARY": str(summary_path)},
        timeout,
        out_csv=csv_path,
        k6=options.k6,
        on_tick=_live_figures(options.live, scenario, plan.scheduled_s, csv_path),
    )
    parse_began = time.monotonic()
    if proc.exit_code not in (EXIT_OK, EXIT_THRESHOLDS_CROSSED):
        raise InfraError(
            f"{scenario}: k6 {proc.describe_exit()}: the run cannot be judged\n{proc.stderr_tail()}"
        )
    try:
        text = summary_path.read_text()
    except OSError:
        raise SummaryError(
            f"{scenario}: k6 {proc.describe_exit()} but wrote no summary ({summary_path}); "
            f"handleSummary missing or failed?\n{proc.stderr_tail()}"
        ) from None
    summary = parse_summary(text, str(summary_path))
    crossed = proc.exit_code == EXIT_THRESHOLDS_CROSSED
    if crossed != bool(summary.failed):
        raise SummaryError(
            f"{scenario}: k6 {proc.describe_exit()} but the summary says "
            f"{len(summary.failed)} threshold(s) failed: exit code and summary disagree"
        )
    requests = summary.value("http_reqs", "count") or 0
    if requests == 0:
        raise InfraError(
            f"{scenario}: k6 made no HTTP requests: the script did nothing\n{proc.stderr_tail()}"
        )
    if (summary.value(TRANSPORT_ERRORS, "count") or 0) >= requests:
        raise InfraError(
            f"{scenario}: none of {requests:.0f} requests got an HTTP response from {base_url} "
            f"(refused, reset or timed out): the target is down, nothing to judge"
        )
    log = digest_log(proc.stderr)
    series = parse_csv(csv_path)
    run = ScenarioRun(scenario, profile, base_url, plan, workdir, proc, summary, series, log)
    run.results = _threshold_results(scenario, policy, summary)
    if plan.requested_rate is not None:
        run.results["achieved_rate"] = _achieved(scenario, policy, plan, summary)
    run.generator_faults = _generator_faults(plan, summary, log)
    run.results["integrity"] = _integrity(scenario, plan, summary, log, run.generator_faults)
    slo_lines = {f"{s.id} SLO": s.bound for s in slo_specs(policy) if s.unit == "ms"}
    title = f"{scenario} ({profile}) against {base_url}: {series.requests} requests"
    run.plot_path.write_text(render_svg(series, title, _requested_curve(plan), slo_lines))
    run.routes_path.write_text(series.table())
    done = time.monotonic()
    run.timings = {"k6": proc.wall_s, "harness": (done - began) - proc.wall_s, "parse": done - parse_began}
    return run


__all__ = ["TIER_SCENARIOS", "RunOptions", "ScenarioRun", "SloResult", "preflight", "run_scenario", "slo_ids"]
