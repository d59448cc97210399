"""Several local k6 generators on one scenario, merged by Prometheus (issue 21, item 4).

k6 splits one scenario between processes itself (execution segments: generator i of N runs
`--execution-segment i/N:(i+1)/N` of `--execution-segment-sequence 0,1/N,...,1`, so N half-,
third-... rate generators together make exactly the scenario's arrivals). Each writes its samples
to a real Prometheus with k6's built-in remote-write output (trends as native histograms), tagged
as the k6-operator tags its runners (`instance_id`), and the run's verdicts are PromQL over the
merged series: never a home-made merge of percentiles.

    gens = run_generators(script, workdir, config, 2, prom.write_url, "run-1", timeout_s=90)
    figures = MergedFigures(prom, "run-1", window_s=120)
    figures.wait_ingested(sum(g.requests for g in gens))   # bounded
    doc = merged_summary(policy, figures, gens, scheduled_s)   # handleSummary layout

What comes from where: requests, failures (`http_reqs` with `expected_response="false"`: k6's
own definition of http_req_failed), transport errors, iterations, dropped iterations and VUs from
the merged counters/gauges; p95/p99/averages from `histogram_quantile`/`histogram_avg` over the
summed native histograms. Only the checks pass rate is summed from the generators' own summaries
(k6's remote-write output sends a Rate as a ratio without its counts: it cannot be merged in
PromQL); those are exact counts, not an estimate.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cluster.procs import KILL_WAIT_S, terminate
from ..cluster.wait import Poll, wait_until
from ..errors import InfraError
from ..policy import Policy
from .config import TRANSPORT_ERRORS, slo_specs
from .k6_summary import Summary, parse_summary
from .prometheus import Prometheus
from .runner import EXIT_OK, EXIT_THRESHOLDS_CROSSED, K6Process, LogDigest, digest_log, k6_argv, spawn_k6
from .timeseries import Point, RouteStats, Series

RW_OUTPUT = "experimental-prometheus-rw"  # k6's built-in Prometheus remote-write output
INSTANCE_TAG = "instance_id"  # the tag the k6-operator gives each runner (--tag instance_id=N)
RUN_TAG = "testid"  # one run's series, apart from every other run's in the same Prometheus
PUSH_INTERVAL_S = 1
FAILED = ',expected_response="false"'  # k6's http_req_failed is exactly these requests
# Prometheus has every sample once k6 exits (its output flushes on stop and remote write answers
# after the append); the wait only covers a slow commit on a busy machine.
INGEST_WAIT_S = 30.0
POLL_S = 0.2


def remote_write_env(write_url: str) -> dict[str, str]:
    """The environment k6's remote-write output reads: local generators and operator runners alike."""
    return {
        "K6_PROMETHEUS_RW_SERVER_URL": write_url,
        "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
        "K6_PROMETHEUS_RW_PUSH_INTERVAL": f"{PUSH_INTERVAL_S}s",
    }


def _bounds(n: int) -> list[str]:
    if n < 1:
        raise ValueError(f"generators must be >= 1, got {n}")
    return ["0", *(f"{i}/{n}" for i in range(1, n)), "1"]


def segment_sequence(n: int) -> str:
    """`0,1/3,2/3,1` for 3 generators: every generator must get the same sequence."""
    return ",".join(_bounds(n))


def segments(n: int) -> list[str]:
    """`["0:1/3", "1/3:2/3", "2/3:1"]`: generator i runs segment i."""
    bounds = _bounds(n)
    return [f"{a}:{b}" for a, b in itertools.pairwise(bounds)]


def generator_args(index: int, n: int, testid: str) -> list[str]:
    """`k6 run` arguments of generator `index` (0-based) of `n`."""
    return [
        "--execution-segment",
        segments(n)[index],
        "--execution-segment-sequence",
        segment_sequence(n),
        "--tag",
        f"{RUN_TAG}={testid}",
        "--tag",
        f"{INSTANCE_TAG}={index + 1}",
        "--out",
        RW_OUTPUT,
    ]


@dataclass(frozen=True)
class Generator:
    index: int  # 1-based, = its instance_id
    process: K6Process
    summary: Summary  # its own segment's figures (used for the checks counts and cross-checks)

    @property
    def requests(self) -> float:
        return self.summary.value("http_reqs", "count") or 0.0


