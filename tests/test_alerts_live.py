"""The live alert check can fail: with the p95 alert's threshold raised to 1 s in a copy of the rules,
the SLO tier's latency fault no longer fires it, and the check reports that alert by name.

Real Prometheus, real reference target, real k6 (about 30 s). The passing counterpart is
the SLO tier itself (test_alert_fires_on_breach[latency] on the unmodified platform).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from interrupting import cpu_hog, tier_pytest

from conformance.cluster.lifecycle import INTERRUPT_BUDGET_S
from conformance.cluster.procs import alive, processes_referencing
from conformance.cluster.wait import Poll, wait_until
from conformance.policy import load_policy
from conformance.slo.launcher import ReferenceTarget
from conformance.slo.live_alerts import AlertNotFiring, LiveAlerts, faults
from conformance.tools import REPO

pytestmark = pytest.mark.slow
PLATFORM = REPO / "manifests"
MARGIN_S = 5.0  # beyond the budget: this test's own observation of the exit on a loaded machine


def test_a_raised_threshold_makes_the_live_latency_check_fail(tmp_path: Path) -> None:
    manifests = tmp_path / "m"
    shutil.copytree(PLATFORM / "observability", manifests / "observability")
    rules = manifests / "observability" / "prometheus-rules.yaml"
    rules.write_text(rules.read_text().replace("p95_5m > 0.5", "p95_5m > 1", 1))
    policy = load_policy(PLATFORM / "policy.yaml")
    obs = policy.observability
    assert obs is not None
    (latency,) = [f for f in faults(policy) if f.name == "latency"]
    with ReferenceTarget(metrics=(obs.requests_metric, obs.latency_metric)).start(tmp_path) as target:
        live = LiveAlerts.start(policy, manifests, "ci", tmp_path / "live", target.url)
        try:
            with pytest.raises(AlertNotFiring, match=r"alert TartwareHighLatencyP95 to fire: last state"):
                live.breach(latency, target, "ci", tmp_path / "run")
        finally:
            live.stop()
    assert live.prometheus.proc.poll() is not None, "prometheus is stopped"


@pytest.mark.parametrize("moment", ["prometheus-up", "k6-running"])
def test_an_interrupted_slo_tier_leaves_no_prometheus(tmp_path: Path, moment: str) -> None:
    """Ctrl-C while the live checks start (Prometheus up) or while k6 runs, on a busy machine:
    the tier exits within lifecycle.INTERRUPT_BUDGET_S (+ MARGIN_S) with k6, Prometheus and the
    target stopped and Prometheus's data directory removed."""
    base = tmp_path / "base"
    suite = str(REPO / "conformance" / "suites" / "slo")
    argv = tier_pytest(suite, "-p", "no:cacheprovider", "-k", "quiet", f"--basetemp={base}")
    wanted = {"prometheus-up": "--storage.tsdb.path", "k6-running": "csv="}[moment]  # k6: --out csv=...
    exit_s = None
    log = tmp_path / "slo-tier.log"
    with cpu_hog(), log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            # Budgets to get there, not the claim: pytest, target, Prometheus (and k6) on a busy machine.
            wait_until(
                lambda: Poll(_runs(processes_referencing(base), wanted), f"nothing with {wanted} yet"),
                what=f"start what has {wanted} on its command line",
                objects=["SLO tier"],
                timeout_s=180,
            )
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(INTERRUPT_BUDGET_S + MARGIN_S)
                exit_s = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    left = [p for p in processes_referencing(base) if alive(p)]
    output = log.read_text(errors="replace")[-2500:]
    assert exit_s is not None, f"still running {INTERRUPT_BUDGET_S + MARGIN_S:g} s after Ctrl-C:\n{output}"
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, f"exit {proc.returncode}:\n{output}"
    print(f"{moment}: exited {exit_s:.1f} s after the signal (bound {INTERRUPT_BUDGET_S + MARGIN_S:g} s)")
    assert not left, f"processes left running {exit_s:.1f} s after Ctrl-C: {left}"
    assert not list(base.glob("**/prometheus/data")), "the Prometheus data directory was left behind"


def _runs(pids: list[int], needle: str) -> bool:
    for pid in pids:
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{pid}/cmdline").read_text():
                return True
    return False
