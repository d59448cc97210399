"""The probe matrix: every (source workload, destination workload, port) of the render,
expected from manifests/flows.yaml, judged by real connections.

    matrix = build_matrix(inventory, load_flows(path))
    observed = {cell: Observation(connected, outcome, detail) for cell in matrix.cells}   # from a prober
    verdict = judge(matrix, observed)
    verdict.summary()                           # "0 wrong, 1893 correct (1893 probes: 1611 to pod IPs, ...)"
    render(matrix, verdict)                     # cyclonus-style grids per port, expected vs actual

Targets (one probe pod each):
- every workload of the render (its pod labels and declared container ports);
- every endpoint flows.yaml names that the manifests do not deploy (kube-dns, ingress-nginx,
  Prometheus, ...), modelled by conformance.netpol with the labels the policies select;
- a "default-deny" pod in each namespace the render governs: labels no allow-policy
  names, listening on 8080/TCP (the platform's service port, the likeliest to be opened
  by a rule that is too wide). flows.yaml names none, so nothing may reach it. It only
  receives: as a source it would meet the namespace's allow-dns (all pods may resolve
  names), which flows.yaml spells per workload; egress default-deny is proven by every
  real source's undeclared cells instead.

Cells: every source x destination x the destination's (port, protocol), to the pod IP,
where the source's or the destination's namespace is governed by the render (as in
conformance.netpol.truth_table); and the same through each rendered ClusterIP Service
whose selector picks the destination, as its clients connect. A Service cell is not
probed when the source itself backs the Service (kube-proxy masquerades a pod reaching
itself through its own Service, and kube-router admits node-sourced traffic: no policy
verdict there). Expected: ALLOW exactly when flows.yaml declares the flow.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.inventory import Inventory, K8sObject
from conformance.k8s import (
    WORKLOADS,
    as_dict,
    as_list,
    fmt_selector,
    of_kinds,
    policy_types,
    restricted_container_context,
    selector_matches,
)
from conformance.netpol import (
    DeclaredFlow,
    Endpoint,
    Flow,
    TruthTable,
    _Policies,
    expected_flows,
    modelled_from_flows,
    workload_endpoints,
)

MAX_CELLS = 10_000  # a bound on one run's connections (the ci render has ~2,000)
DEFAULT_DENY_APP = "conformance-default-deny"
DEFAULT_DENY_PORT = 8080


@dataclass(frozen=True)
class Target:
    """One probe pod: a workload, a modelled endpoint, or a namespace's default-deny probe."""

    key: str  # unique: "tartware/api-gateway", "tartware-data/postgresql-read", "tartware/(default-deny)"
    endpoint: Endpoint  # namespace, app (the flows.yaml name), labels, ports
    origin: str  # "Deployment/tartware/api-gateway" | "modelled from flows.yaml" | "default-deny probe"
    source: bool = True  # starts connections

    @property
    def namespace(self) -> str:
        return self.endpoint.namespace

    @property
    def pod_name(self) -> str:
        slug = re.sub(r"[^a-z0-9-]+", "-", self.key.split("/", 1)[1].lower()).strip("-")
        return ("probe-" + slug)[:63].rstrip("-")

    @property
    def peer_name(self) -> str:
        """A second pod of the same workload: the source of its own pods' flows (replication,
        cluster buses). A pod's connection to its own IP never leaves it, so no policy applies."""
        return self.pod_name[:58].rstrip("-") + "-peer"

    def serving(self) -> list[tuple[str, int, str]]:
        """(name, port, protocol) it listens on, one entry per (port, protocol)."""
        seen: dict[tuple[int, str], str] = {}
        for name, port, proto in self.endpoint.ports:
            if (port, proto) not in seen or (name and not seen[(port, proto)]):
                seen[(port, proto)] = name
        return [(name, port, proto) for (port, proto), name in sorted(seen.items())]


