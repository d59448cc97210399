"""Several generators, merged on Prometheus (issue 21, item 4): proofs with the real k6 and Prometheus.

Each generator is the real k6 with one execution segment, writing its samples to a real
Prometheus (k6's experimental-prometheus-rw output, trends as native histograms); the verdicts
are PromQL over the merged series. The target is the suite's reference target with a
deterministic fault mix: every tenth request +300 ms (so p95 and p99 both sit among the delayed
requests, on a 300 ms plateau, not in 1-2 ms of scheduling noise) and 2 % HTTP 500s. Modest
load: 200 req/s for 15 s per run, the k6 VUs allocated up front (no VU start-up mid-run).

Tolerances, and why:
- counts (requests, failures, iterations, checks) and everything derived from them (error ratio,
  request rate, mean latency = histogram sum / count): exact, on one generator. Prometheus holds
  the very counters k6 counted (the test waits, bounded, until it holds every request).
- p95 / p99: k6's remote-write output uses native-histogram schema 3 (bucket growth factor
  2^(1/8)), so an estimate lies in the same bucket as the exact quantile: within
  QUANTILE_TOLERANCE = 2^(1/8) - 1 = 9.05 % of k6's own exact figure.
- one full-rate generator vs two half-rate ones are two runs: each must be trustworthy by the tier's
  own integrity rule (k6 dropped <= 1 % of the schedule; an untrustworthy run is measured again, at
  most ATTEMPTS times, as the tier does), so their request counts agree within 2 %; the error ratio
  agrees to the target's deterministic share (0.5 pp); the quantiles to one bucket either side
  (2^(2/8) - 1 = 18.9 %: each estimate within one bucket of its run's exact value, plus the
  run-to-run noise of a shared machine, measured 0.1-3 %). The verdicts (pass/fail of every SLO)
  must be the same.
No assertion depends on wall-clock time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.cluster.procs import alive, processes_referencing
from conformance.errors import InfraError
from conformance.policy import Policy, load_policy
from conformance.settings import Settings
from conformance.slo.config import build_config, plans, write_config
from conformance.slo.evaluate import RunOptions, ScenarioRun, run_scenario
from conformance.slo.k6_summary import Summary, parse_summary
from conformance.slo.launcher import ReferenceTarget
from conformance.slo.merged import (
    INSTANCE_TAG,
    MergedRun,
    generator_args,
    measure_merged,
    run_generators,
    segment_sequence,
    segments,
)
from conformance.slo.testrun import TestRunPlan, render, validate
from conformance.tools import REPO

POLICY = REPO / "manifests" / "policy.yaml"
RATE, SECONDS = 200, 15
LOAD = {"load": {"rate": RATE, "duration_s": SECONDS, "pre_allocated_vus": 60, "max_vus": 60}}
LATENCY_MS, DELAYED = 300.0, 0.1
ERRORS = 0.02  # under the 5 % SLO; the checks (99 %) fail on it: both kinds of verdict
ATTEMPTS = 3
BUCKET = 2 ** (1 / 8)  # native-histogram schema 3, as k6's remote-write output sends it
QUANTILE_TOLERANCE = BUCKET - 1
TWO_RUNS_TOLERANCE = BUCKET**2 - 1
JUDGED = ("p95", "p99", "error_rate", "checks", "achieved_rate")
STATS = (("http_req_duration", "p(95)"), ("http_req_duration", "p(99)"))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with ReferenceTarget(latency_ms=LATENCY_MS, latency_fraction=DELAYED, error_rate=ERRORS).start(
        tmp_path_factory.mktemp("target")
    ) as started:
        yield started


def merged_run(policy: Policy, url: str, workdir: Path, generators: int) -> MergedRun:
    config = write_config(build_config(policy, "ci", url, LOAD), workdir / "k6-config.json")
    return measure_merged(
        policy,
        "load",
        REPO / "k6" / "load.js",
        workdir,
        env={"TARTWARE_K6_CONFIG": str(config)},
        generators=generators,
        timeout_s=SECONDS + 60,
        scheduled_s=SECONDS,
    )


def tier_run(policy: Policy, url: str, workdir: Path, generators: int) -> ScenarioRun:
    options = RunOptions(overrides=LOAD, generators=generators, calibrate_above=None)
    return run_scenario(policy, "ci", "load", url, workdir, options=options)


def trusted_run(policy: Policy, url: str, workdir: Path, generators: int) -> ScenarioRun:
    """A run the tier's integrity rule trusts, measured again (bounded) when a busy machine spoilt it."""
    for attempt in range(1, ATTEMPTS + 1):
        run = tier_run(policy, url, workdir / f"attempt-{attempt}", generators)
        if run.results["integrity"].passed:
            return run
    raise AssertionError(f"{ATTEMPTS} untrustworthy runs: {run.results['integrity'].message}")


