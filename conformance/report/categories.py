"""The report's categories: why a result is not green, in the suite's own terms.

One list, `CATEGORIES`, first match wins. It is written to the results
directory as `categories.json` in Allure 3's rule format (statuses, labels,
message/trace regexes) and handed to the Allure CLI through its config;
`classify` applies the same rules in Python for the console summary and the
self-tests. Results no rule takes fall to Allure's defaults ("Product errors"
for failed, "Test errors" for broken).

Labels come from `conformance.report.allure_labels.label`: epic = tier,
feature = rule family ("schema" for the schema check).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TIERS = ("static", "behaviour", "slo")


@dataclass(frozen=True)
class Matcher:
    """Every given condition must hold; regexes are searched (anchor them as needed)."""

    statuses: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # label name -> regex
    message: str | None = None
    trace: str | None = None

    def to_allure(self) -> dict[str, Any]:
        out: dict[str, Any] = {"statuses": list(self.statuses)}
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.message is not None:
            out["message"] = self.message
        if self.trace is not None:
            out["trace"] = self.trace
        return out

    def matches(self, result: Mapping[str, Any]) -> bool:
        if result.get("status") not in self.statuses:
            return False
        labels = result.get("labels") or []
        for name, pattern in self.labels.items():
            values = [str(lb.get("value", "")) for lb in labels if lb.get("name") == name]
            if not any(re.search(pattern, v) for v in values):
                return False
        details = result.get("statusDetails") or {}
        if self.message is not None and not re.search(self.message, str(details.get("message") or "")):
            return False
        return self.trace is None or bool(re.search(self.trace, str(details.get("trace") or "")))


@dataclass(frozen=True)
class Category:
    """A named bucket of failed/broken results; any of its matchers admits a result."""

    name: str
    description: str
    matchers: tuple[Matcher, ...]

    def to_allure(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "matchers": [m.to_allure() for m in self.matchers],
            # Within a category, group by rule family (feature), then by message.
            "groupBy": [{"label": "feature"}],
            "expand": True,
        }

    def matches(self, result: Mapping[str, Any]) -> bool:
        return any(m.matches(result) for m in self.matchers)


def _tier(tier: str, **extra: str) -> dict[str, str]:
    return {"epic": f"^{tier}$", **{k: f"^{v}$" for k, v in extra.items()}}


INFRA_PREFIX = "BROKEN (infrastructure"
GATE_FEATURE = "conformance gate"  # results written by conformance.report.hooks for an empty tier

CATEGORIES: tuple[Category, ...] = (
    Category(
        "nothing checked",
        "A tier collected no test, or skipped every test (a tool or cluster missing): the gate fails.",
        (Matcher(("broken", "failed"), {"feature": f"^{GATE_FEATURE}$"}),),
    ),
    Category(
        "infra broken",
        "The suite could not judge: a tool, cluster, target or k6 failed (InfraError). Not a verdict.",
        (
            # conformance.plugin rewrites an InfraError's report to this prefix ...
            Matcher(("broken",), trace=f"^{re.escape(INFRA_PREFIX)}"),
            # ... and the exception name survives in the message even with --tb=no.
            Matcher(("broken",), message=r"^conformance\.errors\.\w+: "),
        ),
    ),
    Category(
        "schema invalid",
        "An object fails its Kubernetes/CRD schema (static tier, test_schema).",
        (Matcher(("failed",), _tier("static", feature="schema")),),
    ),
    Category(
        "policy violation",
        "A policy rule fired, an input did not load or an exemption expired (static tier).",
        (Matcher(("failed",), _tier("static")),),
    ),
    Category(
        "SLO breach",
        "A measured latency, error rate or check missed its policy.yaml SLO (SLO tier).",
        (Matcher(("failed",), _tier("slo")),),
    ),
    Category(
        "behaviour failure",
        "The platform did not behave as required on a live control plane (behaviour tier).",
        (Matcher(("failed",), _tier("behaviour")),),
    ),
)


def allure_rules() -> list[dict[str, Any]]:
    """`CATEGORIES` as Allure 3 category rules (the content of categories.json)."""
    return [c.to_allure() for c in CATEGORIES]


def classify(result: Mapping[str, Any]) -> str | None:
    """The name of the first category that takes an Allure result (a parsed *-result.json)."""
    for category in CATEGORIES:
        if category.matches(result):
            return category.name
    return None


def tier_of(result: Mapping[str, Any]) -> str:
    """The result's epic (tier), or "unlabelled"."""
    for lb in result.get("labels") or []:
        if lb.get("name") == "epic":
            return str(lb.get("value", ""))
    return "unlabelled"
