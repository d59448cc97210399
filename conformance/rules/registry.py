"""Rule registry: one rule = one small pure function + a one-line registration.

    @object_rule("image-pinned", family="workloads", severity=Severity.CRITICAL, kinds=WORKLOADS,
                 description="...", remediation="...")
    def image_pinned(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
        ...

Object rules see one object of the listed kinds at a time; inventory rules see
the whole inventory (cross-object checks). Both yield `Violation`s; the
registry turns them into `Finding`s carrying the rule. The catalogue in docs/
is generated from this registry (`python -m conformance catalogue`).

Applicability (a check that does not apply is skipped with the reason, never passed):
  requires=("slo",)          policy data the rule needs (Policy.provides); a tuple
                             inside means any one of them, e.g. (("services", "x"),)
  applies=lambda ctx: ...    a reason string when the rule does not apply to ctx
                             (e.g. a profile it does not judge), else None
and a rule whose kinds are absent from the input has nothing to check.
The policy's `rules:` section switches rules off (not run at all) or sets severity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..inventory.locate import Location, locate
from ..inventory.model import Inventory, K8sObject
from ..k8s import of_kinds
from ..policy import Exemption, Policy

if TYPE_CHECKING:
    from ..netpol import DeclaredFlow


class Severity(Enum):
    BLOCKER = "blocker"  # unsafe to deploy (e.g. privileged pods, no PDB for a critical service)
    CRITICAL = "critical"  # breaks the platform's guarantees (SLO drift, capacity below target)
    NORMAL = "normal"  # a standard the platform keeps (labels, probes)
    MINOR = "minor"  # hygiene


@dataclass(frozen=True)
class Violation:
    """What a rule yields: one object, one field, actual vs required."""

    obj: K8sObject
    field: str
    actual: Any
    required: Any
    message: str


@dataclass(frozen=True)
class Context:
    """What every rule may read: the inventory being checked, the policy, the profile."""

    inventory: Inventory
    policy: Policy
    profile: str
    today: dt.date  # exemptions expire against this date
    # The declared traffic (flows.yaml beside the manifests); None when the input has none.
    flows: tuple[DeclaredFlow, ...] | None = None


class ProfileTracing(Context):
    """A Context that notes each read of `profile`: a rule that never reads it judges any other
    profile with the same objects alike, so its outcome can be shared (see `evaluate_profiles`)."""

    def __getattribute__(self, name: str) -> Any:
        if name == "profile":
            object.__getattribute__(self, "__dict__")["profile_read"] = True
        return object.__getattribute__(self, name)


ObjectCheck = Callable[[K8sObject, Context], Iterable[Violation]]
InventoryCheck = Callable[[Context], Iterable[Violation]]
# Why a rule cannot judge this context (e.g. "no flows file declares the intended traffic"),
# or None when it applies. A rule that does not apply is skipped with the reason, never passed.
Applies = Callable[[Context], str | None]
Requirement = str | tuple[str, ...]  # a Policy datum, or any one of several


def always(_ctx: Context) -> str | None:
    return None


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    severity: Severity
    description: str
    remediation: str
    kinds: tuple[str, ...]  # object rules: the kinds checked; inventory rules: the kinds read
    scope: str  # "object" or "inventory"
    check: Callable[..., Iterable[Violation]]
    applies: Applies = always
    requires: tuple[Requirement, ...] = ()

    def not_applicable(self, ctx: Context) -> str | None:
        """Why this rule has nothing to judge in ctx (policy data missing, profile, no objects), or None."""
        for need in self.requires:
            options = (need,) if isinstance(need, str) else need
            if not any(ctx.policy.provides(o) for o in options):
                wanted = " or ".join(POLICY_DATA.get(o, o) for o in options)
                return f"the policy ({ctx.policy.name}) provides no {wanted}"
        reason = self.applies(ctx)
        if reason:
            return reason
        if not any(not o.provided for o in self.subjects(ctx)):
            return f"no {', '.join(self.kinds) or 'objects'} in the input"
        return None

    def subjects(self, ctx: Context) -> Iterator[K8sObject]:
        """Objects of the rule's kinds (every object when it lists none)."""
        return of_kinds(ctx.inventory, self.kinds) if self.kinds else iter(ctx.inventory.objects)

    def run(self, ctx: Context) -> list[Finding]:
        if self.scope == "inventory":
            # Stand-ins for operator-made objects are lookup targets, never subjects.
            return [Finding(self, v) for v in self.check(ctx) if not v.obj.provided]
        subjects = (obj for obj in self.subjects(ctx) if not obj.provided)
        return [Finding(self, v) for obj in subjects for v in self.check(obj, ctx)]


