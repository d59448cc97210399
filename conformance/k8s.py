"""Reading Kubernetes objects (pod specs, selectors, quantities, NetworkPolicy defaults): the one set
of accessors the rules, the NetworkPolicy truth table (netpol.py) and the tiers share. It sits below
all of them (it imports only the inventory and the policy), so none reads an object its own way.

Every helper tolerates wrong types and missing fields: rules also run on
objects that failed schema validation, and a rule that crashes hides findings.
"""

from __future__ import annotations

import math
import weakref
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .inventory.model import Inventory, K8sObject
from .policy import PodOperator, Policy, ServicePolicy

# Kinds that run pods. Built-in kinds are recognised by kind and API group; any other kind
# whose spec.template.spec lists containers (Argo Rollout, Knative Service, OpenKruise
# CloneSet, ...) is a workload too: CUSTOM_WORKLOAD stands for those in a rule's `kinds`.
BUILTIN_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
CUSTOM_WORKLOAD = "any kind with a pod template (spec.template.spec)"
WORKLOADS = (*BUILTIN_WORKLOADS, CUSTOM_WORKLOAD)
# Workloads with a replica count (custom ones such as Rollouts and CloneSets have one too).
SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet", CUSTOM_WORKLOAD)
# Workloads that run until stopped (probes, spreading, disruption budgets make sense for them).
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", CUSTOM_WORKLOAD)
_BUILTIN_GROUPS = {"Pod": ("",), "Job": ("batch",), "CronJob": ("batch",)}
_APPS_GROUPS = ("apps", "extensions")  # extensions/v1beta1: removed, still read so its pods are checked
HPA = "HorizontalPodAutoscaler"


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else {} (a wrong type reads as absent)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else []."""
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int | None:
    """An integer field (booleans are not numbers here), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


INT32 = 2**31 - 1


def as_count(value: Any) -> int | None:
    """A replica-like count: an int32 as the API stores it, else None (so arithmetic on counts
    never meets a 400-digit YAML integer)."""
    number = as_int(value)
    return number if number is not None and -INT32 - 1 <= number <= INT32 else None


def show(value: Any) -> str:
    """A field value for messages, spelled as in YAML: true/false/null, quoted strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)


@dataclass(frozen=True)
class PodTemplate:
    """A workload's pod template: metadata and spec, and where they sit in the object."""

    metadata: dict[str, Any]
    spec: dict[str, Any]
    prefix: str  # field path up to the template, e.g. "spec.template." ("" for a Pod)


_NO_TEMPLATE = PodTemplate({}, {}, "spec.template.")


def _builtin_workload(obj: K8sObject, kind: str) -> bool:
    """A built-in pod-running kind in its own API group (an empty group is accepted too: a wrong
    apiVersion is the schema check's finding, and the pods are still checked)."""
    if kind not in BUILTIN_WORKLOADS:
        return False
    api = obj.body.get("apiVersion")
    group = api.rpartition("/")[0] if isinstance(api, str) else ""
    return group == "" or group in _BUILTIN_GROUPS.get(kind, _APPS_GROUPS)


def _custom_template(obj: K8sObject) -> dict[str, Any] | None:
    """spec.template of a kind whose template spec lists containers, else None. (Spelled out: it
    runs for every object of every rule that reads workloads.)"""
    spec = obj.body.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    return template if isinstance(pod, dict) and isinstance(pod.get("containers"), list) else None


def pod_template_of(obj: K8sObject) -> PodTemplate | None:
    """The pod template of any pod-bearing object, or None when it runs no pods.

    The one place that knows where kinds keep their pods: a Pod is its own template, a CronJob
    nests it in its job template, every other workload (built-in or custom) has spec.template.
    Computed once per object (most rules ask for it).
    """
    if "pod_template" not in obj.memo:
        obj.memo["pod_template"] = _find_pod_template(obj)
    found: PodTemplate | None = obj.memo["pod_template"]
    return found


def _find_pod_template(obj: K8sObject) -> PodTemplate | None:
    kind = obj.kind
    if _builtin_workload(obj, kind):
        if kind == "Pod":
            return PodTemplate(obj.metadata, obj.spec, "")
        keys = ("spec", "jobTemplate", "spec", "template") if kind == "CronJob" else ("spec", "template")
        template = _dig(obj.body, *keys)
        prefix = ".".join(keys) + "."
        return PodTemplate(as_dict(template.get("metadata")), as_dict(template.get("spec")), prefix)
    custom = _custom_template(obj)
    if custom is None:
        return None
    return PodTemplate(as_dict(custom.get("metadata")), as_dict(custom.get("spec")), "spec.template.")


