"""The runner's glue with a fake k6 (a shell script): exit codes, timeouts, Ctrl-C, log digest.

The real k6 against the real target is in test_slo_negative.py; here a fake
binary makes each failure mode happen on demand.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest
from interrupting import cpu_hog, ctrl_c_raises

from conformance.cluster.procs import KILL_WAIT_S, STOP_GRACE_S
from conformance.errors import InfraError
from conformance.policy import Policy, load_policy
from conformance.slo.evaluate import RunOptions, run_scenario
from conformance.slo.k6_summary import SummaryError
from conformance.slo.runner import digest_log, run_k6
from conformance.tools import REPO

OVERRIDES = {"load": {"rate": 10, "duration_s": 1}}
# Beyond a stop's own bound (procs.STOP_GRACE_S + KILL_WAIT_S): the harness's /proc scans and
# this test's observation on a loaded machine. Measured under a CPU hog: under 1 s.
MARGIN_S = 3.0

# A summary whose thresholds all pass (the policy's expressions).
PASSING = {
    "state": {"testRunDurationMs": 1000},
    "metrics": {
        "http_req_duration": {
            "values": {"p(95)": 5, "p(99)": 9},
            "thresholds": {"p(95)<500": {"ok": True}, "p(99)<1000": {"ok": True}},
        },
        "http_req_failed": {"values": {"rate": 0}, "thresholds": {"rate<0.05": {"ok": True}}},
        "checks": {"values": {"rate": 1}, "thresholds": {"rate>0.99": {"ok": True}}},
        "http_reqs": {"values": {"count": 10}},
        "iterations": {"values": {"count": 10}},
    },
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(REPO / "manifests" / "policy.yaml")


def fake_k6(tmp_path: Path, body: str) -> Path:
    """An executable standing in for k6; `body` is bash, `$@` holds k6's arguments."""
    path = tmp_path / "fake-k6"
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def with_summary(summary: dict[str, object], code: int, *, csv: bool = True) -> str:
    lines = [f"cat > \"$TARTWARE_K6_SUMMARY\" <<'EOF'\n{json.dumps(summary)}\nEOF"]
    if csv:  # an empty time series where `--out csv=<path>` says
        header = "metric_name,timestamp,metric_value"
        lines.append(f'for a in "$@"; do case $a in csv=*) echo {header} > "${{a#csv=}}";; esac; done')
    lines.append(f"exit {code}")
    return "\n".join(lines)


def run(policy: Policy, tmp_path: Path, k6: Path, timeout_s: float | None = None) -> None:
    options = RunOptions(overrides=OVERRIDES, preflight=False, k6=k6, timeout_s=timeout_s)
    run_scenario(policy, "ci", "load", "http://127.0.0.1:9", tmp_path / "run", options=options)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent, the fake k6, was killed).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_fake_passing_run_is_judged(policy: Policy, tmp_path: Path) -> None:
    options = RunOptions(overrides=OVERRIDES, preflight=False, k6=fake_k6(tmp_path, with_summary(PASSING, 0)))
    result = run_scenario(policy, "ci", "load", "http://127.0.0.1:9", tmp_path / "run", options=options)
    assert result.results["p95"].passed and result.results["achieved_rate"].passed
    assert (tmp_path / "run" / "k6-config.json").is_file() and result.plot_path.is_file()


@pytest.mark.parametrize(
    ("code", "name"), [(107, "script exception"), (104, "invalid config"), (1, "unknown")]
)
def test_other_exit_codes_are_broken(policy: Policy, tmp_path: Path, code: int, name: str) -> None:
    k6 = fake_k6(tmp_path, f'echo \'{{"level":"error","msg":"boom"}}\' >&2; exit {code}')
    with pytest.raises(InfraError, match=f"exit {code} \\({name}\\)") as err:
        run(policy, tmp_path, k6)
    assert "boom" in str(err.value), "the message carries k6's stderr"


def test_exit_zero_without_summary_is_broken(policy: Policy, tmp_path: Path) -> None:
    with pytest.raises(SummaryError, match="wrote no summary"):
        run(policy, tmp_path, fake_k6(tmp_path, "exit 0"))


def test_exit_code_contradicting_the_summary_is_broken(policy: Policy, tmp_path: Path) -> None:
    with pytest.raises(SummaryError, match="disagree"):
        run(policy, tmp_path, fake_k6(tmp_path, with_summary(PASSING, 99)))


def test_summary_without_the_policy_thresholds_is_broken(policy: Policy, tmp_path: Path) -> None:
    foreign = json.loads(json.dumps(PASSING))
    foreign["metrics"]["http_req_duration"]["thresholds"] = {"p(95)<800": {"ok": True}}
    with pytest.raises(SummaryError, match=r"no threshold http_req_duration 'p\(95\)<500'"):
        run(policy, tmp_path, fake_k6(tmp_path, with_summary(foreign, 0)))


