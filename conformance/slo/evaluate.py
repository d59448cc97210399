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

With `RunOptions.generators` > 1 the scenario runs on that many local k6
processes (execution segments) and every figure and verdict comes from PromQL
over their merged series (merged.py), written in the same summary layout.
"""

from __future__ import annotations

import http.client
import os
import resource
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
    TRANSPORT_ERRORS,
    ScenarioPlan,
    build_config,
    plans,
    slo_specs,
    write_config,
)
from .k6_summary import Summary, SummaryError, parse_summary
from .live import CsvTail
from .merged import measure_merged
from .plot import render_svg
from .runner import EXIT_OK, EXIT_THRESHOLDS_CROSSED, K6Process, LogDigest, digest_log, run_k6
from .timeseries import Series, parse_csv

K6_DIR = REPO / "k6"
# Scenarios the SLO tier runs every session (stress and spike are for explicit runs).
TIER_SCENARIOS = ("smoke", "load")
THRESHOLD_SLOS = ("p95", "p99", "error_rate", "checks")
# Dropped iterations tolerated before a run counts as not trustworthy (share of scheduled).
DROPPED_TOLERANCE = 0.01
PREFLIGHT_TIMEOUT_S = 3.0
# Generator limits. Peak rates above this are calibrated before the run (the ci profile's 300 req/s,
# and its 800 req/s stress/spike peaks, are not: one k6 holds them on any machine that runs the
# tier). Below it, a generator shortfall shows after the run: the tier measures once more, then BROKEN.
CALIBRATE_ABOVE_RPS = 1000.0
CALIBRATION_S = 5  # seconds of load at the peak rate
CALIBRATION_TIMEOUT_S = 120.0  # k6 start (pre-allocated VUs) + 5 s of load + graceful stop, on a busy machine
# Share of VU time spent outside HTTP requests (iteration_duration vs http_req_duration) above which
# the VUs were kept busy by k6's own work, not by the target. Measured here (2 busy cores): VUs
# waiting on a 200-300 ms target 0.2-0.3 %; k6 at 20k req/s against the reference target 29-42 %.
GENERATOR_OVERHEAD_SHARE = 0.2
SEVERAL_GENERATORS = "measure at this rate from several generators (see README)"


class GeneratorLimit(InfraError):
    """The load generator could not produce the requested rate on this machine (BROKEN, not FAILED)."""

    def __init__(self, scenario: str, shortfall: Shortfall, when: str, k6_s: float = 0.0) -> None:
        self.scenario, self.shortfall = scenario, shortfall
        self.k6_s = k6_s  # seconds k6 ran for the finding (the calibration's), for the tier's timing line
        super().__init__(
            f"{scenario}: the load generator reached {shortfall.achieved:,.0f} of "
            f"{shortfall.requested:,.0f} req/s on this machine; {SEVERAL_GENERATORS}. "
            f"{when}: {'; '.join(shortfall.reasons)}"
        )


@dataclass(frozen=True)
class Shortfall:
    """Whose fault it was that k6 dropped iterations: the generator's or the target's."""

    side: str  # "generator" or "target"
    achieved: float  # responses/s
    requested: float  # iterations (= requests)/s
    reasons: tuple[str, ...]


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
    # Calibrate the generator first when the peak rate is above this (None: never; one generator only).
    calibrate_above: float | None = CALIBRATE_ABOVE_RPS
    # Local k6 processes sharing the scenario (execution segments); > 1: verdicts are PromQL over
    # their merged series (merged.py), 1: k6's own summary.
    generators: int = 1


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
    shortfall: Shortfall | None = None  # k6 dropped iterations: whose fault (see diagnose)
    calibration: Shortfall | str | None = None  # the calibration's finding (str: the rate it held)

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


def _achieved(
    scenario: str, policy: Policy, plan: ScenarioPlan, summary: Summary, shortfall: Shortfall | None
) -> SloResult:
    requested = plan.requested_rate or 0.0
    ratio_min = policy.require_slo().min_achieved_ratio
    responded = (summary.value("http_reqs", "count") or 0) - (summary.value(TRANSPORT_ERRORS, "count") or 0)
    achieved = responded / plan.scheduled_s
    ratio = achieved / requested if requested else 0.0
    dropped = int(summary.value("dropped_iterations", "count") or 0)
    detail = f"{int(responded)} responses in {plan.scheduled_s:g} s, {dropped} iterations dropped by k6"
    if shortfall is not None and shortfall.side == "target":
        detail += f"; the target's shortfall: {'; '.join(shortfall.reasons)}"
    return SloResult(
        scenario,
        "achieved_rate",
        "achieved rate",
        ratio >= ratio_min,
        f"{achieved:.1f} req/s of {requested:g} requested ({ratio * 100:.1f} %)",
        f">= {ratio_min * 100:g} % of requested ({ratio_min * requested:.1f} req/s; slo.min_achieved_ratio)",
        detail,
    )


def diagnose(plan: ScenarioPlan, summary: Summary, cpu_s: float | None = None) -> Shortfall | None:
    """Whose shortfall it was when k6 dropped more than DROPPED_TOLERANCE of the schedule; None if it did not.

    Judged from k6's own figures, never from wall-clock time or absolute CPU (both move with the
    machine's load): the generator's fault when its VUs spent >= GENERATOR_OVERHEAD_SHARE of their
    time outside HTTP requests, or when k6 did not create the VUs it was allowed though that many
    would have held the rate at the target's latency; else the target's (the VUs busy waiting on
    responses, or more VUs needed than allowed). `cpu_s` (k6's CPU time) is reported, not judged.
    """
    expected = plan.expected_iterations
    dropped = summary.value("dropped_iterations", "count") or 0
    if not expected or dropped <= expected * DROPPED_TOLERANCE:
        return None
    requested = expected / plan.scheduled_s
    responded = (summary.value("http_reqs", "count") or 0) - (summary.value(TRANSPORT_ERRORS, "count") or 0)
    achieved = responded / plan.scheduled_s
    max_vus = int(plan.sizes["max_vus"])
    made = int(summary.value("vus_max", "max") or summary.value("vus_max", "value") or 0)
    iteration = summary.value("iteration_duration", "avg")
    request = summary.value("http_req_duration", "avg")
    dropped_text = (
        f"k6 dropped {dropped:.0f} of {expected:.0f} scheduled iterations ({dropped / expected:.1%})"
    )
    # VUs the target's latency ties up at the requested rate (Little's law on k6's request time).
    needed = requested * (request or 0) / 1000
    reasons = []
    if made < max_vus and needed <= max_vus:
        reasons.append(
            f"k6 created only {made} of the {max_vus} VUs it may use (about {needed:.0f} would hold the "
            f"rate at the target's {request or 0:.1f} ms): it could not start VUs as fast as the "
            f"arrivals needed them"
        )
    if iteration and request is not None and (iteration - request) / iteration >= GENERATOR_OVERHEAD_SHARE:
        reasons.append(
            f"its VUs spent {(iteration - request) / iteration:.0%} of their time on k6's own work outside "
            f"HTTP requests (iteration {iteration:.1f} ms, request {request:.1f} ms)"
        )
    cores = f"; k6 used {cpu_s / plan.scheduled_s:.2f} CPU cores of {os.cpu_count()}" if cpu_s else ""
    if reasons:
        return Shortfall("generator", achieved, requested, (dropped_text, *reasons[:-1], reasons[-1] + cores))
    busy = f"all {max_vus} VUs" if made >= max_vus else f"its {made} VUs (of {max_vus} allowed)"
    return Shortfall(
        "target",
        achieved,
        requested,
        (
            f"{dropped_text}: {busy} were busy waiting on responses "
            f"({request or 0:.1f} ms on average; {requested:g} req/s at that latency needs about "
            f"{needed:.0f} VUs), while k6 had capacity to spare{cores}",
        ),
    )


def _generator_faults(plan: ScenarioPlan, summary: Summary, shortfall: Shortfall | None) -> list[str]:
    """Problems of the load generator itself (it could not hold the schedule), not of the target."""
    faults = []
    if shortfall is not None and shortfall.side == "generator":
        faults.append("; ".join(shortfall.reasons) + ": the load generator could not hold the rate")
    expected = plan.expected_iterations
    if expected:
        dropped = summary.value("dropped_iterations", "count") or 0
        ran = summary.value("iterations", "count") or 0
        if ran + dropped < expected * (1 - DROPPED_TOLERANCE):
            faults.append(
                f"only {ran + dropped:.0f} of {expected:.0f} scheduled iterations started or "
                f"were dropped: the run ended early"
            )
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


@dataclass(frozen=True)
class _K6Run:
    process: K6Process
    summary: Summary
    cpu_s: float  # k6's CPU time (user + system)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _k6_once(
    scenario: str,
    script: Path,
    workdir: Path,
    config_path: Path,
    *,
    base_url: str,
    timeout_s: float,
    options: RunOptions,
    csv_path: Path | None = None,
    on_tick: Callable[[float], None] | None = None,
) -> _K6Run:
    """One k6 run, its summary parsed and cross-checked. Raises InfraError if it cannot be judged."""
    summary_path = (workdir / "summary.json").resolve()
    summary_path.unlink(missing_ok=True)
    cpu_before = _children_cpu_s()  # k6 is this process's child: its CPU shows once it is reaped
    proc = run_k6(
        script,
        workdir,
        {"TARTWARE_K6_CONFIG": str(config_path), "TARTWARE_K6_SUMMARY": str(summary_path)},
        timeout_s,
        out_csv=csv_path,
        k6=options.k6,
        on_tick=on_tick,
    )
    cpu_s = _children_cpu_s() - cpu_before
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
    return _K6Run(proc, summary, cpu_s)


def calibrate(
    policy: Policy,
    profile: str,
    scenario: str,
    base_url: str,
    workdir: Path,
    *,
    options: RunOptions = RunOptions(),
) -> Shortfall | str:
    """CALIBRATION_S of the load script at the scenario's peak rate, with its VU sizes.

    Raises GeneratorLimit if the generator could not produce that rate; returns the target's
    shortfall (the full run judges it), or a line saying the rate was held.
    """
    plan = plans(policy, profile, options.overrides)[scenario]
    sizes = {
        "rate": plan.peak_rate,
        "duration_s": CALIBRATION_S,
        "pre_allocated_vus": plan.sizes["pre_allocated_vus"],
        "max_vus": plan.sizes["max_vus"],
    }
    overrides = {**(options.overrides or {}), "load": sizes}
    calib = plans(policy, profile, overrides)["load"]
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = write_config(build_config(policy, profile, base_url, overrides), workdir / "k6-config.json")
    script = (options.script if scenario == "load" else None) or K6_DIR / "load.js"
    if options.live is not None:
        options.live(
            f"slo: {scenario}: calibrating the load generator: {CALIBRATION_S} s at {plan.peak_rate:g} req/s"
        )
    run = _k6_once(
        scenario,
        script,
        workdir,
        config_path,
        base_url=base_url,
        timeout_s=CALIBRATION_TIMEOUT_S,
        options=options,
    )
    shortfall = diagnose(calib, run.summary, run.cpu_s)
    if shortfall is not None and shortfall.side == "generator":
        raise GeneratorLimit(
            scenario,
            shortfall,
            f"Calibration ({CALIBRATION_S} s at {plan.peak_rate:g} req/s against {base_url})",
            run.process.wall_s,
        )
    if shortfall is not None:
        return shortfall
    held = (run.summary.value("http_reqs", "count") or 0) / CALIBRATION_S
    return f"the load generator held {held:,.0f} of {plan.peak_rate:g} req/s for {CALIBRATION_S} s"


def run_scenario(
    policy: Policy,
    profile: str,
    scenario: str,
    base_url: str,
    workdir: Path,
    *,
    options: RunOptions = RunOptions(),
) -> ScenarioRun:
    """Run one scenario with k6 and judge every SLO. Raises InfraError if it cannot be judged.

    A peak rate above `options.calibrate_above` is calibrated first (GeneratorLimit if k6 cannot
    produce it). A generator shortfall of the full run is left in `generator_faults` for the
    caller (the SLO tier measures once more, then raises GeneratorLimit).
    """
    began = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = build_config(policy, profile, base_url, options.overrides)
    plan = plans(policy, profile, options.overrides)[scenario]
    config_path = write_config(cfg, workdir / "k6-config.json")
    csv_path = (workdir / "timeseries.csv").resolve()
    csv_path.unlink(missing_ok=True)  # the live tail must read this run's series, not the last one
    if options.preflight:
        preflight(base_url)
    if options.generators > 1:
        return _run_merged(policy, profile, scenario, base_url, workdir, options=options)
    calibration: Shortfall | str | None = None
    k6_s = 0.0
    limit = options.calibrate_above
    if limit is not None and plan.peak_rate is not None and plan.peak_rate > limit:
        calibrated = time.monotonic()
        calibration = calibrate(policy, profile, scenario, base_url, workdir / "calibration", options=options)
        k6_s += time.monotonic() - calibrated
    timeout = options.timeout_s or plan.scheduled_s + GRACEFUL_STOP_S + REQUEST_TIMEOUT_S + 30
    script = options.script or K6_DIR / f"{scenario}.js"
    tick = _live_figures(options.live, scenario, plan.scheduled_s, csv_path)
    k6 = _k6_once(
        scenario,
        script,
        workdir,
        config_path,
        base_url=base_url,
        timeout_s=timeout,
        options=options,
        csv_path=csv_path,
        on_tick=tick,
    )
    parse_began = time.monotonic()
    log = digest_log(k6.process.stderr)
    series = parse_csv(csv_path)
    run = ScenarioRun(scenario, profile, base_url, plan, workdir, k6.process, k6.summary, series, log)
    run.calibration = calibration
    _judge(run, policy, k6.cpu_s)
    done = time.monotonic()
    k6_s += k6.process.wall_s
    run.timings = {"k6": k6_s, "harness": (done - began) - k6_s, "parse": done - parse_began}
    return run


def _judge(run: ScenarioRun, policy: Policy, cpu_s: float) -> None:
    """Every SLO result of a measured run (its summary: k6's own, or the merged one), plot and table."""
    plan, summary, series = run.plan, run.summary, run.series
    run.shortfall = diagnose(plan, summary, cpu_s)
    run.results = _threshold_results(run.scenario, policy, summary)
    if plan.requested_rate is not None:
        run.results["achieved_rate"] = _achieved(run.scenario, policy, plan, summary, run.shortfall)
    run.generator_faults = _generator_faults(plan, summary, run.shortfall)
    run.results["integrity"] = _integrity(run.scenario, plan, summary, run.log, run.generator_faults)
    slo_lines = {f"{s.id} SLO": s.bound for s in slo_specs(policy) if s.unit == "ms"}
    title = f"{run.scenario} ({run.profile}) against {run.base_url}: {series.requests} requests"
    run.plot_path.write_text(render_svg(series, title, _requested_curve(plan), slo_lines))
    run.routes_path.write_text(series.table())


def _run_merged(
    policy: Policy, profile: str, scenario: str, base_url: str, workdir: Path, *, options: RunOptions
) -> ScenarioRun:
    """The scenario on `options.generators` local k6 processes, judged on their merged series.

    No calibration (it measures one generator at the full rate); a generator shortfall still
    shows in `diagnose`, from the merged dropped iterations, VUs and durations.
    """
    began = time.monotonic()
    plan = plans(policy, profile, options.overrides)[scenario]
    timeout = options.timeout_s or plan.scheduled_s + GRACEFUL_STOP_S + REQUEST_TIMEOUT_S + 30
    cpu_before = _children_cpu_s()
    merged = measure_merged(
        policy,
        scenario,
        options.script or K6_DIR / f"{scenario}.js",
        workdir,
        env={"TARTWARE_K6_CONFIG": str(workdir.joinpath("k6-config.json").resolve())},
        generators=options.generators,
        timeout_s=timeout,
        scheduled_s=plan.scheduled_s,
        k6=options.k6,
        live=options.live,
    )
    cpu_s = _children_cpu_s() - cpu_before
    first = merged.generators[0].process
    responded = (merged.summary.value("http_reqs", "count") or 0) - (
        merged.summary.value(TRANSPORT_ERRORS, "count") or 0
    )
    if responded <= 0:
        raise InfraError(
            f"{scenario}: none of the {options.generators} generators' requests got an HTTP response "
            f"from {base_url} (refused, reset or timed out): the target is down, nothing to judge"
        )
    run = ScenarioRun(
        scenario, profile, base_url, plan, workdir, first, merged.summary, merged.series, merged.log
    )
    _judge(run, policy, cpu_s)
    k6_s = first.wall_s
    run.timings = {"k6": k6_s, "harness": (time.monotonic() - began) - k6_s, "parse": 0.0}
    return run


__all__ = [
    "TIER_SCENARIOS",
    "GeneratorLimit",
    "RunOptions",
    "ScenarioRun",
    "Shortfall",
    "SloResult",
    "calibrate",
    "diagnose",
    "preflight",
    "run_scenario",
    "slo_ids",
]
