"""`python -m conformance.report prepare|generate`: categories, environment, history, safety."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.report import allure_html
from conformance.report.allure_html import HISTORY_FILE, Paths, ReportError, generate, label_tiers, prepare
from conformance.report.categories import CATEGORIES, allure_rules, classify
from conformance.report.environment import merge, read_properties, write_properties
from conformance.report.sample import write_sample
from conformance.tools import REPO

REQUIRED = ["infra broken", "schema invalid", "policy violation", "SLO breach", "behaviour failure"]


def result(status: str, epic: str | None = None, feature: str = "x", **details: str) -> dict[str, Any]:
    labels = [{"name": "feature", "value": feature}]
    if epic:
        labels.append({"name": "epic", "value": epic})
    return {"name": "t", "status": status, "labels": labels, "statusDetails": details}


def test_every_required_category_exists_in_a_sensible_order() -> None:
    names = [c.name for c in CATEGORIES]
    assert set(REQUIRED) <= set(names)
    # First match wins: schema before the static catch-all.
    assert names.index("schema invalid") < names.index("policy violation")
    for rule in allure_rules():
        assert rule["name"] and rule["matchers"], rule
        for matcher in rule["matchers"]:
            assert matcher["statuses"] and set(matcher["statuses"]) <= {"failed", "broken"}


@pytest.mark.parametrize(
    ("res", "expected"),
    [
        (result("failed", "static", "schema"), "schema invalid"),
        (result("failed", "static", "security"), "policy violation"),
        (result("failed", "static", "inputs"), "policy violation"),
        (result("failed", "slo", "smoke"), "SLO breach"),
        (result("failed", "behaviour", "disruption"), "behaviour failure"),
        (
            result("broken", "slo", trace="BROKEN (infrastructure, not a conformance verdict): k6 died"),
            "infra broken",
        ),
        (result("broken", None, message="conformance.errors.ToolMissing: k6 not found"), "infra broken"),
        (result("broken", "static", message="TypeError: oops", trace="Traceback"), None),  # a suite bug
        (result("failed", None), None),
        (result("passed", "static", "schema"), None),
        (result("skipped", "slo"), None),
        (result("broken", "slo", "conformance gate"), "nothing checked"),
    ],
)
def test_classify(res: dict[str, Any], expected: str | None) -> None:
    assert classify(res) == expected


def test_properties_round_trip_and_merge(tmp_path: Path) -> None:
    props = {"a.b": "x = y: z", "path": "C:\\dir\\n", "multi": "one\ntwo", "key with space": "v"}
    write_properties(tmp_path / "e.properties", props)
    assert read_properties(tmp_path / "e.properties") == props
    assert merge({"tiers": "static"}, {"tiers": "slo", "new": "1"}) == {"tiers": "static | slo", "new": "1"}
    assert merge({"tiers": "static | slo"}, {"tiers": "slo"}) == {"tiers": "static | slo"}


def test_prepare_refuses_an_empty_results_dir(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"make static.*make conformance"):
        prepare(Paths(tmp_path / "nothing", tmp_path / "report"))


def write_result(folder: Path, name: str, body: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-result.json").write_text(json.dumps(body))


def test_prepare_writes_categories_and_environment(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_result(results, "a", {**result("failed", "static", "schema"), "historyId": "1"})
    write_properties(results / "environment.properties", {"provider": "kind", "tiers": "static"})
    lines = prepare(Paths(results, tmp_path / "report"))
    assert json.loads((results / "categories.json").read_text()) == allure_rules()
    env = read_properties(results / "environment.properties")
    assert env["provider"] == "kind", "a session's recorded settings win over env defaults"
    assert {"kubernetes.version", "git.revision", "tool.kubeconform", "tool.allure"} <= set(env)
    assert "  static: 1 failed" in lines and "  categories: 1 schema invalid" in lines


def test_label_tiers_fills_a_missing_epic_from_the_module_path(tmp_path: Path) -> None:
    results = tmp_path / "results"
    body = {**result("skipped"), "fullName": "conformance.suites.behaviour.test_pdb#test_x"}
    write_result(results, "a", body)
    write_result(results, "b", {**result("skipped", "slo"), "fullName": "conformance.suites.static.t#x"})
    assert label_tiers(results) == 1
    epics = sorted(
        lb["value"]
        for p in results.glob("*-result.json")
        for lb in json.loads(p.read_text())["labels"]
        if lb["name"] == "epic"
    )
    assert epics == ["behaviour", "slo"]


FAKE_ALLURE = """#!{python}
# Stand-in for the Allure CLI: appends one history line, writes index.html, or fails on demand.
import json, os, sys
config = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
if os.environ.get("FAKE_ALLURE_FAIL"):
    print("boom", file=sys.stderr)
    sys.exit(1)
