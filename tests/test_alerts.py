"""The alert checks can fail: mutated copies of the platform's rules fail the case naming the alert.

Copies hold only manifests/observability (PrometheusRules, dashboards) and policy.yaml, so each
run is promtool on a few files. Unit tests cover the glue: policy fields, rule scaling, /metrics.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from conformance.alerts.generate import Generator
from conformance.alerts.rulefiles import write_rule_files
from conformance.alerts.run import AlertsRun, alerts_run
from conformance.errors import InfraError
from conformance.inventory import K8sObject, Source
from conformance.policy import Policy, PolicyError, load_policy
from conformance.settings import Settings
from conformance.slo.metrics import HttpMetrics
from conformance.slo.prometheus import TIME_SCALE, scale_rule_files, seconds
from conformance.tools import REPO

pytest_plugins = ["pytester"]
PLATFORM = REPO / "manifests"
RULES = "observability/prometheus-rules.yaml"
DASHBOARDS = "observability/grafana-dashboards.yaml"
P99_FOR = "for: 5m\n          labels:\n            severity: critical\n            slo: latency_p99_ms"


def _copy(dest: Path, old: str = "", new: str = "", file: str = RULES) -> Path:
    shutil.copytree(PLATFORM / "observability", dest / "observability")
    shutil.copy(PLATFORM / "policy.yaml", dest / "policy.yaml")
    if old:
        path = dest / file
        text = path.read_text()
        assert old in text, f"mutation anchor {old!r} not in {file}"
        path.write_text(text.replace(old, new, 1))
    return dest


def _run(manifests: Path, policy: Path | None = None) -> AlertsRun:
    settings = Settings.resolve({"manifests": str(manifests), "profiles": "prod"}.get, {})
    run = alerts_run(dataclasses.replace(settings, policy=policy or manifests / "policy.yaml"))
    assert not isinstance(run, InfraError), run
    return run


def _failing(run: AlertsRun) -> dict[str, list[str]]:
    """alert -> its failing cases."""
    out: dict[str, list[str]] = {}
    for rule_set in run.sets:
        for case in rule_set.cases:
            result = rule_set.results.get(case.test_name)
            if case.skip is None and (result is None or not result.passed):
                out.setdefault(case.alert.name, []).append(case.case)
    return out


def test_the_unmutated_rules_pass_every_generated_case(tmp_path: Path) -> None:
    run = _run(_copy(tmp_path))
    (rule_set,) = run.sets
    assert all(c.ok for c in rule_set.checks.values())
    cases = [(c.alert.name, c.case) for c in rule_set.cases]
    assert len(cases) == 16, cases  # 4 SLO alerts x firing, silent, pending, recorded
    assert all(c.skip is None for c in rule_set.cases)
    assert _failing(run) == {}


MUTATIONS: dict[str, tuple[str, str, str, set[str]]] = {
    # name: (old, new, alert that must fail, its failing cases must include these)
    "raised-threshold": ("p95_5m > 0.5", "p95_5m > 0.6", "TartwareHighLatencyP95", {"firing", "pending"}),
    "lowered-threshold": ("ratio_rate5m > 0.05", "ratio_rate5m > 0.04", "TartwareHighErrorRate", {"silent"}),
    "lengthened-for": (P99_FOR, P99_FOR.replace("5m", "10m"), "TartwareHighLatencyP99", {"firing"}),
    "shortened-for": (P99_FOR, P99_FOR.replace("5m", "1m"), "TartwareHighLatencyP99", {"pending"}),
    "wrong-severity": (P99_FOR, P99_FOR.replace("critical", "warning"), "TartwareHighLatencyP99", {"firing"}),
    # The platform rate counts the gateway only; without the matcher every service adds to it.
    "broken-matcher": (
        'service="api-gateway"}[1m]',
        'service=~".+"}[1m]',
        "TartwareHighRequestRate",
        {"silent", "recorded"},
    ),
    "matcher-typo": (
        '{namespace="tartware", code=~"5.."}',
        '{namespace="tartwre", code=~"5.."}',
        "TartwareHighErrorRate",
        {"firing", "pending", "recorded"},
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mutated_rule_fails_the_case_naming_its_alert(tmp_path: Path, name: str) -> None:
    old, new, alert, cases = MUTATIONS[name]
    failing = _failing(_run(_copy(tmp_path, old, new)))
    assert set(failing) == {alert}, f"{name}: expected only {alert} to fail, got {failing}"
    assert cases <= set(failing[alert]), f"{name}: {alert} failed {failing[alert]}, expected {cases}"


def test_rules_that_do_not_load_fail_every_case_and_name_group_and_rule(tmp_path: Path) -> None:
    run = _run(_copy(tmp_path, "p95_5m > 0.5", "p95_5m >"))
    (rule_set,) = run.sets
    ((_, check),) = rule_set.checks.items()
    assert not check.ok
    (error,) = check.errors
    assert (error.group, error.index, error.rule) == ("tartware.slo", 2, "TartwareHighLatencyP95")
    assert "could not parse expression" in error.message
    assert all(not r.passed and "do not load" in r.message for r in rule_set.results.values())
    assert len(rule_set.results) == 16, "cases are reported as failures, never dropped"


def test_without_an_observability_policy_the_cases_are_skipped_not_passed(tmp_path: Path) -> None:
    manifests = _copy(tmp_path)
    policy = yaml.safe_load((manifests / "policy.yaml").read_text())
    del policy["observability"]
    (manifests / "policy.yaml").write_text(yaml.safe_dump(policy))
    (rule_set,) = _run(manifests).sets
    assert rule_set.cases and all(c.skip and "no observability section" in c.skip for c in rule_set.cases)
    assert rule_set.results == {}, "nothing ran, so nothing can have passed"


def _pytest_static(pytester: pytest.Pytester, manifests: Path, *args: str) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["conformance.plugin"]')
    return pytester.runpytest_subprocess(
        str(REPO / "conformance" / "suites" / "static" / "test_alerts.py"),
        "--manifests", str(manifests), "--profile", "prod", "--policy", str(manifests / "policy.yaml"),
        "-p", "no:cacheprovider", "--rootdir", str(REPO), *args,
    )  # fmt: skip


def test_the_static_tier_reports_the_alert_file_object_and_promtool_message(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    manifests = _copy(tmp_path, "p95_5m > 0.5", "p95_5m > 0.6")
    result = _pytest_static(pytester, manifests)
    result.assert_outcomes(passed=17, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*prometheus-rules.yaml: PrometheusRule/monitoring/tartware-slo group 'tartware.slo' rule "
            "'TartwareHighLatencyP95': alert TartwareHighLatencyP95 fails its generated firing case",
            "*expected: latency_p95_ms 0.51 s (> 0.5 s)*",
            "*promtool: expr:*ALERTS*",
            '*exp: {alertname="TartwareHighLatencyP95", alertstate="firing"*',
            "*got: nil*",
        ]
    )
    result.stdout.fnmatch_lines(["*FAILED*test_alert?TartwareHighLatencyP95-firing*"])


def test_broken_dashboards_name_panel_and_metric(pytester: pytest.Pytester, tmp_path: Path) -> None:
    manifests = _copy(tmp_path, '"expr": "platform:http_requests:rate1m",', '"expr": "sum(rate(nope[5m])",',
                      file=DASHBOARDS)  # fmt: skip
    board = manifests / DASHBOARDS
    board.write_text(
        board.read_text().replace('"expr": "service:http_requests:rate1m"', '"expr": "unknown_total"')
    )
    result = _pytest_static(pytester, manifests, "-k", "dashboard")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*1 of 11 queries do not parse:*",
            "*tartware-overview.json panel 'Platform requests/s (alert at 25k)' query A: *parse error*",
            "*panel 'Requests/s per service' query A reads unknown_total: neither recorded nor exported*",
        ]
    )


def test_policy_observability_fields_are_checked(tmp_path: Path) -> None:
    data = yaml.safe_load((PLATFORM / "policy.yaml").read_text())
    data["observability"]["alert_for"] = "five minutes"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        PolicyError, match=r"observability\.alert_for 'five minutes' is not a positive duration"
    ):
        load_policy(path)
    obs = load_policy(PLATFORM / "policy.yaml").observability
    assert obs is not None and obs.alert_for_s == 300
    assert obs.exported[0] == obs.requests_metric and f"{obs.latency_metric}_bucket" in obs.exported


def test_scaling_divides_every_duration_by_one_factor(tmp_path: Path) -> None:
    body = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r"},
        "spec": {"groups": [{"name": "g", "interval": "1m", "rules": [
            {"alert": "A", "expr": "rate(x[5m] offset 1h) > 1", "for": "10m", "keep_firing_for": "2m"},
            {"record": "r:x", "expr": "max_over_time(x[30m:1m])"},
        ]}]},
    }  # fmt: skip
    files = write_rule_files([K8sObject(body, Source("r.yaml", 0))], tmp_path / "rules")
    (path,) = scale_rule_files(files, tmp_path / "scaled")
    (group,) = yaml.safe_load(path.read_text())["groups"]
    alert, record = group["rules"]
    assert TIME_SCALE == 60
    assert (
        group["interval"] == "1000ms" and alert["for"] == "10000ms" and alert["keep_firing_for"] == "2000ms"
    )
    assert alert["expr"] == "rate(x[5s] offset 1m) > 1"
    assert record["expr"] == "max_over_time(x[30s:1s])"
    assert seconds("1h30m") == 5400 and seconds("500ms") == 0.5
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        seconds("5 minutes")


def test_the_target_exports_cumulative_histogram_and_status_codes() -> None:
    metrics = HttpMetrics("req_total", "lat_seconds")
    for code, s in ((200, 0.003), (200, 0.7), (500, 0.5), (200, 30.0)):
        metrics.observe(code, s)
    text = metrics.render()
    assert 'req_total{code="200"} 3' in text and 'req_total{code="500"} 1' in text
    assert 'lat_seconds_bucket{le="0.005"} 1' in text
    assert 'lat_seconds_bucket{le="0.5"} 2' in text, "a value equal to a bound counts in that bucket"
    assert 'lat_seconds_bucket{le="1"} 3' in text and 'lat_seconds_bucket{le="+Inf"} 4' in text
    assert "lat_seconds_count 4" in text


def test_generated_figures_come_from_the_policy(tmp_path: Path) -> None:
    """Changing the policy (not the rules) moves the synthetic levels: nothing is hand-written."""
    manifests = _copy(tmp_path)
    policy = load_policy(manifests / "policy.yaml")
    files = write_rule_files(
        [K8sObject(yaml.safe_load((manifests / RULES).read_text()), Source(RULES, 0))], tmp_path / "r"
    )

    def slower(ms: float) -> Policy:
        return dataclasses.replace(policy, slo=dataclasses.replace(policy.require_slo(), latency_p95_ms=ms))

    p95 = [c for c in Generator(slower(800), files).cases() if c.alert.name == "TartwareHighLatencyP95"]
    assert "latency_p95_ms 0.816 s (> 0.8 s)" in p95[0].proves