def value(summary: Summary, metric: str, stat: str) -> float:
    found = summary.value(metric, stat)
    assert found is not None, f"{metric} {stat} missing"
    return found


def relative(a: float, b: float) -> float:
    return abs(a - b) / b


# --- the split and the options, no k6 -----------------------------------------------------


def test_segments_split_the_scenario_exactly() -> None:
    assert segments(1) == ["0:1"]
    assert segments(3) == ["0:1/3", "1/3:2/3", "2/3:1"]
    assert segment_sequence(3) == "0,1/3,2/3,1"
    args = generator_args(1, 2, "run-x")
    assert args[args.index("--execution-segment") + 1] == "1/2:1"
    assert f"{INSTANCE_TAG}=2" in args and "testid=run-x" in args
    assert args[args.index("--out") + 1] == "experimental-prometheus-rw"
    with pytest.raises(ValueError, match=">= 1"):
        segments(0)


def test_generators_option_defaults_to_one_and_refuses_zero() -> None:
    assert Settings.from_env({}).slo_generators == 1
    assert Settings.from_env({"CONFORMANCE_SLO_GENERATORS": "3"}).slo_generators == 3
    with pytest.raises(ValueError, match=r"--slo-generators / CONFORMANCE_SLO_GENERATORS must be .* >= 1"):
        Settings.from_env({"CONFORMANCE_SLO_GENERATORS": "0"})


def test_testrun_uses_the_same_segments_and_output(policy: Policy) -> None:
    objects = render(policy, "load", "prod", write_url="http://prom.example:9090/api/v1/write")
    assert validate(objects, policy, "load", "prod") == []
    spec = next(o for o in objects if o["kind"] == "TestRun")["spec"]
    plan = TestRunPlan.of(plans(policy, "prod")["load"], "prod")
    assert plan.segments == segments(spec["parallelism"])
    assert "--out experimental-prometheus-rw" in spec["arguments"]
    env = {e["name"]: e["value"] for e in spec["runner"]["env"]}
    assert env["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"] == "true"
    assert env["K6_PROMETHEUS_RW_SERVER_URL"] == "http://prom.example:9090/api/v1/write"
    spec["runner"]["env"] = [e for e in spec["runner"]["env"] if "NATIVE_HISTOGRAM" not in e["name"]]
    assert any(
        "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM" in p for p in validate(objects, policy, "load", "prod")
    )


# --- real k6 + real Prometheus ------------------------------------------------------------


@pytest.mark.slow
def test_one_generator_prometheus_agrees_with_k6s_own_summary(
    policy: Policy, target: ReferenceTarget, tmp_path: Path
) -> None:
    run = merged_run(policy, target.url, tmp_path, generators=1)
    own, prom = run.generators[0].summary, run.summary
    for metric, stat in (("http_reqs", "count"), ("http_req_failed", "rate"), ("checks", "rate"),
                         ("iterations", "count"), ("http_req_duration", "count")):  # fmt: skip
        assert value(prom, metric, stat) == value(own, metric, stat), (metric, stat)
    assert value(prom, "http_req_duration", "avg") == pytest.approx(value(own, "http_req_duration", "avg"))
    for metric, stat in STATS:
        off = relative(value(prom, metric, stat), value(own, metric, stat))
        assert off <= QUANTILE_TOLERANCE, (stat, value(prom, metric, stat), value(own, metric, stat))
    assert value(prom, "http_req_failed", "rate") == pytest.approx(ERRORS, abs=0.005)
    assert not (tmp_path / "prometheus" / "data").exists(), "Prometheus's data outlived the run"
    assert processes_referencing(tmp_path) == [], "a generator or Prometheus outlived the run"


