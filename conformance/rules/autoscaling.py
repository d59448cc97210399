"""Rules on HorizontalPodAutoscalers: bounds from policy, behaviour, targets, metrics, VPA clashes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ..inventory.model import K8sObject
from ..k8s import (
    HPA,
    SCALABLE,
    as_dict,
    as_int,
    as_list,
    hpa_min,
    hpas_by_target,
    scale_target,
    subjects,
)
from ..policy import Policy
from .registry import Context, Severity, Violation, inventory_rule, object_rule

VPA = "VerticalPodAutoscaler"


@object_rule(
    "hpa-bounds",
    family="autoscaling",
    severity=Severity.CRITICAL,
    kinds=(HPA,),
    description="An HPA of a platform service uses the min/max replicas policy.yaml sets for the profile, "
    "and minReplicas <= maxReplicas everywhere. "
    "Same concern as Polaris hpaMaxAvailability, with the bounds taken from the policy file.",
    remediation="Set minReplicas/maxReplicas to the bounds in policy.yaml (org.services.<name>.<profile>).",
)
def hpa_bounds(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec = obj.spec
    lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if as_int(lo) is not None and as_int(hi) is not None and lo > hi:
        yield Violation(
            obj,
            "spec.minReplicas",
            lo,
            f"<= maxReplicas ({hi})",
            f"minReplicas {lo} is above maxReplicas {hi}",
        )
    target = scale_target(obj)
    service = ctx.policy.services.get(target[1]) if target else None
    if service is None or obj.namespace != ctx.policy.namespace or ctx.profile not in service.bounds:
        return
    want_lo, want_hi = service.bounds[ctx.profile]
    where = f"policy.yaml org.services.{service.name}.{ctx.profile}"
    if lo != want_lo:
        yield Violation(
            obj,
            "spec.minReplicas",
            lo,
            f"{want_lo} ({where}.min)",
            f"minReplicas is {lo} but policy requires {want_lo}",
        )
    if hi != want_hi:
        yield Violation(
            obj,
            "spec.maxReplicas",
            hi,
            f"{want_hi} ({where}.max)",
            f"maxReplicas is {hi} but policy requires {want_hi}",
        )


@object_rule(
    "hpa-min-replicas-ha",
    family="autoscaling",
    severity=Severity.NORMAL,
    kinds=(HPA,),
    description="An HPA keeps at least 2 replicas (minReplicas >= 2, the API default is 1), so one pod's "
    "restart or eviction is not an outage; HPAs of services the policy file lists follow its bounds "
    "instead (hpa-bounds). Same concern as kube-score horizontalpodautoscaler-replicas and Polaris "
    "hpaMinAvailability (kube-linter hpa-minimum-three-replicas asks for 3).",
    remediation="Set spec.minReplicas: 2 or more (or list the service with its bounds in the policy file).",
)
def hpa_min_replicas_ha(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    target = scale_target(obj)
    if target is not None and obj.namespace == ctx.policy.namespace and target[1] in ctx.policy.services:
        return  # the policy file sets this HPA's bounds
    floor = hpa_min(obj)
    if floor < 2:
        what = f"{target[0]} {target[1]}" if target else "its target"
        yield Violation(
            obj,
            "spec.minReplicas",
            obj.spec.get("minReplicas"),
            ">= 2",
            f"the HPA may scale {what} down to {floor} replica(s): one restart or eviction takes it offline",
        )


def _describe(policies: list[Any]) -> str:
    parts = []
    for item in policies:
        p = as_dict(item)
        unit = "%" if p.get("type") == "Percent" else f" {p.get('type')}"
        parts.append(f"{p.get('value')}{unit} per {p.get('periodSeconds')}s")
    return ", ".join(parts) or "none"


@object_rule(
    "hpa-behaviour",
    requires=("scaling",),
    family="autoscaling",
    severity=Severity.CRITICAL,
    kinds=(HPA,),
    description="An HPA's behavior has a scaleUp Percent policy and a scaleDown Percent policy with the "
    "value and periodSeconds policy.yaml sets (org.hpa.scale_up / scale_down), and neither is Disabled.",
    remediation="Set spec.behavior.scaleUp.policies to [{type: Percent, value: <scale_up.percent>, "
    "periodSeconds: <scale_up.period_seconds>}] and scaleDown likewise, from policy.yaml org.hpa.",
)
def hpa_behaviour(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    behavior = obj.spec.get("behavior")
    # The British spelling is silently dropped by the API server: the usual near miss.
    spelling = (
        " (spec.behaviour is not a field: the API spells it behavior)" if "behaviour" in obj.spec else ""
    )
    wanted = (
        ("scaleUp", ctx.policy.scaling(ctx.profile, "scale_up"), "scale_up"),
        ("scaleDown", ctx.policy.scaling(ctx.profile, "scale_down"), "scale_down"),
    )
    for direction, (percent, period), key in wanted:
        section = as_dict(as_dict(behavior).get(direction))
        required = (
            f"a Percent policy of {percent}% per {period}s (policy.yaml org.hpa {key}, profile {ctx.profile})"
        )
        field = f"spec.behavior.{direction}"
        if not section:
            yield Violation(
                obj,
                field,
                None,
                required,
                f"{direction} behaviour is unset, so the controller's defaults apply{spelling}",
            )
            continue
        if section.get("selectPolicy") == "Disabled":
            yield Violation(
                obj,
                f"{field}.selectPolicy",
                "Disabled",
                required,
                f"selectPolicy Disabled turns {direction} off",
            )
            continue
        policies = as_list(section.get("policies"))
        if any(
            isinstance(p, dict)
            and p.get("type") == "Percent"
            and as_int(p.get("value")) == percent
            and as_int(p.get("periodSeconds")) == period
            for p in policies
        ):
            continue
        yield Violation(
            obj,
            f"{field}.policies",
            _describe(policies),
            required,
            f"{direction} policies are {_describe(policies)}, but policy requires {percent}% per {period}s",
        )


@inventory_rule(
    "hpa-target-exists",
    family="autoscaling",
    severity=Severity.CRITICAL,
    kinds=(HPA, *SCALABLE),
    description="An HPA's scaleTargetRef names a kind and name that exist in the HPA's namespace. "
    "Same concern as kube-score horizontalpodautoscaler-has-target and kube-linter "
    "dangling-horizontalpodautoscaler.",
    remediation="Point spec.scaleTargetRef at the workload's exact kind and name, in the same namespace.",
)
def hpa_target_exists(ctx: Context) -> Iterator[Violation]:
    inventory = ctx.inventory
    # (kind, name) -> namespaces, and (namespace, name) -> kinds: near misses without rescans.
    namespaces_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    kinds_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for obj in inventory.objects:
        namespaces_of[(obj.kind, obj.name)].add(obj.namespace)
        if obj.kind in SCALABLE:
            kinds_of[(obj.namespace, obj.name)].append(obj.kind)
    for hpa in subjects(inventory, HPA):
        target = scale_target(hpa)
        if target is None:
            ref = hpa.spec.get("scaleTargetRef")
            yield Violation(
                hpa,
                "spec.scaleTargetRef",
                ref,
                "{kind, name} of a workload",
                "scaleTargetRef names no kind and name",
            )
            continue
        kind, name = target
        if hpa.namespace in namespaces_of.get(target, ()):
            continue
        other_kinds = [k for k in kinds_of.get((hpa.namespace, name), []) if k != kind]
        if other_kinds:
            hint = (
                f"a {other_kinds[0]} named {name} exists in namespace {hpa.namespace}, but the HPA targets "
                f"{kind}"
            )
        else:
            hint = f"no {kind} named {name} exists in namespace {hpa.namespace}"
            elsewhere = sorted(namespaces_of.get(target, ()))
            if elsewhere:
                hint += (
                    f" (one exists in namespace {', '.join(elsewhere)}; an HPA scales only its own namespace)"
                )
        yield Violation(
            hpa,
            "spec.scaleTargetRef",
            f"{kind}/{name}",
            f"an existing {kind} in namespace {hpa.namespace}",
            hint,
        )


@inventory_rule(
    "hpa-single-per-target",
    family="autoscaling",
    severity=Severity.CRITICAL,
    kinds=(HPA,),
    description="At most one HPA scales a given workload (two HPAs fight over its replica count).",
    remediation="Merge the HPAs into one with all the metrics, and delete the others.",
)
def hpa_single_per_target(ctx: Context) -> Iterator[Violation]:
    for (namespace, kind, name), hpas in hpas_by_target(ctx.inventory).items():
        if len(hpas) < 2:
            continue
        names = ", ".join(h.name for h in hpas)
        for hpa in (h for h in hpas if not h.provided):
            yield Violation(
                hpa,
                "spec.scaleTargetRef",
                f"{kind}/{name}",
                "the only HPA for this target",
                f"{len(hpas)} HPAs scale {kind} {name} in namespace {namespace}: {names}",
            )


def required_metrics(policy: Policy, profile: str) -> tuple[str, ...]:
    """policy.yaml org.hpa.required_metrics for a profile: a list applies to every profile, a
    {profile: list} mapping gives each profile its own (a profile not in it requires nothing)."""
    raw: Any = policy.required_metrics
    if isinstance(raw, dict):
        raw = raw.get(profile, ())
    if not isinstance(raw, list | tuple):
        return ()
    return tuple(m for m in raw if isinstance(m, str))


def metric_names(hpa: K8sObject) -> list[str]:
    """The metric each spec.metrics entry scales on: resource name or custom metric name."""
    names = []
    for item in as_list(hpa.spec.get("metrics")):
        metric = as_dict(item)
        kind = metric.get("type")
        if kind == "Resource":
            name = as_dict(metric.get("resource")).get("name")
        elif kind == "ContainerResource":
            name = as_dict(metric.get("containerResource")).get("name")
        elif kind in ("Pods", "Object", "External"):
            name = as_dict(as_dict(metric.get(str(kind).lower())).get("metric")).get("name")
        else:
            name = None
        if isinstance(name, str):
            names.append(name)
    return names


@object_rule(
    "hpa-metrics",
    requires=("required_metrics",),
    family="autoscaling",
    severity=Severity.CRITICAL,
    kinds=(HPA,),
    description="An HPA of a platform service (in the policy namespace or scaling a policy.yaml service) "
    "scales on every metric policy.yaml org.hpa.required_metrics lists for the profile.",
    remediation="Add the missing entries to spec.metrics: Resource metrics for cpu/memory, Pods metrics for "
    "custom ones such as http_requests_per_second (served by the Prometheus adapter).",
)
def hpa_metrics(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    target = scale_target(obj)
    platform = obj.namespace == ctx.policy.namespace or (
        target is not None and target[1] in ctx.policy.services
    )
    if not platform:
        return
    required = required_metrics(ctx.policy, ctx.profile)
    present = metric_names(obj)
    missing = [m for m in required if m not in present]
    if missing:
        have = ", ".join(present) or "no metric"
        yield Violation(
            obj,
            "spec.metrics",
            present,
            list(required),
            f"hpa scales on {have} but policy ({ctx.profile}) also requires {', '.join(missing)}",
        )


@inventory_rule(
    "hpa-replicas-unset",
    family="autoscaling",
    severity=Severity.NORMAL,
    kinds=(HPA, *SCALABLE),
    description="A workload an HPA scales leaves spec.replicas unset (or equal to the HPA's minReplicas), so "
    "re-applying the manifest does not reset the HPA's replica count. "
    "Same concern as kube-score deployment-targeted-by-hpa-does-not-have-replicas-configured.",
    remediation="Remove spec.replicas from the workload (the HPA owns it), or set it to the HPA's "
    "minReplicas.",
)
def hpa_replicas_unset(ctx: Context) -> Iterator[Violation]:
    hpas = hpas_by_target(ctx.inventory)
    for obj in subjects(ctx.inventory, *SCALABLE):
        scaled = hpas.get((obj.namespace, obj.kind, obj.name))
        if not scaled or "replicas" not in obj.spec:
            continue
        value, floor = obj.spec.get("replicas"), hpa_min(scaled[0])
        if as_int(value) != floor:
            yield Violation(
                obj,
                "spec.replicas",
                value,
                f"unset (or {floor}, HPA {scaled[0].name} minReplicas)",
                f"spec.replicas is {value!r} while HPA {scaled[0].name} manages the workload from "
                f"{floor} replicas: every apply resets it to {value!r}",
            )


def _hpa_resources(hpa: K8sObject) -> set[str]:
    """Resources (cpu, memory) an HPA scales on through Resource/ContainerResource metrics."""
    out = set()
    for item in as_list(hpa.spec.get("metrics")):
        metric = as_dict(item)
        key = {"Resource": "resource", "ContainerResource": "containerResource"}.get(str(metric.get("type")))
        name = as_dict(metric.get(key)).get("name") if key else None
        if isinstance(name, str):
            out.add(name)
    return out


def _vpa_resources(vpa: K8sObject) -> set[str]:
    """Resources a VPA controls: every containerPolicy's controlledResources (default cpu+memory),
    except containers whose policy mode is Off."""
    policies = [as_dict(p) for p in as_list(as_dict(vpa.spec.get("resourcePolicy")).get("containerPolicies"))]
    if not policies:
        return {"cpu", "memory"}
    out: set[str] = set()
    for policy in policies:
        if policy.get("mode") == "Off":
            continue
        controlled = policy.get("controlledResources")
        if isinstance(controlled, list):
            out.update(r for r in controlled if isinstance(r, str))
        else:
            out.update(("cpu", "memory"))
    return out


@inventory_rule(
    "vpa-hpa-conflict",
    family="autoscaling",
    severity=Severity.CRITICAL,
    kinds=(VPA, HPA),
    description="No VerticalPodAutoscaler in an updating mode (anything but Off/Initial) controls a resource "
    "(cpu, memory) that an HPA scales the same workload on: the two would fight.",
    remediation="Set the VPA's spec.updatePolicy.updateMode to Off (recommendations only) or Initial, or "
    "restrict its controlledResources to resources the HPA does not scale on.",
)
def vpa_hpa_conflict(ctx: Context) -> Iterator[Violation]:
    hpas = hpas_by_target(ctx.inventory)
    for vpa in subjects(ctx.inventory, VPA):
        # The VPA's default update mode is Auto.
        mode = as_dict(vpa.spec.get("updatePolicy")).get("updateMode", "Auto")
        target = scale_target(vpa)
        if mode in ("Off", "Initial") or target is None:
            continue
        for hpa in hpas.get((vpa.namespace, *target), []):
            shared = sorted(_hpa_resources(hpa) & _vpa_resources(vpa))
            if shared:
                yield Violation(
                    vpa,
                    "spec.updatePolicy.updateMode",
                    mode,
                    "Off or Initial",
                    f"vpa updates {', '.join(shared)} of {target[0]} {target[1]} in mode {mode} while HPA "
                    f"{hpa.name} scales it on {', '.join(shared)}",
                )
