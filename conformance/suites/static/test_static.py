"""Static tier: inputs load, every object passes its schema, every rule holds.

Items are generated from one cached static run per process; each check is one item
over every profile, and a finding found in several profiles is reported once:
  test_policy_source[policy]             the policy layers load (unknown keys fail with their path)
  test_inputs_load[inputs]               every file/chart/kustomization loads; no objects at all fails
  test_schema[<apiVersion Kind>]         kubeconform -strict per kind; an API removed in --k8s-version
                                         or a kind without a schema fails (unless exempted under rule
                                         `schema` in the policy); a deprecated one warns
  test_rule[<rule id>]                   one per enabled rule; findings fail it; a rule with nothing
                                         to judge (policy data missing, no such objects) is skipped
  test_exemption[<rule>-<object>]        skipped with owner and reason; expired: fails
  test_no_unused_exemptions[policy]      an exemption that matches nothing fails
Items that do not apply are not collected (deselected): an input without objects gives one
failure naming the path, not a page of checks on nothing.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from conformance.errors import InfraError
from conformance.inventory.locate import locate
from conformance.plugin import settings_from_config
from conformance.report.allure_labels import attach_object, attach_text, label
from conformance.report.redact import redact_text
from conformance.report.summary import capped
from conformance.schema import SCHEMA_RULE
from conformance.schema.kubeconform import SchemaResult, Status
from conformance.static import (
    Merged,
    RuleVerdict,
    StaticRun,
    cached_run,
    fails_the_run,
    input_problems,
    rule_verdicts,
    schema_groups,
)

from .conftest import NOT_COLLECTED, STATIC_RUN

TIER = "static"


class DeprecatedApiWarning(UserWarning):
    """An object uses an API the target Kubernetes version deprecates (reported, not failed)."""


class BelowFailOnWarning(UserWarning):
    """A rule found something, but its severity is below --fail-on (reported, not failed)."""


def _run(config: pytest.Config) -> StaticRun | InfraError:
    run = cached_run(settings_from_config(config))
    if isinstance(run, StaticRun):
        config.stash[STATIC_RUN] = run
    return run


def _not_collected() -> Any:
    return pytest.param(None, id="none", marks=NOT_COLLECTED)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = _run(metafunc.config)
    name = metafunc.function.__name__
    if isinstance(run, InfraError):
        # Collect one item per test that reports the fault as an error (broken).
        metafunc.parametrize("item", [pytest.param(run, id="infra-error")], indirect=True)
        return
    params: list[Any] = []
    if name == "test_policy_source":
        params = [pytest.param(run, id="policy")]
    elif name == "test_inputs_load":
        params = [pytest.param(run, id="inputs")]
    elif not run.has_objects:
        params = [_not_collected()]  # test_inputs_load says it, once
    elif name == "test_schema":
        params = [pytest.param((run, key, group), id=key) for key, group in schema_groups(run).items()]
    elif name == "test_rule":
        params = [
            pytest.param((run, v), id=v.rule.id) for v in sorted(rule_verdicts(run), key=lambda v: v.rule.id)
        ]
    elif name == "test_exemption":
        for verdict in rule_verdicts(run):
            for merged in verdict.exempted + verdict.expired:
                finding, _ = merged.item
                params.append(pytest.param((verdict, merged), id=f"{verdict.rule.id}-{finding.obj.ref}"))
        params = params or [_not_collected()]
    elif name == "test_no_unused_exemptions":
        params = [
            pytest.param(run, id="policy") if run.policy and run.policy.exemptions else _not_collected()
        ]
    metafunc.parametrize("item", params, indirect=True)


@pytest.fixture
def item(request: pytest.FixtureRequest) -> Any:
    """The parametrised result; an infra fault raises here, so it reports as ERROR (broken)."""
    if isinstance(request.param, InfraError):
        raise request.param
    return request.param


def _capped(blocks: list[str], run: StaticRun, what: str) -> str:
    return capped(blocks, run.settings.max_findings_per_rule, what)


def _profiles(run: StaticRun) -> list[str]:
    return [t.name for t in run.targets]


def test_policy_source(item: Any) -> None:
    """The policy layers (built-in baseline + the policy file, if any) load and name their problems."""
    label(TIER, "policy source", severity="blocker")
    run: StaticRun = item
    if run.policy_error is not None:
        pytest.fail(f"policy source is unusable: {run.policy_error}", pytrace=False)


def test_inputs_load(item: Any) -> None:
    """Every manifest file loads and every chart/kustomization renders; no objects at all fails."""
    run: StaticRun = item
    label(TIER, "inputs", severity="blocker")
    problems = input_problems(run)
    every = _profiles(run)
    if problems:
        blocks = [f"  - {m.item}{m.where(every)}" for m in problems]
        attach_text("input problems", "\n".join(blocks))
        nothing = (
            ""
            if run.has_objects
            else f"\nno Kubernetes objects in {run.settings.manifests}: nothing else was checked"
        )
        pytest.fail(
            redact_text(f"{len(problems)} input problem(s):\n{_capped(blocks, run, 'problem(s)')}{nothing}"),
            pytrace=False,
        )
    if not run.has_objects:
        left = run.left_out
        also = f"; {len(left)} file(s) left out as not manifests" if left else ""
        excluded = f"; {len(run.excluded)} path(s) excluded by --exclude" if run.excluded else ""
        pytest.fail(
            f"no Kubernetes objects found in {run.settings.manifests} (profiles {', '.join(every)}{also}"
            f"{excluded}): nothing to check",
            pytrace=False,
        )
    empty = [t.name for t in run.targets if not any(not o.provided for o in t.inventory.objects)]
    # With several environments (charts, kustomize roots) a target is one profile of one of them.
    what = "target(s)" if any(t.environment for t in run.targets) else "profile(s)"
    if empty:
        pytest.fail(f"no Kubernetes objects for {what} {', '.join(empty)}: nothing to check", pytrace=False)


def test_schema(item: Any) -> None:
    """kubeconform -strict per kind; removed APIs and missing schemas fail; deprecated APIs warn.

    A kind without a schema fails unless the policy exempts it under rule `schema`.
    """
    run, kind, results = item
    merged: list[Merged[SchemaResult]] = results
    policy, today = run.policy, run.settings.today
    bad = [m for m in merged if m.item.status in (Status.INVALID, Status.ERROR, Status.REMOVED)]
    unschemed = [m for m in merged if m.item.status is Status.SKIPPED]
    exempt = {id(m): policy.exemption_for(SCHEMA_RULE, m.item.obj.ref) if policy else None for m in unschemed}
    expired = [m for m in unschemed if (ex := exempt[id(m)]) is not None and ex.expires < today]
    missing = [m for m in unschemed if exempt[id(m)] is None]
    at_fault = bad + missing + expired
    # Stories name the services at fault, so a passing test sits in one place in the tree.
    services = [m.item.obj.labels.get("app.kubernetes.io/name", m.item.obj.name) for m in at_fault]
    label(TIER, "schema", services, "critical")
    for message in sorted({m.item.deprecation for m in merged if m.item.deprecation}):
        attach_text("deprecated API", message)
        warnings.warn(DeprecatedApiWarning(f"{len(merged)} {kind} object(s): {message}"), stacklevel=1)
    if at_fault:
        for m in at_fault[:5]:
            attach_object(m.item.obj.ref, m.item.obj.body)
        blocks = []
        for m in at_fault:
            r = m.item
            at = locate(r.obj, r.errors[0].path if r.errors else "apiVersion")
            where = f"{r.obj.ref} at {at} ({r.obj.source}){m.where(_profiles(run))}"
            ex = exempt.get(id(m))
            if ex is not None:
                blocks.append(
                    f"{where}: schema exemption expired on {ex.expires} (owner {ex.owner}): "
                    "renew it in the policy file or provide a schema"
                )
                continue
            status = "no schema" if r.status is Status.SKIPPED else r.status.value
            lines = [f"{where}: {status}"]
            lines += [f"  * {e.path}: {e.message}" for e in r.errors] or [f"  * {r.message}"]
            blocks.append("\n".join(lines))
        text = _capped(blocks, run, "object(s)")
        pytest.fail(
            redact_text(f"{len(at_fault)} of {len(merged)} {kind} object(s) fail the schema check:\n{text}"),
            pytrace=False,
        )
    if unschemed and len(unschemed) == len(merged):
        ex = exempt[id(unschemed[0])]
        assert ex is not None
        pytest.skip(
            f"not schema-checked ({len(unschemed)} object(s)): exempted until {ex.expires} by {ex.owner}: "
            f"{ex.reason}"
        )


def test_rule(item: Any) -> None:
    """One policy rule over every profile; a finding present in several profiles is listed once."""
    run, verdict = item
    v: RuleVerdict = verdict
    rule = v.rule
    label(TIER, rule.family, [m.item.service for m in v.findings], rule.severity.value)
    if v.errors:
        raise InfraError(f"rule {rule.id} crashed (a suite bug, not a verdict): {'; '.join(v.errors)}")
    if not v.checked:
        reasons = sorted(set(v.not_applicable.values()))
        pytest.skip(f"{rule.id} does not apply: {'; '.join(reasons)}")
    if v.findings:
        every = _profiles(run)
        for m in v.findings[:5]:
            attach_object(m.item.obj.ref, m.item.obj.body)
        blocks = [
            m.item.render() + (f"\n  {m.listed(every)}" if m.where(every) else "")  # found in some targets
            for m in v.findings
        ]
        attach_text("findings", "\n".join(blocks))
        if not fails_the_run(run.settings, rule):
            refs = ", ".join(dict.fromkeys(m.item.obj.ref for m in v.findings))
            warnings.warn(
                BelowFailOnWarning(
                    f"{len(v.findings)} finding(s) of rule {rule.id} ({rule.severity.value}, below --fail-on "
                    f"{run.settings.fail_on}: reported, not failed): {redact_text(refs)}"
                ),
                stacklevel=1,
            )
            return
        where = f" (checked in {', '.join(v.checked)})" if v.not_applicable else ""
        pytest.fail(
            redact_text(
                f"{len(v.findings)} finding(s) of rule {rule.id}{where} ({rule.description}):\n"
                + _capped(blocks, run, "finding(s)")
            ),
            pytrace=False,
        )


def test_exemption(item: Any) -> None:
    """An exempted finding is skipped with owner and reason; an expired exemption fails."""
    verdict, merged = item
    finding, exemption = merged.item
    label(TIER, verdict.rule.family, [finding.service], verdict.rule.severity.value)
    if any(m.item == merged.item for m in verdict.expired):
        pytest.fail(
            f"exemption for {verdict.rule.id} on {finding.obj.ref} expired on {exemption.expires} "
            f"(owner {exemption.owner}): renew it in the policy file or fix the finding:\n{finding.render()}",
            pytrace=False,
        )
    pytest.skip(f"exempted until {exemption.expires} by {exemption.owner}: {exemption.reason}")


def test_no_unused_exemptions(item: Any) -> None:
    """An exemption that matches no finding in any profile is stale: remove it."""
    run: StaticRun = item
    label(TIER, "policy source", severity="minor")
    assert run.policy is not None
    used = {
        (o.rule.id, ex.object) for t in run.targets for o in t.outcomes for _, ex in o.exempted + o.expired
    }
    used |= {
        (SCHEMA_RULE, ex.object)
        for t in run.targets
        for r in t.schema
        if r.status is Status.SKIPPED and (ex := run.policy.exemption_for(SCHEMA_RULE, r.obj.ref)) is not None
    }
    stale = [e for e in run.policy.exemptions if (e.rule, e.object) not in used]
    if stale:
        listing = "\n".join(
            f"  - {e.rule} on {e.object} (owner {e.owner}, expires {e.expires})" for e in stale
        )
        pytest.fail(
            f"{len(stale)} exemption(s) in {run.policy.path} match no finding; remove them:\n{listing}",
            pytrace=False,
        )
