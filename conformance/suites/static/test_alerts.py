"""Static tier, alerts: promtool checks every PrometheusRule; SLO alerts proven by generated tests.

Items (from one cached run per process, conformance.alerts.run):
  test_rules_load[<PrometheusRule>]        `promtool check rules` on its groups
  test_dashboard_parses[<ConfigMap>/<key>]   every panel's PromQL parses (Prometheus's parser)
  test_dashboard_metrics[<ConfigMap>/<key>]  every metric a panel reads is recorded or exported
  test_alert[<alert>-<case>]              generated from policy.yaml: firing, silent, pending, recorded
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.alerts.dashboards import Dashboard
from conformance.alerts.generate import Case
from conformance.alerts.promtool import UnitResult
from conformance.alerts.rulefiles import RuleFile
from conformance.alerts.run import AlertsRun, RuleSet, alerts_run
from conformance.errors import InfraError
from conformance.plugin import settings_from_config
from conformance.report.allure_labels import attach_file, attach_text, label

TIER = "static"
SEVERITY = {"firing": "critical", "silent": "critical", "pending": "normal", "recorded": "normal"}


def _params(run: AlertsRun, name: str) -> list[Any]:
    params: list[Any] = []
    for rule_set in run.sets:
        pre = run.prefix(rule_set)
        if name == "test_rules_load":
            params += [pytest.param((rule_set, f), id=f"{pre}{f.obj.ref}") for f in rule_set.files]
        elif name in ("test_dashboard_parses", "test_dashboard_metrics"):
            params += [pytest.param((rule_set, d, run), id=f"{pre}{d.id}") for d in rule_set.dashboards]
        elif name == "test_alert":
            params += [
                pytest.param((c, rule_set.results.get(c.test_name)), id=f"{pre}{c.alert.name}-{c.case}")
                for c in rule_set.cases
            ]
    if not params:
        what = {"test_rules_load": "no PrometheusRule", "test_alert": "no alert labelled slo: <policy key>"}
        reason = f"{what.get(name, 'no Grafana dashboard ConfigMap')} in the inventory"
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(reason=reason))]
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = alerts_run(settings_from_config(metafunc.config))
    if isinstance(run, InfraError):
        metafunc.parametrize("item", [pytest.param(run, id="infra-error")], indirect=True)
        return
    metafunc.parametrize("item", _params(run, metafunc.function.__name__), indirect=True)


@pytest.fixture
def item(request: pytest.FixtureRequest) -> Any:
    """The parametrised result; an infra fault raises here, so it reports as ERROR (broken)."""
    if isinstance(request.param, InfraError):
        raise request.param
    return request.param


def test_rules_load(item: Any) -> None:
    """`promtool check rules` on the PrometheusRule's groups: each error names group, rule, message."""
    rule_set: RuleSet
    rule_file: RuleFile
    rule_set, rule_file = item
    obj = rule_file.obj
    label(TIER, "alerts", [obj.name], "critical")
    result = rule_set.checks[rule_file.path]
    attach_file("rule file given to promtool", str(rule_file.path))
    if not result.ok:
        lines = []
        for e in result.errors:
            where = f"group {e.group!r} rule {e.index} {e.rule!r}: " if e.group is not None else ""
            lines.append(f"  * {where}{e.message}")
        pytest.fail(
            f"{obj.source.path}: {obj.ref}: promtool check rules found {len(result.errors)} problem(s):\n"
            + "\n".join(lines),
            pytrace=False,
        )


def test_dashboard_parses(item: Any) -> None:
    """Every Prometheus query of the dashboard parses with Prometheus's own PromQL parser."""
    rule_set: RuleSet
    board: Dashboard
    rule_set, board, _ = item
    label(TIER, "dashboards", [board.title], "normal")
    if board.error:
        pytest.fail(f"{board.obj.source.path}: {board.id}: {board.error}", pytrace=False)
    if not board.queries:
        pytest.skip(f"{board.id} has no Prometheus queries")
    bad = [(q, rule_set.parsed[q.promql].error) for q in board.queries if rule_set.parsed[q.promql].error]
    if bad:
        pytest.fail(
            f"{len(bad)} of {len(board.queries)} queries do not parse:\n"
            + "\n".join(f"  * {q.where}: {err}\n      {q.expr}" for q, err in bad),
            pytrace=False,
        )


def test_dashboard_metrics(item: Any) -> None:
    """Every metric a panel reads is recorded by a rule or exported by the services (policy.yaml)."""
    rule_set: RuleSet
    board: Dashboard
    run: AlertsRun
    rule_set, board, run = item
    label(TIER, "dashboards", [board.title], "normal")
    obs = run.policy.observability if run.policy else None
    if obs is None:
        pytest.skip("policy.yaml declares no observability.metrics: what the services export is unknown")
    known = rule_set.recorded | set(obs.exported)
    parsed = [(q, rule_set.parsed[q.promql]) for q in board.queries if not rule_set.parsed[q.promql].error]
    if not parsed:
        pytest.skip(f"{board.id}: no parsed Prometheus queries (see test_dashboard_parses)")
    problems = []
    for q, p in parsed:
        missing = [m for m in p.metrics if m not in known]
        if missing:
            problems.append(f"  * {q.where} reads {', '.join(missing)}: neither recorded nor exported")
        if p.unnamed:
            problems.append(f"  * {q.where} selects series by label only: which metric it reads is unknown")
    if problems:
        pytest.fail(
            f"{len(problems)} problem(s); recorded: {len(rule_set.recorded)} rules, exported (policy.yaml "
            f"observability.metrics): {', '.join(obs.exported)}\n" + "\n".join(problems),
            pytrace=False,
        )


def test_alert(item: Any) -> None:
    """One generated promtool case of one SLO alert (story = the alert); thresholds from policy.yaml."""
    case: Case
    result: UnitResult | None
    case, result = item
    label(TIER, "alerts", [case.alert.name], SEVERITY[case.case])
    if case.skip:
        pytest.skip(f"{case.alert.name} {case.case}: {case.skip}")
    attach_text("what this case proves", case.proves)
    if result is None:
        raise InfraError(f"promtool reported no result for test group {case.test_name!r}")
    if not result.passed:
        attach_text("promtool output", result.message)
        pytest.fail(
            f"{case.alert.rule.where}: alert {case.alert.name} fails its generated {case.case} case\n"
            f"  expected: {case.proves}\n  promtool: {result.message}",
            pytrace=False,
        )
