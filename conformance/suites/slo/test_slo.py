"""SLO tier: each SLO of each scenario is its own test (measured vs required).

A breach fails the test (AssertionError); a run that cannot be judged (k6
crashed or timed out, target down, summary unreadable) errors in the
`slo_run` fixture (InfraError: ERROR in pytest, broken in Allure).
"""

from __future__ import annotations

import allure
import pytest

from conformance.report.allure_labels import attach_file, attach_text
from conformance.slo.evaluate import TIER_SCENARIOS, ScenarioRun, slo_ids

CASES = [
    pytest.param(scenario, slo, id=f"{scenario}-{slo}")
    for scenario in TIER_SCENARIOS
    for slo in slo_ids(scenario)
]


@pytest.mark.slo
@pytest.mark.parametrize(("slo_run", "slo"), CASES, indirect=["slo_run"])
def test_slo(slo_run: ScenarioRun, slo: str) -> None:
    """Labels (epic slo, feature = scenario, story = SLO) come from the `slo_run` fixture."""
    result = slo_run.results[slo]
    allure.dynamic.title(f"{slo_run.scenario}: {result.title}")  # type: ignore[no-untyped-call]
    attach_file("k6 summary", str(slo_run.summary_path), allure.attachment_type.JSON)
    attach_file("latency and throughput", str(slo_run.plot_path), allure.attachment_type.SVG)
    attach_text("per-route breakdown", slo_run.series.table())
    assert result.passed, result.message
