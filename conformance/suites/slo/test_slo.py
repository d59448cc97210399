"""SLO tier: each SLO of each scenario is its own test (measured vs required).

A breach fails the test (AssertionError); a run that cannot be judged (k6
crashed or timed out, target down, summary unreadable) errors in the
`slo_run` fixture (InfraError: ERROR in pytest, broken in Allure).
"""

from __future__ import annotations

import allure
import pytest

from conformance.plugin import settings_from_config
from conformance.report.allure_labels import attach_file, attach_text
from conformance.report.environment import STAND_IN, slo_target_id
from conformance.settings import Settings
from conformance.slo.evaluate import TIER_SCENARIOS, ScenarioRun, slo_ids


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Ids name what was measured: test_slo[reference-target-load-p95] or test_slo[api.example-...]."""
    if "slo" not in metafunc.fixturenames:
        return
    target = slo_target_id(settings_from_config(metafunc.config))
    cases = [
        pytest.param(scenario, slo, id=f"{target}-{scenario}-{slo}")
        for scenario in TIER_SCENARIOS
        for slo in slo_ids(scenario)
    ]
    metafunc.parametrize(("slo_run", "slo"), cases, indirect=["slo_run"])


@pytest.mark.slo
def test_slo(slo_run: ScenarioRun, slo: str, settings: Settings) -> None:
    """Labels (epic slo, feature = scenario, story = SLO) come from the `slo_run` fixture."""
    result = slo_run.results[slo]
    where = settings.slo_target or "the reference target (stand-in)"
    allure.dynamic.title(f"{slo_run.scenario}: {result.title} on {where}")  # type: ignore[no-untyped-call]
    if not settings.slo_target:
        allure.dynamic.description(STAND_IN)  # type: ignore[no-untyped-call]
    attach_file("k6 summary", str(slo_run.summary_path), allure.attachment_type.JSON)
    attach_file("latency and throughput", str(slo_run.plot_path), allure.attachment_type.SVG)
    attach_text("per-route breakdown", slo_run.series.table())
    assert result.passed, result.message
