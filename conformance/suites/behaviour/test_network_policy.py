"""NetworkPolicy: the allowed flows, as the cluster stores the policies, equal the declared intent.

test_truth_table_as_applied   every NetworkPolicy applied for real, read back with the
                              namespaces; the truth table computed from what the API
                              returned (defaults filled in, unknown fields rejected) must
                              equal manifests/flows.yaml: "N wrong, M correct"
test_data_plane_probe         the same matrix probed with real connections (agnhost connect)
                              on providers with a data plane; skipped elsewhere, with why
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from conformance import tools
from conformance.cluster import ApiError, Cluster, Kube, Poll, wait_until
from conformance.cluster.base import RUN_LABEL
from conformance.cluster.probes import ProbeSite, probe_name, probe_pod, run_probes
from conformance.inventory import Inventory, K8sObject, Source
from conformance.netpol import (
    NAME_KEYS,
    Comparison,
    TruthTable,
    compare,
    load_flows,
    modelled_from_flows,
    truth_table,
)
from conformance.report.allure_labels import attach_text, label
from conformance.rules.k8s import is_workload
from conformance.settings import Settings

from .conftest import TIER, BehaviourTiming, flows_path
from .platform import NamespaceMap, PlatformState, owned_namespace
from .resources import TestNamespaces
from .verdict import require


@dataclass
class AsApplied:
    """The policies as the cluster stores them, ready for the truth table."""

    inventory: Inventory  # namespaces and policies read back from the cluster, workloads from the render
    rendered_policies: int
    apply_errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def as_applied(platform: PlatformState, kube: Kube, inventory: Inventory, nsmap: NamespaceMap) -> AsApplied:
    """Apply every NetworkPolicy for real, then read policies and namespaces back.

    Example: ``truth_table(as_applied.inventory)``
    """
    errors = []
    for pol in inventory.of_kind("NetworkPolicy"):
        try:
            kube.apply(nsmap.object_to_cluster(pol.body))
        except ApiError as err:
            errors.append(f"{pol.ref} ({pol.source}): {err}")
    names = {o.name for o in inventory.of_kind("Namespace")} | {
        p.namespace for p in inventory.of_kind("NetworkPolicy")
    }
    objects: list[K8sObject] = []
    for name in sorted(names):
        live = kube.get_or_none("v1", "Namespace", nsmap.to_cluster(name))
        if live is not None:
            objects.append(K8sObject(nsmap.object_from_cluster(live), Source(f"cluster:Namespace/{name}", 0)))
        for i, live_pol in enumerate(
            kube.list("networking.k8s.io/v1", "NetworkPolicy", nsmap.to_cluster(name))
        ):
            source = Source(f"cluster:{name}/NetworkPolicy", i)
            objects.append(K8sObject(nsmap.object_from_cluster(live_pol), source))
    objects += [o for o in inventory.objects if is_workload(o)]
    return AsApplied(Inventory("as applied", objects), len(list(inventory.of_kind("NetworkPolicy"))), errors)


def _table(applied: AsApplied, settings: Settings) -> tuple[TruthTable, Comparison]:
    flows = load_flows(flows_path(settings))
    table = truth_table(applied.inventory, modelled_from_flows(flows, applied.inventory))
    return table, compare(table, flows)


def render_matrix(table: TruthTable, result: Comparison) -> str:
    """Expected vs actual for every cell that either side allows; deny/deny cells are counted."""
    wrong = set(result.wrong_allowed) | set(result.wrong_denied)
    expected_allow = (table.allowed - set(result.wrong_allowed)) | set(result.wrong_denied)
    lines = [f"{'expected':8} {'actual':8} flow"]
    for cell in sorted(expected_allow | table.allowed, key=str):
        exp = "ALLOW" if cell in expected_allow else "DENY"
        act = "ALLOW" if cell in table.allowed else "DENY"
        lines.append(f"{exp:8} {act:8} {cell}{'   <-- wrong' if cell in wrong else ''}")
    denied = len(set(table.cells) - table.allowed - expected_allow)
    lines.append(f"(+ {denied} cells expected DENY and actually DENY)")
    return "\n".join(lines)


def test_truth_table_as_applied(
    as_applied: AsApplied, settings: Settings, behaviour_timing: BehaviourTiming
) -> None:
    label(TIER, "network policy", severity="critical")
    table, result = _table(as_applied, settings)
    summary = result.render()
    matrix = render_matrix(table, result)
    attach_text("truth table: expected vs actual", f"{summary}\n\n{matrix}")
    print(f"{summary}\n{matrix}")
    behaviour_timing.figures["NetworkPolicy truth table (as applied)"] = (
        f"{result.wrong} wrong, {result.correct} correct ({len(table.endpoints)} endpoints)"
    )
    problems = (
        [
            f"{len(as_applied.apply_errors)} NetworkPolicy object(s) rejected:\n  "
            + "\n  ".join(as_applied.apply_errors)
        ]
        if as_applied.apply_errors
        else []
    )
    read_back = len(list(as_applied.inventory.of_kind("NetworkPolicy")))
    if read_back != as_applied.rendered_policies:
        problems.append(f"{read_back} NetworkPolicies read back, {as_applied.rendered_policies} rendered")
    if result.wrong or result.undeclared_endpoints:
        problems.append(summary)
    require(not problems, "\n".join(problems))


@pytest.fixture
def probe_sites(
    cluster: Cluster,
    kube: Kube,
    spaces: TestNamespaces,
    as_applied: AsApplied,
    *,
    settings: Settings,
    nsmap: NamespaceMap,
) -> Iterator[tuple[TruthTable, dict[str, ProbeSite]]]:
    """A probe pod per endpoint (or a real pod as a target only), Ready, with its IP.

    Example: ``table, sites = probe_sites; sites["tartware/api-gateway"].ip``
    """
    table, _ = _table(as_applied, settings)
    image = settings.agnhost_image
    sites: dict[str, ProbeSite] = {}
    ours: list[tuple[str, str, str]] = []  # (endpoint key, namespace, pod)
    for ep in table.endpoints:
        namespace = nsmap.to_cluster(ep.namespace)
        live = kube.get_or_none("v1", "Namespace", namespace)
        run_owned = live is not None and ((live.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL)
        if live is not None and not run_owned:
            # Not this run's namespace (kube-system, ...): its real pods are targets, never sources.
            for pod in kube.list("v1", "Pod", namespace):
                labels = (pod.get("metadata") or {}).get("labels") or {}
                if any(labels.get(k) == ep.app for k in NAME_KEYS) and (pod.get("status") or {}).get("podIP"):
                    sites[ep.key] = ProbeSite(
                        namespace, pod["metadata"]["name"], "", pod["status"]["podIP"], False
                    )
                    break
            continue
        if live is None:
            if not cluster.capabilities.owns_cluster:
                continue  # never create arbitrary namespaces on a shared cluster
            spaces.apply(owned_namespace(namespace, cluster.run_id))
        pod = probe_pod(ep, namespace, image)
        spaces.apply(pod)
        ours.append((ep.key, namespace, probe_name(ep)))

    def ready() -> Poll[bool]:
        waiting = []
        for key, namespace, name in ours:
            pod = kube.get("v1", "Pod", name, namespace)
            conds = {
                c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []
            }
            if conds.get("Ready") != "True":
                waiting.append(f"{key} ({(pod.get('status') or {}).get('phase')})")
            else:
                first = pod["spec"]["containers"][0]["name"]
                sites[key] = ProbeSite(namespace, name, first, str(pod["status"]["podIP"]), ours=True)
        return Poll(not waiting, f"not ready: {', '.join(waiting[:10])}")

    wait_until(
        ready,
        what="be Ready",
        objects=[f"Pod/{ns}/{name}" for _, ns, name in ours],
        timeout_s=180,
        interval_s=2,
        retry_on=(ApiError,),
    )
    yield table, sites


def test_data_plane_probe(cluster: Cluster, request: pytest.FixtureRequest) -> None:
    label(TIER, "network policy", severity="critical")
    reason = cluster.capabilities.lacks(data_plane=True)
    if reason:
        pytest.skip(
            f"no connections to probe: {reason} (pods are simulated; the truth-table test judged the "
            "policies as the API stored them)"
        )
    table, sites = request.getfixturevalue("probe_sites")
    results = run_probes(tools.find("kubectl"), cluster.kubeconfig, table.cells, sites)
    probed = [r for r in results if r.connected is not None]
    wrong = [r for r in probed if r.connected != (r.flow in table.allowed)]
    lines = [
        f"{'ALLOW' if r.flow in table.allowed else 'DENY':6} {'CONNECTED' if r.connected else 'BLOCKED':9} "
        f"{r.flow}{'   <-- wrong' if r in wrong else ''}"
        for r in probed
    ]
    skipped = len(results) - len(probed)
    summary = f"{len(wrong)} wrong, {len(probed) - len(wrong)} correct, {skipped} not probed (no source pod)"
    attach_text("probed matrix: table vs connection", summary + "\n" + "\n".join(lines))
    print(f"network policy data plane: {summary}")
    require(
        not wrong,
        summary
        + "\n"
        + "\n".join(
            f"  table {'ALLOW' if r.flow in table.allowed else 'DENY'}, connection "
            f"{'succeeded' if r.connected else 'blocked'}: {r.flow} {r.detail}"
            for r in wrong
        ),
    )