def is_workload(obj: K8sObject) -> bool:
    """Does the object run pods (a built-in workload kind, or any kind with a pod template)?"""
    return _builtin_workload(obj, obj.kind) or _custom_template(obj) is not None


def pod_template(obj: K8sObject) -> PodTemplate:
    """The pod template of a workload; an empty one (spec.template.) for an object without pods,
    so rules read absent fields rather than branching."""
    return pod_template_of(obj) or _NO_TEMPLATE


# Per inventory: (object, kind it matches by or None, is a custom workload), in inventory order.
# Every rule filters objects by kind; classifying once keeps that a set look-up per object.
_Kinds = list[tuple[K8sObject, str | None, bool]]
_KINDS: dict[int, tuple[weakref.ref[Inventory], int, _Kinds]] = {}


def _classified(inventory: Inventory) -> _Kinds:
    hit = _KINDS.get(id(inventory))
    if hit is not None and hit[0]() is inventory and hit[1] == len(inventory.objects):
        return hit[2]
    rows: _Kinds = []
    for obj in inventory.objects:
        kind = obj.kind
        builtin = _builtin_workload(obj, kind)
        named = kind if builtin or kind not in BUILTIN_WORKLOADS else None  # a Volcano Job is no Job
        rows.append((obj, named, not builtin and _custom_template(obj) is not None))
    for key in [k for k, (ref, _, _) in _KINDS.items() if ref() is None]:
        del _KINDS[key]  # inventories gone: their ids may be reused
    _KINDS[id(inventory)] = (weakref.ref(inventory), len(inventory.objects), rows)
    return rows


def of_kinds(inventory: Inventory, kinds: Iterable[str]) -> Iterator[K8sObject]:
    """Objects of `kinds` in inventory order, where CUSTOM_WORKLOAD stands for every non-built-in
    kind with a pod template and a built-in workload kind only matches in its own API group."""
    wanted = frozenset(kinds)
    custom = CUSTOM_WORKLOAD in wanted
    return (
        obj for obj, kind, is_custom in _classified(inventory) if kind in wanted or (custom and is_custom)
    )


def pod_spec(obj: K8sObject) -> tuple[dict[str, Any], str]:
    """(pod spec, field path of the spec) of a workload, e.g. ({...}, "spec.template.spec")."""
    template = pod_template(obj)
    return template.spec, f"{template.prefix}spec"


def pod_labels(obj: K8sObject) -> dict[str, str]:
    """The labels a workload's pods carry."""
    labels = pod_template(obj).metadata.get("labels")
    return labels if isinstance(labels, dict) else {}


def containers(obj: K8sObject, include_init: bool = True) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, field path) for every container (and init container) of a workload."""
    spec, path = pod_spec(obj)
    keys = ("initContainers", "containers") if include_init else ("containers",)
    for key in keys:
        items = spec.get(key)
        if isinstance(items, list):
            for i, container in enumerate(items):
                if isinstance(container, dict):
                    name = container.get("name", i)
                    yield container, f"{path}.{key}[{name}]"


@dataclass(frozen=True)
class ContainerPort:
    """One entry of a container's `ports`, as read: a wrong-typed field reads as absent."""

    name: str | None
    number: int | None  # containerPort
    protocol: str  # TCP when omitted (the API's default)


