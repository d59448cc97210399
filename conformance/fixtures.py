"""Rule fixtures: fixtures/rules/<rule-id>/{good,bad}/*.yaml.

A good file must produce no finding of its rule. A bad file must produce
findings exactly on the objects annotated `conformance.tartware.io/expect:
violation` (so a bad file can also hold neighbours that must *not* fire).
A fixture folder may hold `fixture.yaml` with `profile: ci` to check another profile,
`policy: <file>` for another policy and `flows: <file>` for the declared traffic (flows.yaml).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from .inventory import Inventory, K8sObject, Problem, load_bytes
from .netpol import load_flows
from .policy import Policy, load_policy
from .rules import REGISTRY, Context, Finding, load_all
from .tools import REPO

FIXTURES = REPO / "fixtures" / "rules"
EXPECT = "conformance.tartware.io/expect"
# Fixed date for fixtures, so exemption fixtures do not start failing later.
FIXTURE_TODAY = dt.date(2026, 11, 26)


@dataclass(frozen=True)
class FixtureCase:
    rule_id: str
    kind: str  # "good" or "bad"
    path: Path

    @property
    def id(self) -> str:
        return f"{self.rule_id}/{self.kind}/{self.path.name}"


def cases() -> list[FixtureCase]:
    out = []
    for rule_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for kind in ("good", "bad"):
            for path in sorted((rule_dir / kind).glob("*.yaml")):
                out.append(FixtureCase(rule_dir.name, kind, path))
    return out


def fixture_context(case: FixtureCase, policy: Policy | None = None) -> Context:
    items = load_bytes(case.path.read_bytes(), str(case.path.relative_to(REPO)))
    problems = [i for i in items if isinstance(i, Problem)]
    if problems:
        raise ValueError(f"fixture does not load: {problems[0]}")
    settings_file = case.path.parent.parent / "fixture.yaml"
    extra = yaml.safe_load(settings_file.read_text()) if settings_file.is_file() else {}
    policy_file = (
        case.path.parent.parent / extra["policy"] if "policy" in extra else REPO / "manifests" / "policy.yaml"
    )
    inventory = Inventory(case.id, [i for i in items if isinstance(i, K8sObject)])
    flows = tuple(load_flows(case.path.parent.parent / extra["flows"])) if "flows" in extra else None
    return Context(
        inventory, policy or load_policy(policy_file), extra.get("profile", "prod"), FIXTURE_TODAY, flows
    )


def run_case(case: FixtureCase) -> tuple[list[Finding], set[str], set[str]]:
    """(findings of the case's rule, refs that fired, refs annotated as expected to fire)."""
    load_all()
    rule = REGISTRY[case.rule_id]
    ctx = fixture_context(case)
    findings = rule.run(ctx)
    fired = {f.obj.ref for f in findings}
    expected = {
        o.ref
        for o in ctx.inventory.objects
        if (o.metadata.get("annotations") or {}).get(EXPECT) == "violation"
    }
    return findings, fired, expected