@dataclass(frozen=True)
class Cell:
    source: str  # Target.key
    destination: str  # Target.key
    port: int  # the destination's container port (what NetworkPolicy sees)
    protocol: str
    service: str = ""  # "namespace/name:port-name" when probed through a Service's cluster IP
    service_port: int = 0

    def __str__(self) -> str:
        via = f" via Service {self.service} (port {self.service_port})" if self.service else ""
        return f"{self.source} -> {self.destination}:{self.port}/{self.protocol}{via}"


@dataclass(frozen=True)
class ServicePort:
    """A rendered Service port kube-proxy must route before its cells are probed."""

    namespace: str
    name: str
    port_name: str
    port: int
    protocol: str

    @property
    def ref(self) -> str:
        """As kube-proxy names it in its rules: "ns/name:port-name" ("ns/name" if unnamed)."""
        return f"{self.namespace}/{self.name}" + (f":{self.port_name}" if self.port_name else "")


@dataclass
class Matrix:
    targets: dict[str, Target]
    cells: list[Cell]
    expected: set[Cell]  # the cells flows.yaml declares (ALLOW); every other cell: DENY
    services: list[ServicePort] = field(default_factory=list)
    not_probed: list[str] = field(default_factory=list)  # what was left out, and why
    undeclared: list[str] = field(default_factory=list)  # flows.yaml endpoints nowhere in the render
    backends: dict[str, list[str]] = field(default_factory=dict)  # Service ref -> the targets it routes to

    def answers(self, cell: Cell) -> list[str]:
        """The targets whose answer proves the cell connected (any backend of a Service)."""
        return self.backends.get(cell.service, [cell.destination]) if cell.service else [cell.destination]

    def sources(self) -> list[Target]:
        return [t for t in self.targets.values() if t.source]

    def with_peer(self) -> set[str]:
        """Targets that get a peer pod: those with cells to themselves."""
        return {c.source for c in self.cells if c.source == c.destination and not c.service}


@dataclass(frozen=True)
class Observation:
    connected: bool
    outcome: str  # prober outcome: connected | refused | timeout | wrong-peer | error
    detail: str = ""


@dataclass
class Verdict:
    correct: list[Cell]
    wrong: list[Cell]
    observed: dict[Cell, Observation]
    expected: set[Cell]
    explanations: dict[Cell, str] = field(default_factory=dict)

    def summary(self, matrix: Matrix) -> str:
        via_service = sum(1 for c in matrix.cells if c.service)
        return (
            f"{len(self.wrong)} wrong, {len(self.correct)} correct "
            f"({len(matrix.cells)} probes: {len(matrix.cells) - via_service} to pod IPs, "
            f"{via_service} through Services; {len(matrix.sources())} sources, {len(matrix.targets)} pods)"
        )


# -- building ----------------------------------------------------------------------------


def governed_namespaces(inventory: Inventory) -> set[str]:
    """Namespaces the render decides about: declared by it or holding one of its policies."""
    return {p.namespace for p in inventory.of_kind("NetworkPolicy")} | {
        ns.name for ns in inventory.of_kind("Namespace")
    }


def targets_of(inventory: Inventory, flows: list[DeclaredFlow]) -> dict[str, Target]:
    """Every workload, every modelled endpoint, and a default-deny probe per governed namespace."""
    workloads = list(of_kinds(inventory, WORKLOADS))
    endpoints = workload_endpoints(inventory)  # one per workload, in the same order (netpol iterates alike)
    apps: dict[str, int] = defaultdict(int)
    for ep in endpoints:
        apps[ep.key] += 1
    out: dict[str, Target] = {}
    for obj, ep in zip(workloads, endpoints, strict=True):
        # Two workloads of one app (postgresql primary + read replicas) are two targets.
        key = ep.key if apps[ep.key] == 1 else f"{obj.namespace}/{obj.name}"
        out[key] = Target(key, ep, obj.ref)
    for ep in modelled_from_flows(flows, inventory):
        out.setdefault(ep.key, Target(ep.key, ep, "modelled from flows.yaml"))
    for ns in sorted(governed_namespaces(inventory)):
        labels = (("app.kubernetes.io/name", DEFAULT_DENY_APP),)
        ep = Endpoint(ns, DEFAULT_DENY_APP, labels, (("", DEFAULT_DENY_PORT, "TCP"),), modelled=True)
        key = f"{ns}/(default-deny)"
        out[key] = Target(key, ep, "default-deny probe", source=False)
    return out


