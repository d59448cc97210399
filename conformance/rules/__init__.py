"""Policy rules. Each module registers its rules on import; `load_all` imports them all."""

from __future__ import annotations

from .registry import REGISTRY, Context, Finding, Rule, RuleOutcome, Severity, Violation, evaluate, load_all

__all__ = [
    "REGISTRY",
    "Context",
    "Finding",
    "Rule",
    "RuleOutcome",
    "Severity",
    "Violation",
    "evaluate",
    "load_all",
]
