"""pytest side of the report: the gate that cannot pass empty, and the run's settings.

Registered by conformance.plugin (``pytest_plugins = ["conformance.report.plugin"]``);
for a one-off: ``pytest -p conformance.report.plugin ...``.

* A session that collected nothing, or a tier whose every test was skipped
  (or deselected), ends with exit status 1 (or pytest's own non-zero status)
  and a "conformance gate FAILED" section naming what is missing. With
  --alluredir, the same failure is also written as a result, so the report
  shows the empty tier instead of silently leaving it out.
* With --alluredir, the settings the session ran with are merged into
  environment.properties (see conformance.report.environment), and each
  parametrised test is identified by its pytest id (see
  conformance.report.allure_labels.identify_case).

Under pytest-xdist this runs on the controller only (workers forward reports).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest

from . import environment
from .allure_labels import identify_case
from .categories import GATE_FEATURE
from .gate import Problem, Tally, skip_reason


def pytest_configure(config: pytest.Config) -> None:
    # Workers only forward their reports: the controller sees them all and decides.
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ReportGate(config), "conformance-report-gate")


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Runs inside allure-pytest's setup wrapper, before it records the parameters.
    callspec = getattr(item, "callspec", None)
    if callspec is not None and _alluredir(item.config) is not None:
        identify_case(callspec.id, dict(callspec.params))


class ReportGate:
    """Per-session hooks: tally every test report, judge at the end, say why."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tally = Tally.for_args(config.args)
        self.problems: list[Problem] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            if report.when in ("setup", "call"):
                self.tally.skipped(report.nodeid, skip_reason(report.longrepr))
        elif report.when == "call" or report.failed:
            self.tally.executed(report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.config.option.collectonly:
            return
        self.problems = self.tally.problems(session.testscollected)
        results = _alluredir(self.config)
        if results is not None:
            _record_environment(self.config, results, self.tally)
            for problem in self.problems:
                _write_gate_result(results, problem)
        if self.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for tier, reasons in self.tally.not_applicable().items():
            terminalreporter.write_line(
                f"conformance gate: the {tier} tier does not apply to this input (not passed, nothing "
                f"to judge): {'; '.join(reasons)}",
                yellow=True,
            )
        if not self.problems:
            return
        terminalreporter.write_sep(
            "=", "conformance gate FAILED: a tier checked nothing", red=True, bold=True
        )
        for problem in self.problems:
            terminalreporter.write_line(f"GATE: {problem}", red=True)
        terminalreporter.write_line(
            "A tier that checks nothing must not pass: install what is missing (make tools) "
            "or fix the test selection."
        )


def _alluredir(config: pytest.Config) -> Path | None:
    value = getattr(config.option, "allure_report_dir", None)
    return Path(value) if value else None


def _record_environment(config: pytest.Config, results: Path, tally: Tally) -> None:
    # Imported here: importing conformance.plugin at module load (for `-p`) would
    # keep pytest from assertion-rewriting it when conftest.py loads it.
    from ..plugin import settings_from_config

    try:
        settings = settings_from_config(config)
    except (ValueError, OSError):
        return  # the settings error is already reported by the suite itself
    environment.record_session(results, settings, ", ".join(tally.tiers()) or None)


def _write_gate_result(results: Path, problem: Problem) -> None:
    """The gate failure as an Allure result (epic = tier, feature = conformance gate)."""
    tier = problem.tier or "gate"
    now = int(time.time() * 1000)
    name = f"{tier} tier: nothing checked"
    test_id = hashlib.sha256(name.encode()).hexdigest()[:32]  # stable, so the trend follows it
    body = {
        "uuid": str(uuid.uuid4()),
        "historyId": test_id,
        "testCaseId": test_id,
        "fullName": f"conformance.gate#{tier}",
        "name": name,
        "status": "broken",
        "statusDetails": {"message": f"conformance gate: {problem}", "trace": problem.message},
        "stage": "finished",
        "start": now,
        "stop": now,
        "labels": [
            {"name": "epic", "value": tier},
            {"name": "feature", "value": GATE_FEATURE},
            {"name": "severity", "value": "blocker"},
            {"name": "framework", "value": "pytest"},
        ],
    }
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{body['uuid']}-result.json").write_text(json.dumps(body, indent=1))
