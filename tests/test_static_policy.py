"""The static tier under policy layers: rules switched off are not collected, severities follow
the policy, rules without their data or subjects are skipped with the reason (never passed),
unknown rule ids fail the policy check, and findings common to all profiles are reported once."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.report.sarif import to_sarif
from conformance.settings import Settings
from conformance.static import StaticRun, rule_verdicts, run_static
from conformance.tools import REPO

FINDINGS = REPO / "fixtures" / "corpus" / "plain-findings"


def _run(manifests: Path, policy: str | None = None, **flags: str) -> StaticRun:
    given = {"manifests": str(manifests), **({"policy": policy} if policy else {}), **flags}
    return run_static(Settings.resolve(given.get, {}))


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "team-policy.yaml"
    path.write_text(text)
    return str(path)


def test_a_rule_switched_off_is_not_collected(tmp_path: Path) -> None:
    run = _run(FINDINGS, _policy(tmp_path, "rules:\n  probes-set: {enabled: false}\n"))
    assert "probes-set" not in {v.rule.id for v in rule_verdicts(run)}
    assert ("probes-set", f"{tmp_path}/team-policy.yaml: rules.probes-set") in run.disabled


def test_a_rule_switched_on_over_the_baseline_runs(tmp_path: Path) -> None:
    ids = {v.rule.id for v in rule_verdicts(_run(FINDINGS))}
    assert "default-deny-per-namespace" not in ids
    run = _run(FINDINGS, _policy(tmp_path, "rules:\n  default-deny-per-namespace: {enabled: true}\n"))
    (verdict,) = [v for v in rule_verdicts(run) if v.rule.id == "default-deny-per-namespace"]
    assert verdict.findings, "the shop namespace has no default-deny NetworkPolicy"


def test_the_policy_sets_a_rules_severity(tmp_path: Path) -> None:
    run = _run(FINDINGS, _policy(tmp_path, "rules:\n  probes-set: {severity: minor}\n"))
    (verdict,) = [v for v in rule_verdicts(run) if v.rule.id == "probes-set"]
    assert verdict.rule.severity.value == "minor"
    results = to_sarif(run, REPO)["runs"][0]["results"]
    assert {r["level"] for r in results if r["ruleId"] == "probes-set"} == {"note"}


def test_an_unknown_rule_id_fails_the_policy_source(tmp_path: Path) -> None:
    run = _run(FINDINGS, _policy(tmp_path, "rules:\n  probes-sett: {enabled: false}\n"))
    assert run.policy_error is not None
    assert "rules.probes-sett: unknown rule id 'probes-sett'" in run.policy_error


def test_organisation_rules_are_skipped_with_the_missing_datum_under_the_baseline() -> None:
    verdicts = {v.rule.id: v for v in rule_verdicts(_run(FINDINGS))}
    for rule, datum in {
        "capacity-plan": "capacity plan (capacity)",
        "slo-alerts-present": "slo section",
        "required-labels": "required labels (org.required_labels)",
        "hpa-behaviour": "HPA scaling policy",
    }.items():
        verdict = verdicts[rule]
        assert verdict.checked == [], rule
        assert all(datum in reason for reason in verdict.not_applicable.values()), verdict.not_applicable


def test_the_capacity_plan_is_not_a_pass_for_the_ci_profile() -> None:
    platform = run_static(Settings.resolve({"profiles": "ci"}.get, {}))
    (verdict,) = [v for v in rule_verdicts(platform) if v.rule.id == "capacity-plan"]
    assert verdict.checked == []
    assert verdict.not_applicable == {"ci": "the capacity plan is judged at max scale, in the prod profile"}


def test_a_rule_without_subjects_is_skipped() -> None:
    verdicts = {v.rule.id: v for v in rule_verdicts(_run(FINDINGS))}
    assert verdicts["no-credentials-in-configmap"].not_applicable == {
        "prod": "no ConfigMap in the input",
        "ci": "no ConfigMap in the input",
    }
    # Workloads and HPAs but no ResourceQuota: nothing to judge, not a pass (the platform's
    # quotas make it run there: see the next test).
    assert verdicts["quota-covers-max-replicas"].not_applicable == {
        "prod": "no ResourceQuota in the input",
        "ci": "no ResourceQuota in the input",
    }


def test_the_platform_under_its_own_policy_checks_every_rule_it_can() -> None:
    run = run_static(Settings.resolve({"today": "2026-11-26"}.get, {}))
    assert run.policy_error is None
    skipped = {v.rule.id: v.not_applicable for v in rule_verdicts(run) if not v.checked}
    assert skipped == {}, "Tartware's policy provides every datum; each rule ran in some profile"
    assert all(not v.findings for v in rule_verdicts(run))


def test_findings_common_to_all_profiles_are_reported_once() -> None:
    verdicts = [v for v in rule_verdicts(_run(FINDINGS)) if v.findings]
    assert verdicts
    for verdict in verdicts:
        for merged in verdict.findings:
            assert merged.profiles == ["prod", "ci"]
            assert merged.where(["prod", "ci"]) == ""
    per_profile = sum(len(o.findings) for t in _run(FINDINGS).targets for o in t.outcomes)
    assert per_profile == 2 * sum(len(v.findings) for v in verdicts)


@pytest.mark.parametrize("policy", ["baseline", None])
def test_a_foreign_folder_never_gets_tartwares_policy(policy: str | None, tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    run = _run(tmp_path, policy)
    assert run.policy is not None and run.policy.name == "the built-in baseline"
    assert run.policy.exemptions == ()