@pytest.mark.slow
def test_two_half_rate_generators_judge_like_one_full_rate(
    policy: Policy, target: ReferenceTarget, tmp_path: Path
) -> None:
    one = trusted_run(policy, target.url, tmp_path / "one", generators=1)  # k6's own summary
    two = trusted_run(policy, target.url, tmp_path / "two", generators=2)  # PromQL over two generators
    assert [one.results[s].passed for s in JUDGED] == [two.results[s].passed for s in JUDGED], {
        s: (one.results[s].message, two.results[s].message) for s in JUDGED
    }
    assert not one.results["checks"].passed and one.results["error_rate"].passed  # both kinds of verdict
    counts = [value(r.summary, "http_reqs", "count") for r in (one, two)]
    assert relative(counts[1], counts[0]) <= 0.02, counts
    rates = [value(r.summary, "http_req_failed", "rate") for r in (one, two)]
    assert abs(rates[1] - rates[0]) <= 0.005, rates
    for metric, stat in STATS:
        pair = [value(r.summary, metric, stat) for r in (one, two)]
        assert relative(pair[1], pair[0]) <= TWO_RUNS_TOLERANCE, (stat, pair)
    merged = two.summary_path.read_text()
    assert '"generators": 2' in merged and "histogram_quantile(0.95" in merged
    per_generator = [value(g, "http_reqs", "count") for g in _generator_summaries(two.workdir)]
    assert len(per_generator) == 2 and sum(per_generator) == counts[1]
    assert abs(per_generator[0] - per_generator[1]) <= 0.02 * counts[1], per_generator  # half each


def _generator_summaries(workdir: Path) -> list[Summary]:
    return [parse_summary(p.read_text(), str(p)) for p in sorted(workdir.glob("generator-*/summary.json"))]


@pytest.mark.slow
def test_merged_error_ratio_fails_on_a_failing_target(policy: Policy, tmp_path: Path) -> None:
    bad = 4 * policy.require_slo().error_rate
    with ReferenceTarget(error_rate=bad).start(tmp_path / "target") as failing:
        run = tier_run(policy, failing.url, tmp_path / "run", generators=2)
    result = run.results["error_rate"]
    assert not result.passed, result.message
    assert value(run.summary, "http_req_failed", "rate") == pytest.approx(bad, abs=0.005)
    assert run.results["p95"].passed, "only the error SLO is broken by this target"


@pytest.mark.slow
def test_a_generator_that_cannot_run_is_broken_and_leaves_nothing(policy: Policy, tmp_path: Path) -> None:
    config = write_config(build_config(policy, "ci", "http://127.0.0.1:9", LOAD), tmp_path / "k6-config.json")
    with pytest.raises(InfraError, match="generator 1 of 2: k6 exit"):
        measure_merged(
            policy,
            "load",
            tmp_path / "missing.js",
            tmp_path,
            env={"TARTWARE_K6_CONFIG": str(config)},
            generators=2,
            timeout_s=60,
            scheduled_s=SECONDS,
        )
    assert not (tmp_path / "prometheus" / "data").exists()
    assert processes_referencing(tmp_path) == []


def _fake_k6(tmp_path: Path, pids: Path) -> Path:
    """A k6 stand-in that records its pid and ignores SIGINT (k6's stop signal): SIGKILL must end it."""
    path = tmp_path / "fake-k6"
    path.write_text(f"#!/usr/bin/env bash\ntrap '' INT\necho $$ >> {pids}\nsleep 300\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("how", ["timeout", "ctrl-c"])
def test_every_generator_is_stopped_on_a_timeout_or_ctrl_c(tmp_path: Path, how: str) -> None:
    pids = tmp_path / "pids"
    k6 = _fake_k6(tmp_path, pids)

    def ctrl_c(_elapsed: float) -> None:
        if pids.exists() and len(pids.read_text().split()) == 2:
            raise KeyboardInterrupt

    expected: type[BaseException] = InfraError if how == "timeout" else KeyboardInterrupt
    with pytest.raises(expected):
        run_generators(
            tmp_path / "x.js",
            tmp_path / "run",
            {},
            2,
            write_url="http://127.0.0.1:9/api/v1/write",
            testid="t",
            timeout_s=5 if how == "timeout" else 60,
            k6=k6,
            on_tick=None if how == "timeout" else ctrl_c,
            tick_s=0.05,
        )
    started = [int(p) for p in pids.read_text().split()]
    assert started and not any(alive(p) for p in started), "a generator outlived the stop"
    assert processes_referencing(tmp_path) == [], "a generator outlived the stop"


@pytest.mark.slow
def test_a_target_that_never_answers_is_broken_not_failed(policy: Policy, tmp_path: Path) -> None:
    short = {"load": {"rate": 20, "duration_s": 2, "pre_allocated_vus": 10, "max_vus": 10}}
    options = RunOptions(overrides=short, generators=2, calibrate_above=None, preflight=False)
    with pytest.raises(InfraError, match=r"got an HTTP response .* the target is down"):
        run_scenario(policy, "ci", "load", "http://127.0.0.1:9", tmp_path, options=options)
    assert processes_referencing(tmp_path) == []