def test_missing_time_series_is_broken(policy: Policy, tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="time series"):
        run(policy, tmp_path, fake_k6(tmp_path, with_summary(PASSING, 0, csv=False)))


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # A background job of a script ignores SIGINT (k6's stop signal): it must get SIGKILL.
    k6 = fake_k6(tmp_path, f"sleep 300 & echo $! > {pidfile}; wait")
    with cpu_hog():
        began = time.monotonic()
        with pytest.raises(InfraError, match="did not finish within 1s and was killed"):
            run_k6(tmp_path / "x.js", tmp_path, {}, timeout_s=1, k6=k6)
        took = time.monotonic() - began
    # The 1 s timeout, then at most the grace and the kill wait (plus the margin) before it returns.
    assert took <= 1 + STOP_GRACE_S + KILL_WAIT_S + MARGIN_S, f"{took:.1f} s"
    assert not alive(int(pidfile.read_text())), "k6's child outlived the timeout"


@pytest.mark.parametrize("obeys", [True, False], ids=["k6-stops", "k6-ignores-sigint"])
def test_ctrl_c_stops_k6_and_propagates(tmp_path: Path, obeys: bool) -> None:
    """Ctrl-C while k6 runs: SIGINT to k6's group, SIGKILL after the grace if it does not stop;
    run_k6 re-raises within STOP_GRACE_S + KILL_WAIT_S, on a busy machine too."""
    pidfile = tmp_path / "k6.pid"
    k6 = fake_k6(tmp_path, ("" if obeys else "trap '' INT; ") + f"echo $$ > {pidfile}; sleep 300")
    sent: list[float] = []

    def ctrl_c(_elapsed: float) -> None:
        # Called from run_k6's wait loop (the main thread): k6 is running once its pid file exists.
        if pidfile.exists() and pidfile.read_text().strip() and not sent:
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

    with cpu_hog(), ctrl_c_raises(), pytest.raises(KeyboardInterrupt):
        run_k6(tmp_path / "x.js", tmp_path, {}, timeout_s=60, k6=k6, on_tick=ctrl_c, tick_s=0.05)
    took = time.monotonic() - sent[0]
    assert not alive(int(pidfile.read_text())), "k6 outlived the Ctrl-C"
    assert took <= STOP_GRACE_S + KILL_WAIT_S + MARGIN_S, f"k6 stopped {took:.1f} s after the Ctrl-C"


def test_inherited_k6_variables_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K6_OUT", "cloud")
    k6 = fake_k6(tmp_path, 'env | grep -E "^(K6_|TARTWARE_)" | sort')
    proc = run_k6(tmp_path / "x.js", tmp_path, {"TARTWARE_K6_CONFIG": "/c.json"}, timeout_s=10, k6=k6)
    env = proc.stdout.read_text().split()
    assert "K6_OUT=cloud" not in env
    assert {"K6_NO_USAGE_REPORT=true", "TARTWARE_K6_CONFIG=/c.json"} <= set(env)
    args = proc.argv
    assert "--no-usage-report" in args and args[args.index("--address") + 1] == ""


def test_log_digest_counts_exceptions_errors_and_warnings(tmp_path: Path) -> None:
    log = tmp_path / "k6.stderr"
    entries = [
        {
            "level": "error",
            "msg": "TypeError: x is undefined\n\tat default (file:///k6/load.js:9)",
            "source": "stacktrace",
        },
        {"level": "error", "msg": "TypeError: again", "source": "stacktrace"},
        {"level": "warning", "msg": "Request Failed", "error": "connection refused"},
        {"level": "warning", "msg": "Request Failed", "error": "connection refused"},
        {"level": "error", "msg": "thresholds on metrics 'checks' have been crossed"},
        {"level": "error", "msg": "handleSummary() failed"},
    ]
    log.write_text("\n".join(json.dumps(e) for e in entries) + "\npanic: not json\n")
    d = digest_log(log)
    assert d.script_errors == 2 and d.first_script_error is not None
    assert d.first_script_error.startswith("TypeError: x is undefined")
    assert d.errors == ("handleSummary() failed",)  # the threshold verdict is not an error
    assert d.warnings == {"Request Failed": 2} and d.unparsed == 1


def test_on_tick_reports_while_k6_runs_and_not_after(tmp_path: Path) -> None:
    k6 = fake_k6(tmp_path, "sleep 1.2")
    ticks: list[float] = []
    proc = run_k6(
        tmp_path / "s.js", tmp_path / "w", {}, timeout_s=30, k6=k6, on_tick=ticks.append, tick_s=0.3
    )
    assert proc.exit_code == 0
    # Bounds from the run as measured, not from an idle machine: on a busy one k6 may take longer
    # to start and end (more ticks), or a tick may oversleep (fewer), but one comes per tick_s at most.
    assert 1 <= len(ticks) <= proc.wall_s / 0.3 + 1, (ticks, proc.wall_s)
    assert ticks == sorted(ticks)
    assert all(t < proc.wall_s for t in ticks)


def test_the_deadline_holds_with_ticks(tmp_path: Path) -> None:
    k6 = fake_k6(tmp_path, "sleep 30")
    with pytest.raises(InfraError, match="did not finish within 1s"):
        run_k6(tmp_path / "s.js", tmp_path / "w", {}, timeout_s=1, k6=k6, on_tick=lambda _t: None, tick_s=0.4)
