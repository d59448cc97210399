"""Negative proof for the p99 SLO: a slow tail fails p99 while p95 keeps passing.

The SLO tier's latency fault slows every request between the two bounds, so only p95 can fail.
Here a share of requests between 1 % and 5 % is slowed beyond the p99 bound (the reference
target's `latency_fraction`, spread evenly, no RNG): p99 lands in the slow tail, p95 does not.
Real k6 against the real target, through the evaluator and then through the pytest suite
(FAILED, not ERROR). The healthy control is test_slo_negative's control run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance.policy import Policy, load_policy
from conformance.slo.evaluate import RunOptions, run_scenario
from conformance.slo.launcher import ReferenceTarget
from conformance.tools import REPO

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

POLICY = REPO / "manifests" / "policy.yaml"
# About 120 requests: the tail holds 3 of them (2.5 %), enough to own p99 and far too few to reach p95.
LOAD = {"rate": 40, "duration_s": 3, "pre_allocated_vus": 40, "max_vus": 60}


def tail_target(policy: Policy) -> ReferenceTarget:
    """3 % of requests (midway between the 1 % and 5 % tails) take half again the p99 bound."""
    slo = policy.require_slo()
    return ReferenceTarget(latency_ms=1.5 * slo.latency_p99_ms, latency_fraction=(0.01 + 0.05) / 2)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY)


def test_slow_tail_fails_p99_not_p95(policy: Policy, tmp_path: Path) -> None:
    with tail_target(policy).start(tmp_path) as target:
        opts = RunOptions(overrides={"load": LOAD})
        run = run_scenario(policy, "ci", "load", target.url, tmp_path / "run", options=opts)
        stats = target.stats()
    assert 0.01 < stats["delayed"] / stats["requests"] < 0.05, stats
    assert run.process.exit_code == 99, "k6 itself must report the crossed threshold"
    p99 = run.results["p99"]
    assert not p99.passed
    assert p99.message.startswith("load: p99 latency 1"), p99.message
    assert "ms, required < 1000.0 ms (slo.latency_p99_ms)" in p99.message
    failed = [r.message for r in run.results.values() if not r.passed]
    assert failed == [p99.message], "only p99: p95, errors, checks and rate hold"


def test_suite_reports_a_slow_tail_as_a_failed_p99_test(
    pytester: pytest.Pytester, policy: Policy, tmp_path: Path
) -> None:
    data = yaml.safe_load(POLICY.read_text())
    # Smoke: about 8 requests, before the target's first slow one (the 34th): only load meets the tail.
    data["load"]["ci"]["smoke"] = {"vus": 2, "duration_s": 2}
    data["load"]["ci"]["load"] = LOAD
    small = tmp_path / "policy.yaml"
    small.write_text(yaml.safe_dump(data))
    suite = REPO / "conformance" / "suites" / "slo"
    with tail_target(policy).start(tmp_path) as target:
        args = ["--policy", str(small), "--run-profile", "ci", "--slo-target", target.url, "-rfEs"]
        result = pytester.runpytest_subprocess(str(suite), *args, timeout=120)
        host = target.url.split("://", 1)[1].rstrip("/")
    # The 6 live alert checks need the local reference target and the scaling loop needs
    # --provider kind: skipped (as in test_slo_negative).
    result.assert_outcomes(passed=10, failed=1, skipped=7)
    result.stdout.fnmatch_lines([f"FAILED *test_slo[[]{host}-load-p99[]]*"])
    result.stdout.fnmatch_lines(["*load: p99 latency 1*ms, required < 1000.0 ms (slo.latency_p99_ms)*"])