# Container waiting reasons that mean the node cannot get the image: waiting longer changes nothing.
IMAGE_PULL_FAILURES = frozenset({"ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def container_ports(container: Mapping[str, Any]) -> list[ContainerPort]:
    """The ports a container declares, in order; entries that are not mappings are skipped.

    Example: ``next((p.number for p in container_ports(c) if p.name == "http"), 8080)``
    """
    out = []
    for item in as_list(container.get("ports")):
        if isinstance(item, dict):
            name, protocol = item.get("name"), item.get("protocol")
            out.append(
                ContainerPort(
                    name if isinstance(name, str) else None,
                    as_int(item.get("containerPort")),
                    protocol if isinstance(protocol, str) else "TCP",
                )
            )
    return out


def _dig(node: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


dig = _dig


def selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select these labels?

    An empty selector selects everything (NetworkPolicy/PDB semantics); None selects nothing.
    A malformed selector (wrong types) selects nothing, as the API server would reject it.
    """
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels")
    if match_labels is not None and not isinstance(match_labels, dict):
        return False
    for key, value in (match_labels or {}).items():
        if labels.get(key) != value:
            return False
    expressions = selector.get("matchExpressions")
    if expressions is not None and not isinstance(expressions, list):
        return False
    for expr in expressions or []:
        if not isinstance(expr, dict):
            return False
        key, op, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
        if not isinstance(key, str):
            return False
        present = key in labels
        value = labels.get(key)
        if op == "In" and not (present and value in values):
            return False
        if op == "NotIn" and present and value in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def labels_match(selector: Any, labels: dict[str, Any]) -> bool:
    """Service-style selector (a plain map): all pairs present. Empty/None selects nothing."""
    return (
        isinstance(selector, dict) and bool(selector) and all(labels.get(k) == v for k, v in selector.items())
    )


def selector_is_empty(selector: Any) -> bool:
    """True for `{}` (or a selector whose matchLabels/matchExpressions are both empty): selects all pods."""
    if not isinstance(selector, dict):
        return False
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


_SUFFIX = {
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity as a float (cpu in cores, memory in bytes); None if unparsable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # a YAML integer too large for a float
            return None
        return number if math.isfinite(number) else None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return _finite(text[: -len(suffix)], _SUFFIX[suffix])
    return _finite(text, 1.0)


def _finite(text: str, scale: float) -> float | None:
    try:
        number = float(text) * scale
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def restricted_container_context(user: int) -> dict[str, Any]:
    """A container securityContext that Pod Security "restricted" admits, running as `user`:
    what the suite's own probe and workload pods wear in the platform's namespaces."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def conditions(obj: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """An API object's status.conditions by type (a later one of a type wins); {} without status.

    Example: ``conditions(pod).get("Ready", {}).get("status") == "True"``
    """
    out: dict[str, dict[str, Any]] = {}
    for cond in as_list(as_dict((obj or {}).get("status")).get("conditions")):
        if isinstance(cond, dict):
            out[str(cond.get("type"))] = cond
    return out


def condition_true(obj: Mapping[str, Any] | None, type_: str) -> bool:
    """Is the condition `type_` reported and "True"? Missing, "False" and "Unknown" all read as not
    (a controller that has not said yes has not said yes). Example: ``condition_true(pod, "Ready")``"""
    return conditions(obj).get(type_, {}).get("status") == "True"


# -- NetworkPolicy: the API's defaults, read one way by the rules, the truth table and the probes --


def pod_selector(np: K8sObject) -> Any:
    """A NetworkPolicy's podSelector; omitted reads as {} (the API's zero value selects every pod)."""
    return np.spec.get("podSelector", {})


def policy_types(np: K8sObject) -> set[str]:
    """Directions a NetworkPolicy isolates. Without policyTypes the API assumes Ingress, plus
    Egress when the policy has egress rules."""
    declared = as_list(np.spec.get("policyTypes"))
    if declared:
        return {t for t in declared if isinstance(t, str)}
    return {"Ingress", "Egress"} if np.spec.get("egress") else {"Ingress"}


def fmt_labels(labels: Any) -> str:
    """`{a=1, b=2}`: compact, sorted, for messages."""
    if not isinstance(labels, dict) or not labels:
        return "{}"
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items(), key=lambda kv: str(kv[0]))) + "}"


def fmt_selector(selector: Any) -> str:
    """A LabelSelector for messages: its matchLabels, plus `+N expressions` when it has some."""
    if not isinstance(selector, dict):
        return repr(selector)
    text = fmt_labels(selector.get("matchLabels"))
    expressions = as_list(selector.get("matchExpressions"))
    return f"{text} + {len(expressions)} expression(s)" if expressions else text


def subjects(inventory: Inventory, *kinds: str) -> Iterator[K8sObject]:
    """Objects of `kinds` a cross-object rule reports on: not the stand-ins policy.yaml `provided`
    declares (those exist only so lookups find them, as object rules already skip them)."""
    return (obj for obj in of_kinds(inventory, kinds) if not obj.provided)


def replicas(obj: K8sObject) -> int:
    """spec.replicas of a scalable workload; 1 when unset or malformed (the API default)."""
    value = as_count(obj.spec.get("replicas"))
    return value if value is not None else 1


def scale_target(hpa: K8sObject) -> tuple[str, str] | None:
    """(kind, name) an HPA (or VPA) scales, or None when scaleTargetRef/targetRef is malformed."""
    ref = hpa.spec.get("scaleTargetRef") if hpa.kind == HPA else hpa.spec.get("targetRef")
    if not isinstance(ref, dict):
        return None
    kind, name = ref.get("kind"), ref.get("name")
    if isinstance(kind, str) and isinstance(name, str) and kind and name:
        return kind, name
    return None


def hpas_by_target(inventory: Inventory) -> dict[tuple[str, str, str], list[K8sObject]]:
    """(namespace, kind, name) of a scale target -> the HPAs that scale it."""
    out: dict[tuple[str, str, str], list[K8sObject]] = defaultdict(list)
    for hpa in inventory.of_kind(HPA):
        target = scale_target(hpa)
        if target is not None:
            out[(hpa.namespace, *target)].append(hpa)
    return out


def hpa_min(hpa: K8sObject) -> int:
    value = as_count(hpa.spec.get("minReplicas"))
    return value if value is not None else 1  # the API default


def hpa_max(hpa: K8sObject) -> int | None:
    return as_count(hpa.spec.get("maxReplicas"))


def service_policy(obj: K8sObject, policy: Policy) -> ServicePolicy | None:
    """The policy.yaml service a workload (or HPA) is: same namespace as policy, matched by the
    workload name, its app.kubernetes.io/name label, or an HPA's target name."""
    if obj.namespace != policy.namespace:
        return None
    names: list[Any] = [obj.name, obj.labels.get("app.kubernetes.io/name")]
    if obj.kind == HPA:
        target = scale_target(obj)
        names.insert(0, target[1] if target else None)
    for name in names:
        if isinstance(name, str) and name in policy.services:
            return policy.services[name]
    return None


def requests_of(container: dict[str, Any], section: str = "requests") -> dict[str, Any]:
    """A container's resources.requests (or .limits); {} when missing or malformed."""
    return as_dict(as_dict(container.get("resources")).get(section))


def pod_requests(obj: K8sObject, section: str = "requests") -> dict[str, float]:
    """Effective per-pod requests (or limits) {cpu: cores, memory: bytes}: the larger of the sum over
    containers and the largest init container, as the scheduler counts them.

    Unset or unparsable values count as 0 (resources-set reports them).
    """
    out: dict[str, float] = {}
    for resource in ("cpu", "memory"):
        running = 0.0
        init = 0.0
        for container, path in containers(obj):
            value = quantity(requests_of(container, section).get(resource)) or 0.0
            if ".initContainers[" in path:
                init = max(init, value)
            else:
                running += value
        out[resource] = max(running, init)
    return out


Entry = tuple[K8sObject, dict[str, Any]]  # an object and the labels it is indexed by


class LabelIndex:
    """Objects indexed by (namespace, label key, label value), for selector look-ups without O(n²).

    `candidates(ns, pairs)` returns the objects carrying the rarest of the wanted pairs (a
    superset of the matches); callers still confirm with selector_matches/labels_match.
    """

    def __init__(self, items: Iterable[Entry]) -> None:
        self._by_pair: dict[tuple[str, str, Hashable], list[Entry]] = defaultdict(list)
        self._by_ns: dict[str, list[Entry]] = defaultdict(list)
        for obj, labels in items:
            self._by_ns[obj.namespace].append((obj, labels))
            for key, value in labels.items():
                if _hashable(value):
                    self._by_pair[(obj.namespace, key, value)].append((obj, labels))

    def in_namespace(self, namespace: str) -> list[Entry]:
        return self._by_ns.get(namespace, [])

    def namespaces(self) -> list[str]:
        return list(self._by_ns)

    def candidates(self, namespace: str, pairs: Any) -> list[Entry]:
        """Objects in `namespace` that may match a selector whose required pairs are `pairs`."""
        best: list[Entry] | None = None
        for key, value in as_dict(pairs).items():
            if not _hashable(value):
                return []  # a list as a label value matches nothing
            found = self._by_pair.get((namespace, key, value), [])
            if best is None or len(found) < len(best):
                best = found
        return self.in_namespace(namespace) if best is None else best


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def workload_index(inventory: Inventory, kinds: tuple[str, ...] = WORKLOADS) -> LabelIndex:
    """Workloads indexed by their pod labels."""
    return LabelIndex((obj, pod_labels(obj)) for obj in of_kinds(inventory, kinds))


def _operator_labels(obj: K8sObject, operator: PodOperator) -> dict[str, str]:
    labels = {key: value.replace("{name}", obj.name) for key, value in operator.labels.items()}
    for path in operator.labels_from:
        labels.update({k: v for k, v in _dig(obj.body, *path.split(".")).items() if isinstance(v, str)})
    return labels


def operator_pods(inventory: Inventory, policy: Policy) -> LabelIndex:
    """Custom resources whose operator creates pods (policy `pod_operators`), indexed by the labels
    those pods carry. One with a pod template of its own is a workload already and is left out."""
    table = {(op.group, op.kind): op for op in policy.pod_operators}
    entries = []
    for obj in inventory.objects:
        operator = table.get((obj.group, obj.kind))
        if operator is not None and not is_workload(obj):
            labels = _operator_labels(obj, operator)
            if labels:
                entries.append((obj, labels))
    return LabelIndex(entries)


def matching_workloads(
    index: LabelIndex, namespace: str, selector: Any, plain: bool = False
) -> list[K8sObject]:
    """Workloads in `namespace` whose pods a selector selects (`plain`: a Service-style map)."""
    if plain:
        return [o for o, labels in index.candidates(namespace, selector) if labels_match(selector, labels)]
    pairs = as_dict(selector).get("matchLabels") if isinstance(selector, dict) else None
    return [o for o, labels in index.candidates(namespace, pairs) if selector_matches(selector, labels)]


class SelectorIndex:
    """Objects that carry a selector (PDBs, NetworkPolicies, Services...), for the reverse look-up:
    which of them select these labels? Each selector is filed under one of its required
    (key, value) pairs, so a look-up touches only selectors that share a label with the pods.

    `plain=True` reads Service-style selectors (a map); otherwise LabelSelectors.
    """

    def __init__(self, items: Iterable[tuple[K8sObject, Any]], plain: bool = False) -> None:
        self.plain = plain
        self._by_pair: dict[tuple[str, Hashable], list[tuple[K8sObject, Any]]] = defaultdict(list)
        # Selectors with no matchLabels pair ({} or expressions only), per namespace.
        self._unkeyed: dict[str, list[tuple[K8sObject, Any]]] = defaultdict(list)
        entries = [(obj, selector, self._pairs(selector)) for obj, selector in items]
        # Each selector is filed under its rarest pair: a pair every selector shares
        # (part-of=tartware) would otherwise make every look-up scan them all.
        counts: dict[tuple[str, Hashable], int] = defaultdict(int)
        for _, _, pairs in entries:
            for pair in pairs:
                counts[pair] += 1
        for obj, selector, pairs in entries:
            if pairs:
                self._by_pair[min(pairs, key=lambda p: counts[p])].append((obj, selector))
            else:
                self._unkeyed[obj.namespace].append((obj, selector))

    def _pairs(self, selector: Any) -> list[tuple[str, Hashable]]:
        if self.plain:
            pairs = selector
        else:
            pairs = selector.get("matchLabels") if isinstance(selector, dict) else None
        return [(str(k), v) for k, v in as_dict(pairs).items() if _hashable(v)]

    def _matches(self, selector: Any, labels: dict[str, Any]) -> bool:
        return labels_match(selector, labels) if self.plain else selector_matches(selector, labels)

    def _keyed(self, labels: dict[str, Any]) -> list[tuple[K8sObject, Any]]:
        seen: set[int] = set()
        out: list[tuple[K8sObject, Any]] = []
        for key, value in labels.items():
            if not _hashable(value):
                continue
            for item in self._by_pair.get((str(key), value), []):
                if id(item[0]) not in seen:
                    seen.add(id(item[0]))
                    out.append(item)
        return out

    def matching(self, labels: dict[str, Any], namespace: str | None = None) -> list[K8sObject]:
        """Objects (in `namespace`, or any namespace for None) whose selector selects `labels`."""
        if namespace is None:
            unkeyed = [item for items in self._unkeyed.values() for item in items]
        else:
            unkeyed = self._unkeyed.get(namespace, [])
        return [
            o
            for o, sel in self._keyed(labels) + unkeyed
            if (namespace is None or o.namespace == namespace) and self._matches(sel, labels)
        ]

    def near(self, labels: dict[str, Any], namespace: str) -> list[K8sObject]:
        """Objects in `namespace` whose selector shares a (distinctive) label pair with `labels` but does
        not select them: the near misses worth naming in a message."""
        return [
            o for o, sel in self._keyed(labels) if o.namespace == namespace and not self._matches(sel, labels)
        ]