def _wait_all(
    procs: Sequence[subprocess.Popen[bytes]],
    deadline: float,
    on_tick: Callable[[float], None] | None,
    tick_s: float,
) -> list[int]:
    began = time.monotonic()
    next_tick = began + tick_s
    while True:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            return [c for c in codes if c is not None]
        now = time.monotonic()
        if now >= deadline:
            raise InfraError(f"{codes.count(None)} of {len(procs)} k6 generators did not finish in time")
        if on_tick is not None and now >= next_tick:
            on_tick(now - began)
            next_tick = now + tick_s
        time.sleep(POLL_S)


def run_generators(
    script: Path,
    workdir: Path,
    env: dict[str, str],
    n: int,
    *,
    write_url: str,
    testid: str,
    timeout_s: float,
    k6: Path | None = None,
    on_tick: Callable[[float], None] | None = None,
    tick_s: float = 5.0,
) -> list[Generator]:
    """Run `n` k6 processes side by side, one segment each, all writing to `write_url`.

    `env` is the scenario's (TARTWARE_K6_CONFIG); each generator gets its own folder and summary.
    Every process is stopped (SIGINT, then SIGKILL) on a timeout, an error or Ctrl-C.
    InfraError for a generator that cannot be judged (exit other than 0 / 99, no summary).
    """
    began = time.monotonic()
    started: list[tuple[list[str], Path, subprocess.Popen[bytes]]] = []
    try:
        for i in range(n):
            folder = workdir / f"generator-{i + 1}"
            folder.mkdir(parents=True, exist_ok=True)
            summary = (folder / "summary.json").resolve()
            summary.unlink(missing_ok=True)
            argv = k6_argv(script, args=generator_args(i, n, testid), k6=k6)
            own = {**env, "TARTWARE_K6_SUMMARY": str(summary), **remote_write_env(write_url)}
            started.append((argv, folder, spawn_k6(argv, folder, own)))
        codes = _wait_all([p for _, _, p in started], began + timeout_s, on_tick, tick_s)
    except BaseException:
        terminate(groups=[p.pid for _, _, p in started], first=signal.SIGINT)
        for _, _, proc in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(KILL_WAIT_S)
        raise
    wall = time.monotonic() - began
    out = []
    for i, ((argv, folder, _), code) in enumerate(zip(started, codes, strict=True), start=1):
        process = K6Process(tuple(argv), code, wall, folder / "k6.stdout", folder / "k6.stderr")
        if code not in (EXIT_OK, EXIT_THRESHOLDS_CROSSED):
            raise InfraError(
                f"generator {i} of {n}: k6 {process.describe_exit()}: the run cannot be judged\n"
                f"{process.stderr_tail()}"
            )
        path = folder / "summary.json"
        try:
            text = path.read_text()
        except OSError:
            raise InfraError(f"generator {i} of {n}: k6 wrote no summary ({path})") from None
        out.append(Generator(i, process, parse_summary(text, str(path))))
    return out


def merge_digests(digests: Sequence[LogDigest], keep: int = 5) -> LogDigest:
    """The generators' k6 logs as one (counts added, first messages kept)."""
    warnings: Counter[str] = Counter()
    for d in digests:
        warnings.update(d.warnings)
    first = next((d.first_script_error for d in digests if d.first_script_error), None)
    return LogDigest(
        sum(d.script_errors for d in digests),
        first,
        tuple(e for d in digests for e in d.errors)[:keep],
        dict(warnings),
        sum(d.unparsed for d in digests),
    )


