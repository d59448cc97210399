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
import sys
from pathlib import Path

import pytest

from conformance.cluster.procs import alive, processes_referencing
from conformance.cluster.wait import Poll, wait_until
from conformance.policy import load_policy
from conformance.slo.launcher import ReferenceTarget
from conformance.slo.live_alerts import AlertNotFiring, LiveAlerts, faults
from conformance.tools import REPO

pytestmark = pytest.mark.slow
PLATFORM = REPO / "manifests"


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


def test_an_interrupted_slo_tier_leaves_no_prometheus(tmp_path: Path) -> None:
    """Ctrl-C while the live checks run: Prometheus is stopped and its data directory removed."""
    base = tmp_path / "base"
    suite = str(REPO / "conformance" / "suites" / "slo")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        suite,
        "-p",
        "no:cacheprovider",
        "-k",
        "quiet",
        f"--basetemp={base}",
    ]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(
            lambda: Poll(_has_prometheus(processes_referencing(base)), "no prometheus yet"),
            what="start prometheus",
            objects=["SLO tier"],
            timeout_s=60,
        )
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    left = [p for p in processes_referencing(base) if alive(p)]
    assert not left, f"processes left running after Ctrl-C: {left}"
    assert not list(base.glob("**/prometheus/data")), "the Prometheus data directory was left behind"


def _has_prometheus(pids: list[int]) -> bool:
    for pid in pids:
        with contextlib.suppress(OSError):
            if "--storage.tsdb.path" in Path(f"/proc/{pid}/cmdline").read_text():
                return True
    return False
