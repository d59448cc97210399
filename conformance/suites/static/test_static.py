"""Static tier: inputs load, every object passes its schema, every rule holds.

Items are generated from one cached static run per process:
  test_inputs_load[<profile>]          every file/chart loads (problems name file, document, field)
  test_schema[<profile>-<apiVersion Kind>]   kubeconform -strict per kind; an API removed in
                                       --k8s-version or a kind without a schema fails (unless exempted
                                       under rule `schema` in policy.yaml); a deprecated one warns
  test_rule[<profile>-<rule id>]        one per rule; findings fail it
  test_exemption[<profile>-<rule>-<object>]  skipped with owner and reason; expired: fails
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.errors import InfraError
from conformance.plugin import settings_from_config
from conformance.policy import Exemption, Policy
from conformance.report.allure_labels import attach_object, attach_text, label
from conformance.report.redact import redact_text
from conformance.rules import RuleOutcome
from conformance.schema import SCHEMA_RULE
from conformance.schema.kubeconform import SchemaResult, Status
from conformance.static import StaticRun, StaticTarget, cached_run

TIER = "static"


class DeprecatedApiWarning(UserWarning):
    """An object uses an API the target Kubernetes version deprecates (reported, not failed)."""


@dataclass(frozen=True)
class SchemaGroup:
    """The schema results of one apiVersion/kind, with what decides on missing schemas."""

    results: list[SchemaResult]
    policy: Policy | None
    today: dt.date

    def exemption(self, result: SchemaResult) -> Exemption | None:
        return self.policy.exemption_for(SCHEMA_RULE, result.obj.ref) if self.policy else None


def _run(config: pytest.Config) -> StaticRun | InfraError:
    return cached_run(settings_from_config(config))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = _run(metafunc.config)
    if isinstance(run, InfraError):
        # Collect one item per test that reports the fault as an error (broken).
        metafunc.parametrize("item", [pytest.param(run, id="infra-error")], indirect=True)
        return
    params: list[Any] = []
    name = metafunc.function.__name__
    for target in run.targets:
        if name == "test_inputs_load":
            params.append(pytest.param(target, id=target.profile))
        elif name == "test_schema":
            groups: dict[str, list[SchemaResult]] = defaultdict(list)
            for result in target.schema:
                groups[f"{result.obj.api_version} {result.obj.kind}"].append(result)
            params += [
                pytest.param(SchemaGroup(g, run.policy, run.settings.today), id=f"{target.profile}-{key}")
                for key, g in sorted(groups.items())
            ]
        elif name == "test_rule":
            params += [pytest.param(o, id=f"{target.profile}-{o.rule.id}") for o in target.outcomes]
        elif name == "test_exemption":
            for outcome in target.outcomes:
                for finding, exemption in outcome.exempted + outcome.expired:
                    params.append(
                        pytest.param(
                            (finding, exemption, outcome),
                            id=f"{target.profile}-{outcome.rule.id}-{finding.obj.ref}",
                        )
                    )
    if name in ("test_policy_source", "test_no_unused_exemptions"):
        params = [pytest.param(run, id="policy")]
    if not params and name == "test_exemption":
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(reason="no exemptions apply"))]
    metafunc.parametrize("item", params, indirect=True)


@pytest.fixture
def item(request: pytest.FixtureRequest) -> Any:
    """The parametrised result; an infra fault raises here, so it reports as ERROR (broken)."""
    if isinstance(request.param, InfraError):
        raise request.param
    return request.param


def test_policy_source(item: Any) -> None:
    """policy.yaml (the SLO / org-policy source of truth) loads and names its problems."""
    label(TIER, "policy source", severity="blocker")
    run: StaticRun = item
    if run.policy_error is not None:
        pytest.fail(f"policy source is unusable: {run.policy_error}", pytrace=False)


def test_inputs_load(item: Any) -> None:
    """Every manifest file loads and every chart renders; an empty target fails."""
    target: StaticTarget = item
    label(TIER, "inputs", severity="blocker")
    problems = target.inventory.problems
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        pytest.fail(redact_text(f"{len(problems)} input problem(s):\n{listing}"), pytrace=False)
    if not target.inventory.objects:
        pytest.fail(
            f"no Kubernetes objects found for profile {target.profile}: nothing to check", pytrace=False
        )


def test_schema(item: Any) -> None:
    """kubeconform -strict against offline schemas, per kind; removed APIs and missing schemas fail."""
    group: SchemaGroup = item
    results = group.results
    kind = results[0].obj.kind
    bad = [r for r in results if r.status in (Status.INVALID, Status.ERROR, Status.REMOVED)]
    unschemed = [r for r in results if r.status is Status.SKIPPED]
    exempt = {id(r): group.exemption(r) for r in unschemed}
    expired = [r for r in unschemed if (ex := exempt[id(r)]) is not None and ex.expires < group.today]
    missing = [r for r in unschemed if exempt[id(r)] is None]
    # Stories name the services at fault, so a passing test sits in one place in the tree.
    at_fault = bad + missing + expired
    label(
        TIER, "schema", [r.obj.labels.get("app.kubernetes.io/name", r.obj.name) for r in at_fault], "critical"
    )
    deprecated = sorted({r.deprecation for r in results if r.deprecation})
    for message in deprecated:
        attach_text("deprecated API", message)
        warnings.warn(DeprecatedApiWarning(f"{len(results)} {kind} object(s): {message}"), stacklevel=1)
    if at_fault:
        for r in at_fault[:5]:
            attach_object(r.obj.ref, r.obj.body)
        lines = []
        for r in at_fault:
            ex = exempt.get(id(r))
            if ex is not None:
                lines.append(
                    f"{r.obj.ref} ({r.obj.source}): schema exemption expired on {ex.expires} "
                    f"(owner {ex.owner}): renew it in policy.yaml or provide a schema"
                )
                continue
            status = "no schema" if r.status is Status.SKIPPED else r.status.value
            lines.append(f"{r.obj.ref} ({r.obj.source}): {status}")
            lines += [f"  * {e.path}: {e.message}" for e in r.errors] or [f"  * {r.message}"]
        pytest.fail(
            redact_text(
                f"{len(at_fault)} of {len(results)} {kind} object(s) fail the schema check:\n"
                + "\n".join(lines)
            ),
            pytrace=False,
        )
    if unschemed and len(unschemed) == len(results):
        ex = exempt[id(unschemed[0])]
        assert ex is not None
        pytest.skip(
            f"not schema-checked ({len(unschemed)} object(s)): exempted until {ex.expires} by {ex.owner}: "
            f"{ex.reason}"
        )


def test_rule(item: Any) -> None:
    """One policy rule over the whole target."""
    outcome: RuleOutcome = item
    rule = outcome.rule
    label(TIER, rule.family, [f.service for f in outcome.findings], rule.severity.value)
    if outcome.error is not None:
        raise InfraError(f"rule {rule.id} crashed (a suite bug, not a verdict): {outcome.error}")
    if outcome.not_applicable is not None:
        pytest.skip(f"rule {rule.id} does not apply: {outcome.not_applicable}")
    if outcome.findings:
        for finding in outcome.findings[:5]:
            attach_object(finding.obj.ref, finding.obj.body)
        text = "\n".join(f.render() for f in outcome.findings)
        attach_text("findings", text)
        pytest.fail(
            redact_text(
                f"{len(outcome.findings)} finding(s) of rule {rule.id} ({rule.description}):\n{text}"
            ),
            pytrace=False,
        )


def test_exemption(item: Any) -> None:
    """An exempted finding is skipped with owner and reason; an expired exemption fails."""
    finding, exemption, outcome = item
    label(TIER, outcome.rule.family, [finding.service], outcome.rule.severity.value)
    if (finding, exemption) in outcome.expired:
        pytest.fail(
            f"exemption for {outcome.rule.id} on {finding.obj.ref} expired on {exemption.expires} "
            f"(owner {exemption.owner}): renew it in policy.yaml or fix the finding:\n{finding.render()}",
            pytrace=False,
        )
    pytest.skip(f"exempted until {exemption.expires} by {exemption.owner}: {exemption.reason}")


def test_no_unused_exemptions(item: Any) -> None:
    """An exemption that matches no finding in any profile is stale: remove it."""
    run: StaticRun = item
    label(TIER, "policy source", severity="minor")
    if run.policy is None:
        pytest.skip("policy source did not load (see test_policy_source)")
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
