"""Putting the probe matrix on a cluster and connecting: probe pods, Services, real packets.

    placement = ProbePlacement(cluster, kube, spaces, nsmap, image)
    observed, figures = probe_local(cluster.data_plane, placement, matrix, inventory)   # `local`
    observed, figures = probe_exec(placement, matrix, inventory)                        # kind / existing

`local`: one kwok pod per target on the data-plane node, the platform's Services,
then a network namespace per pod (exactly the IP the API server reports, a
server on each declared port answering with the pod's name), kube-router started
on top, and every cell connected from inside its source pod's namespace, with an
AF_PACKET watch on the machine's uplink (nothing of the pod or Service range may
appear there). kind / existing: pods of the suite's probe image (named ports, a peer pod for
a workload's flows to itself, every answer's identity checked), one `kubectl exec ... twprobe
connect` per source pod; cells wrong on the first pass are probed again, up to SETTLE_ROUNDS
times SETTLE_S apart (kube-router and kube-proxy program new pods within seconds; a machine under
load takes longer), and the last answer counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from conformance import tools
from conformance.cluster import ApiError, Cluster, Kube, Poll, wait_until
from conformance.cluster.base import RUN_LABEL
from conformance.cluster.dataplane import POD_CIDR, DataPlane, PodPlan, ProbeSpec
from conformance.cluster.dataplane.watch import UplinkWatch
from conformance.cluster.local import DATA_PLANE_NODE, DATA_PLANE_TAINT, SERVICE_CIDR
from conformance.cluster.probes import PROBE_LABEL, Probe, ProbeSite, connect_command, run_plans
from conformance.cluster.probes import probe_pod as running_probe_pod
from conformance.errors import InfraError
from conformance.inventory import Inventory
from conformance.k8s import condition_true

from .platform import NamespaceMap, owned_namespace
from .probe_matrix import Cell, Matrix, Observation, probe_pod
from .resources import TestNamespaces

READY_TIMEOUT_S = 120.0
# Real pods (kind): 67 probe pods took 102 s to be Ready on one node of a 2-core machine at load 30.
EXEC_READY_TIMEOUT_S = 300.0
SETTLE_S = 5.0  # between passes over the wrong cells (kube-router programs a new pod within seconds)
SETTLE_ROUNDS = 4


def peer_key(key: str) -> str:
    return f"{key}#peer"


def _ensure_namespaces(kube: Kube, spaces: TestNamespaces, cluster: Cluster, names: set[str]) -> None:
    for name in sorted(names):
        if kube.get_or_none("v1", "Namespace", name) is None:
            spaces.apply(owned_namespace(name, cluster.run_id))


def _wait_pods(
    kube: Kube, pods: dict[str, tuple[str, str]], timeout_s: float = READY_TIMEOUT_S
) -> dict[str, str]:
    """target key -> pod IP, once every pod is Ready with an IP."""
    ips: dict[str, str] = {}

    def ready() -> Poll[bool]:
        waiting = []
        for key, (namespace, name) in pods.items():
            pod = kube.get("v1", "Pod", name, namespace)
            status = pod.get("status") or {}
            if condition_true(pod, "Ready") and status.get("podIP"):
                ips[key] = str(status["podIP"])
            else:
                waiting.append(f"{key} ({status.get('phase')})")
        return Poll(not waiting, f"not ready: {', '.join(waiting[:10])}")

    wait_until(
        ready,
        what="be Ready with an IP",
        objects=[f"Pod/{ns}/{name}" for ns, name in pods.values()],
        timeout_s=timeout_s,
        interval_s=0.5,
        retry_on=(ApiError,),
    )
    return ips


def _services(
    spaces: TestNamespaces, inventory: Inventory, matrix: Matrix, nsmap: NamespaceMap
) -> dict[str, str]:
    """Create the rendered Services the matrix goes through; "ns/name" -> cluster IP."""
    wanted = {f"{s.namespace}/{s.name}" for s in matrix.services}
    ips = {}
    for svc in inventory.of_kind("Service"):
        key = f"{svc.namespace}/{svc.name}"
        if key in wanted:
            created = spaces.apply(nsmap.object_to_cluster(svc.body))
            ips[key] = str((created.get("spec") or {}).get("clusterIP"))
    return ips


@contextmanager
def _watched() -> Iterator[UplinkWatch]:
    try:
        watch = UplinkWatch([str(POD_CIDR), SERVICE_CIDR])
        watch.__enter__()
    except OSError as err:
        raise InfraError(f"cannot watch the machine's uplink for leaked packets: {err}") from None
    try:
        yield watch
    finally:
        watch.__exit__(None, None, None)


@dataclass(frozen=True)
class ProbePlacement:
    """Where the probe pods go: the cluster, its API, the run's probe namespaces, how the render's
    namespaces map onto the cluster's, and the probe image (a provider may name its own)."""

    cluster: Cluster
    kube: Kube
    spaces: TestNamespaces
    nsmap: NamespaceMap
    image: str


