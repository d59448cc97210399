"""Negative proof: the SLO tier fails when the target is slow or failing, and breaks when it is down.

Every test runs the real k6 binary against the real reference target (short
runs, low rates, thresholds from manifests/policy.yaml), first through the
evaluator directly, then through the pytest suite itself with pytester, so
FAILED (SLO breach) vs ERROR (infrastructure) is proven where users see it.
A healthy control run shows the failures come from the injected faults.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.errors import InfraError
from conformance.policy import Policy, load_policy
from conformance.slo.evaluate import RunOptions, ScenarioRun, run_scenario
from conformance.slo.launcher import ReferenceTarget
from conformance.tools import REPO

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

POLICY = REPO / "manifests" / "policy.yaml"
# A few seconds at a low rate: enough samples for p95/p99, cheap on 2 cores.
SHORT = {"load": {"rate": 40, "duration_s": 3, "pre_allocated_vus": 40, "max_vus": 60}}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY)


def judge(policy: Policy, url: str, workdir: Path, **options: Any) -> ScenarioRun:
    opts = RunOptions(**{"overrides": SHORT, **options})
    return run_scenario(policy, "ci", "load", url, workdir, options=opts)


def verdicts(run: ScenarioRun) -> dict[str, bool]:
    return {slo: r.passed for slo, r in run.results.items()}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_control_healthy_target_passes_every_slo(policy: Policy, tmp_path: Path) -> None:
    with ReferenceTarget().start(tmp_path) as target:
        run = judge(policy, target.url, tmp_path / "run")
    failed = [r.message for r in run.results.values() if not r.passed]
    assert not failed, failed
    assert run.process.exit_code == 0


def test_latency_fails_the_p95_slo(policy: Policy, tmp_path: Path) -> None:
    with ReferenceTarget(latency_ms=700).start(tmp_path) as target:
        run = judge(policy, target.url, tmp_path / "run")
    assert run.process.exit_code == 99, "k6 itself must report the crossed threshold"
    p95 = run.results["p95"]
    assert not p95.passed
    assert p95.message.startswith("load: p95 latency 7"), p95.message
    assert "ms, required < 500.0 ms (slo.latency_p95_ms)" in p95.message
    # Only what the fault breaks: 700 ms is within p99 < 1000 ms, and nothing errored.
    assert verdicts(run) | {"p95": True} == dict.fromkeys(run.results, True)


def test_errors_injected_at_runtime_fail_the_error_rate_slo(policy: Policy, tmp_path: Path) -> None:
    with ReferenceTarget().start(tmp_path) as target:
        target.set_faults(error_rate=0.2)  # through the admin endpoint, after start
        run = judge(policy, target.url, tmp_path / "run")
        injected = target.stats()["errors_injected"]
    err = run.results["error_rate"]
    assert not err.passed and injected > 0
    # The target fails exactly every 5th request; k6 may end a request or two short of a multiple of 5.
    assert re.match(
        r"load: error rate (19\.\d\d|20\.00) %, required < 5\.00 % \(slo\.error_rate\)$", err.message
    ), err.message
    assert not run.results["checks"].passed, "a 500 fails its status check too"
    assert run.results["p95"].passed and run.results["achieved_rate"].passed


@pytest.mark.parametrize("preflight", [True, False], ids=["preflight", "k6-only"])
def test_target_down_is_broken_not_failed(policy: Policy, tmp_path: Path, preflight: bool) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    expected = "unreachable" if preflight else "none of .* requests got an HTTP response"
    with pytest.raises(InfraError, match=expected):
        judge(policy, url, tmp_path / "run", preflight=preflight)
    if not preflight:  # k6 really ran against the closed port, and its verdict was overruled
        assert (tmp_path / "run" / "summary.json").is_file()


def test_script_errors_under_passing_thresholds_are_reported(policy: Policy, tmp_path: Path) -> None:
    lib = (REPO / "k6" / "lib").as_uri()
    script = tmp_path / "flaky.js"
    script.write_text(
        "import exec from 'k6/execution';\n"
        f"import {{ arrivalRate, optionsFor, sizesFor }} from '{lib}/config.js';\n"
        f"import * as api from '{lib}/routes.js';\n"
        f"export {{ handleSummary }} from '{lib}/summary.js';\n"
        "const s = sizesFor('load', 'constant-arrival-rate');\n"
        "export const options = optionsFor('load', { executor: 'constant-arrival-rate', rate: s.rate,\n"
        "  duration: `${s.duration_s}s`, ...arrivalRate(s) });\n"
        "export default function () {\n"
        "  api.listRooms();\n"
        "  if (exec.scenario.iterationInTest % 10 === 9) throw new Error('flow bug: no reservation');\n"
        "}\n"
    )
    with ReferenceTarget().start(tmp_path) as target:
        run = judge(policy, target.url, tmp_path / "run", script=script)
    assert run.process.exit_code == 0, "k6 passes the thresholds: only the harness sees the problem"
    assert all(run.results[s].passed for s in ("p95", "p99", "error_rate", "checks"))
    integrity = run.results["integrity"]
    assert not integrity.passed
    assert "thresholds passed, but the run is not trustworthy" in integrity.message
    assert "script exception(s) interrupted iterations (first: Error: flow bug" in integrity.message


def test_vus_starved_by_a_slow_target_fail_achieved_rate(policy: Policy, tmp_path: Path) -> None:
    """Two VUs against 200 ms answers hold 10 of 40 req/s: every VU waits on the target while k6 has
    capacity to spare. The target's shortfall: achieved rate FAILS; it is no generator limit (no
    GeneratorLimit, integrity clean). The generator's side: tests/test_slo_generator.py."""
    starved = {"load": {**SHORT["load"], "pre_allocated_vus": 2, "max_vus": 2}}
    with ReferenceTarget(latency_ms=200).start(tmp_path) as target:
        run = judge(policy, target.url, tmp_path / "run", overrides=starved)
    achieved = run.results["achieved_rate"]
    assert not achieved.passed, achieved.message
    assert "of 40 requested" in achieved.message and "required >= 95 %" in achieved.message
    assert "the target's shortfall: k6 dropped" in achieved.message
    assert "all 2 VUs were busy waiting on responses" in achieved.message
    assert run.shortfall is not None and run.shortfall.side == "target"
    assert run.generator_faults == [] and run.results["integrity"].passed, run.results["integrity"].message
    assert run.results["p95"].passed, "latency itself (200 ms) is within the SLO"


