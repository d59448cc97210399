"""The gate cannot pass empty: conformance.report.hooks, run in real pytest sessions (pytester)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conformance.report.categories import classify
from conformance.report.environment import read_properties
from conformance.report.gate import Tally, not_applicable, skip_reason
from conformance.tools import REPO

pytest_plugins = ["pytester"]

PLUGINS = ("-p", "conformance.plugin", "-p", "conformance.report.hooks", "-p", "no:cacheprovider")

ALL_SKIPPED = """
import pytest

@pytest.mark.parametrize("scenario", ["smoke", "load"])
def test_slo(scenario):
    pytest.skip("k6 not found: run `make tools`")
"""
NOT_APPLICABLE = """
import pytest
from conformance.report.gate import not_applicable

@pytest.mark.parametrize("scenario", ["smoke", "load"])
def test_slo(scenario):
    pytest.skip(not_applicable("the policy has no slo section"))
"""
ONE_RUNS = """
import pytest

def test_missing():
    pytest.skip("kwokctl not found")

def test_runs():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester dir with the repo importable (for subprocess runs too)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    for name in [n for n in os.environ if n.startswith("CONFORMANCE_")]:
        monkeypatch.delenv(name)
    return pytester


def tier_file(pytester: pytest.Pytester, tier: str, source: str) -> None:
    folder = pytester.path / "suites" / tier
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"test_{tier}.py").write_text(source)


def test_a_tier_whose_every_test_skipped_fails_naming_the_reason(suite: pytest.Pytester) -> None:
    tier_file(suite, "slo", ALL_SKIPPED)
    result = suite.runpytest(*PLUGINS, "suites/slo")
    assert result.ret == 2  # could not judge (conformance.report.hooks.EXIT_BROKEN)
    result.stdout.fnmatch_lines(
        [
            "*conformance gate FAILED*",
            "GATE: every slo test was skipped (2 test(s)): k6 not found: run `make tools` (2)",
        ]
    )


def test_no_test_collected_fails_loudly(suite: pytest.Pytester) -> None:
    (suite.path / "suites" / "behaviour").mkdir(parents=True)
    result = suite.runpytest(*PLUGINS, "suites/behaviour")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["GATE: collected no tests from behaviour: nothing was checked"])


def test_everything_deselected_fails(suite: pytest.Pytester) -> None:
    tier_file(suite, "static", ONE_RUNS)
    result = suite.runpytest(*PLUGINS, "suites/static", "-k", "no_such_test")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["GATE: *nothing was checked*"])


def test_a_tier_with_one_executed_test_passes(suite: pytest.Pytester) -> None:
    tier_file(suite, "behaviour", ONE_RUNS)
    result = suite.runpytest(*PLUGINS, "suites/behaviour")
    assert result.ret == pytest.ExitCode.OK
    assert "GATE" not in result.stdout.str()


def test_one_empty_tier_fails_a_multi_tier_run(suite: pytest.Pytester) -> None:
    tier_file(suite, "static", ONE_RUNS)
    tier_file(suite, "slo", ALL_SKIPPED)
    result = suite.runpytest(*PLUGINS, "suites")
    assert result.ret == 2  # could not judge (conformance.report.hooks.EXIT_BROKEN)
    gate_lines = [line for line in result.stdout.lines if line.startswith("GATE: ")]
    assert len(gate_lines) == 1 and "every slo test was skipped" in gate_lines[0]


def test_tests_outside_the_tiers_are_not_gated(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_self=ALL_SKIPPED)
    result = suite.runpytest(*PLUGINS)
    assert result.ret == pytest.ExitCode.OK
    assert "GATE" not in result.stdout.str()


def test_collect_only_is_not_a_run(suite: pytest.Pytester) -> None:
    tier_file(suite, "slo", ALL_SKIPPED)
    assert suite.runpytest(*PLUGINS, "--collect-only", "suites/slo").ret == pytest.ExitCode.OK