@dataclass(frozen=True)
class Finding:
    rule: Rule
    violation: Violation

    @property
    def obj(self) -> K8sObject:
        return self.violation.obj

    @functools.cached_property
    def location(self) -> Location:
        """file:line:column of the offending field (computed on first use: only findings pay)."""
        return locate(self.violation.obj, self.violation.field)

    @property
    def service(self) -> str:
        labels = self.obj.labels
        return str(labels.get("app.kubernetes.io/name") or labels.get("app") or self.obj.name)

    def render(self) -> str:
        """A kube-linter-like block: header, then sorted facts."""
        v = self.violation
        return "\n".join(
            [
                f"[{self.rule.id}] {v.obj.ref} ({v.obj.api_version})",
                f"  at:          {self.location}",
                f"  source:      {v.obj.source}",
                f"  field:       {v.field}",
                f"  actual:      {_short(v.actual)}",
                f"  required:    {_short(v.required)}",
                f"  message:     {v.message}",
                f"  remediation: {self.rule.remediation}",
            ]
        )


def locate_findings(findings: Iterable[Finding]) -> None:
    """Locate findings file by file, document by document: each document is composed once.

    Rules report in their own order, so locating rule by rule would compose every document
    once per rule with a finding there (the document cache cannot hold a large input).
    """

    def order(f: Finding) -> tuple[str, str, int]:
        obj = f.violation.obj
        return (str(obj.origin.disk) if obj.origin else "", obj.source.path, obj.source.line or 0)

    for finding in sorted(findings, key=order):
        _ = finding.location


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


REGISTRY: dict[str, Rule] = {}


# Policy data -> where a policy file sets it (for "does not apply" reasons).
POLICY_DATA = {
    "slo": "slo section",
    "capacity": "capacity plan (capacity)",
    "namespace": "platform namespace (org.namespace)",
    "required_labels": "required labels (org.required_labels)",
    "critical_priority_class": "critical priority class (org.critical_priority_class)",
    "scaling": "HPA scaling policy (org.hpa.scale_up and scale_down)",
    "required_metrics": "required HPA metrics (org.hpa.required_metrics)",
    "services": "per-service policy (org.services)",
    "critical_services": "critical services (org.services.<name>.critical)",
    "load": "load sizes (load)",
}


def _register(rule: Rule) -> None:
    if rule.id in REGISTRY:
        raise ValueError(f"rule id {rule.id!r} registered twice")
    if not rule.remediation or not rule.description:
        raise ValueError(f"rule {rule.id!r} needs a description and a remediation")
    REGISTRY[rule.id] = rule


def object_rule(
    rule_id: str,
    *,
    family: str,
    severity: Severity,
    kinds: Iterable[str],
    description: str,
    remediation: str,
    applies: Applies = always,
    requires: Iterable[Requirement] = (),
) -> Callable[[ObjectCheck], ObjectCheck]:
    """Register a single-object rule over `kinds`."""

    def register(fn: ObjectCheck) -> ObjectCheck:
        kinds_ = tuple(kinds)
        _register(Rule(rule_id, family, severity, description, remediation, kinds_, "object", fn, applies,
                       tuple(requires)))  # fmt: skip
        return fn

    return register


def inventory_rule(
    rule_id: str,
    *,
    family: str,
    severity: Severity,
    kinds: Iterable[str],
    description: str,
    remediation: str,
    applies: Applies = always,
    requires: Iterable[Requirement] = (),
) -> Callable[[InventoryCheck], InventoryCheck]:
    """Register a cross-object rule that reads the whole inventory."""

    def register(fn: InventoryCheck) -> InventoryCheck:
        kinds_ = tuple(kinds)
        _register(Rule(rule_id, family, severity, description, remediation, kinds_, "inventory", fn, applies,
                       tuple(requires)))  # fmt: skip
        return fn

    return register


