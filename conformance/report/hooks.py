"""pytest side of the report: the gate that cannot pass empty, and the run's settings.

Registered by conformance.plugin (``pytest_plugins = ["conformance.report.hooks"]``);
for a one-off: ``pytest -p conformance.report.hooks ...``.

* The exit status of a session that runs a tier says who has to act (README, "The static
  tier as a CI gate"): 0 clean; 1 findings (a test failed on a verdict: an assertion or
  pytest.fail); 2 the tier could not judge: a broken test (an error in setup or teardown,
  an InfraError or any other exception in a test), or a tier that checked nothing. It wins
  over 1. pytest's own statuses (2 interrupted or collection errors, 3 internal error,
  4 usage error, 5 nothing collected) are left as they are. The last line says which.
* A session that collected nothing, or a tier whose every test was skipped
  (or deselected), fails (exit status 2, or pytest's own non-zero status)
  with a "conformance gate FAILED" section naming what is missing. With
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
from .gate import Problem, Tally, skip_reason, tier_of_path

# Exit statuses of a tier run; pytest's own (interrupted, usage error, ...) pass through.
EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_BROKEN = 2
EXIT_MEANING = {
    0: "clean: no failing verdict",
    1: "findings: the input fails a check (a rule at or above --fail-on, a schema, its policy); fix it",
    2: "could not judge: broken, interrupted or nothing checked (not a verdict on the input); fix the "
    "environment or the selection",
    3: "pytest internal error",
    4: "usage error: a flag or option value is wrong",
    5: "no tests collected",
}


def is_broken(report: pytest.TestReport) -> bool:
    """A failed report that is no verdict: an error in setup/teardown, or a test that raised
    something other than an assertion or pytest.fail (as Allure tells broken from failed; the
    mark is set by conformance.plugin and survives pytest-xdist)."""
    from ..plugin import BROKEN_ATTR  # at call time: see _record_environment

    return report.failed and (report.when != "call" or bool(getattr(report, BROKEN_ATTR, False)))


def pytest_configure(config: pytest.Config) -> None:
    _check_settings(config)
    # Workers only forward their reports: the controller sees them all and decides.
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ReportGate(config), "conformance-report-gate")


def _check_settings(config: pytest.Config) -> None:
    """A tier run with a bad option value or no such --manifests / --policy stops before collection:
    a usage error (exit 4), not a verdict on the input."""
    if getattr(config.option, "help", False) or not any(tier_of_path(str(a)) for a in config.args):
        return
    try:
        config.getoption("conformance_manifests")
    except ValueError:
        return  # the options plugin (conformance.plugin) is not loaded
    from ..plugin import settings_from_config  # at call time: see _record_environment

    try:
        settings = settings_from_config(config)
    except (ValueError, OSError) as err:
        raise pytest.UsageError(f"conformance: {err}") from err
    for what, path in (
        ("--manifests / CONFORMANCE_MANIFESTS", settings.manifests),
        ("--policy / CONFORMANCE_POLICY", settings.policy),
    ):
        if path is not None and not path.exists():
            raise pytest.UsageError(f"conformance: {what} {path} does not exist")


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
        self.broken: list[str] = []  # node ids of tier tests that could not judge
        self.exit_status: int | None = None  # set at the end of a session that ran a tier

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if is_broken(report) and tier_of_path(report.nodeid):
            self.broken.append(report.nodeid)
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
        if not self.tally.tiers():
            return  # not a tier run (the suite's own tests): pytest's status as it is
        if session.exitstatus in (EXIT_CLEAN, EXIT_FINDINGS) and (self.problems or self.broken):
            session.exitstatus = EXIT_BROKEN
        self.exit_status = int(session.exitstatus)

    @pytest.hookimpl(trylast=True)  # the last word, after the tier's own summary
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self._gate_summary(terminalreporter)
        if self.exit_status is not None:
            code = self.exit_status
            broken = f" ({len(self.broken)} broken)" if self.broken and code == EXIT_BROKEN else ""
            meaning = EXIT_MEANING.get(code, "see pytest's exit codes")
            terminalreporter.write_line(
                f"conformance gate: exit {code}: {meaning}{broken}", red=code != 0, green=code == 0
            )

    def _gate_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
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
