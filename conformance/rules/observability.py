"""Observability rules: SLO alerts agree with policy.yaml, and every metrics port is scraped."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from ..inventory.model import K8sObject
from ..k8s import WORKLOADS, LabelIndex, as_dict, as_list, fmt_labels, selector_matches, subjects
from ..policy import Policy
from .networking import monitor_namespaces, monitored_services
from .registry import Context, Severity, Violation, inventory_rule, object_rule

PROMETHEUS_RULE = "PrometheusRule"
SERVICE_MONITOR = "ServiceMonitor"
# The policy.yaml slo keys an alert may carry as its `slo` label.
ALERT_KEYS = ("alert_request_rate_rps", "latency_p95_ms", "latency_p99_ms", "error_rate")
METRICS_PORT = "metrics"
# `... > 0.5` at the very end of the expression (PromQL numbers, incl. exponents).
_THRESHOLD = re.compile(r">\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def threshold(policy: Policy, key: str) -> float:
    """policy.yaml slo[key] in the alert's base unit: seconds for *_ms keys, else as written."""
    value = float(getattr(policy.slo, key))
    return value / 1000 if key.endswith("_ms") else value


def alert_rules(obj: K8sObject) -> Iterator[tuple[dict[str, Any], str]]:
    """(rule, field path) of every alerting rule of a PrometheusRule."""
    for gi, raw_group in enumerate(as_list(obj.spec.get("groups"))):
        group = as_dict(raw_group)
        gname = group.get("name") if isinstance(group.get("name"), str) else gi
        for ri, raw_rule in enumerate(as_list(group.get("rules"))):
            rule = as_dict(raw_rule)
            if "alert" in rule:
                name = rule.get("alert") if isinstance(rule.get("alert"), str) else ri
                yield rule, f"spec.groups[{gname}].rules[{name}]"


def _slo_key(rule: dict[str, Any]) -> Any:
    return as_dict(rule.get("labels")).get("slo")


