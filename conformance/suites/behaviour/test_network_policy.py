"""NetworkPolicy on a cluster: what the API server accepts and stores, and what real packets do.

test_policies_as_applied   every NetworkPolicy applied for real and read back: none rejected,
                           every field the render sets stored unchanged; the defaults the
                           server filled in are reported (the intent itself is the static
                           tier's flows rule: manifests/flows.yaml vs the policies)
test_data_plane_probe      the probe matrix (probe_matrix.py): every source workload x
                           destination workload x port, to the pod IP and through its
                           Service, expected from manifests/flows.yaml, connected for real
                           (local: network namespaces + kube-router; kind/existing: the suite's probe image);
                           cyclonus-style grids, "N wrong, M correct", each wrong cell naming
                           the policy at fault. Without flows.yaml: skipped (nothing declared).
                           With flows.yaml but no data plane: BROKEN ("NOT RUN: ..."), never
                           passed; skipped only with an explicit --data-plane off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.behaviour.probe_matrix import build_matrix, explain, judge, render
from conformance.behaviour.probe_run import ProbePlacement, probe_exec, probe_local
from conformance.behaviour.resources import TestNamespaces
from conformance.behaviour.verdict import require
from conformance.cluster import ApiError
from conformance.cluster.kind import PROBE_IMAGE
from conformance.errors import InfraError
from conformance.inventory import Inventory, K8sObject, Source
from conformance.netpol import load_flows
from conformance.report.allure_labels import attach_text, label
from conformance.settings import DATA_PLANE_OPTION, Settings

from .conftest import TIER, BehaviourEnv, BehaviourTiming, flows_path


@dataclass
class AsApplied:
    """The policies as the cluster stores them, next to the render's."""

    inventory: Inventory  # namespaces and policies read back from the cluster
    rendered: list[K8sObject]
    apply_errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def as_applied(behaviour_env: BehaviourEnv) -> AsApplied:
    """Apply every NetworkPolicy for real, then read policies and namespaces back.

    Example: ``as_applied.inventory.get("NetworkPolicy", "tartware", "guests")``
    """
    kube, inventory, nsmap = behaviour_env.kube, behaviour_env.inventory, behaviour_env.nsmap
    errors = []
    rendered = list(inventory.of_kind("NetworkPolicy"))
    for pol in rendered:
        try:
            kube.apply(nsmap.object_to_cluster(pol.body))
        except ApiError as err:
            errors.append(f"{pol.ref} ({pol.source}): {err}")
    names = {o.name for o in inventory.of_kind("Namespace")} | {p.namespace for p in rendered}
    objects: list[K8sObject] = []
    for name in sorted(names):
        live = kube.get_or_none("v1", "Namespace", nsmap.to_cluster(name))
        if live is not None:
            objects.append(K8sObject(nsmap.object_from_cluster(live), Source(f"cluster:Namespace/{name}", 0)))
        for i, live_pol in enumerate(
            kube.list("networking.k8s.io/v1", "NetworkPolicy", nsmap.to_cluster(name))
        ):
            objects.append(
                K8sObject(nsmap.object_from_cluster(live_pol), Source(f"cluster:{name}/NetworkPolicy", i))
            )
    return AsApplied(Inventory("as applied", objects), rendered, errors)


def stored_differences(rendered: Any, stored: Any, path: str = "spec") -> tuple[list[str], list[str]]:
    """(fields the render sets that are stored differently or not at all, fields the server added)."""
    changed: list[str] = []
    added: list[str] = []
    if isinstance(rendered, dict) and isinstance(stored, dict):
        for key, value in rendered.items():
            if key not in stored and value in ([], {}, None):
                continue  # the API omits empty lists: "ingress: []" and no ingress mean the same
            if key not in stored:
                changed.append(f"{path}.{key}: rendered {value!r}, not stored")
            else:
                c, a = stored_differences(value, stored[key], f"{path}.{key}")
                changed += c
                added += a
        added += [f"{path}.{key}={stored[key]!r}" for key in stored if key not in rendered]
    elif isinstance(rendered, list) and isinstance(stored, list) and len(rendered) == len(stored):
        for i, (r, s) in enumerate(zip(rendered, stored, strict=True)):
            c, a = stored_differences(r, s, f"{path}[{i}]")
            changed += c
            added += a
    elif rendered != stored:
        changed.append(f"{path}: rendered {rendered!r}, stored {stored!r}")
    return changed, added