@pytest.mark.slow
def test_gate_holds_under_xdist(suite: pytest.Pytester) -> None:
    tier_file(suite, "slo", ALL_SKIPPED)
    result = suite.runpytest_subprocess(*PLUGINS, "-n", "2", "suites/slo")
    assert result.ret == 2  # could not judge (conformance.report.hooks.EXIT_BROKEN)
    result.stdout.fnmatch_lines(["GATE: every slo test was skipped*k6 not found*"])


def test_gate_failure_and_settings_reach_the_report(suite: pytest.Pytester) -> None:
    tier_file(suite, "slo", ALL_SKIPPED)
    results = suite.path / "allure-results"
    suite.runpytest(*PLUGINS, f"--alluredir={results}", "--provider", "kind", "suites/slo")
    bodies = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    gate = [b for b in bodies if b["fullName"].startswith("conformance.gate#")]
    assert len(gate) == 1, bodies
    assert {"name": "epic", "value": "slo"} in gate[0]["labels"]
    assert classify(gate[0]) == "nothing checked"
    env = read_properties(results / "environment.properties")
    assert env["provider"] == "kind" and env["tiers"] == "slo"


def test_parametrised_cases_keep_distinct_ids_and_short_parameters(suite: pytest.Pytester) -> None:
    # Two cases whose parameter objects print alike must stay two tests (not retries).
    tier_file(
        suite,
        "static",
        """
import pytest

class Same:
    def __repr__(self):
        return "Same(" + "x" * 500 + ")"

@pytest.mark.parametrize("item", [pytest.param(Same(), id="prod"), pytest.param(Same(), id="ci")])
def test_rule(item):
    pass
""",
    )
    results = suite.path / "allure-results"
    assert suite.runpytest(*PLUGINS, f"--alluredir={results}", "suites/static").ret == 0
    bodies = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    assert len({b["historyId"] for b in bodies}) == 2
    for body in bodies:
        params = {p["name"]: p for p in body["parameters"]}
        assert params["case"]["value"] in ("'prod'", "'ci'")
        assert len(params["item"]["value"]) < 60 and params["item"].get("excluded") is True


def test_tally_names_the_most_common_reasons_first() -> None:
    tally = Tally.for_args(["/x/conformance/suites/behaviour"])
    for i in range(3):
        tally.skipped(f"conformance/suites/behaviour/test_b.py::test_{i}", "kwokctl not found")
    tally.skipped("conformance/suites/behaviour/test_b.py::test_9", "no kubeconfig")
    [problem] = tally.problems(collected=4)
    assert problem.tier == "behaviour"
    assert str(problem).endswith("kwokctl not found (3); no kubeconfig (1)")


def test_skip_reason_reads_pytest_longrepr() -> None:
    assert skip_reason(("f.py", 3, "Skipped: k6 not found")) == "k6 not found"
    assert skip_reason(Path("x")) == "x"


def test_a_tier_that_does_not_apply_is_neither_failed_nor_passed(suite: pytest.Pytester) -> None:
    tier_file(suite, "slo", NOT_APPLICABLE)
    result = suite.runpytest(*PLUGINS, "suites/slo")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["conformance gate: the slo tier does not apply to this input (not passed*): the policy has no*"]
    )
    result.stdout.no_fnmatch_line("*gate FAILED*")
    result.assert_outcomes(skipped=2)


def test_one_missing_tool_among_inapplicable_skips_still_fails() -> None:
    tally = Tally.for_args(["conformance/suites/slo"])
    tally.skipped("conformance/suites/slo/test_slo.py::test_a", not_applicable("no slo section"))
    tally.skipped("conformance/suites/slo/test_slo.py::test_b", "k6 not found")
    [problem] = tally.problems(collected=2)
    assert "k6 not found (1)" in str(problem)
    assert tally.not_applicable() == {}
