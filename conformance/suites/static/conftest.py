"""Static tier hooks: items that do not apply are deselected; the closing summary, SARIF
(--sarif) and GitHub Actions annotations (GITHUB_ACTIONS=true) come from the same run.

Under pytest-xdist the controller collects nothing itself, so it computes the run once
more for these outputs (the workers' runs are the same: one cached run per process).
"""

from __future__ import annotations

import pytest

from conformance.errors import InfraError
from conformance.plugin import settings_from_config
from conformance.report import github
from conformance.report.gate import tier_of_path
from conformance.report.sarif import write_sarif
from conformance.report.summary import summary_lines
from conformance.static import StaticRun, cached_run

STATIC_RUN = pytest.StashKey[StaticRun]()
NOT_COLLECTED = pytest.mark.conformance_not_collected


def pytest_configure(config: pytest.Config) -> None:
    # Also in pyproject.toml; registered here for runs with another rootdir.
    config.addinivalue_line(
        "markers", "conformance_not_collected: a static check that does not apply to this input (deselected)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped = [i for i in items if i.get_closest_marker("conformance_not_collected") is not None]
    if dropped:
        items[:] = [i for i in items if i.get_closest_marker("conformance_not_collected") is None]
        config.hook.pytest_deselected(items=dropped)


def _run(config: pytest.Config) -> StaticRun | None:
    """The static run of this session, if the static tier was part of it."""
    run = config.stash.get(STATIC_RUN, None)
    if run is not None:
        return run
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("dsession"):
        return None
    if not any(tier_of_path(str(a)) == "static" for a in config.args):
        return None
    computed = cached_run(settings_from_config(config))
    return computed if not isinstance(computed, InfraError) else None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    run = _run(config)
    if run is None:
        return
    if github.enabled():
        for line in github.workflow_commands(run, run.settings.max_findings_per_rule):
            terminalreporter.write_line(line)
    if config.get_verbosity() < 0:
        return
    terminalreporter.write_sep("-", "static tier summary")
    for line in summary_lines(run):
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # the controller writes it once
    run = _run(session.config)
    if run is not None and run.settings.sarif is not None:
        write_sarif(run, run.settings.sarif)
