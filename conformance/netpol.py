"""NetworkPolicy truth table: which (source workload, destination workload, port) flows the
rendered policies allow, compared with the flows the platform declares (manifests/flows.yaml).

    table = truth_table(inventory)                 # computed from the policies
    diff = compare(table, load_flows(path), inventory)
    print(diff.render())                           # expected vs actual, "N wrong, M correct"

Semantics follow the NetworkPolicy API: a pod is isolated for a direction
when some policy selecting it lists that direction in policyTypes; a flow is
allowed when the source may send (egress) and the destination may receive
(ingress). Endpoints named in flows.yaml but not deployed by the manifests
(kube-dns, the ingress controller, Prometheus) are modelled as pods labelled
`app.kubernetes.io/name`, `app`, `k8s-app` and `control-plane` = their app name,
plus the labels the namespace's policy selects them by (`inferred_labels`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inventory import Inventory, K8sObject, Problem, Source
from .inventory.loader import iter_documents
from .k8s import (
    WORKLOADS,
    as_dict,
    as_int,
    as_list,
    containers,
    of_kinds,
    pod_labels,
    policy_types,
    selector_matches,
)

PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class Endpoint:
    """A set of pods: one workload (or a modelled external one)."""

    namespace: str
    app: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int, str], ...]  # (name, number, protocol)
    modelled: bool = False  # not deployed by these manifests

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.app}"

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Flow:
    source: str  # namespace/app
    destination: str
    port: int
    protocol: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.destination}:{self.port}/{self.protocol}"


@dataclass
class TruthTable:
    endpoints: list[Endpoint]
    allowed: set[Flow]
    cells: list[Flow]  # every (source, destination, destination port) considered


@dataclass
class Comparison:
    correct: int
    wrong_allowed: list[Flow] = field(default_factory=list)  # allowed but not declared
    wrong_denied: list[Flow] = field(default_factory=list)  # declared but not allowed
    undeclared_endpoints: list[str] = field(default_factory=list)

    @property
    def wrong(self) -> int:
        return len(self.wrong_allowed) + len(self.wrong_denied)

    def render(self) -> str:
        lines = [f"{self.wrong} wrong, {self.correct} correct"]
        lines += [f"  expected DENY,  actual ALLOW: {f}" for f in sorted(self.wrong_allowed, key=str)]
        lines += [f"  expected ALLOW, actual DENY:  {f}" for f in sorted(self.wrong_denied, key=str)]
        lines += [f"  declared endpoint not found: {e}" for e in self.undeclared_endpoints]
        return "\n".join(lines)


def _app_of(labels: dict[str, str], fallback: str) -> str:
    return labels.get("app.kubernetes.io/name") or labels.get("app") or fallback


def workload_endpoints(inventory: Inventory) -> list[Endpoint]:
    out = []
    for obj in of_kinds(inventory, WORKLOADS):
        labels = pod_labels(obj)
        ports = []
        for container, _ in containers(obj, include_init=False):
            for port in as_list(container.get("ports")):
                number = as_int(as_dict(port).get("containerPort"))
                if number is not None:
                    ports.append((str(port.get("name", "")), number, str(port.get("protocol", "TCP"))))
        out.append(Endpoint(obj.namespace, _app_of(labels, obj.name), _sorted_labels(labels), tuple(ports)))
    return out


def _sorted_labels(labels: dict[Any, Any]) -> tuple[tuple[str, str], ...]:
    """Labels in a stable order; keys and values of the wrong type sort (and match) as text."""
    return tuple(sorted(((k, v) for k, v in labels.items()), key=lambda kv: (str(kv[0]), str(kv[1]))))


# The labels third-party pods carry their name in (flows.yaml: k8s-app for kube-dns,
# app for istiod, control-plane for elastic-operator).
NAME_KEYS = ("app.kubernetes.io/name", "app", "k8s-app", "control-plane")


def modelled_endpoint(namespace: str, app: str, ports: Iterable[tuple[int, str]],
                      extra_labels: dict[str, str] | None = None) -> Endpoint:  # fmt: skip
    labels = {**(extra_labels or {}), **dict.fromkeys(NAME_KEYS, app)}
    return Endpoint(
        namespace,
        app,
        _sorted_labels(labels),
        tuple(("", p, proto) for p, proto in sorted(set(ports))),
        modelled=True,
    )


def namespace_labels(inventory: Inventory) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for ns in inventory.of_kind("Namespace"):
        labels[ns.name] = {**ns.labels, "kubernetes.io/metadata.name": ns.name}
    return labels


class _Policies:
    def __init__(self, inventory: Inventory) -> None:
        self.policies = list(inventory.of_kind("NetworkPolicy"))
        self.ns_labels = namespace_labels(inventory)

    def ns_label_map(self, namespace: str) -> dict[str, str]:
        return self.ns_labels.get(namespace, {"kubernetes.io/metadata.name": namespace})

    def selecting(self, ep: Endpoint, direction: str) -> list[K8sObject]:
        found = []
        for pol in self.policies:
            spec = pol.spec
            if (
                direction in policy_types(pol)
                and pol.namespace == ep.namespace
                and selector_matches(
                    spec.get("podSelector") if isinstance(spec.get("podSelector"), dict) else None,
                    ep.label_map(),
                )
            ):
                found.append(pol)
        return found

    def peer_matches(self, peer: dict[str, Any], policy_ns: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            return _ip_block_covers_pods(peer.get("ipBlock"))
        pod_sel = peer.get("podSelector")
        ns_sel = peer.get("namespaceSelector")
        if ns_sel is None:
            if other.namespace != policy_ns:
                return False
        elif not selector_matches(ns_sel, self.ns_label_map(other.namespace)):
            return False
        return pod_sel is None or selector_matches(pod_sel, other.label_map())

    def allows(
        self,
        policies: list[K8sObject],
        key: str,
        other: Endpoint,
        target: Endpoint,
        flow: Flow,
    ) -> bool:
        """Does any policy have a rule admitting `other` on target's port? (`key`: ingress/egress)"""
        peer_key = "from" if key == "ingress" else "to"
        port, protocol = flow.port, flow.protocol
        for pol in policies:
            for rule in as_list(pol.spec.get(key)):
                if not isinstance(rule, dict):
                    continue
                peers = rule.get(peer_key)
                if peers and not any(
                    isinstance(p, dict) and self.peer_matches(p, pol.namespace, other) for p in as_list(peers)
                ):
                    continue
                if _port_matches(rule.get("ports"), target, port, protocol):
                    return True
        return False