def _service_ports(inventory: Inventory) -> list[tuple[K8sObject, dict[str, Any]]]:
    """ClusterIP Services with a selector (headless and ExternalName ones have no cluster IP)."""
    out = []
    for svc in inventory.of_kind("Service"):
        spec = svc.spec
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None" or not spec.get("selector"):
            continue
        for port in as_list(spec.get("ports")):
            if isinstance(port, dict) and isinstance(port.get("port"), int):
                out.append((svc, port))
    return out


def _resolve(target_port: Any, port: dict[str, Any], backend: Target) -> int | None:
    """The backend's container port a Service port leads to (named ports by the pod's port names)."""
    proto = str(port.get("protocol", "TCP"))
    if target_port is None:
        target_port = port["port"]
    if isinstance(target_port, int):
        return (
            target_port if any(p == target_port and pr == proto for _, p, pr in backend.serving()) else None
        )
    for name, number, pr in backend.serving():
        if name == str(target_port) and pr == proto:
            return number
    return None


@dataclass
class _Building:
    """What build_matrix collects, in one place (the pod cells first, then the Service cells)."""

    targets: dict[str, Target]
    declared: set[Flow]
    judged: set[tuple[str, str]]  # (source key, destination key) pairs the render decides about
    cells: list[Cell] = field(default_factory=list)
    expected: set[Cell] = field(default_factory=set)
    services: list[ServicePort] = field(default_factory=list)
    routed_to: dict[str, list[str]] = field(default_factory=dict)
    not_probed: list[str] = field(default_factory=list)

    def add(self, cell: Cell, want: bool) -> None:
        self.cells.append(cell)
        if want:
            self.expected.add(cell)


def _pod_cells(b: _Building) -> None:
    skipped = 0
    for src in b.targets.values():
        if not src.source:
            continue
        for dst in b.targets.values():
            if (src.key, dst.key) not in b.judged:
                skipped += 1
                continue
            for _name, number, proto in dst.serving():
                want = Flow(src.endpoint.key, dst.endpoint.key, number, proto) in b.declared
                b.add(Cell(src.key, dst.key, number, proto), want)
    if skipped:
        b.not_probed.append(
            f"{skipped} source/destination pairs between namespaces the render does not govern"
        )


def _service_cells(b: _Building, inventory: Inventory) -> None:
    hairpins = 0
    for svc, spec in _service_ports(inventory):
        selector = {"matchLabels": as_dict(svc.spec.get("selector"))}
        routes: list[tuple[Target, int]] = []
        for t in b.targets.values():
            if t.namespace == svc.namespace and selector_matches(selector, t.endpoint.label_map()):
                number = _resolve(spec.get("targetPort"), spec, t)
                if number is not None:
                    routes.append((t, number))
        ref = ServicePort(
            svc.namespace,
            svc.name,
            str(spec.get("name", "")),
            int(spec["port"]),
            str(spec.get("protocol", "TCP")),
        )
        if not routes:
            b.not_probed.append(f"Service {ref.ref}: selects no probe pod serving its targetPort")
            continue
        b.services.append(ref)
        b.routed_to[ref.ref] = [t.key for t, _ in routes]
        for src in b.targets.values():
            if not src.source:
                continue
            if any(t.key == src.key for t, _ in routes):
                hairpins += 1
                continue
            want = {Flow(src.endpoint.key, t.endpoint.key, n, ref.protocol) in b.declared for t, n in routes}
            if len(want) != 1:
                b.not_probed.append(
                    f"{src.key} -> Service {ref.ref}: its backends differ in what flows.yaml allows"
                )
                continue
            backend, backend_port = routes[0]
            if (src.key, backend.key) in b.judged:
                b.add(
                    Cell(src.key, backend.key, backend_port, ref.protocol, ref.ref, ref.port), want == {True}
                )
    if hairpins:
        b.not_probed.append(
            f"{hairpins} Service cells from a pod to its own Service (kube-proxy masquerades them to the "
            "node's address, which kube-router always admits: no policy verdict)"
        )


