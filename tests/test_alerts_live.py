"""The live alert check can fail: with the p95 alert's threshold raised to 1 s in a copy of the rules,
the SLO tier's latency fault no longer fires it, and the check reports that alert by name.

Real Prometheus, real reference target, real k6 (about 30 s). The passing counterpart is
the SLO tier itself (test_alert_fires_on_breach[latency] on the unmodified platform).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
