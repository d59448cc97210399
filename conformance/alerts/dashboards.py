"""Grafana dashboards (JSON in ConfigMaps): every panel's PromQL parses, every metric it reads exists.

"Parses" means Prometheus's own parser accepts it (promql-inspect, built from the pinned
Prometheus module). Grafana's variables are not PromQL, so before parsing its interval
variables become durations and any other `$var` a placeholder name (a variable can only
stand for text, so a query that parses with a placeholder parses with any value).
"Exists" means recorded by a rule of a PrometheusRule in the inventory, or exported by the
services as policy.yaml observability.metrics declares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..inventory.model import K8sObject

_INTERVALS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__interval_ms": "60000",
              "__range_s": "3600", "__range_ms": "3600000"}  # fmt: skip
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")
PLACEHOLDER = "grafana_variable"


@dataclass(frozen=True)
class PanelQuery:
    obj: K8sObject
    key: str  # the ConfigMap data key holding the dashboard
    dashboard: str  # its title
    panel: str
    ref_id: str
    expr: str  # as written

    @property
    def promql(self) -> str:
        """The expression with Grafana variables replaced (see module docstring)."""

        def sub(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2) or m.group(3)
            return _INTERVALS.get(name, PLACEHOLDER)

        return _VARIABLE.sub(sub, self.expr)

    @property
    def where(self) -> str:
        return f"{self.obj.source.path}: {self.obj.ref} {self.key} panel {self.panel!r} query {self.ref_id}"


@dataclass(frozen=True)
class Dashboard:
    obj: K8sObject
    key: str
    title: str
    queries: tuple[PanelQuery, ...]
    error: str | None = None  # the JSON does not load

    @property
    def id(self) -> str:
        return f"{self.obj.ref}/{self.key}"


def _panels(node: Any) -> Iterator[dict[str, Any]]:
    """Every panel, also those nested in rows."""
    for panel in node.get("panels") or [] if isinstance(node, dict) else []:
        if isinstance(panel, dict):
            yield panel
            yield from _panels(panel)


def _is_prometheus(panel: dict[str, Any], target: dict[str, Any]) -> bool:
    for source in (target.get("datasource"), panel.get("datasource")):
        if isinstance(source, dict) and source.get("type"):
            return str(source["type"]) == "prometheus"
    return True  # the default data source of kube-prometheus-stack's Grafana is Prometheus


def dashboards(objects: list[K8sObject]) -> list[Dashboard]:
    """Dashboards held by ConfigMaps (data keys ending in .json); queries of Prometheus panels."""
    found = []
    for obj in objects:
        if obj.kind != "ConfigMap" or obj.provided:
            continue
        data = obj.body.get("data")
        for key, text in sorted(data.items()) if isinstance(data, dict) else []:
            if not str(key).endswith(".json") or not isinstance(text, str):
                continue
            try:
                board = json.loads(text)
            except json.JSONDecodeError as err:
                found.append(Dashboard(obj, str(key), str(key), (), f"not JSON: {err}"))
                continue
            if not isinstance(board, dict) or "panels" not in board:
                continue
            title = str(board.get("title", key))
            queries = [
                PanelQuery(obj, str(key), title, str(p.get("title", "")), str(t.get("refId", i)), t["expr"])
                for p in _panels(board)
                for i, t in enumerate(p.get("targets") or [])
                if isinstance(t, dict) and isinstance(t.get("expr"), str) and _is_prometheus(p, t)
            ]
            found.append(Dashboard(obj, str(key), title, tuple(queries)))
    return found