def build_matrix(inventory: Inventory, flows: list[DeclaredFlow]) -> Matrix:
    """The cells to probe and which of them flows.yaml declares. Raises ValueError past MAX_CELLS."""
    targets = targets_of(inventory, flows)
    governed = governed_namespaces(inventory)
    by_app: dict[str, Endpoint] = {t.endpoint.key: t.endpoint for t in targets.values()}
    declared, undeclared = expected_flows(flows, TruthTable(list(by_app.values()), set(), []))
    judged = {
        (s.key, d.key)
        for s in targets.values()
        for d in targets.values()
        if s.source and (s.namespace in governed or d.namespace in governed)
    }
    b = _Building(targets, declared, judged)
    _pod_cells(b)
    _service_cells(b, inventory)
    if len(b.cells) > MAX_CELLS:
        raise ValueError(f"the probe matrix has {len(b.cells)} cells, more than the bound of {MAX_CELLS}")
    return Matrix(targets, b.cells, b.expected, b.services, b.not_probed, undeclared, b.routed_to)


# -- judging -----------------------------------------------------------------------------


def judge(matrix: Matrix, observed: Mapping[Cell, Observation]) -> Verdict:
    """Each cell: connected == expected? A cell with no observation counts as wrong (never as passed)."""
    correct: list[Cell] = []
    wrong: list[Cell] = []
    for cell in matrix.cells:
        seen = observed.get(cell)
        ok = seen is not None and seen.connected == (cell in matrix.expected)
        (correct if ok else wrong).append(cell)
    return Verdict(correct, wrong, dict(observed), matrix.expected)


def _where(policy: K8sObject, rendered: Mapping[str, K8sObject]) -> str:
    origin = rendered.get(policy.ref)
    return f"NetworkPolicy {policy.namespace}/{policy.name}" + (f" ({origin.source})" if origin else "")


def _actual(seen: Observation | None) -> str:
    """What the probe saw, with the prober's detail when it did not connect."""
    if seen is None:
        return "no observation"
    return f"{seen.outcome}{f': {seen.detail}' if seen.detail and not seen.connected else ''}"


def _near_miss(policy: K8sObject, subject: Target, matrix: Matrix, by_ref: Mapping[str, K8sObject]) -> str:
    """A policy that would admit the flow but does not select `subject`: says whether its podSelector
    selects nothing at all in its namespace (a typo) or only other pods."""
    sel = policy.spec.get("podSelector")
    empty = not any(
        selector_matches(sel if isinstance(sel, dict) else None, t.endpoint.label_map())
        for t in matrix.targets.values()
        if t.namespace == policy.namespace
    )
    what = "selects no pods" if empty else f"does not select {subject.key}"
    return f"  {_where(policy, by_ref)} would admit it, but its podSelector {fmt_selector(sel)} {what}"


