"""Rules on scheduling: priority classes, and spreading critical services over nodes and zones."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from ..inventory.model import K8sObject
from ..k8s import (
    LONG_RUNNING,
    SCALABLE,
    WORKLOADS,
    as_dict,
    as_list,
    pod_labels,
    pod_spec,
    selector_matches,
    service_policy,
    subjects,
)
from ..policy import Policy
from .registry import Context, Severity, Violation, inventory_rule, object_rule

# Built into every cluster: never defined in manifests.
SYSTEM_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
HOSTNAME = "kubernetes.io/hostname"


def is_critical(obj: K8sObject, policy: Policy) -> bool:
    """A critical service: marked critical in policy.yaml, or running at the critical priority class
    (so anything the platform treats as critical, e.g. Rancher, is held to the same spreading rules)."""
    service = service_policy(obj, policy)
    if service is not None and service.critical:
        return True
    spec, _ = pod_spec(obj)
    return spec.get("priorityClassName") == policy.critical_priority_class


@inventory_rule(
    "priority-class-defined",
    family="scheduling",
    severity=Severity.CRITICAL,
    kinds=(*WORKLOADS, "PriorityClass"),
    description="A priorityClassName a pod template references exists as a PriorityClass in the inventory "
    "(or is system-cluster-critical / system-node-critical): otherwise admission rejects the pods. "
    "Same concern as Polaris priorityClassNotSet (a class that does not exist is as good as none).",
    remediation="Create the PriorityClass (manifests/kubernetes) or fix the name in the pod template.",
)
def priority_class_defined(ctx: Context) -> Iterator[Violation]:
    defined = {pc.name for pc in ctx.inventory.of_kind("PriorityClass")}
    known = sorted(defined | SYSTEM_PRIORITY_CLASSES)
    hints: dict[str, str] = {}
    for obj in subjects(ctx.inventory, *WORKLOADS):
        spec, path = pod_spec(obj)
        name = spec.get("priorityClassName")
        field = f"{path}.priorityClassName"
        if name is None or name == "":
            continue  # empty is unset for the API server: the cluster's default class applies
        if not isinstance(name, str):
            yield Violation(obj, field, name, "a PriorityClass name", "priorityClassName is not a string")
            continue
        if name in defined or name in SYSTEM_PRIORITY_CLASSES:
            continue
        if name not in hints:  # fuzzy matching is costly: once per distinct missing name
            hints[name] = _near_priority_class(name, known)
        hint = hints[name]
        yield Violation(
            obj,
            field,
            name,
            f"one of {', '.join(known)}",
            f"no PriorityClass named {name} is defined{hint}",
        )


def _near_priority_class(name: str, known: list[str]) -> str:
    same_case = [k for k in known if k.lower() == name.lower()]
    if same_case:
        return f" (PriorityClass {same_case[0]} exists, but names are case-sensitive)"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
    return f" (did you mean {close[0]}?)" if close else ""


@object_rule(
    "priority-class-critical",
    requires=("critical_services", "critical_priority_class"),
    family="scheduling",
    severity=Severity.CRITICAL,
    kinds=LONG_RUNNING,
    description="A service policy.yaml marks critical runs at the policy's critical_priority_class, so it "
    "preempts lower-priority pods under pressure instead of being evicted. "
    "Same concern as Polaris priorityClassNotSet, for critical services.",
    remediation="Set priorityClassName in the pod template to policy.yaml org.critical_priority_class "
    "(tartware-critical).",
)
def priority_class_critical(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    service = service_policy(obj, ctx.policy)
    if service is None or not service.critical:
        return
    spec, path = pod_spec(obj)
    actual = spec.get("priorityClassName")
    want = ctx.policy.critical_priority_class
    if actual != want:
        now = f"runs at {actual}" if actual else "sets no priorityClassName"
        yield Violation(
            obj,
            f"{path}.priorityClassName",
            actual,
            f"{want} (policy.yaml org.critical_priority_class)",
            f"{service.name} is a critical service but {now}",
        )


def _spreads_own_pods(term: Any, labels: dict[str, Any]) -> bool:
    return selector_matches(as_dict(term).get("labelSelector"), labels)


@object_rule(
    "topology-spread-critical",
    requires=(("critical_services", "critical_priority_class"),),
    family="scheduling",
    severity=Severity.CRITICAL,
    kinds=SCALABLE,
    description="A critical service (policy.yaml critical, or at the critical priority class) has a "
    "topologySpreadConstraint whose labelSelector selects its own pods.",
    remediation="Add spec.template.spec.topologySpreadConstraints, e.g. maxSkew 1 over "
    "topology.kubernetes.io/zone, with labelSelector matching the pod labels.",
)
def topology_spread_critical(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not is_critical(obj, ctx.policy):
        return
    spec, path = pod_spec(obj)
    labels = pod_labels(obj)
    constraints = as_list(spec.get("topologySpreadConstraints"))
    if any(_spreads_own_pods(c, labels) for c in constraints):
        return
    if constraints:
        hint = (
            "topologySpreadConstraints are set, but no labelSelector selects the pods' own labels, so "
            "they spread nothing"
        )
    else:
        hint = "critical workload has no topologySpreadConstraints: all replicas may land in one zone or node"
    yield Violation(
        obj,
        f"{path}.topologySpreadConstraints",
        constraints or None,
        "a constraint whose labelSelector selects the pod labels",
        hint,
    )


def _anti_affinity_terms(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Required and preferred podAntiAffinity terms (preferred ones unwrapped from podAffinityTerm)."""
    anti = as_dict(as_dict(spec.get("affinity")).get("podAntiAffinity"))
    terms = [as_dict(t) for t in as_list(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))]
    for weighted in as_list(anti.get("preferredDuringSchedulingIgnoredDuringExecution")):
        terms.append(as_dict(as_dict(weighted).get("podAffinityTerm")))
    return terms


@object_rule(
    "anti-affinity-critical",
    requires=(("critical_services", "critical_priority_class"),),
    family="scheduling",
    severity=Severity.CRITICAL,
    kinds=SCALABLE,
    description="A critical service (policy.yaml critical, or at the critical priority class) has a "
    "podAntiAffinity term on kubernetes.io/hostname that selects its own pods, so one node failure does "
    "not take out several replicas. "
    "Same concern as kube-score deployment-has-host-podantiaffinity and kube-linter no-anti-affinity, for "
    "critical services.",
    remediation="Add a preferred (or required) podAntiAffinity term with topologyKey kubernetes.io/hostname "
    "and labelSelector matching the pod labels.",
)
def anti_affinity_critical(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not is_critical(obj, ctx.policy):
        return
    spec, path = pod_spec(obj)
    labels = pod_labels(obj)
    terms = _anti_affinity_terms(spec)
    if any(t.get("topologyKey") == HOSTNAME and _spreads_own_pods(t, labels) for t in terms):
        return
    keys = sorted({str(t.get("topologyKey")) for t in terms})
    if any(t.get("topologyKey") == HOSTNAME for t in terms):
        hint = (
            "podAntiAffinity on kubernetes.io/hostname is set, but its labelSelector does not select the pods"
        )
    elif terms:
        hint = f"podAntiAffinity spreads over {', '.join(keys)} but not over kubernetes.io/hostname"
    else:
        hint = "critical workload has no podAntiAffinity: several replicas may share one node"
    yield Violation(
        obj,
        f"{path}.affinity.podAntiAffinity",
        keys or None,
        f"a term with topologyKey {HOSTNAME} selecting the pod labels",
        hint,
    )