# Pod networks are private address space; an ipBlock that excepts any of it is
# the usual way of saying "outside the cluster".
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _ip_block_covers_pods(block: Any) -> bool:
    """An ipBlock selects pods only as "everything" (0.0.0.0/0 or ::/0) with no private range excepted."""
    if not isinstance(block, dict) or str(block.get("cidr")) not in ("0.0.0.0/0", "::/0"):
        return False
    for text in as_list(block.get("except")):
        try:
            net = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            continue
        if any(net.version == p.version and net.overlaps(p) for p in _PRIVATE):
            return False
    return True


def _port_matches(ports: Any, target: Endpoint, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for spec in as_list(ports):
        if not isinstance(spec, dict) or str(spec.get("protocol", "TCP")) != protocol:
            continue
        want = spec.get("port")
        if want is None:
            return True
        if isinstance(want, str) and not want.isdigit():
            if any(name == want and number == port for name, number, _ in target.ports):
                return True
            continue
        low = int(want) if isinstance(want, str) else as_int(want)
        if low is None:
            continue  # a malformed port admits nothing (the API server would reject it)
        high = as_int(spec.get("endPort")) or low
        if low <= port <= high:
            return True
    return False


def truth_table(inventory: Inventory, extra: Iterable[Endpoint] = ()) -> TruthTable:
    """Every source x destination x destination port, and which the policies allow.

    A workload's pods talking to each other (src == dst: replication, cluster
    buses) are cells too. Cells between two namespaces the inventory neither
    declares nor has policies in (e.g. elastic-system -> kube-system) are not
    judged: no manifest here can allow or deny them (`allowed` still says).
    """
    endpoints = workload_endpoints(inventory)
    known = {e.key for e in endpoints}
    endpoints += [e for e in extra if e.key not in known]
    policies = _Policies(inventory)
    # Namespaces the inventory governs: declared by it, or holding one of its policies.
    governed = {p.namespace for p in policies.policies} | {ns.name for ns in inventory.of_kind("Namespace")}
    allowed: set[Flow] = set()
    cells: list[Flow] = []
    egress = {e.key: policies.selecting(e, "Egress") for e in endpoints}
    ingress = {e.key: policies.selecting(e, "Ingress") for e in endpoints}
    for src in endpoints:
        for dst in endpoints:
            for _name, port, protocol in sorted(set(dst.ports), key=lambda p: (p[1], p[2])):
                flow = Flow(src.key, dst.key, port, protocol)
                if src.namespace in governed or dst.namespace in governed:
                    cells.append(flow)
                out_ok = not egress[src.key] or policies.allows(egress[src.key], "egress", dst, dst, flow)
                in_ok = not ingress[dst.key] or policies.allows(ingress[dst.key], "ingress", src, dst, flow)
                if out_ok and in_ok:
                    allowed.add(flow)
    return TruthTable(endpoints, allowed, cells)


@dataclass(frozen=True)
class DeclaredFlow:
    source: tuple[str, str]
    destination: tuple[str, str]
    port: int | str
    protocol: str


def load_flows(path: Path) -> list[DeclaredFlow]:
    """flows.yaml: a list of {from: {namespace, app}, to: {namespace, app}, port, protocol}."""
    docs = list(iter_documents(path.read_bytes(), Source(str(path), 0)))
    if len(docs) != 1 or isinstance(docs[0][1], Problem):
        raise ValueError(str(docs[0][1]) if docs else f"{path}: empty flows file")
    data = docs[0][1]
    flows = data.get("flows") if isinstance(data, dict) else data
    if not isinstance(flows, list):
        raise ValueError(f"{path}: expected a list of flows (or a mapping with `flows:`)")
    out = []
    for i, flow in enumerate(flows):
        try:
            out.append(
                DeclaredFlow(
                    (str(flow["from"]["namespace"]), str(flow["from"]["app"])),
                    (str(flow["to"]["namespace"]), str(flow["to"]["app"])),
                    flow["port"],
                    str(flow.get("protocol", "TCP")),
                )
            )
        except (KeyError, TypeError):
            raise ValueError(
                f"{path}: flows[{i}] needs from.namespace, from.app, to.namespace, to.app and port"
            ) from None
    return out


def _has_pod_peers(policy: K8sObject) -> bool:
    for key, peer_key in (("ingress", "from"), ("egress", "to")):
        for rule in as_list(policy.spec.get(key)):
            peers = rule.get(peer_key) if isinstance(rule, dict) else None
            if not peers or any(isinstance(p, dict) and "ipBlock" not in p for p in peers):
                return True
    return False


def inferred_labels(namespace: str, app: str, inventory: Inventory) -> dict[str, str]:
    """Labels of a modelled endpoint beyond its name, from the policy that selects it.

    The real pods of, say, the ingress-nginx controller carry
    `app.kubernetes.io/component: controller`, and its policy selects on it. When
    the policies of the namespace select the app with one matchLabels set, the
    endpoint gets those labels. Several sets (controller vs admission-webhook
    pods) are narrowed to the policies that allow pod peers at all: a modelled
    endpoint stands for pods in pod-to-pod flows, and a policy that only allows
    ipBlock peers cannot be about them. Still ambiguous: no extra labels.
    """
    candidates: list[tuple[dict[str, str], bool]] = []
    for pol in inventory.of_kind("NetworkPolicy"):
        selector = pol.spec.get("podSelector")
        match = selector.get("matchLabels") if isinstance(selector, dict) else None
        if pol.namespace != namespace or not isinstance(match, dict):
            continue
        if any(match.get(key) == app for key in NAME_KEYS):
            labels = {str(k): str(v) for k, v in match.items()}
            if all(labels != c for c, _ in candidates):
                candidates.append((labels, _has_pod_peers(pol)))
    if len(candidates) > 1:
        candidates = [c for c in candidates if c[1]]
    return candidates[0][0] if len(candidates) == 1 else {}


def modelled_from_flows(flows: list[DeclaredFlow], inventory: Inventory) -> list[Endpoint]:
    """Endpoints the flows name that the manifests do not deploy (DNS, ingress controller, ...)."""
    deployed = {e.key for e in workload_endpoints(inventory)}
    ports: dict[tuple[str, str], set[tuple[int, str]]] = {}
    for flow in flows:
        for ns, app in (flow.source, flow.destination):
            if f"{ns}/{app}" not in deployed:
                ports.setdefault((ns, app), set())
        if f"{flow.destination[0]}/{flow.destination[1]}" not in deployed and isinstance(flow.port, int):
            ports[flow.destination].add((flow.port, flow.protocol))
    return [
        modelled_endpoint(ns, app, p, inferred_labels(ns, app, inventory))
        for (ns, app), p in sorted(ports.items())
    ]


def expected_flows(flows: list[DeclaredFlow], table: TruthTable) -> tuple[set[Flow], list[str]]:
    """Declared flows as concrete cells (named ports resolved on the destination)."""
    by_key = {e.key: e for e in table.endpoints}
    out: set[Flow] = set()
    missing: list[str] = []
    for flow in flows:
        src, dst = "/".join(flow.source), "/".join(flow.destination)
        for key in (src, dst):
            if key not in by_key and key not in missing:
                missing.append(key)
        target = by_key.get(dst)
        if target is None:
            continue
        if isinstance(flow.port, int) or str(flow.port).isdigit():
            out.add(Flow(src, dst, int(flow.port), flow.protocol))
        else:
            out |= {Flow(src, dst, n, flow.protocol) for name, n, _ in target.ports if name == flow.port}
    return out, missing


def compare(table: TruthTable, flows: list[DeclaredFlow]) -> Comparison:
    expected, missing = expected_flows(flows, table)
    cells = set(table.cells) | expected
    result = Comparison(correct=0, undeclared_endpoints=missing)
    for cell in cells:
        want, got = cell in expected, cell in table.allowed
        if want == got:
            result.correct += 1
        elif got:
            result.wrong_allowed.append(cell)
        else:
            result.wrong_denied.append(cell)
    return result


@dataclass(frozen=True)
class Verdicts:
    """Which policies decide one cell, per direction: those isolating the pod, and those admitting."""

    egress_isolating: tuple[K8sObject, ...]
    egress_admitting: tuple[K8sObject, ...]
    ingress_isolating: tuple[K8sObject, ...]
    ingress_admitting: tuple[K8sObject, ...]

    def explain(self, flow: Flow) -> str:
        """Why the cell is allowed or denied, naming the policies, e.g. for a finding message."""
        src, dst = flow.source, flow.destination
        if not self.egress_isolating:
            out = f"egress of {src} is not isolated"
        elif self.egress_admitting:
            out = f"egress of {src} admitted by {_names(self.egress_admitting)}"
        else:
            out = f"egress of {src} isolated by {_names(self.egress_isolating)}, none of which admits it"
        if not self.ingress_isolating:
            out += f"; ingress of {dst} is not isolated"
        elif self.ingress_admitting:
            out += f"; ingress of {dst} admitted by {_names(self.ingress_admitting)}"
        else:
            out += f"; ingress of {dst} isolated by {_names(self.ingress_isolating)}, none of which admits it"
        return out


def _names(policies: Iterable[K8sObject]) -> str:
    return ", ".join(f"NetworkPolicy {p.namespace}/{p.name}" for p in policies)


def cell_verdicts(inventory: Inventory, table: TruthTable, flow: Flow) -> Verdicts:
    """The policies that isolate and admit `flow` on each side (same semantics as truth_table)."""
    policies = _Policies(inventory)
    by_key = {e.key: e for e in table.endpoints}
    src, dst = by_key[flow.source], by_key[flow.destination]
    egress = policies.selecting(src, "Egress")
    ingress = policies.selecting(dst, "Ingress")
    return Verdicts(
        tuple(egress),
        tuple(p for p in egress if policies.allows([p], "egress", dst, dst, flow)),
        tuple(ingress),
        tuple(p for p in ingress if policies.allows([p], "ingress", src, dst, flow)),
    )


def default_flows_path(manifests: Path) -> Path:
    """flows.yaml beside the manifests: the declared intent of the NetworkPolicies."""
    return (manifests if manifests.is_dir() else manifests.parent) / "flows.yaml"
