"""CI outputs of the static tier: SARIF 2.1.0 (validated against the schema), GitHub annotations,
the closing summary and the per-rule cap.

The SARIF schema comes from the pinned npm package @microsoft/jest-sarif (package-lock.json,
installed by tools/install-report.sh, which `make test` runs): never typed by hand, never
fetched at test time.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.report.github import command, workflow_commands
from conformance.report.results import entries
from conformance.report.sarif import to_sarif, write_sarif
from conformance.report.summary import capped, summary_lines
from conformance.settings import Settings
from conformance.static import StaticRun, rule_verdicts, run_static
from conformance.tools import REPO

SCHEMA = REPO / ".tools" / "sarif-schema-2.1.0.json"
FINDINGS = REPO / "fixtures" / "corpus" / "plain-findings"


def _run(manifests: Path, **flags: str) -> StaticRun:
    return run_static(Settings.resolve({"manifests": str(manifests), **flags}.get, {}))


@pytest.fixture(scope="module")
def findings_run() -> StaticRun:
    return _run(FINDINGS)


@pytest.fixture(scope="module")
def platform_run() -> StaticRun:
    return run_static(Settings.resolve({"today": "2026-11-26"}.get, {}))


@pytest.fixture(scope="module")
def validator() -> Any:
    if not SCHEMA.is_file():
        pytest.skip(f"{SCHEMA} missing: run `make report-tools` (installs the pinned SARIF schema)")
    schema = json.loads(SCHEMA.read_text())
    assert "2.1.0" in schema["title"]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: Any, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_sarif_of_findings_is_valid_sarif_2_1_0(
    findings_run: StaticRun, validator: Any, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "static.sarif"
    write_sarif(findings_run, path, root=REPO)
    doc = json.loads(path.read_text())
    assert _errors(validator, doc) == []
    (run,) = doc["runs"]
    results = run["results"]
    assert {r["ruleId"] for r in results} >= {"image-pinned", "duplicate-objects", "probes-set"}
    pinned = next(r for r in results if r["ruleId"] == "image-pinned")
    loc = pinned["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {
        "uri": "fixtures/corpus/plain-findings/app/web.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert loc["region"] == {"startLine": 18, "startColumn": 11}
    assert pinned["level"] == "error"
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_sarif_of_the_platform_is_valid_and_marks_exemptions_suppressed(
    platform_run: StaticRun, validator: Any
) -> None:
    doc = to_sarif(platform_run, REPO)
    assert _errors(validator, doc) == []
    results = doc["runs"][0]["results"]
    assert results, "the platform's exempted findings are reported, as suppressed"
    assert all(r["suppressions"][0]["kind"] == "external" for r in results), "the platform has no findings"
    assert {"run-as-non-root", "read-only-root-filesystem"} <= {r["ruleId"] for r in results}


def test_the_validator_rejects_broken_sarif(findings_run: StaticRun, validator: Any) -> None:
    """The self-test can fail: a wrong level, a missing message, a bad version are errors."""
    doc = to_sarif(findings_run, REPO)
    mutations: list[Callable[[dict[str, Any]], None]] = [
        lambda d: d["runs"][0]["results"][0].update(level="fatal"),
        lambda d: d["runs"][0]["results"][0].pop("message"),
        lambda d: d.update(version="2.0.0"),
        lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"].update(
            region={"startLine": 0}
        ),
    ]
    for mutate in mutations:
        broken = copy.deepcopy(doc)
        mutate(broken)
        assert _errors(validator, broken), "the schema must reject this"


def test_input_problems_and_schema_failures_are_results_too(tmp_path: Path, validator: Any) -> None:
    (tmp_path / "broken.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: 1, a: 2}\n"
    )
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: many\n"
        "  selector: {matchLabels: {a: b}}\n"
        "  template: {metadata: {labels: {a: b}}, spec: {containers: []}}\n"
    )
    doc = to_sarif(_run(tmp_path), tmp_path)
    assert _errors(validator, doc) == []
    by_rule = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert "duplicate key 'a'" in by_rule["inputs"]["message"]["text"]
    schema = by_rule["schema"]
    assert schema["locations"][0]["physicalLocation"]["region"] == {"startLine": 5, "startColumn": 3}
    assert schema["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.yaml"


def test_github_annotations_name_file_line_and_column(findings_run: StaticRun) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(REPO)}
    lines = workflow_commands(findings_run, environ=env)
    pinned = next(line for line in lines if "title=image-pinned" in line)
    assert pinned.startswith(
        "::error file=fixtures/corpus/plain-findings/app/web.yaml,line=18,col=11,"
        "title=image-pinned%3A Deployment/shop/web::"
    )
    assert all("\n" not in line for line in lines)
    # normal-severity rules are warnings; the cap applies per rule
    assert any(line.startswith("::warning ") and "probes-set" in line for line in lines)
    capped = workflow_commands(findings_run, limit=1, environ=env)
    assert sum("title=probes-set" in line for line in capped) == 1
    assert sum("title=probes-set" in line for line in lines) == 2


def test_annotation_text_is_escaped(findings_run: StaticRun) -> None:
    entry = entries(findings_run)[0]
    odd = type(entry)(entry.rule_id, "error", "a, b: c", "50% done\nnext line", entry.location)
    line = command(odd, REPO)
    assert "title=a%2C b%3A c::50%25 done%0Anext line" in line


def test_the_summary_is_a_table_of_rules_with_findings(findings_run: StaticRun) -> None:
    lines = summary_lines(findings_run)
    table = {
        m.group(1): int(m.group(2)) for line in lines if (m := re.match(r"(\S+)\s+\w+\s+(\d+)\s+\d+$", line))
    }
    assert table["probes-set"] == 2 and table["duplicate-objects"] == 1
    assert any(line.startswith("did not apply") for line in lines)
    assert any(
        line.startswith(f"switched off by the policy ({len(findings_run.disabled)})") for line in lines
    )
    assert findings_run.disabled, "the baseline switches some rules off"


def test_findings_per_rule_are_capped_with_a_count(tmp_path: Path) -> None:
    deployments = "\n---\n".join(
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\nspec:\n"
        "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
        "    spec:\n      containers: [{name: c, image: 'x:latest'}]"
        for i in range(30)
    )
    (tmp_path / "many.yaml").write_text(deployments)
    run = _run(tmp_path, max_findings_per_rule="5")
    (pinned,) = [v for v in rule_verdicts(run) if v.rule.id == "image-pinned"]
    assert len(pinned.findings) == 30
    text = capped(
        [f.item.render() for f in pinned.findings], run.settings.max_findings_per_rule, "finding(s)"
    )
    assert text.count("[image-pinned]") == 5
    assert "... and 25 more finding(s) (--max-findings-per-rule 5" in text
    assert capped(["x"] * 30, 0, "finding(s)").count("x") == 30