os.makedirs(config["output"], exist_ok=True)
with open(config["historyPath"], "a") as f:
    f.write(json.dumps({{"uuid": str(len(open(config["historyPath"]).read().splitlines()))}}) + "\\n")
open(os.path.join(config["output"], "index.html"), "w").write("<html>report</html>")
"""


@pytest.fixture
def fake_allure(tmp_path: Path) -> Path:
    path = tmp_path / "allure"
    path.write_text(FAKE_ALLURE.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_history_is_carried_over_once_per_results_set(tmp_path: Path, fake_allure: Path) -> None:
    results, report = tmp_path / "r1", tmp_path / "report"
    write_result(results, "a", result("passed", "static"))
    paths = Paths(results, report)
    generate(paths, fake_allure)
    generate(paths, fake_allure)
    assert len((report / HISTORY_FILE).read_text().splitlines()) == 1
    write_result(tmp_path / "r2", "b", result("failed", "static"))
    generate(Paths(tmp_path / "r2", report), fake_allure)
    assert len((report / HISTORY_FILE).read_text().splitlines()) == 2


def test_a_failed_generation_keeps_the_old_report(
    tmp_path: Path, fake_allure: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results, report = tmp_path / "r", tmp_path / "report"
    write_result(results, "a", result("passed", "static"))
    generate(Paths(results, report), fake_allure)
    monkeypatch.setenv("FAKE_ALLURE_FAIL", "1")
    with pytest.raises(ReportError, match=r"(?s)exit 1.*old report is kept.*boom"):
        generate(Paths(results, report), fake_allure)
    assert (report / "index.html").read_text() == "<html>report</html>"
    assert not list(tmp_path.glob(".report.*")), "no staging folder left behind"


def test_config_asks_for_one_file_grouped_by_tier(tmp_path: Path) -> None:
    config = allure_html.allure_config(tmp_path / "out", tmp_path / "h.jsonl", allure_rules())
    options = config["plugins"]["awesome"]["options"]
    assert options["singleFile"] is True, "only the single-file report opens from file://"
    assert options["groupBy"] == ["epic", "feature", "story"]
    assert config["categories"]["rules"] == allure_rules()


@pytest.mark.slow
def test_results_are_safe_under_xdist(tmp_path: Path) -> None:
    sample = write_sample(tmp_path, ("-n", "2"))
    assert sample.exit_code == 2, sample.output[-3000:]  # a BROKEN test beside the failures: 2 wins over 1
    files = list(sample.results.glob("*-result.json"))
    bodies = [json.loads(p.read_text()) for p in files]
    assert len(files) == 11, "one result per test, none lost or overwritten by a worker"
    assert len({b["uuid"] for b in bodies}) == len({b["historyId"] for b in bodies}) == 11


@pytest.mark.slow
def test_install_script_is_idempotent_and_links_the_pinned_cli(tmp_path: Path) -> None:
    env = {**os.environ, "TOOLS_BIN": str(tmp_path / "bin"), "CI": ""}
    for _ in range(2):
        run = subprocess.run(
            [str(REPO / "tools" / "install-report.sh")], env=env, capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stderr
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["allure"]
    allure = str(tmp_path / "bin" / "allure")
    out = subprocess.run([allure, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == pinned


def test_merge_parts_keeps_every_result_and_both_environments(tmp_path: Path) -> None:
    for tier in ("static", "slo"):
        part = tmp_path / "parts" / tier
        write_result(part, f"{tier}-uuid", result("passed", tier))
        write_properties(part / "environment.properties", {"tiers": tier, "provider": "local"})
        (part / "categories.json").write_text("[]")
    into = tmp_path / "results"
    assert allure_html.merge_parts(sorted((tmp_path / "parts").iterdir()), into) == 2
    assert len(list(into.glob("*-result.json"))) == 2
    assert read_properties(into / "environment.properties") == {"tiers": "slo | static", "provider": "local"}
    assert not (into / "categories.json").exists()