def configured(policy: Policy, rules: Iterable[Rule]) -> tuple[list[Rule], list[str]]:
    """(enabled rules with the policy's severities applied, errors for unknown rule ids in `rules:`)."""
    listed = list(rules)
    known = {r.id for r in listed}
    errors = [
        f"{setting.source}: unknown rule id {rule_id!r} (see docs/rules.md)"
        for rule_id, setting in policy.rules.items()
        if rule_id not in known and rule_id not in REGISTRY
    ]
    out = []
    for rule in listed:
        setting = policy.rules.get(rule.id)
        if setting is None:
            out.append(rule)
        elif setting.enabled is not False:
            severity = Severity(setting.severity) if setting.severity else rule.severity
            out.append(dataclasses.replace(rule, severity=severity))
    return out, errors


def disabled_rules(policy: Policy) -> list[tuple[str, str]]:
    """(rule id, where the policy switched it off), for the summary."""
    return sorted(
        (rid, s.source) for rid, s in policy.rules.items() if s.enabled is False and rid in REGISTRY
    )


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's verdict on one inventory, exemptions applied."""

    rule: Rule
    findings: tuple[Finding, ...]  # not exempted: these fail
    exempted: tuple[tuple[Finding, Exemption], ...]  # reported as skipped, with owner and reason
    expired: tuple[tuple[Finding, Exemption], ...]  # exemption past its date: these fail too
    error: str | None = None  # the rule itself crashed: reported as broken
    not_applicable: str | None = None  # why the rule did not run here (skipped with this reason)

    def located(self) -> Iterator[Finding]:
        """Every finding the report shows with its position: failing, expired and exempted."""
        yield from self.findings
        yield from (f for f, _ in self.expired + self.exempted)


@functools.cache
def load_all() -> dict[str, Rule]:
    """Import every rule module of this package (each registers its rules on import). By module
    name, not by import statement: the rule modules import this registry, not the other way."""
    folder = Path(__file__).parent
    for module in sorted(m.name for m in pkgutil.iter_modules([str(folder)])):
        if module not in {"registry", "parity"}:
            importlib.import_module(f"{__package__}.{module}")
    return REGISTRY


def evaluate(ctx: Context, rules: Iterable[Rule] | None = None) -> list[RuleOutcome]:
    """Run every enabled rule (or the given ones) against ctx.inventory.

    Rules the policy switches off are left out; rules with nothing to judge come back
    with `not_applicable` set and no findings.
    """
    load_all()
    enabled, _ = configured(ctx.policy, rules if rules is not None else REGISTRY.values())
    return [_outcome(rule, ctx) for rule in enabled]


def evaluate_profiles(contexts: list[Context]) -> list[list[RuleOutcome]]:
    """`evaluate` for contexts that differ only in their profile (the same objects, policy, date
    and flows: an input without charts). Each rule runs in the first; a rule that never read the
    profile there has the same outcome in the others (same data, same path), so it runs once."""
    load_all()
    if not contexts:
        return []
    first = contexts[0]
    tracing = ProfileTracing(first.inventory, first.policy, first.profile, first.today, first.flows)
    enabled, _ = configured(first.policy, REGISTRY.values())
    shared: dict[str, RuleOutcome] = {}
    out: list[list[RuleOutcome]] = [[] for _ in contexts]
    for rule in enabled:
        tracing.__dict__["profile_read"] = False
        outcome = _outcome(rule, tracing)
        out[0].append(outcome)
        if not tracing.__dict__["profile_read"]:
            shared[rule.id] = outcome
    for i, ctx in enumerate(contexts[1:], start=1):
        out[i] = [shared.get(rule.id) or _outcome(rule, ctx) for rule in enabled]
    return out


def _outcome(rule: Rule, ctx: Context) -> RuleOutcome:
    reason = rule.not_applicable(ctx)
    if reason is not None:
        return RuleOutcome(rule, (), (), (), not_applicable=reason)
    try:
        findings = rule.run(ctx)
    except Exception as err:  # a bug in a rule must not pass silently
        return RuleOutcome(rule, (), (), (), f"{type(err).__name__}: {err}")
    failing, exempted, expired = [], [], []
    for finding in findings:
        exemption = ctx.policy.exemption_for(rule.id, finding.obj.ref)
        if exemption is None:
            failing.append(finding)
        elif exemption.expires < ctx.today:
            expired.append((finding, exemption))
        else:
            exempted.append((finding, exemption))
    return RuleOutcome(rule, tuple(failing), tuple(exempted), tuple(expired))