# --- the same proof through the pytest suite (what `make slo` shows) ------------------


def tiny_policy(tmp_path: Path) -> Path:
    """The real policy with the ci smoke/load sizes cut to seconds."""
    data = yaml.safe_load(POLICY.read_text())
    data["load"]["ci"]["smoke"] = {"vus": 2, "duration_s": 2}
    data["load"]["ci"]["load"] = {"rate": 20, "duration_s": 3, "pre_allocated_vus": 20, "max_vus": 40}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run_suite(pytester: pytest.Pytester, policy: Path, url: str) -> pytest.RunResult:
    suite = REPO / "conformance" / "suites" / "slo"
    args = [str(suite), "--policy", str(policy), "--run-profile", "ci", "--slo-target", url, "-rfEs"]
    return pytester.runpytest_subprocess(*args, timeout=120)


def test_suite_reports_latency_as_failed_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with ReferenceTarget(latency_ms=700).start(tmp_path) as target:
        result = run_suite(pytester, tiny_policy(tmp_path), target.url)
        host = target.url.split("://", 1)[1].rstrip("/")  # ids name the target measured (--slo-target)
    # The 6 live alert checks need the local reference target: skipped, with the reason; the
    # scaling loop needs --provider kind (the 7th skip).
    result.assert_outcomes(passed=9, failed=2, skipped=7)
    result.stdout.fnmatch_lines(["SKIPPED [[]6[]]*live alert checks need the local reference target*"])
    out = result.stdout.str()
    assert "FAILED" in out and f"test_slo[{host}-smoke-p95]" in out and f"test_slo[{host}-load-p95]" in out
    result.stdout.fnmatch_lines(["*load: p95 latency 7*ms, required < 500.0 ms (slo.latency_p95_ms)*"])
    result.stdout.fnmatch_lines(["slo tier: *harness overhead*"])


def test_suite_reports_a_down_target_as_errors(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = run_suite(pytester, tiny_policy(tmp_path), f"http://127.0.0.1:{closed_port()}")
    result.assert_outcomes(errors=11, skipped=7)  # the live checks and the scaling loop
    result.stdout.fnmatch_lines(["*is unreachable*nothing to measure*"])


def test_suite_fails_achieved_rate_once_when_a_slow_target_starves_the_vus(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Two VUs cannot hold 20 arrivals/s against 300 ms answers: the target's shortfall. Achieved
    rate FAILS after one run (measuring again would only measure the target again); the run is
    trustworthy (integrity passes); nothing is BROKEN."""
    policy = tiny_policy(tmp_path)
    data = yaml.safe_load(policy.read_text())
    data["load"]["ci"]["load"] = {"rate": 20, "duration_s": 3, "pre_allocated_vus": 2, "max_vus": 2}
    policy.write_text(yaml.safe_dump(data))
    with ReferenceTarget(latency_ms=300).start(tmp_path) as target:
        result = run_suite(pytester, policy, target.url)
    result.assert_outcomes(passed=10, failed=1, skipped=7)  # the live checks and the scaling loop
    out = result.stdout.str()
    assert "measured twice" not in out and "measuring once more" not in out, out[-3000:]
    assert "-load-achieved_rate]" in out and "-load-integrity]" not in out.split("short test summary")[-1]
    result.stdout.fnmatch_lines(
        ["*the target's shortfall: k6 dropped*all 2 VUs were busy waiting on responses*"]
    )