@object_rule(
    "slo-alert-thresholds",
    requires=("slo",),
    family="observability",
    severity=Severity.CRITICAL,
    kinds=(PROMETHEUS_RULE,),
    description="Every alert labelled `slo: <key>` names one of the policy.yaml SLO keys "
    f"({', '.join(ALERT_KEYS)}) and its expr ends with `> <policy value in base units>` (rps, seconds, "
    "fraction).",
    remediation="Make the alert's trailing threshold equal to policy.yaml slo.<key> (latency in seconds: "
    "latency_p95_ms 500 is `> 0.5`; error_rate as a fraction), or fix the slo label.",
)
def slo_alert_thresholds(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for rule, path in alert_rules(obj):
        key = _slo_key(rule)
        if key is None:
            continue
        if key not in ALERT_KEYS:
            yield Violation(
                obj,
                f"{path}.labels.slo",
                key,
                f"one of {', '.join(ALERT_KEYS)}",
                f"slo label {key!r} names no SLO alert key of policy.yaml",
            )
            continue
        expr = rule.get("expr")
        match = _THRESHOLD.search(expr) if isinstance(expr, str) else None
        want = threshold(ctx.policy, key)
        if match is None:
            yield Violation(
                obj,
                f"{path}.expr",
                expr,
                f"an expression ending with `> {want:g}`",
                "expr does not end with `> <number>`",
            )
            continue
        actual = float(match.group(1))
        if math.isclose(actual, want, rel_tol=1e-9, abs_tol=1e-12):
            continue
        hint = f"alert fires above {actual:g} but policy.yaml slo.{key} is {getattr(ctx.policy.slo, key):g}"
        if key.endswith("_ms") and math.isclose(actual, want * 1000):
            hint += f" ms: the threshold looks like milliseconds, but alerts use seconds ({want:g})"
        elif key == "error_rate" and math.isclose(actual, want * 100):
            hint += f": the threshold looks like a percentage, but alerts use the fraction {want:g}"
        else:
            hint += f" (= {want:g} in the alert's unit)"
        yield Violation(obj, f"{path}.expr", f"> {actual:g}", f"> {want:g} (policy.yaml slo.{key})", hint)


@inventory_rule(
    "slo-alerts-present",
    requires=("slo",),
    family="observability",
    severity=Severity.CRITICAL,
    kinds=(PROMETHEUS_RULE, "Namespace", *WORKLOADS),
    description="Every SLO alert key of policy.yaml has an alert carrying the label `slo: <key>`. Findings "
    "name the PrometheusRule holding the SLO alerts; with no PrometheusRule at all, the policy namespace "
    "(or its first workload).",
    remediation="Add the missing alert to the SLO PrometheusRule (manifests/observability) with label "
    "`slo: <key>` and the threshold from policy.yaml.",
)
def slo_alerts_present(ctx: Context) -> Iterator[Violation]:
    rules = list(ctx.inventory.of_kind(PROMETHEUS_RULE))
    if not rules:
        target = _fallback_target(ctx)
        if target is not None:
            yield Violation(
                target,
                "PrometheusRule (none in the inventory)",
                [],
                list(ALERT_KEYS),
                f"no PrometheusRule exists, so no alert watches the SLOs ({', '.join(ALERT_KEYS)})",
            )
        return
    counts: list[int] = []
    present: set[str] = set()
    for obj in rules:
        keys = [_slo_key(rule) for rule, _ in alert_rules(obj)]
        present.update(k for k in keys if isinstance(k, str))
        counts.append(sum(1 for k in keys if k is not None))
    # Name the object that holds (most of) the SLO alerts: that is where the missing one belongs
    # (a provided stand-in only if nothing else exists).
    owned = [i for i, obj in enumerate(rules) if not obj.provided] or list(range(len(rules)))
    home = rules[max(owned, key=lambda i: counts[i])]
    for key in ALERT_KEYS:
        if key not in present:
            yield Violation(
                home,
                "spec.groups[*].rules[*].labels.slo",
                sorted(k for k in present if k in ALERT_KEYS),
                key,
                f"no alert in any PrometheusRule carries label slo: {key}",
            )


def _fallback_target(ctx: Context) -> K8sObject | None:
    namespace = ctx.inventory.get("Namespace", "", ctx.policy.namespace or "")
    if namespace is not None and not namespace.provided:
        return namespace
    first = None
    for obj in subjects(ctx.inventory, *WORKLOADS):
        if obj.namespace == ctx.policy.namespace:
            return obj
        first = first or obj
    return first


def _service_has_metrics_port(svc: K8sObject) -> bool:
    return any(as_dict(p).get("name") == METRICS_PORT for p in as_list(svc.spec.get("ports")))


def _scrapes_metrics(sm: K8sObject) -> bool:
    return any(as_dict(e).get("port") == METRICS_PORT for e in as_list(sm.spec.get("endpoints")))


@inventory_rule(
    "servicemonitor-per-service",
    family="observability",
    severity=Severity.NORMAL,
    kinds=("Service", SERVICE_MONITOR),
    description="Every Service exposing a port named `metrics` is selected by a ServiceMonitor (within its "
    "namespaceSelector) that scrapes port `metrics`.",
    remediation="Add a ServiceMonitor (label release: prometheus) whose selector matches the Service's "
    "labels and whose endpoints include port: metrics.",
)
def servicemonitor_per_service(ctx: Context) -> Iterator[Violation]:
    services = [svc for svc in ctx.inventory.of_kind("Service") if _service_has_metrics_port(svc)]
    if not services:
        return
    index = LabelIndex((svc, svc.labels) for svc in services)
    monitors = list(ctx.inventory.of_kind(SERVICE_MONITOR))
    covered: set[int] = set()
    selecting: dict[int, K8sObject] = {}  # selected, but by a monitor that skips the metrics port
    for sm in monitors:
        scrapes = _scrapes_metrics(sm)
        for svc in monitored_services(sm, index):
            if scrapes:
                covered.add(id(svc))
            else:
                selecting.setdefault(id(svc), sm)
    for svc in services:
        if id(svc) in covered or svc.provided:
            continue
        if id(svc) in selecting:
            sm = selecting[id(svc)]
            hint = (
                f"the ServiceMonitor {sm.name} selects this Service but does not scrape port {METRICS_PORT}"
            )
        else:
            hint = _near_monitor(svc, monitors) or "no ServiceMonitor selects this Service's labels"
        yield Violation(
            svc,
            "metadata.labels",
            fmt_labels(svc.labels),
            "selected by a ServiceMonitor scraping port metrics",
            hint,
        )


def _near_monitor(svc: K8sObject, monitors: list[K8sObject]) -> str | None:
    """A monitor whose selector matches the labels but whose namespaceSelector leaves this namespace out."""
    for sm in monitors:
        if selector_matches(sm.spec.get("selector"), svc.labels):
            watched = monitor_namespaces(sm, [svc.namespace])
            return (
                f"the ServiceMonitor {sm.namespace}/{sm.name} matches the labels but watches namespace(s) "
                f"{', '.join(watched)}, not {svc.namespace}"
            )
    return None
