"""Rules on PodDisruptionBudgets: every replicated workload has one, and it lets drains proceed."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from ..k8s import (
    CUSTOM_WORKLOAD,
    HPA,
    SCALABLE,
    SelectorIndex,
    as_dict,
    as_int,
    fmt_labels,
    fmt_selector,
    hpa_min,
    hpas_by_target,
    matching_workloads,
    pod_labels,
    pod_template,
    replicas,
    subjects,
    workload_index,
)
from .registry import Context, Severity, Violation, inventory_rule

PDB = "PodDisruptionBudget"
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def _percent(value: Any) -> float | None:
    match = _PERCENT.match(value) if isinstance(value, str) else None
    number = float(match.group(1)) if match else None
    return number if number is not None and math.isfinite(number) else None


@inventory_rule(
    "pdb-per-workload",
    family="disruption",
    severity=Severity.BLOCKER,
    kinds=("Deployment", "StatefulSet", CUSTOM_WORKLOAD, HPA, PDB),
    description="Every Deployment/StatefulSet that an HPA scales or that runs more than one replica has a "
    "PodDisruptionBudget in its namespace whose selector matches its pod labels. "
    "Same concern as kube-score deployment-has-poddisruptionbudget and Polaris "
    "missingPodDisruptionBudget.",
    remediation="Add a PodDisruptionBudget in the workload's namespace with spec.selector.matchLabels equal "
    "to the pod template's selector labels (e.g. maxUnavailable: 1).",
)
def pdb_per_workload(ctx: Context) -> Iterator[Violation]:
    inventory = ctx.inventory
    hpas = hpas_by_target(inventory)
    pdbs = SelectorIndex((p, p.spec.get("selector")) for p in inventory.of_kind(PDB))
    for obj in subjects(inventory, "Deployment", "StatefulSet", CUSTOM_WORKLOAD):
        scaled = hpas.get((obj.namespace, obj.kind, obj.name))
        if not scaled and replicas(obj) <= 1:
            continue
        labels = pod_labels(obj)
        if pdbs.matching(labels, obj.namespace):
            continue
        why = f"HPA {scaled[0].name} scales it" if scaled else f"it runs {replicas(obj)} replicas"
        elsewhere = [p for p in pdbs.matching(labels) if p.namespace != obj.namespace]
        near = pdbs.near(labels, obj.namespace)
        if elsewhere:
            hint = (
                f"a PodDisruptionBudget ({elsewhere[0].name}) selects these pod labels, "
                f"but in namespace {elsewhere[0].namespace}, not {obj.namespace}"
            )
        elif near:
            hint = (
                f"the PodDisruptionBudget {near[0].name} looks meant for these pods, but its selector "
                f"{fmt_selector(near[0].spec.get('selector'))} does not match the pod labels "
                f"{fmt_labels(labels)}"
            )
        else:
            hint = (
                f"no PodDisruptionBudget in namespace {obj.namespace} selects pod labels {fmt_labels(labels)}"
            )
        prefix = pod_template(obj).prefix
        yield Violation(
            obj,
            f"{prefix}metadata.labels",
            fmt_labels(labels),
            f"selected by a PodDisruptionBudget in namespace {obj.namespace}",
            f"{hint} ({why})",
        )


@inventory_rule(
    "pdb-allows-eviction",
    family="disruption",
    severity=Severity.CRITICAL,
    kinds=(PDB, HPA, *SCALABLE),
    description="A PodDisruptionBudget leaves room for at least one eviction: minAvailable is below the "
    "pods the workload runs at minimum (HPA minReplicas, else spec.replicas; percentages rounded up as "
    "the disruption controller does) and maxUnavailable is not 0 or 0%. "
    "Same concern as kube-linter pdb-max-unavailable / pdb-min-available and Polaris "
    "pdbDisruptionsIsZero.",
    remediation="Use maxUnavailable: 1 (or a minAvailable below the HPA's minReplicas), so node drains "
    "and cluster upgrades can evict pods.",
)
def pdb_allows_eviction(ctx: Context) -> Iterator[Violation]:
    inventory = ctx.inventory
    hpas = hpas_by_target(inventory)
    workloads = workload_index(inventory, SCALABLE)
    for pdb in subjects(inventory, PDB):
        spec = pdb.spec
        max_unavailable = spec.get("maxUnavailable")
        if as_int(max_unavailable) == 0 or _percent(max_unavailable) == 0:
            yield Violation(
                pdb,
                "spec.maxUnavailable",
                max_unavailable,
                ">= 1 (or a percentage above 0%)",
                f"maxUnavailable {max_unavailable!r} forbids every voluntary eviction, so node drains block",
            )
        min_available = spec.get("minAvailable")
        if min_available is None:
            continue
        for obj in matching_workloads(workloads, pdb.namespace, spec.get("selector")):
            scaled = hpas.get((obj.namespace, obj.kind, obj.name))
            running = hpa_min(scaled[0]) if scaled else replicas(obj)
            source = f"minReplicas of HPA {scaled[0].name}" if scaled else "spec.replicas"
            if running <= 0:
                continue
            number, percent = as_int(min_available), _percent(min_available)
            if number is not None:
                needed = number
            elif percent is not None:
                needed = math.ceil(percent * running / 100)
            else:
                continue
            if needed >= running:
                yield Violation(
                    pdb,
                    "spec.minAvailable",
                    min_available,
                    f"< {running} ({source} of {obj.kind} {obj.name})",
                    f"minAvailable {min_available} keeps {needed} of the {running} pods {obj.kind} "
                    f"{obj.name} runs at minimum ({source}), so no pod can ever be evicted",
                )


SCALED_OBJECT = "ScaledObject"  # KEDA: scales its target through an HPA it creates at run time


def _autoscaled(ctx: Context) -> set[tuple[str, str, str]]:
    """(namespace, kind, name) of every workload an HPA or a KEDA ScaledObject scales."""
    out = set(hpas_by_target(ctx.inventory))
    for scaler in ctx.inventory.of_kind(SCALED_OBJECT):
        ref = as_dict(scaler.spec.get("scaleTargetRef"))
        name = ref.get("name")
        if isinstance(name, str):
            out.add((scaler.namespace, str(ref.get("kind") or "Deployment"), name))
    return out


@inventory_rule(
    "replicas-ha",
    family="disruption",
    severity=Severity.NORMAL,
    kinds=("Deployment", CUSTOM_WORKLOAD, HPA, SCALED_OBJECT),
    description="A Deployment (or a custom workload such as a Rollout that sets spec.replicas) that no HPA "
    "or ScaledObject scales runs at least 2 replicas, so a node drain or a crash is not an outage "
    "(replicas: 0 reads as deliberately off). Same concern as kube-score deployment-replicas, Polaris "
    "deploymentMissingReplicas and kube-linter minimum-three-replicas (which asks for 3).",
    remediation="Set spec.replicas: 2 or more, or let an HPA scale the workload with minReplicas >= 2.",
)
def replicas_ha(ctx: Context) -> Iterator[Violation]:
    scaled = _autoscaled(ctx)
    for obj in subjects(ctx.inventory, "Deployment", CUSTOM_WORKLOAD):
        if obj.kind != "Deployment" and "replicas" not in obj.spec:
            continue  # e.g. a Knative Service scales itself
        if (obj.namespace, obj.kind, obj.name) in scaled or replicas(obj) != 1:
            continue
        unset = "replicas" not in obj.spec
        yield Violation(
            obj,
            "spec.replicas",
            obj.spec.get("replicas"),
            ">= 2 (or an HPA)",
            f"the {obj.kind} runs a single replica{' (spec.replicas is unset)' if unset else ''} and nothing "
            "scales it: every restart or drain is an outage",
        )
