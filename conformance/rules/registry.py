"""Rule registry: one rule = one small pure function + a one-line registration.

    @object_rule("image-pinned", family="workloads", severity=Severity.CRITICAL, kinds=WORKLOADS,
                 description="...", remediation="...")
    def image_pinned(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
        ...

Object rules see one object of the listed kinds at a time; inventory rules see
the whole inventory (cross-object checks). Both yield `Violation`s; the
registry turns them into `Finding`s carrying the rule. The catalogue in docs/
is generated from this registry (`python -m conformance catalogue`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..inventory.model import Inventory, K8sObject
from ..policy import Exemption, Policy
from .k8s import of_kinds

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


ObjectCheck = Callable[[K8sObject, Context], Iterable[Violation]]
InventoryCheck = Callable[[Context], Iterable[Violation]]
# Why a rule cannot judge this context (e.g. "no flows file declares the intended traffic"),
# or None when it applies. A rule that does not apply is skipped with the reason, never passed.
Applies = Callable[[Context], str | None]


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

    def run(self, ctx: Context) -> list[Finding]:
        if self.scope == "inventory":
            # Stand-ins for operator-made objects are lookup targets, never subjects.
            return [Finding(self, v) for v in self.check(ctx) if not v.obj.provided]
        subjects = (obj for obj in of_kinds(ctx.inventory, self.kinds) if not obj.provided)
        return [Finding(self, v) for obj in subjects for v in self.check(obj, ctx)]


@dataclass(frozen=True)
class Finding:
    rule: Rule
    violation: Violation

    @property
    def obj(self) -> K8sObject:
        return self.violation.obj

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
                f"  source:      {v.obj.source}",
                f"  field:       {v.field}",
                f"  actual:      {_short(v.actual)}",
                f"  required:    {_short(v.required)}",
                f"  message:     {v.message}",
                f"  remediation: {self.rule.remediation}",
            ]
        )


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


REGISTRY: dict[str, Rule] = {}


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
) -> Callable[[ObjectCheck], ObjectCheck]:
    """Register a single-object rule over `kinds`."""

    def register(fn: ObjectCheck) -> ObjectCheck:
        _register(
            Rule(rule_id, family, severity, description, remediation, tuple(kinds), "object", fn, applies)
        )
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
) -> Callable[[InventoryCheck], InventoryCheck]:
    """Register a cross-object rule that reads the whole inventory."""

    def register(fn: InventoryCheck) -> InventoryCheck:
        _register(
            Rule(rule_id, family, severity, description, remediation, tuple(kinds), "inventory", fn, applies)
        )
        return fn

    return register


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's verdict on one inventory, exemptions applied."""

    rule: Rule
    findings: tuple[Finding, ...]  # not exempted: these fail
    exempted: tuple[tuple[Finding, Exemption], ...]  # reported as skipped, with owner and reason
    expired: tuple[tuple[Finding, Exemption], ...]  # exemption past its date: these fail too
    error: str | None = None  # the rule itself crashed: reported as broken
    not_applicable: str | None = None  # why the rule could not judge: reported as skipped


def evaluate(ctx: Context, rules: Iterable[Rule] | None = None) -> list[RuleOutcome]:
    """Run every rule (or the given ones) against ctx.inventory."""
    from . import load_all

    load_all()
    outcomes = []
    for rule in rules if rules is not None else REGISTRY.values():
        reason = rule.applies(ctx)
        if reason is not None:
            outcomes.append(RuleOutcome(rule, (), (), (), not_applicable=reason))
            continue
        try:
            findings = rule.run(ctx)
        except Exception as err:  # a bug in a rule must not pass silently
            outcomes.append(RuleOutcome(rule, (), (), (), f"{type(err).__name__}: {err}"))
            continue
        failing, exempted, expired = [], [], []
        for finding in findings:
            exemption = ctx.policy.exemption_for(rule.id, finding.obj.ref)
            if exemption is None:
                failing.append(finding)
            elif exemption.expires < ctx.today:
                expired.append((finding, exemption))
            else:
                exempted.append((finding, exemption))
        outcomes.append(RuleOutcome(rule, tuple(failing), tuple(exempted), tuple(expired)))
    return outcomes
