"""PrometheusRule objects as Prometheus rule files, and the rules they hold."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..inventory.model import K8sObject

PROMETHEUS_RULE = "PrometheusRule"
# Group fields the Prometheus operator does not pass to Prometheus (Thanos only).
_OPERATOR_ONLY = ("partial_response_strategy",)


@dataclass(frozen=True)
class Rule:
    """One recording or alerting rule, with where it came from."""

    obj: K8sObject
    group: str
    index: int  # 1-based, as promtool counts
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body.get("alert") or self.body.get("record") or f"rule {self.index}")

    @property
    def expr(self) -> str:
        return str(self.body.get("expr", ""))

    @property
    def where(self) -> str:
        """file, object, group and rule, for messages."""
        return f"{self.obj.source.path}: {self.obj.ref} group {self.group!r} rule {self.name!r}"


@dataclass(frozen=True)
class RuleFile:
    """The groups of one PrometheusRule, written where promtool and Prometheus can read them."""

    obj: K8sObject
    path: Path
    groups: tuple[dict[str, Any], ...]

    def rules(self) -> Iterator[Rule]:
        for group in self.groups:
            for i, rule in enumerate(group.get("rules") or [], start=1):
                if isinstance(rule, dict):
                    yield Rule(self.obj, str(group.get("name", "")), i, rule)


def prometheus_rules(objects: Iterable[K8sObject]) -> list[K8sObject]:
    """The PrometheusRules the repository defines (not operator-provided stand-ins)."""
    return [o for o in objects if o.kind == PROMETHEUS_RULE and not o.provided]


def rule_groups(obj: K8sObject) -> tuple[dict[str, Any], ...]:
    """spec.groups as Prometheus reads them (what the operator writes into its rule files)."""
    groups = obj.spec.get("groups")
    if not isinstance(groups, list):
        return ()
    return tuple(
        {k: v for k, v in g.items() if k not in _OPERATOR_ONLY} if isinstance(g, dict) else g for g in groups
    )


def write_rule_files(objects: Iterable[K8sObject], folder: Path) -> list[RuleFile]:
    """One rule file per PrometheusRule, named after the object (index first: names may repeat)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, obj in enumerate(objects):
        groups = rule_groups(obj)
        path = folder / f"{i:03d}-{obj.namespace}-{obj.name}.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": list(groups)}, sort_keys=False))
        files.append(RuleFile(obj, path, groups))
    return files


def recorded_names(files: Iterable[RuleFile]) -> set[str]:
    return {str(r.body["record"]) for f in files for r in f.rules() if "record" in r.body}