def _source_of(cell: Cell) -> str:
    """The target key a cell's probe leaves from: a workload's flow to itself starts in its peer pod
    (a connection to one's own IP never leaves the pod)."""
    return peer_key(cell.source) if cell.source == cell.destination and not cell.service else cell.source


def _place_kwok_pods(placement: ProbePlacement, matrix: Matrix) -> dict[str, tuple[str, str]]:
    """A kwok pod per target (and its peer) on the data-plane node; target key -> (namespace, pod)."""
    cluster, kube, spaces, nsmap = placement.cluster, placement.kube, placement.spaces, placement.nsmap
    _ensure_namespaces(
        kube, spaces, cluster, {nsmap.to_cluster(t.namespace) for t in matrix.targets.values()}
    )
    pods: dict[str, tuple[str, str]] = {}
    peers = matrix.with_peer()
    for target in matrix.targets.values():
        namespace = nsmap.to_cluster(target.namespace)
        pod = probe_pod(
            target,
            namespace=namespace,
            node=DATA_PLANE_NODE,
            image=placement.image,
            taint_key=DATA_PLANE_TAINT,
            label=PROBE_LABEL,
        )
        spaces.apply(pod)
        pods[target.key] = (namespace, target.pod_name)
        if target.key in peers:
            pod["metadata"]["name"] = target.peer_name
            spaces.apply(pod)
            pods[peer_key(target.key)] = (namespace, target.peer_name)
    return pods


def _pod_plans(matrix: Matrix, ips: Mapping[str, str]) -> list[PodPlan]:
    """What each pod's network namespace serves, and as whom it answers."""
    plans = []
    peers = matrix.with_peer()
    for t in matrix.targets.values():
        serving = tuple((port, proto) for _n, port, proto in t.serving())
        plans.append(PodPlan(t.key, ips[t.key], serving, t.key))
        if t.key in peers:  # answers as its workload: a Service may route to either pod
            plans.append(PodPlan(peer_key(t.key), ips[peer_key(t.key)], serving, t.key))
    return plans


def _local_specs(matrix: Matrix, ips: Mapping[str, str], cluster_ips: Mapping[str, str]) -> list[ProbeSpec]:
    """One connection per cell: to the Service's cluster IP or straight to the pod's IP."""
    specs = []
    for i, cell in enumerate(matrix.cells):
        if cell.service:
            service = cell.service.split(":", 1)[0]
            ip, port = cluster_ips[service], cell.service_port
        else:
            ip, port = ips[cell.destination], cell.port
        specs.append(ProbeSpec(i, _source_of(cell), ip, port, cell.protocol, "|".join(matrix.answers(cell))))
    return specs


def probe_local(
    plane: DataPlane, placement: ProbePlacement, matrix: Matrix, inventory: Inventory
) -> tuple[dict[Cell, Observation], dict[str, str]]:
    """Probe every cell on the `local` data plane. Returns the observations and timing figures."""
    nsmap = placement.nsmap
    began = time.monotonic()
    pods = _place_kwok_pods(placement, matrix)
    cluster_ips = _services(placement.spaces, inventory, matrix, nsmap)
    ips = _wait_pods(placement.kube, pods)
    api_s = time.monotonic() - began
    plans = _pod_plans(matrix, ips)
    plane.attach(plans)
    plane.enforce()
    plane.wait_services(
        [
            f"{nsmap.to_cluster(s.namespace)}/{s.name}" + (f":{s.port_name}" if s.port_name else "")
            for s in matrix.services
        ]
    )
    ready_s = time.monotonic() - began - api_s
    specs = _local_specs(matrix, ips, cluster_ips)
    began_probe = time.monotonic()
    with _watched() as watch:
        outcomes = plane.probe(specs)
    probe_s = time.monotonic() - began_probe
    if watch.seen:
        raise InfraError(f"the data plane leaked onto the machine's network: {watch.report()}")
    observed = {matrix.cells[o.id]: Observation(o.connected, o.outcome, o.detail) for o in outcomes}
    figures = {
        "probe pods + Services in the API": f"{api_s:.1f} s ({len(pods)} pods, {len(cluster_ips)} Services)",
        "data plane ready": (
            f"{ready_s:.1f} s (namespaces {plane.timings.get('attach', 0):.1f} s, "
            f"kube-router first sync {plane.timings.get('enforce', 0):.1f} s)"
        ),
        "probes": f"{len(specs)} in {probe_s:.1f} s; uplink watch: {watch.report()}",
    }
    return observed, figures