class MergedFigures:
    """PromQL over one run's merged series (every generator's, summed) in `prometheus`."""

    def __init__(self, prometheus: Prometheus, testid: str, window_s: float) -> None:
        self.prometheus, self.testid = prometheus, testid
        self.window = f"{max(1, math.ceil(window_s))}s"  # covers the whole run, read at "now"

    def selector(self, extra: str = "") -> str:
        return f'{{{RUN_TAG}="{self.testid}"{extra}}}'

    def last(self, metric: str, extra: str = "", by: str = "") -> str:
        """The cumulative value at the end of the run, summed over the generators' series."""
        group = f" by ({by})" if by else ""
        return f"sum{group} (last_over_time({metric}{self.selector(extra)}[{self.window}]))"

    def scalar(self, expr: str) -> float | None:
        found = self.prometheus.query(expr)
        if not found:
            return None
        value = float(found[0]["value"][1])
        return None if math.isnan(value) else value

    def counter(self, name: str, extra: str = "") -> float:
        return self.scalar(self.last(f"k6_{name}_total", extra)) or 0.0

    def quantile_ms(self, q: float, by: str = "") -> str:
        return f"histogram_quantile({q}, {self.last('k6_http_req_duration_seconds', by=by)}) * 1000"

    def wait_ingested(self, requests: float, timeout_s: float = INGEST_WAIT_S) -> None:
        """Until Prometheus counts exactly the requests the generators' summaries count (bounded)."""

        def probe() -> Poll[None]:
            held = self.counter("http_reqs")
            return Poll(held == requests, f"{held:.0f} of {requests:.0f} requests")

        wait_until(
            probe,
            what="hold every request",
            objects=[f"run {self.testid}"],
            timeout_s=timeout_s,
            interval_s=0.5,
        )

    def metrics(self) -> dict[str, dict[str, float]]:
        """k6 summary metrics (name -> stat -> value), from the merged series."""
        requests = self.counter("http_reqs")
        failed = self.counter("http_reqs", FAILED)
        duration = self.last("k6_http_req_duration_seconds")
        iteration = self.last("k6_iteration_duration_seconds")
        latency = {
            "p(95)": self.scalar(self.quantile_ms(0.95)),
            "p(99)": self.scalar(self.quantile_ms(0.99)),
            "avg": self.scalar(f"histogram_avg({duration}) * 1000"),
            "count": self.scalar(f"histogram_count({duration})"),
        }
        missing = [k for k, v in latency.items() if v is None]
        if missing or not requests:
            raise InfraError(
                f"prometheus holds no merged http_req_duration {missing} / http_reqs for run {self.testid}: "
                "did the generators' remote write reach it?"
            )
        out: dict[str, dict[str, float]] = {
            "http_reqs": {"count": requests},
            "http_req_duration": {k: v for k, v in latency.items() if v is not None},
            "http_req_failed": {"rate": failed / requests, "passes": failed, "fails": requests - failed},
            "iterations": {"count": self.counter("iterations")},
            "dropped_iterations": {"count": self.counter("dropped_iterations")},
            TRANSPORT_ERRORS: {"count": self.counter(TRANSPORT_ERRORS)},
            "vus_max": {
                "max": self.scalar(f"sum(max_over_time(k6_vus_max{self.selector()}[{self.window}]))") or 0
            },
        }
        avg = self.scalar(f"histogram_avg({iteration}) * 1000")
        if avg is not None:
            out["iteration_duration"] = {"avg": avg}
        return out

    def _by_route(self, expr: str) -> dict[str, float]:
        return {r["metric"].get("name", "?"): float(r["value"][1]) for r in self.prometheus.query(expr)}

    def series(self, start: float, end: float, step_s: float = 1.0) -> Series:
        """The merged run over time (plot) and per route (table), from the same series."""
        rng = f"[{max(2, math.ceil(2 * step_s))}s]"
        sel = self.selector()

        def curve(expr: str) -> dict[float, float]:
            out: dict[float, float] = {}
            for s in self.prometheus.query_range(expr, start, end, step_s):
                for t, v in s["values"]:
                    if v not in ("NaN", "+Inf", "-Inf"):
                        out[round(float(t) - start, 3)] = float(v)
            return out

        failed_sel = self.selector(FAILED)
        rps = curve(f"sum(rate(k6_http_reqs_total{sel}{rng}))")
        bad = curve(f"sum(rate(k6_http_reqs_total{failed_sel}{rng}))")
        hist = f"sum(rate(k6_http_req_duration_seconds{sel}{rng}))"
        p50, p95, p99 = (curve(f"histogram_quantile({q}, {hist}) * 1000") for q in (0.5, 0.95, 0.99))
        points = tuple(
            Point(t, rps[t], bad.get(t, 0.0), p50.get(t), p95.get(t), p99.get(t)) for t in sorted(rps)
        )
        by_route = self._by_route(self.last("k6_http_reqs_total", by="name"))
        failed = self._by_route(self.last("k6_http_reqs_total", FAILED, by="name"))
        p95_route = self._by_route(self.quantile_ms(0.95, by="name"))
        routes = [
            RouteStats(name, int(count), int(failed.get(name, 0)), p95_route.get(name, math.nan))
            for name, count in by_route.items()
        ]
        routes.sort(key=lambda r: (-r.requests, r.route))
        total = int(sum(by_route.values()))
        return Series(step_s, points, tuple(routes), total, int(sum(failed.values())), end - start)