def test_policies_as_applied(as_applied: AsApplied, behaviour_timing: BehaviourTiming) -> None:
    label(TIER, "network policy", severity="critical")
    problems = []
    if as_applied.apply_errors:
        problems.append(
            f"{len(as_applied.apply_errors)} NetworkPolicy object(s) rejected:\n  "
            + "\n  ".join(as_applied.apply_errors)
        )
    defaults: dict[str, int] = {}
    for pol in as_applied.rendered:
        live = as_applied.inventory.get("NetworkPolicy", pol.namespace, pol.name)
        if live is None:
            if not any(pol.ref in e for e in as_applied.apply_errors):
                problems.append(f"{pol.ref} ({pol.source}): applied but not read back")
            continue
        changed, added = stored_differences(pol.spec, live.spec)
        problems += [f"{pol.ref} ({pol.source}): {c}" for c in changed]
        for field_path in added:
            name = field_path.split("=", 1)[0]
            generic = "".join(c if not c.isdigit() else "N" for c in name)
            defaults[generic] = defaults.get(generic, 0) + 1
    lines = [f"{len(as_applied.rendered)} NetworkPolicies applied, {len(problems)} problem(s)"]
    lines += [f"  server default: {name} on {n} field(s)" for name, n in sorted(defaults.items())]
    attach_text("NetworkPolicies as stored", "\n".join(lines + problems))
    behaviour_timing.figures["NetworkPolicies as applied"] = (
        f"{len(as_applied.rendered)} stored, {len(problems)} problem(s), "
        f"{sum(defaults.values())} defaulted field(s)"
    )
    require(not problems, "\n".join(problems))


@pytest.fixture
def probe_spaces(behaviour_env: BehaviourEnv, spaces: TestNamespaces) -> Iterator[TestNamespaces]:
    """The test's objects; the data plane's pod namespaces and enforcer go with them."""
    yield spaces
    cluster = behaviour_env.cluster
    if cluster.data_plane is not None:
        errors = cluster.data_plane.reset()
        if errors:
            raise InfraError("data plane cleanup failed: " + "; ".join(errors))


def not_performed(settings: Settings, timing: BehaviourTiming, flows: Path, reason: str) -> None:
    """The input declares flows but this run has no data plane: a check the input asks for and the
    run cannot perform is never a pass. BROKEN (fix the machine), or skipped where the user turned
    the data plane off on purpose (`--data-plane off`; the summary and the report say so)."""
    __tracebackhide__ = True
    if DATA_PLANE_OPTION in settings.explicit and not settings.data_plane:
        timing.figures["NetworkPolicy probes"] = f"NOT RUN: turned off with --data-plane off ({flows.name})"
        pytest.skip(
            f"NOT RUN by request (--data-plane off): {flows.name} declares flows that were not probed"
        )
    raise InfraError(
        f"NOT RUN: {flows} declares the intended traffic, but this run cannot probe it: {reason}. "
        "Give the run a data plane (as root: make tools installs iproute2, iptables and ipset and loads "
        "br_netfilter; see docs/dataplane.md), use a provider with one (--provider kind|existing), "
        "or opt out explicitly with --data-plane off"
    )


def test_data_plane_probe(
    behaviour_env: BehaviourEnv, probe_spaces: TestNamespaces, as_applied: AsApplied
) -> None:
    label(TIER, "network policy", severity="critical")
    cluster, inventory, settings = behaviour_env.cluster, behaviour_env.inventory, behaviour_env.settings
    behaviour_timing = behaviour_env.timing
    path = flows_path(settings)
    if not path.is_file():
        pytest.skip(
            f"no {path.name} beside the manifests declares the intended traffic: nothing to probe against"
        )
    reason = cluster.capabilities.lacks(data_plane=True)
    if reason:
        not_performed(settings, behaviour_timing, path, reason)
    began = time.monotonic()
    try:
        flows = load_flows(path)
    except (OSError, ValueError) as err:
        pytest.fail(f"the declared flows do not load, so the probes cannot be judged: {err}", pytrace=False)
    try:
        matrix = build_matrix(inventory, flows)
    except ValueError as err:
        raise InfraError(f"cannot build the probe matrix: {err}") from None
    placement = ProbePlacement(cluster, behaviour_env.kube, probe_spaces, behaviour_env.nsmap, PROBE_IMAGE)
    if cluster.data_plane is not None:
        observed, figures = probe_local(cluster.data_plane, placement, matrix, inventory)
    else:
        observed, figures = probe_exec(placement, matrix, inventory)
    verdict = judge(matrix, observed)
    for cell in verdict.wrong:
        verdict.explanations[cell] = explain(
            cell, matrix, observed.get(cell), as_applied.inventory, inventory
        )
    summary = verdict.summary(matrix)
    attach_text("probe matrix: expected (flows.yaml) vs connected", render(matrix, verdict))
    print(f"network policy data plane: {summary}")
    behaviour_timing.figures["NetworkPolicy probes"] = f"{summary} in {time.monotonic() - began:.1f} s"
    for name, text in figures.items():
        behaviour_timing.figures[f"  {name}"] = text
    problems = [verdict.explanations[c] for c in verdict.wrong]
    if matrix.undeclared:
        problems.append("flows.yaml names endpoints found nowhere: " + ", ".join(matrix.undeclared))
    require(
        not problems,
        summary
        + "\n"
        + "\n".join(problems[:40])
        + (f"\n... {len(problems) - 40} more" if len(problems) > 40 else ""),
    )