def _placeable(kube: Kube, cluster: Cluster, spaces: TestNamespaces, namespace: str) -> bool:
    """Whether probe pods may go into `namespace` (created when missing and the cluster is ours)."""
    live = kube.get_or_none("v1", "Namespace", namespace)
    # On a shared cluster every namespace of the run carries the run's prefix (ct-<run>-kube-system
    # stands for the platform's kube-system): the suite's own to create, never the cluster's.
    ours = cluster.capabilities.owns_cluster or bool(
        cluster.namespace_prefix and namespace.startswith(cluster.namespace_prefix)
    )
    if live is None:
        if not ours:
            return False
        spaces.apply(owned_namespace(namespace, cluster.run_id))
        return True
    run_owned = ((live.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL)
    # A cluster the suite owns (kind): its kube-system too (CoreDNS's selectors exclude probes there).
    return bool(run_owned) or cluster.capabilities.owns_cluster


def _place_running_pods(placement: ProbePlacement, matrix: Matrix, image: str) -> dict[str, tuple[str, str]]:
    """A probe pod per target (and its peer, for a workload's flows to itself) in every namespace
    the run may use; returns target key -> (namespace, pod name)."""
    cluster, kube, spaces = placement.cluster, placement.kube, placement.spaces
    pull = "Never" if cluster.provider == "kind" else "IfNotPresent"
    peers = matrix.with_peer()
    pods: dict[str, tuple[str, str]] = {}
    for target in matrix.targets.values():
        namespace = placement.nsmap.to_cluster(target.namespace)
        if not _placeable(kube, cluster, spaces, namespace):
            continue  # never add pods to a shared cluster's own namespaces
        names = [(target.key, target.pod_name)]
        if target.key in peers:
            names.append((peer_key(target.key), target.peer_name))
        for key, name in names:
            spaces.apply(
                running_probe_pod(
                    name,
                    namespace,
                    target.endpoint.label_map(),
                    target.serving(),
                    image,
                    token=target.key,
                    pull_policy=pull,
                )
            )
            pods[key] = (namespace, name)
    return pods


def _exec_probes(matrix: Matrix, sites: Mapping[str, ProbeSite]) -> dict[int, tuple[Cell, str]]:
    """Probe id -> (cell, source site key) for every cell whose pods both run. A cell left out is
    judged wrong (a cell with no observation never passes)."""
    probes: dict[int, tuple[Cell, str]] = {}
    for i, cell in enumerate(matrix.cells):
        source = _source_of(cell)
        if source in sites and cell.destination in sites:
            probes[i] = (cell, source)
    return probes


def probe_exec(
    placement: ProbePlacement, matrix: Matrix, inventory: Inventory
) -> tuple[dict[Cell, Observation], dict[str, str]]:
    """Probe on a provider whose pods really run (kind, existing): probe pods, kubectl exec."""
    cluster = placement.cluster
    began = time.monotonic()
    image = cluster.details.get("probe image", placement.image)
    pods = _place_running_pods(placement, matrix, image)
    cluster_ips = _services(placement.spaces, inventory, matrix, placement.nsmap)
    ips = _wait_pods(placement.kube, pods, EXEC_READY_TIMEOUT_S)
    sites = {key: ProbeSite(ns, name, ips[key]) for key, (ns, name) in pods.items()}
    api_s = time.monotonic() - began
    probes = _exec_probes(matrix, sites)

    def run(ids: list[int]) -> dict[int, Observation]:
        by_source: dict[str, list[Probe]] = {}
        for i in ids:
            cell, source = probes[i]
            ip = cluster_ips[cell.service.split(":", 1)[0]] if cell.service else sites[cell.destination].ip
            port = cell.service_port if cell.service else cell.port
            by_source.setdefault(source, []).append(
                Probe(i, ip, port, cell.protocol, tuple(matrix.answers(cell)))
            )
        kubectl = tools.find("kubectl")
        plans = [
            (connect_command(kubectl, cluster.kubeconfig, sites[src]), group)
            for src, group in sorted(by_source.items())
        ]
        results = run_plans(plans)
        return {i: Observation(r.connected, r.outcome, r.detail) for i, r in results.items()}

    began_probe = time.monotonic()
    seen = run(sorted(probes))
    first_pass = time.monotonic() - began_probe

    def still_wrong() -> list[int]:
        return [i for i, o in seen.items() if o.connected != (probes[i][0] in matrix.expected)]

    wrong = still_wrong()
    reprobed = len(wrong)
    rounds = 0
    while wrong and rounds < SETTLE_ROUNDS:  # a wrong cell stays wrong: this only waits for convergence
        rounds += 1
        time.sleep(SETTLE_S)
        seen.update(run(wrong))
        wrong = still_wrong()
    observed = {probes[i][0]: o for i, o in seen.items()}
    figures = {
        "probe pods + Services in the API": (
            f"{api_s:.1f} s ({len(pods)} pods, {len(cluster_ips)} Services, image {image})"
        ),
        "probes": (
            f"{len(probes)} from {len({s for _c, s in probes.values()})} source pods through kubectl exec in "
            f"{first_pass:.1f} s; {reprobed} wrong at first, re-probed in {rounds} round(s) "
            f"{SETTLE_S:g} s apart, {len(wrong)} still wrong; enforcer: "
            f"{cluster.details.get('enforcer', 'the cluster’s own')}"
        ),
    }
    return observed, figures