def _passes(value: float, op: str, bound: float) -> bool:
    return value < bound if op == "<" else value > bound


def merged_summary(
    policy: Policy, figures: MergedFigures, generators: Sequence[Generator], duration_s: float
) -> dict[str, Any]:
    """A k6 handleSummary-shaped document whose figures and threshold verdicts are the merged run's."""
    metrics = figures.metrics()
    passes = sum(g.summary.value("checks", "passes") or 0 for g in generators)
    fails = sum(g.summary.value("checks", "fails") or 0 for g in generators)
    if passes + fails:
        metrics["checks"] = {"rate": passes / (passes + fails), "passes": passes, "fails": fails}
    doc: dict[str, Any] = {name: {"values": values} for name, values in metrics.items()}
    for spec in slo_specs(policy):
        value = metrics.get(spec.metric, {}).get(spec.stat)
        if value is not None:
            verdict = {"ok": _passes(value, spec.op, spec.bound)}
            doc[spec.metric].setdefault("thresholds", {})[spec.expression] = verdict
    return {
        "metrics": doc,
        "state": {"testRunDurationMs": duration_s * 1000},
        "merged": {
            "generators": len(generators),
            "run": figures.testid,
            "source": "PromQL over the generators' remote-written series; checks: sum of their summaries",
            "requests_per_generator": [g.requests for g in generators],
            "p95_query": figures.quantile_ms(0.95),
        },
    }


def write_summary(doc: dict[str, Any], path: Path) -> Summary:
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return parse_summary(path.read_text(), str(path))


__all__ = [
    "INSTANCE_TAG",
    "RW_OUTPUT",
    "Generator",
    "MergedFigures",
    "MergedRun",
    "generator_args",
    "measure_merged",
    "merge_digests",
    "merged_summary",
    "remote_write_env",
    "run_generators",
    "segment_sequence",
    "segments",
    "write_summary",
]


@dataclass(frozen=True)
class MergedRun:
    generators: list[Generator]
    summary: Summary  # the merged run's (PromQL), written to <workdir>/summary.json
    series: Series
    log: LogDigest
    testid: str


def measure_merged(
    policy: Policy,
    scenario: str,
    script: Path,
    workdir: Path,
    *,
    env: dict[str, str],
    generators: int,
    timeout_s: float,
    scheduled_s: float,
    k6: Path | None = None,
    live: Callable[[str], None] | None = None,
) -> MergedRun:
    """`n` generators against one Prometheus of their own (stopped, its data removed, in every case)."""
    n, testid = generators, f"{scenario}-{uuid.uuid4().hex[:12]}"
    with Prometheus.start(workdir / "prometheus", [], None, {}, remote_write=True) as prom:
        began = time.time()
        figures = MergedFigures(prom, testid, timeout_s + INGEST_WAIT_S)
        tick = None
        if live is not None:
            post = live

            def tick(elapsed_s: float) -> None:
                try:
                    rate = figures.scalar(f"sum(rate(k6_http_reqs_total{figures.selector()}[5s]))") or 0.0
                except InfraError:
                    return
                clock = f"{elapsed_s:.0f}/{scheduled_s:.0f} s"
                post(f"slo: {scenario}: {n} generators {clock}: {rate:,.0f} req/s merged (prometheus)")

        gens = run_generators(
            script,
            workdir,
            env,
            n,
            write_url=prom.write_url,
            testid=testid,
            timeout_s=timeout_s,
            k6=k6,
            on_tick=tick,
        )
        ended = time.time()
        figures.wait_ingested(sum(g.requests for g in gens))
        summary = write_summary(merged_summary(policy, figures, gens, scheduled_s), workdir / "summary.json")
        series = figures.series(began, ended)
    log = merge_digests([digest_log(g.process.stderr) for g in gens])
    return MergedRun(gens, summary, series, log, testid)
