"""Policy rules. Each module registers its rules on import; `load_all` imports them all."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from .registry import REGISTRY, Context, Finding, Rule, RuleOutcome, Severity, Violation, evaluate


@functools.cache
def load_all() -> dict[str, Rule]:
    """Import every rule module in this package (registration happens on import)."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if module not in {"registry", "k8s", "parity"}:
            importlib.import_module(f"{__name__}.{module}")
    return REGISTRY


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
