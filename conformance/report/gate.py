"""A gate that cannot pass empty: a tier run that checked nothing fails, naming why.

`Tally` counts, per tier, which tests ran and which were skipped (with their
reasons); `Tally.problems` turns that into the failures to report:

  * the session collected no test at all;
  * a tier named on the command line ran no test (all deselected, none collected);
  * every test of a tier was skipped (a tool or cluster missing): the message
    lists the skip reasons, most frequent first, so it names what is missing.

A tier whose every skip says the input does not declare what the tier checks
(`not_applicable(...)`: e.g. a repo whose policy has no `slo` section) is no
problem: it is reported as "does not apply to this input" — neither passed nor
a failure of a repo that never claimed an SLO.

The pytest hooks live in conformance.report.hooks; this module is plain logic.
A test's tier is the `suites/<tier>/` folder its node id lives in.

Example:
    tally = Tally.for_args(["conformance/suites/slo"])
    tally.skipped("conformance/suites/slo/test_slo.py::test_slo[smoke-p95]", "k6 not found")
    [str(p) for p in tally.problems(collected=1)]
    # -> ["every slo test was skipped (1 test(s)): k6 not found (1)"]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .categories import TIERS

NOT_APPLICABLE = "does not apply to this input: "


def not_applicable(reason: str) -> str:
    """A skip reason saying the input declares nothing this check could judge."""
    return NOT_APPLICABLE + reason


_TIER_PATH = re.compile(r"(?:^|[/\\])suites[/\\](" + "|".join(TIERS) + r")(?:[/\\]|$|::)")
MAX_REASONS = 5


@dataclass(frozen=True)
class Problem:
    """Why a session must not pass; `tier` is None when no tier can be named."""

    tier: str | None
    message: str

    def __str__(self) -> str:
        return self.message


def tier_of_path(text: str) -> str | None:
    """The tier a node id or path belongs to: ".../suites/slo/test_slo.py::x" -> "slo"."""
    match = _TIER_PATH.search(text)
    return match.group(1) if match else None


@dataclass
class Tally:
    """What each tier's tests did in one session (fed one test report at a time)."""

    expected: tuple[str, ...] = ()  # tiers the command line named
    ran: dict[str, set[str]] = field(default_factory=dict)  # tier -> node ids that ran
    skips: dict[str, dict[str, str]] = field(default_factory=dict)  # tier -> node id -> reason

    @classmethod
    def for_args(cls, args: Iterable[str]) -> Tally:
        named = {tier for arg in args if (tier := tier_of_path(str(arg)))}
        return cls(expected=tuple(t for t in TIERS if t in named))

    def executed(self, nodeid: str) -> None:
        tier = tier_of_path(nodeid)
        if tier:
            self.ran.setdefault(tier, set()).add(nodeid)

    def skipped(self, nodeid: str, reason: str) -> None:
        tier = tier_of_path(nodeid)
        if tier:
            self.skips.setdefault(tier, {}).setdefault(nodeid, reason)

    def tiers(self) -> list[str]:
        seen = set(self.expected) | set(self.ran) | set(self.skips)
        return [t for t in TIERS if t in seen]

    def _skipped_only(self, tier: str) -> dict[str, str]:
        ran = self.ran.get(tier, set())
        return {} if ran else {n: r for n, r in self.skips.get(tier, {}).items() if n not in ran}

    def not_applicable(self) -> dict[str, list[str]]:
        """Tiers that ran nothing because nothing of theirs applies: tier -> the distinct reasons."""
        out = {}
        for tier in self.tiers():
            skipped = self._skipped_only(tier)
            if skipped and all(r.startswith(NOT_APPLICABLE) for r in skipped.values()):
                out[tier] = sorted({r.removeprefix(NOT_APPLICABLE) for r in skipped.values()})
        return out

    def problems(self, collected: int) -> list[Problem]:
        """Why this session must not pass (empty when it checked something in every tier)."""
        if collected == 0:
            where = ", ".join(self.expected) or "the given paths"
            tier = self.expected[0] if len(self.expected) == 1 else None
            return [Problem(tier, f"collected no tests from {where}: nothing was checked")]
        out = []
        inapplicable = self.not_applicable()
        for tier in self.tiers():
            if self.ran.get(tier) or tier in inapplicable:
                continue
            skipped = self._skipped_only(tier)
            if not skipped:
                out.append(Problem(tier, f"the {tier} tier ran no test (all deselected or none collected)"))
                continue
            reasons = Counter(skipped.values()).most_common()
            listed = "; ".join(f"{reason} ({n})" for reason, n in reasons[:MAX_REASONS])
            more = f"; and {len(reasons) - MAX_REASONS} more reason(s)" if len(reasons) > MAX_REASONS else ""
            out.append(
                Problem(tier, f"every {tier} test was skipped ({len(skipped)} test(s)): {listed}{more}")
            )
        return out


def skip_reason(longrepr: object) -> str:
    """The reason of a skipped test report ("Skipped: k6 not found" -> "k6 not found")."""
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    text = str(text)
    return text.removeprefix("Skipped: ").strip() or "no reason given"