def explain(
    cell: Cell,
    matrix: Matrix,
    seen: Observation | None,
    applied: Inventory,
    rendered: Inventory,
) -> str:
    """Why a cell is wrong, naming the policies at fault (from the policies as the cluster stores them).

    The verdict came from packets; this only points at the objects to look at.
    """
    src, dst = matrix.targets[cell.source], matrix.targets[cell.destination]
    policies = _Policies(applied)
    by_ref = {o.ref: o for o in rendered.of_kind("NetworkPolicy")}
    flow = Flow(src.key, dst.key, cell.port, cell.protocol)
    want = "ALLOW (declared in flows.yaml)" if cell in matrix.expected else "DENY (not in flows.yaml)"
    lines = [f"{cell}: expected {want}, actual {_actual(seen)}"]
    sides = (
        ("egress", "Egress", src, dst, src.endpoint),
        ("ingress", "Ingress", dst, src, dst.endpoint),
    )
    blocked = False
    for key, direction, subject, other, ep in sides:
        selecting = policies.selecting(ep, direction)
        admitting = [p for p in selecting if policies.allows([p], key, other.endpoint, dst.endpoint, flow)]
        if cell in matrix.expected:
            if selecting and not admitting:
                blocked = True
                names = ", ".join(_where(p, by_ref) for p in selecting)
                lines.append(f"  {key} of {subject.key} is isolated by {names}; none admits {other.key}")
                for p in policies.policies:
                    if p.namespace != ep.namespace or p in selecting or direction not in policy_types(p):
                        continue
                    if policies.allows([p], key, other.endpoint, dst.endpoint, flow):
                        lines.append(_near_miss(p, subject, matrix, by_ref))
        elif not selecting:
            lines.append(f"  {key} of {subject.key}: no policy selects it for {direction} (not isolated)")
        elif admitting:
            lines.append(
                f"  {key} of {subject.key} admitted by " + ", ".join(_where(p, by_ref) for p in admitting)
            )
    if cell in matrix.expected and not blocked:
        lines.append("  the policies as stored admit it: the connection itself failed (data plane or server)")
    return "\n".join(lines)


# -- rendering ----------------------------------------------------------------------------

LEGEND = (
    "legend: . connected as expected   x refused as expected   "
    "! connected but flows.yaml forbids it   ? refused but flows.yaml declares it"
)


def _mark(cell: Cell, verdict: Verdict) -> str:
    seen = verdict.observed.get(cell)
    want = cell in verdict.expected
    if seen is None:
        return "?" if want else "!"
    if seen.connected:
        return "." if want else "!"
    return "?" if want else "x"


def render(matrix: Matrix, verdict: Verdict) -> str:
    """Cyclonus-style: per (port, protocol) a grid of sources x destinations, then the wrong cells."""
    out = [verdict.summary(matrix), LEGEND, ""]
    groups: dict[tuple[str, int, str], list[Cell]] = defaultdict(list)
    for cell in matrix.cells:
        groups[(cell.service and "service", cell.port, cell.protocol)].append(cell)
    rows = [t.key for t in matrix.sources()]
    width = max((len(r) for r in rows), default=10)
    for (via, port, proto), cells in sorted(groups.items()):
        columns = sorted({(c.destination, c.service) for c in cells})
        index = {c: i for i, c in enumerate(columns, 1)}
        title = f"{port}/{proto}" + (" through Services" if via else " to pod IPs")
        out.append(
            f"== {title}: " + "  ".join(f"{i}={d}{f' via {s}' if s else ''}" for (d, s), i in index.items())
        )
        out.append(" " * (width + 1) + "".join(f"{i:>3}" for i in index.values()))
        marks = {(c.source, (c.destination, c.service)): _mark(c, verdict) for c in cells}
        for row in rows:
            line = "".join(f"{marks.get((row, col), ' '):>3}" for col in columns)
            if line.strip():
                out.append(f"{row:<{width}} {line}")
        out.append("")
    if verdict.wrong:
        out.append("wrong cells:")
        out += [verdict.explanations.get(c, str(c)) for c in verdict.wrong]
    if matrix.not_probed:
        out.append("not probed:")
        out += [f"  {line}" for line in matrix.not_probed]
    return "\n".join(out)


def probe_pod(
    target: Target, *, namespace: str, node: str, image: str, taint_key: str, label: str
) -> dict[str, Any]:
    """A kwok pod that looks like `target` to NetworkPolicy and Services (labels, named ports).

    It is pinned to the data-plane node (kube-router's own pods are those on its node);
    kwok gives it an IP there and never pulls the image. Restricted PodSecurity.
    """
    ports = [
        {**({"name": name} if name else {}), "containerPort": port, "protocol": proto}
        for name, port, proto in target.serving()
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": target.pod_name,
            "namespace": namespace,
            "labels": {**target.endpoint.label_map(), label: "true"},
        },
        "spec": {
            "nodeName": node,
            "tolerations": [{"key": taint_key, "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "ports": ports,
                    "securityContext": restricted_container_context(10001),
                }
            ],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
        },
    }
