"""Putting the probe matrix on a cluster and connecting: probe pods, Services, real packets.

    observed, figures = probe_local(cluster.data_plane, kube, spaces, matrix, ...)   # `local`
    observed, figures = probe_exec(cluster, kube, spaces, matrix, ...)               # kind / existing

`local`: one kwok pod per target on the data-plane node, the platform's Services,
then a network namespace per pod (exactly the IP the API server reports, a
server on each declared port answering with the pod's name), kube-router started
on top, and every cell connected from inside its source pod's namespace, with an
AF_PACKET watch on the machine's uplink (nothing of the pod or Service range may
appear there). kind / existing: agnhost probe pods, `kubectl exec ... agnhost connect`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conformance import tools
from conformance.cluster import ApiError, Cluster, Kube, Poll, wait_until
from conformance.cluster.base import RUN_LABEL
from conformance.cluster.dataplane import POD_CIDR, DataPlane, PodPlan, ProbeSpec
from conformance.cluster.dataplane.watch import UplinkWatch
from conformance.cluster.local import DATA_PLANE_NODE, DATA_PLANE_TAINT, SERVICE_CIDR
from conformance.cluster.probes import PROBE_LABEL, ProbeSite, connect_command, run_commands
from conformance.cluster.probes import probe_pod as agnhost_probe_pod
from conformance.errors import InfraError
from conformance.inventory import Inventory

from .platform import NamespaceMap, owned_namespace
from .probe_matrix import Cell, Matrix, Observation, probe_pod
from .resources import TestNamespaces

READY_TIMEOUT_S = 120.0


def peer_key(key: str) -> str:
    return f"{key}#peer"


def _ensure_namespaces(kube: Kube, spaces: TestNamespaces, cluster: Cluster, names: set[str]) -> None:
    for name in sorted(names):
        if kube.get_or_none("v1", "Namespace", name) is None:
            spaces.apply(owned_namespace(name, cluster.run_id))


def _wait_pods(kube: Kube, pods: dict[str, tuple[str, str]]) -> dict[str, str]:
    """target key -> pod IP, once every pod is Ready with an IP."""
    ips: dict[str, str] = {}

    def ready() -> Poll[bool]:
        waiting = []
        for key, (namespace, name) in pods.items():
            pod = kube.get("v1", "Pod", name, namespace)
            status = pod.get("status") or {}
            conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
            if conds.get("Ready") == "True" and status.get("podIP"):
                ips[key] = str(status["podIP"])
            else:
                waiting.append(f"{key} ({status.get('phase')})")
        return Poll(not waiting, f"not ready: {', '.join(waiting[:10])}")

    wait_until(
        ready,
        what="be Ready with an IP",
        objects=[f"Pod/{ns}/{name}" for ns, name in pods.values()],
        timeout_s=READY_TIMEOUT_S,
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


def probe_local(
    plane: DataPlane,
    *,
    cluster: Cluster,
    kube: Kube,
    spaces: TestNamespaces,
    matrix: Matrix,
    inventory: Inventory,
    nsmap: NamespaceMap,
    image: str,
) -> tuple[dict[Cell, Observation], dict[str, str]]:
    """Probe every cell on the `local` data plane. Returns the observations and timing figures."""
    began = time.monotonic()
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
            image=image,
            taint_key=DATA_PLANE_TAINT,
            label=PROBE_LABEL,
        )
        spaces.apply(pod)
        pods[target.key] = (namespace, target.pod_name)
        if target.key in peers:
            pod["metadata"]["name"] = target.peer_name
            spaces.apply(pod)
            pods[peer_key(target.key)] = (namespace, target.peer_name)
    cluster_ips = _services(spaces, inventory, matrix, nsmap)
    ips = _wait_pods(kube, pods)
    api_s = time.monotonic() - began
    plans = []
    for t in matrix.targets.values():
        serving = tuple((port, proto) for _n, port, proto in t.serving())
        plans.append(PodPlan(t.key, ips[t.key], serving, t.key))
        if t.key in peers:  # answers as its workload: a Service may route to either pod
            plans.append(PodPlan(peer_key(t.key), ips[peer_key(t.key)], serving, t.key))
    plane.attach(plans)
    plane.enforce()
    plane.wait_services(
        [
            f"{nsmap.to_cluster(s.namespace)}/{s.name}" + (f":{s.port_name}" if s.port_name else "")
            for s in matrix.services
        ]
    )
    ready_s = time.monotonic() - began - api_s
    specs = []
    for i, cell in enumerate(matrix.cells):
        if cell.service:
            service = cell.service.split(":", 1)[0]
            ip, port = cluster_ips[service], cell.service_port
        else:
            ip, port = ips[cell.destination], cell.port
        # A workload's flow to itself starts in its peer pod (a connection to one's own IP stays inside).
        source = (
            peer_key(cell.source) if cell.source == cell.destination and not cell.service else cell.source
        )
        specs.append(ProbeSpec(i, source, ip, port, cell.protocol, "|".join(matrix.answers(cell))))
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


def probe_exec(
    *,
    cluster: Cluster,
    kube: Kube,
    spaces: TestNamespaces,
    matrix: Matrix,
    inventory: Inventory,
    nsmap: NamespaceMap,
    image: str,
) -> tuple[dict[Cell, Observation], dict[str, str]]:
    """Probe on a provider whose pods really run (kind, existing): agnhost pods, kubectl exec."""
    began = time.monotonic()
    sites: dict[str, ProbeSite] = {}
    ours: dict[str, tuple[str, str]] = {}
    for target in matrix.targets.values():
        namespace = nsmap.to_cluster(target.namespace)
        live = kube.get_or_none("v1", "Namespace", namespace)
        run_owned = live is not None and ((live.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL)
        if live is not None and not run_owned and not cluster.capabilities.owns_cluster:
            continue  # never add pods to a shared cluster's own namespaces
        if live is None:
            if not cluster.capabilities.owns_cluster:
                continue
            spaces.apply(owned_namespace(namespace, cluster.run_id))
        pod: dict[str, Any] = agnhost_probe_pod(target.endpoint, namespace, image)
        pod["metadata"]["name"] = target.pod_name
        spaces.apply(pod)
        ours[target.key] = (namespace, target.pod_name)
    cluster_ips = _services(spaces, inventory, matrix, nsmap)
    ips = _wait_pods(kube, ours)
    for key, (namespace, name) in ours.items():
        first = kube.get("v1", "Pod", name, namespace)["spec"]["containers"][0]["name"]
        sites[key] = ProbeSite(namespace, name, first, ips[key], ours=True)
    kubectl = tools.find("kubectl")
    commands: list[tuple[Cell, list[str]]] = []
    observed: dict[Cell, Observation] = {}
    for cell in matrix.cells:
        src, dst = sites.get(cell.source), sites.get(cell.destination)
        if src is None or dst is None:
            continue  # judged as wrong: a cell with no observation never passes
        ip = cluster_ips[cell.service.split(":", 1)[0]] if cell.service else dst.ip
        port = cell.service_port if cell.service else cell.port
        commands.append(
            (
                cell,
                connect_command(
                    kubectl, cluster.kubeconfig, src, target_ip=ip, port=port, protocol=cell.protocol
                ),
            )
        )
    for cell, (code, detail) in zip(
        [c for c, _ in commands], run_commands([c for _, c in commands]), strict=True
    ):
        observed[cell] = Observation(code == 0, "connected" if code == 0 else "refused", detail)
    return observed, {"probes": f"{len(commands)} through kubectl exec in {time.monotonic() - began:.1f} s"}
