"""The SLO tier's live alert checks can fail: each test mutates one threshold in a copy of the
platform's PrometheusRules and runs the tier on it (real reference target, Prometheus and k6,
through pytest: FAILED, not ERROR), and the failure names the alert.

  quiet under load      p99 alert at 1 ms: the healthy load run sets it off
  error fault fires     error-rate alert at 50 %: the 20 % error fault cannot set it off
  exactly that alert    request-rate alert below the fault run's rate: the error fault sets it off too

The passing counterpart is the SLO tier on the unmodified platform (every live alert check passes);
the quiet run here shows it too, for the three alerts left alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conformance.slo.live_alerts import FAULT_RUN
from conformance.tools import REPO

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

PLATFORM = REPO / "manifests"
SUITE = REPO / "conformance" / "suites" / "slo"


def run_tier(pytester: pytest.Pytester, tmp_path: Path, old: str, new: str, select: str) -> pytest.RunResult:
    """The SLO tier's `select`ed items on a copy of the rules with `old` replaced by `new`."""
    manifests = tmp_path / "m"
    shutil.copytree(PLATFORM / "observability", manifests / "observability")
    rules = manifests / "observability" / "prometheus-rules.yaml"
    text = rules.read_text()
    assert text.count(old) == 1, f"{old!r} is not in the rules once: the mutation would prove nothing"
    rules.write_text(text.replace(old, new))
    policy = yaml.safe_load((PLATFORM / "policy.yaml").read_text())
    # The healthy load run the checks share, cut to seconds.
    policy["load"]["ci"]["load"] = {"rate": 20, "duration_s": 3, "pre_allocated_vus": 20, "max_vus": 40}
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    args = ["--manifests", str(manifests), "--policy", str(tmp_path / "policy.yaml"), "--run-profile", "ci"]
    return pytester.runpytest_subprocess(str(SUITE), *args, "-k", select, "-rfEs", timeout=300)


def test_quiet_check_fails_when_healthy_load_sets_off_an_alert(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    # Any traffic at all has a p99 above 1 ms (the histogram's first bucket ends at 5 ms).
    result = run_tier(pytester, tmp_path, "p99_5m > 1\n", "p99_5m > 0.001\n", "quiet")
    result.assert_outcomes(passed=3, failed=1)  # the three alerts left alone stay quiet
    result.stdout.fnmatch_lines(["FAILED *test_alert_quiet_under_load[[]TartwareHighLatencyP99[]]*"])
    result.stdout.fnmatch_lines(["*alert TartwareHighLatencyP99 was *pending during the passing load run*"])


def test_error_breach_fails_when_its_alert_cannot_fire(pytester: pytest.Pytester, tmp_path: Path) -> None:
    # 50 %: the 20 % error fault stays far below it.
    high = "ratio_rate5m > 0.5\n"
    result = run_tier(pytester, tmp_path, "ratio_rate5m > 0.05\n", high, "breach and errors")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_alert_fires_on_breach[[]errors[]]*"])
    result.stdout.fnmatch_lines(["*for alert TartwareHighErrorRate to fire: last state: firing none*"])


def test_error_breach_fails_when_another_alert_fires_too(pytester: pytest.Pytester, tmp_path: Path) -> None:
    # A quarter of the fault run's rate: its traffic alone sets the request-rate alert off.
    low = f"rate1m > {FAULT_RUN['rate'] / 4:g}\n"
    result = run_tier(pytester, tmp_path, "rate1m > 25000\n", low, "breach and errors")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_alert_fires_on_breach[[]errors[]]*"])
    result.stdout.fnmatch_lines(
        ["*errors fault * also set off [[]'TartwareHighRequestRate'[]]: only [[]'TartwareHighErrorRate'[]]*"]
    )
