"""Capacity rules: quotas, the gateway's headroom over the load target, and the capacity plan.

Pods at max scale: an HPA-scaled workload counts maxReplicas pods, any other
Deployment/StatefulSet/ReplicaSet its spec.replicas. DaemonSets are left out (their
pod count follows the node count, which the plan does not fix).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..inventory.model import K8sObject
from ..k8s import (
    HPA,
    SCALABLE,
    as_dict,
    as_list,
    hpa_max,
    hpas_by_target,
    of_kinds,
    pod_requests,
    pod_spec,
    quantity,
    replicas,
    service_policy,
    subjects,
)
from .autoscaling import metric_names
from .registry import Context, Severity, Violation, inventory_rule

GIB = 2**30
# The service every request enters through: its capacity is the platform's.
# policy.yaml `capacity` is the seed's plan for the production profile.
PLAN_PROFILE = "prod"
RPS_METRIC = "http_requests_per_second"


@dataclass(frozen=True)
class Demand:
    """One workload at max scale."""

    obj: K8sObject
    pods: int
    requests: dict[str, float]  # per pod: cpu cores, memory bytes
    limits: dict[str, float]
    priority: Any  # priorityClassName, for scoped quotas

    def total(self, resource: str, section: str = "requests") -> float:
        if resource == "pods":
            return float(self.pods)
        per_pod = self.requests if section == "requests" else self.limits
        return self.pods * per_pod.get(resource, 0.0)

    def describe(self, resource: str) -> str:
        if resource == "pods":
            return f"{self.obj.kind} {self.obj.name}: {self.pods} pods"
        per_pod = _fmt(resource, self.requests.get(resource, 0.0))
        return f"{self.obj.kind} {self.obj.name}: {self.pods} × {per_pod}"


def demands(ctx: Context) -> list[Demand]:
    """Every scalable workload at max scale (HPA maxReplicas, else spec.replicas)."""
    hpas = hpas_by_target(ctx.inventory)
    out = []
    for obj in of_kinds(ctx.inventory, SCALABLE):
        scaled = hpas.get((obj.namespace, obj.kind, obj.name))
        top = hpa_max(scaled[0]) if scaled else None
        pods = top if top is not None else replicas(obj)
        spec, _ = pod_spec(obj)
        out.append(
            Demand(
                obj,
                max(pods, 0),
                pod_requests(obj),
                pod_requests(obj, "limits"),
                spec.get("priorityClassName"),
            )
        )
    return out


def _fmt(resource: str, value: float) -> str:
    if resource == "memory":
        return f"{value / GIB:.4g}Gi"
    if resource == "cpu":
        return f"{value:.4g} cores" if value >= 1 else f"{value * 1000:.4g}m"
    return f"{value:.4g} pods"


def _sum_of(resource: str, section: str) -> str:
    return "Σ maxReplicas" if resource == "pods" else f"Σ maxReplicas × {section}.{resource}"


def _scope_matches(expr: dict[str, Any], priority: Any) -> bool | None:
    """Does one quota scope select a long-running pod with requests? None: a scope we cannot judge."""
    scope = expr.get("scopeName")
    if scope in ("NotTerminating", "NotBestEffort"):
        return True  # Deployment pods run without a deadline and (per resources-set) have requests
    if scope in ("Terminating", "BestEffort"):
        return False
    if scope == "PriorityClass":
        op, values = expr.get("operator", "Exists"), as_list(expr.get("values"))
        has = isinstance(priority, str)
        return {
            "In": has and priority in values,
            "NotIn": not has or priority not in values,
            "Exists": has,
            "DoesNotExist": not has,
        }.get(str(op))
    return None


def _quota_members(quota: K8sObject, demands_here: list[Demand]) -> list[Demand] | None:
    exprs = [{"scopeName": s, "operator": "Exists"} for s in as_list(quota.spec.get("scopes"))]
    exprs += [as_dict(e) for e in as_list(as_dict(quota.spec.get("scopeSelector")).get("matchExpressions"))]
    members = []
    for demand in demands_here:
        verdicts = [_scope_matches(e, demand.priority) for e in exprs]
        if None in verdicts:
            return None
        if all(verdicts):
            members.append(demand)
    return members


# ResourceQuota hard keys -> (resource, section). `cpu`/`memory` are the legacy names for requests.
QUOTA_KEYS = {
    "requests.cpu": ("cpu", "requests"),
    "cpu": ("cpu", "requests"),
    "requests.memory": ("memory", "requests"),
    "memory": ("memory", "requests"),
    "limits.cpu": ("cpu", "limits"),
    "limits.memory": ("memory", "limits"),
    "pods": ("pods", "requests"),
}


@inventory_rule(
    "quota-covers-max-replicas",
    family="capacity",
    severity=Severity.CRITICAL,
    kinds=("ResourceQuota", HPA, *SCALABLE),
    description="Each ResourceQuota's hard requests.cpu / requests.memory / limits / pods cover the "
    "namespace at max scale: Σ maxReplicas × per-pod requests over HPA-scaled workloads plus replicas × "
    "requests for the rest (quota scopes on PriorityClass honoured).",
    remediation="Raise the ResourceQuota's spec.hard to at least the sum shown, or lower maxReplicas or "
    "requests; otherwise the HPA scales up into quota errors.",
    applies=lambda ctx: (
        None if any(subjects(ctx.inventory, "ResourceQuota")) else "no ResourceQuota in the input"
    ),
)
def quota_covers_max_replicas(ctx: Context) -> Iterator[Violation]:
    by_namespace: dict[str, list[Demand]] = defaultdict(list)
    for demand in demands(ctx):
        by_namespace[demand.obj.namespace].append(demand)
    for quota in subjects(ctx.inventory, "ResourceQuota"):
        members = _quota_members(quota, by_namespace.get(quota.namespace, []))
        if not members:
            continue
        for key, raw in as_dict(quota.spec.get("hard")).items():
            if key not in QUOTA_KEYS:
                continue
            resource, section = QUOTA_KEYS[key]
            limit = quantity(raw)
            if limit is None:
                continue
            need = sum(d.total(resource, section) for d in members)
            if need <= limit * (1 + 1e-9):
                continue
            largest = max(members, key=lambda d: d.total(resource, section))
            yield Violation(
                quota,
                f"spec.hard.{key}",
                raw,
                f">= {_fmt(resource, need)}",
                f"quota allows {raw} {key} but namespace {quota.namespace} needs {_fmt(resource, need)} "
                f"at max scale ({_sum_of(resource, section)}); largest: {largest.describe(resource)}",
            )


def _load_rate(ctx: Context) -> float | None:
    return quantity(as_dict(as_dict(ctx.policy.load.get(ctx.profile)).get("load")).get("rate"))


@inventory_rule(
    "capacity-meets-target",
    requires=("services",),
    family="capacity",
    severity=Severity.CRITICAL,
    kinds=(HPA, *SCALABLE),
    description="The entry service (policy.yaml `entry: true`) can serve the profile's load: "
    "HPA maxReplicas × rps_per_pod "
    ">= policy.yaml load.<profile>.load.rate; and every platform HPA's http_requests_per_second "
    "averageValue equals the service's rps_per_pod.",
    remediation="Raise the entry service HPA's maxReplicas (policy.yaml org.services.<entry>) or its "
    "rps_per_pod; set the Pods metric target averageValue to rps_per_pod.",
)
def capacity_meets_target(ctx: Context) -> Iterator[Violation]:
    rate = _load_rate(ctx)
    gateway = ctx.policy.entry_service
    namespace = ctx.policy.namespace
    scaled_gateway = False
    for hpa in subjects(ctx.inventory, HPA):
        service = service_policy(hpa, ctx.policy)
        if service is None:
            continue
        yield from _check_average_value(hpa, service.name, service.rps_per_pod)
        if gateway is None or rate is None or service.name != gateway.name:
            continue
        scaled_gateway = True
        top, per_pod = hpa_max(hpa), gateway.rps_per_pod
        if top is not None and top * per_pod < rate:
            yield Violation(
                hpa,
                "spec.maxReplicas",
                top,
                f">= {_ceil_div(rate, per_pod)} (load.{ctx.profile}.load.rate {rate:g} / "
                f"rps_per_pod {per_pod:g})",
                f"{top} pods × {per_pod:g} rps per pod = {top * per_pod:g} rps, below the {ctx.profile} load "
                f"target of {rate:g} rps",
            )
    if scaled_gateway or gateway is None or rate is None:
        return
    obj = ctx.inventory.get("Deployment", namespace or "", gateway.name)
    obj = None if obj is None or obj.provided else obj
    served = replicas(obj) * gateway.rps_per_pod if obj is not None else 0.0
    if obj is not None and served < rate:
        yield Violation(
            obj,
            "spec.replicas",
            replicas(obj),
            f">= {_ceil_div(rate, gateway.rps_per_pod)} (or an HPA up to that many)",
            f"the gateway has no HPA and {replicas(obj)} replicas serve {served:g} rps, below the "
            f"{ctx.profile} load target of {rate:g} rps",
        )


def _ceil_div(a: float, b: float) -> int:
    return int(-(-a // b)) if b > 0 else 0


def _check_average_value(hpa: K8sObject, service: str, rps_per_pod: float) -> Iterator[Violation]:
    if RPS_METRIC not in metric_names(hpa):
        return
    for i, metric in enumerate(as_list(hpa.spec.get("metrics"))):
        pods = as_dict(as_dict(metric).get("pods"))
        if as_dict(pods.get("metric")).get("name") != RPS_METRIC:
            continue
        target = as_dict(pods.get("target"))
        if "averageValue" not in target:
            continue
        value = quantity(target.get("averageValue"))
        if value is None or abs(value - rps_per_pod) > 1e-6 * max(1.0, rps_per_pod):
            yield Violation(
                hpa,
                f"spec.metrics[{i}].pods.target.averageValue",
                target.get("averageValue"),
                f"{rps_per_pod:g} (policy.yaml org.services.{service}.rps_per_pod)",
                f"hpa targets {target.get('averageValue')} {RPS_METRIC} per pod but the capacity plan "
                f"assumes {rps_per_pod:g}",
            )


PLAN = (("cpu", "max_cpu_cores", 1.0), ("memory", "max_memory_gib", float(GIB)), ("pods", "max_pods", 1.0))


@inventory_rule(
    "capacity-plan",
    requires=("capacity",),
    applies=lambda ctx: (
        None
        if ctx.profile == PLAN_PROFILE
        else f"the capacity plan is judged at max scale, in the {PLAN_PROFILE} profile"
    ),
    family="capacity",
    severity=Severity.CRITICAL,
    kinds=(HPA, *SCALABLE),
    description="At max scale (prod profile) the platform fits the capacity plan: Σ maxReplicas × requests "
    "<= policy.yaml capacity.max_cpu_cores / max_memory_gib, and Σ maxReplicas <= capacity.max_pods.",
    remediation="Lower maxReplicas or requests of the largest consumers, or revise the capacity plan in "
    "policy.yaml (capacity) with the infrastructure owners.",
)
def capacity_plan(ctx: Context) -> Iterator[Violation]:
    if ctx.profile != PLAN_PROFILE:
        return
    all_demands = demands(ctx)
    if not all_demands:
        return
    for resource, key, unit in PLAN:
        limit = quantity(ctx.policy.capacity.get(key))
        if limit is None:
            continue
        need = sum(d.total(resource) for d in all_demands)
        if need <= limit * unit * (1 + 1e-9):
            continue
        # Name a manifest the team owns: the largest consumer that is not a provided stand-in.
        own = [d for d in all_demands if not d.obj.provided] or all_demands
        largest = max(own, key=lambda d: d.total(resource))
        field = (
            "spec.replicas"
            if resource == "pods"
            else f"{pod_spec(largest.obj)[1]}.containers[*].resources.requests.{resource}"
        )
        yield Violation(
            largest.obj,
            field,
            _fmt(resource, need),
            f"<= {_fmt(resource, limit * unit)} (policy.yaml capacity.{key})",
            f"the platform needs {_fmt(resource, need)} at max scale ({_sum_of(resource, 'requests')}), "
            f"over the capacity plan's {_fmt(resource, limit * unit)}; the largest share is "
            f"{largest.describe(resource)}",
        )
