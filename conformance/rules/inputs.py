"""Rules about the inputs themselves (not about what the objects say)."""

from __future__ import annotations

from collections.abc import Iterator

from ..inventory.locate import locate
from ..inventory.model import K8sObject
from .registry import Context, Severity, Violation, inventory_rule


@inventory_rule(
    "duplicate-objects",
    family="inputs",
    severity=Severity.CRITICAL,
    kinds=(),
    description="No object (same API group, kind, namespace and name) is defined twice in one target: "
    "the second `kubectl apply` silently overwrites the first, and every check sees only one of them.",
    remediation="Keep one definition; if both are meant for different environments, give each its own "
    "kustomization root or chart (each is checked as its own target), or --exclude one of them.",
)
def duplicate_objects(ctx: Context) -> Iterator[Violation]:
    first: dict[tuple[str, str, str, str], K8sObject] = {}
    for obj in ctx.inventory.objects:
        if obj.provided:
            continue
        key = (obj.group, obj.kind, obj.namespace, obj.name)
        seen = first.setdefault(key, obj)
        if seen is obj:
            continue
        yield Violation(
            obj,
            "metadata.name",
            f"{obj.ref} at {locate(obj, 'metadata.name')}",
            "one definition",
            f"{obj.ref} is also defined at {locate(seen, 'metadata.name')} ({seen.source})",
        )
