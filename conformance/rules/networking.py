"""Rules on traffic: NetworkPolicies, Services, ServiceMonitors and Ingresses, and what they select."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ..inventory.model import K8sObject
from ..k8s import (
    WORKLOADS,
    LabelIndex,
    SelectorIndex,
    as_dict,
    as_int,
    as_list,
    containers,
    fmt_labels,
    fmt_selector,
    labels_match,
    matching_workloads,
    operator_pods,
    pod_labels,
    pod_selector,
    pod_template,
    policy_types,
    selector_is_empty,
    selector_matches,
    subjects,
    workload_index,
)
from .registry import Context, Severity, Violation, inventory_rule, object_rule

NETPOL = "NetworkPolicy"
DIRECTIONS = ("Ingress", "Egress")


def is_default_deny(np: K8sObject, direction: str) -> bool:
    """Selects every pod, isolates `direction` and allows nothing in it."""
    rules = np.spec.get(direction.lower())
    return selector_is_empty(pod_selector(np)) and direction in policy_types(np) and not rules


@inventory_rule(
    "default-deny-per-namespace",
    family="networking",
    severity=Severity.BLOCKER,
    kinds=(NETPOL, "Namespace", *WORKLOADS),
    description="Every namespace that is defined or runs workloads has a default-deny NetworkPolicy: "
    "podSelector {}, policyTypes Ingress and Egress, and no rules (one policy, or one per direction).",
    remediation="Add a NetworkPolicy `default-deny` to the namespace with podSelector: {} and policyTypes: "
    "[Ingress, Egress] and no ingress/egress rules; allow the needed flows in separate policies.",
)
def default_deny_per_namespace(ctx: Context) -> Iterator[Violation]:
    inventory = ctx.inventory
    named: dict[str, K8sObject] = {ns.name: ns for ns in subjects(inventory, "Namespace")}
    for obj in subjects(inventory, *WORKLOADS):
        named.setdefault(obj.namespace, obj)
    denied: dict[str, set[str]] = defaultdict(set)
    near: dict[str, list[str]] = defaultdict(list)
    for np in inventory.of_kind(NETPOL):
        for direction in DIRECTIONS:
            if is_default_deny(np, direction):
                denied[np.namespace].add(direction)
            elif selector_is_empty(pod_selector(np)) and direction in policy_types(np):
                near[np.namespace].append(
                    f"NetworkPolicy {np.name} selects every pod but has {direction.lower()} rules, so it "
                    "allows rather than denies"
                )
    for namespace, obj in named.items():
        missing = [d for d in DIRECTIONS if d not in denied[namespace]]
        if not missing:
            continue
        hint = f"namespace {namespace} has no default-deny NetworkPolicy for {' and '.join(missing).lower()}"
        if denied[namespace]:
            hint += f" (only {', '.join(sorted(denied[namespace])).lower()} is denied)"
        if near[namespace]:
            hint += f"; {near[namespace][0]}"
        yield Violation(
            obj,
            "metadata.name" if obj.kind == "Namespace" else "metadata.namespace",
            sorted(denied[namespace]),
            list(DIRECTIONS),
            hint,
        )


def _namespace_wide(np: K8sObject) -> bool:
    return selector_is_empty(pod_selector(np))


@inventory_rule(
    "workload-netpol-coverage",
    family="networking",
    severity=Severity.NORMAL,
    kinds=(NETPOL, *WORKLOADS),
    description="Every workload's pods are selected by at least one NetworkPolicy with a specific "
    "podSelector (namespace-wide policies such as default-deny or allow-dns do not count), which states "
    "the flows that workload needs. "
    "Same concern as kube-score pod-networkpolicy, kube-linter non-isolated-pod and Polaris "
    "missingNetworkPolicy.",
    remediation="Add a NetworkPolicy whose podSelector matches the workload's pod labels and allows exactly "
    "its ingress and egress flows.",
)
def workload_netpol_coverage(ctx: Context) -> Iterator[Violation]:
    inventory = ctx.inventory
    policies = list(inventory.of_kind(NETPOL))
    specific = SelectorIndex((np, pod_selector(np)) for np in policies if not _namespace_wide(np))
    wide: dict[str, list[str]] = defaultdict(list)
    for np in policies:
        if _namespace_wide(np):
            wide[np.namespace].append(np.name)
    for obj in subjects(inventory, *WORKLOADS):
        labels = pod_labels(obj)
        if labels and specific.matching(labels, obj.namespace):
            continue
        prefix = pod_template(obj).prefix
        elsewhere = (
            [np for np in specific.matching(labels) if np.namespace != obj.namespace] if labels else []
        )
        near = specific.near(labels, obj.namespace) if labels else []
        if not labels:
            hint = "pods have no labels, so no NetworkPolicy can select them specifically"
        elif elsewhere:
            hint = (
                f"a NetworkPolicy ({elsewhere[0].name}) selects these pod labels, but in namespace "
                f"{elsewhere[0].namespace}, not {obj.namespace}"
            )
        elif near:
            hint = (
                f"the NetworkPolicy {near[0].name} looks meant for these pods, but its podSelector "
                f"{fmt_selector(pod_selector(near[0]))} does not match the pod labels {fmt_labels(labels)}"
            )
        elif wide[obj.namespace]:
            hint = (
                f"only namespace-wide policies ({', '.join(wide[obj.namespace])}) select these pods: no "
                "policy states the flows this workload needs"
            )
        else:
            hint = f"no NetworkPolicy in namespace {obj.namespace} selects these pods"
        yield Violation(
            obj,
            f"{prefix}metadata.labels",
            fmt_labels(labels),
            "selected by a workload-specific NetworkPolicy",
            hint,
        )


@inventory_rule(
    "netpol-selects-pods",
    family="networking",
    severity=Severity.NORMAL,
    kinds=(NETPOL, *WORKLOADS),
    description="A NetworkPolicy with a specific podSelector selects the pods of some workload in its "
    "namespace (a policy that selects nothing protects nothing, and usually means a label typo). "
    "Namespace-wide policies (podSelector {}) apply to whatever runs there and always pass, and so does a "
    "policy in a namespace where the input defines no workload (its pods come from another chart or an "
    "operator). Pods an operator creates from a custom resource in the input (policy `pod_operators`; the "
    "baseline declares common operators) count as selected. Same concern as kube-score "
    "networkpolicy-targets-pod and kube-linter dangling-networkpolicy.",
    remediation="Make spec.podSelector match the pod labels of the workload it is meant for; pods an "
    "operator creates can be declared in the policy file's `pod_operators` (by custom kind) or "
    "`provided` (as stand-in objects).",
)
def netpol_selects_pods(ctx: Context) -> Iterator[Violation]:
    index = workload_index(ctx.inventory)
    made = operator_pods(ctx.inventory, ctx.policy)
    # Namespaces whose pods the input defines: elsewhere a selector cannot be judged. (An operator's
    # custom resource alone does not make a namespace judged: other charts may run pods there.)
    defined = {obj.namespace for obj in subjects(ctx.inventory, *WORKLOADS)}
    for np in subjects(ctx.inventory, NETPOL):
        selector = pod_selector(np)
        if np.namespace not in defined or _namespace_wide(np):
            continue
        if any(matching_workloads(pods, np.namespace, selector) for pods in (index, made)):
            continue
        hint = f"no workload in namespace {np.namespace} has pods matching {fmt_selector(selector)}"
        first = next(iter(as_dict(as_dict(selector).get("matchLabels")).items()), None)
        near = index.candidates(np.namespace, dict([first])) if first is not None else []
        if first is not None and near:
            obj, labels = near[0]
            hint += (
                f" (the {obj.kind} {obj.name} has {first[0]}={first[1]}, but its pod labels "
                f"{fmt_labels(labels)} do not match)"
            )
        yield Violation(np, "spec.podSelector", fmt_selector(selector), "the pod labels of a workload", hint)


DNS_PORT_NAMES = frozenset({"dns", "dns-tcp"})  # CoreDNS's port names


def _rule_allows(rule: Any, port: int, protocol: str) -> bool:
    """Does one egress rule allow `port`/`protocol` (to some peer)?"""
    if not isinstance(rule, dict):
        return False
    ports = rule.get("ports")
    if not ports:
        return True  # no ports: every port
    for item in as_list(ports):
        entry = as_dict(item)
        if entry.get("protocol", "TCP") != protocol:
            continue
        number, end = entry.get("port"), as_int(entry.get("endPort"))
        if number is None:
            return True  # a protocol without a port: every port of it
        if as_int(number) == port or (
            as_int(number) is not None and end is not None and number <= port <= end
        ):
            return True
        if isinstance(number, str) and number in DNS_PORT_NAMES:
            return True
    return False


def _dns_protocols(np: K8sObject) -> set[str]:
    """Protocols on which a policy's egress rules allow port 53."""
    rules = as_list(np.spec.get("egress"))
    return {p for p in ("UDP", "TCP") if any(_rule_allows(r, 53, p) for r in rules)}


@inventory_rule(
    "dns-egress-allowed",
    family="networking",
    severity=Severity.BLOCKER,
    kinds=(NETPOL, *WORKLOADS),
    description="A workload whose egress is isolated by a NetworkPolicy (e.g. the namespace default-deny) is "
    "allowed DNS: some policy selecting it allows egress to port 53 over UDP and TCP.",
    remediation="Add a NetworkPolicy (podSelector {} is fine) allowing egress to kube-dns on port 53, "
    "protocols UDP and TCP.",
)
def dns_egress_allowed(ctx: Context) -> Iterator[Violation]:
    inventory = ctx.inventory
    # Namespace-wide policies (default-deny, allow-dns) apply to every pod of their namespace:
    # fold them once per namespace instead of matching them against every workload.
    wide_isolating: dict[str, K8sObject] = {}
    wide_allowed: dict[str, set[str]] = defaultdict(set)
    specific: list[K8sObject] = []
    for np in inventory.of_kind(NETPOL):
        if not _namespace_wide(np):
            specific.append(np)
        elif "Egress" in policy_types(np):
            wide_isolating.setdefault(np.namespace, np)
            wide_allowed[np.namespace].update(_dns_protocols(np))
    index = SelectorIndex((np, pod_selector(np)) for np in specific)
    for obj in subjects(inventory, *WORKLOADS):
        labels = pod_labels(obj)
        own = [np for np in index.matching(labels, obj.namespace) if "Egress" in policy_types(np)]
        isolating = [wide_isolating[obj.namespace]] if obj.namespace in wide_isolating else []
        isolating += own
        if not isolating:
            continue
        found = set(wide_allowed.get(obj.namespace, set())).union(*(_dns_protocols(np) for np in own))
        allowed = [p for p in ("UDP", "TCP") if p in found]
        if len(allowed) == 2:
            continue
        missing = [f"53/{p}" for p in ("UDP", "TCP") if p not in allowed]
        if allowed:
            hint = f"egress allows 53/{allowed[0]} but not {', '.join(missing)}"
            if "TCP" not in allowed:
                hint += " (truncated DNS answers retry over TCP)"
        else:
            hint = (
                f"egress is isolated by NetworkPolicy {isolating[0].name} and no policy selecting the pods "
                "allows DNS"
            )
            # Only for failing workloads: is there a DNS policy that just misses these pods?
            near = index.near(labels, obj.namespace)  # specific policies only: wide ones select everything
            dns_near = [
                np for np in near if any(_rule_allows(r, 53, "UDP") for r in as_list(np.spec.get("egress")))
            ]
            if dns_near:
                hint += (
                    f" (NetworkPolicy {dns_near[0].name} allows DNS but its podSelector misses these pods)"
                )
        prefix = pod_template(obj).prefix
        yield Violation(
            obj, f"{prefix}metadata.labels", [f"53/{p}" for p in allowed], ["53/UDP", "53/TCP"], hint
        )


def _container_ports(obj: K8sObject) -> tuple[set[int], set[str], list[str]]:
    """(port numbers, port names, `name=number` descriptions) a workload's containers declare."""
    numbers: set[int] = set()
    names: set[str] = set()
    described: list[str] = []
    for container, _ in containers(obj, include_init=False):
        for item in as_list(container.get("ports")):
            port = as_dict(item)
            number, name = as_int(port.get("containerPort")), port.get("name")
            if number is not None:
                numbers.add(number)
            if isinstance(name, str):
                names.add(name)
            described.append(f"{name}={number}" if isinstance(name, str) else str(number))
    return numbers, names, described


def _target_port(port: dict[str, Any]) -> Any:
    target = port.get("targetPort", port.get("port"))
    # A quoted number is still a number to the endpoints controller's users: compare it as one.
    return int(target) if isinstance(target, str) and target.isdigit() else target


@inventory_rule(
    "service-selector-matches",
    family="networking",
    severity=Severity.CRITICAL,
    kinds=("Service", *WORKLOADS),
    description="A Service's selector matches the pod labels of a workload (of any kind with a pod "
    "template, Rollouts included) in its namespace, and every named targetPort is a port name of those "
    "pods (a numeric targetPort needs no declared containerPort). Pods an operator creates from a custom "
    "resource in the input (policy `pod_operators`; the baseline declares common operators) count as "
    "matched; their ports are the operator's, so targetPorts are not checked on them. Same "
    "concern as kube-score service-targets-pod and kube-linter dangling-service.",
    remediation="Make spec.selector equal to the workload's pod selector labels, and a named targetPort a "
    "port name the containers declare (e.g. `http`); pods an operator creates can be declared in the "
    "policy file's `pod_operators` (by custom kind) or `provided` (as stand-in objects).",
)
def service_selector_matches(ctx: Context) -> Iterator[Violation]:
    inventory = ctx.inventory
    index = workload_index(inventory)
    made = operator_pods(inventory, ctx.policy)
    ports: dict[int, tuple[set[int], set[str], list[str]]] = {}  # id(workload) -> its ports, computed once
    for svc in subjects(inventory, "Service"):
        selector = svc.spec.get("selector")
        if svc.spec.get("type") == "ExternalName" or selector is None or selector == {}:
            continue  # no selector: endpoints are managed by hand
        if not isinstance(selector, dict):
            yield Violation(
                svc, "spec.selector", selector, "a map of labels", "selector is not a map of labels"
            )
            continue
        matched = [
            o for o, labels in index.candidates(svc.namespace, selector) if labels_match(selector, labels)
        ]
        if not matched and matching_workloads(made, svc.namespace, selector, plain=True):
            continue  # an operator's pods: the operator, not the input, declares their ports
        if not matched:
            yield Violation(
                svc,
                "spec.selector",
                fmt_labels(selector),
                f"the pod labels of a workload in namespace {svc.namespace}",
                _selector_near_miss(index, svc, selector),
            )
            continue
        yield from _check_target_ports(svc, matched, ports)


def _selector_near_miss(index: LabelIndex, svc: K8sObject, selector: dict[str, Any]) -> str:
    for namespace in index.namespaces():
        if namespace == svc.namespace:
            continue
        found = [o for o, labels in index.candidates(namespace, selector) if labels_match(selector, labels)]
        if found:
            return (
                f"the {found[0].kind} {found[0].name} has these pod labels, but in namespace {namespace}, "
                f"not {svc.namespace}"
            )
    for key, value in selector.items():
        for obj, labels in index.candidates(svc.namespace, {key: value}):
            wrong = sorted((k for k, v in selector.items() if labels.get(k) != v), key=str)
            return (
                f"the {obj.kind} {obj.name} shares {key}={value} but its pod labels {fmt_labels(labels)} "
                f"differ on {', '.join(map(str, wrong))}"
            )
    return f"no workload in namespace {svc.namespace} has pod labels {fmt_labels(selector)}"


def _check_target_ports(
    svc: K8sObject, matched: list[K8sObject], cache: dict[int, tuple[set[int], set[str], list[str]]]
) -> Iterator[Violation]:
    """Named targetPorts must resolve on every matched workload's pods."""
    for i, item in enumerate(as_list(svc.spec.get("ports"))):
        port = as_dict(item)
        target = _target_port(port)
        label = port.get("name") or i
        for obj in matched:
            if id(obj) not in cache:
                cache[id(obj)] = _container_ports(obj)
            _, names, described = cache[id(obj)]
            # A number is forwarded to as is: containerPort declarations are informational, so only
            # a port name, which must resolve on the pods, can miss.
            if not isinstance(target, str) or target in names:
                continue
            declared = ", ".join(described) or "no ports"
            yield Violation(
                svc,
                f"spec.ports[{label}].targetPort",
                target,
                f"a port name of {obj.kind} {obj.name} ({declared})",
                f"targetPort {target!r} is not a port name of {obj.kind} {obj.name}, which declares "
                f"{declared}, so the Service has no endpoints on its pods",
            )
            break


def monitor_namespaces(sm: K8sObject, all_namespaces: list[str]) -> list[str]:
    selector = as_dict(sm.spec.get("namespaceSelector"))
    if selector.get("any") is True:
        return all_namespaces
    names = [n for n in as_list(selector.get("matchNames")) if isinstance(n, str)]
    return names or [sm.namespace]


def monitored_services(sm: K8sObject, services: LabelIndex) -> list[K8sObject]:
    selector = sm.spec.get("selector")
    pairs = selector.get("matchLabels") if isinstance(selector, dict) else None
    return [
        svc
        for namespace in monitor_namespaces(sm, services.namespaces())
        for svc, labels in services.candidates(namespace, pairs)
        if selector_matches(selector, labels)
    ]


def _service_port_names(svc: K8sObject) -> list[str]:
    return [str(as_dict(p).get("name")) for p in as_list(svc.spec.get("ports")) if as_dict(p).get("name")]


@inventory_rule(
    "servicemonitor-matches",
    family="networking",
    severity=Severity.CRITICAL,
    kinds=("ServiceMonitor", "Service"),
    description="A ServiceMonitor's selector (within its namespaceSelector, default: its own namespace) "
    "matches at least one Service, and every endpoint port name exists on a matched Service. "
    "Same concern as kube-linter dangling-servicemonitor.",
    remediation="Make spec.selector.matchLabels equal to the Service's labels, add the Service's namespace "
    "to spec.namespaceSelector.matchNames, and name the Service port (e.g. `metrics`) in endpoints[].port.",
)
def servicemonitor_matches(ctx: Context) -> Iterator[Violation]:
    services = LabelIndex((svc, svc.labels) for svc in ctx.inventory.of_kind("Service"))
    for sm in subjects(ctx.inventory, "ServiceMonitor"):
        matched = monitored_services(sm, services)
        selector = sm.spec.get("selector")
        if not matched:
            watched = monitor_namespaces(sm, services.namespaces())
            pairs = selector.get("matchLabels") if isinstance(selector, dict) else None
            elsewhere = [
                svc
                for namespace in services.namespaces()
                if namespace not in watched
                for svc, labels in services.candidates(namespace, pairs)
                if selector_matches(selector, labels)
            ]
            if elsewhere:
                hint = (
                    f"the Service {elsewhere[0].name} matches the selector, but in namespace "
                    f"{elsewhere[0].namespace}, outside the namespaces the ServiceMonitor watches "
                    f"({', '.join(watched)})"
                )
            else:
                hint = (
                    f"no Service in namespace(s) {', '.join(watched)} has labels matching "
                    f"{fmt_selector(selector)}"
                )
            yield Violation(sm, "spec.selector", fmt_selector(selector), "the labels of a Service", hint)
            continue
        names = {name for svc in matched for name in _service_port_names(svc)}
        for i, endpoint in enumerate(as_list(sm.spec.get("endpoints"))):
            port = as_dict(endpoint).get("port")
            if port is None or (isinstance(port, str) and port in names):
                continue
            yield Violation(
                sm,
                f"spec.endpoints[{i}].port",
                port,
                f"one of the matched Services' port names ({', '.join(sorted(names)) or 'none'})",
                f"endpoint port {port!r} is not a port name of Service {matched[0].name}",
            )


def _backends(ingress: K8sObject) -> Iterator[tuple[dict[str, Any], str]]:
    default = ingress.spec.get("defaultBackend")
    if default is not None:
        yield as_dict(default), "spec.defaultBackend"
    for i, rule in enumerate(as_list(ingress.spec.get("rules"))):
        for j, path in enumerate(as_list(as_dict(as_dict(rule).get("http")).get("paths"))):
            yield as_dict(as_dict(path).get("backend")), f"spec.rules[{i}].http.paths[{j}].backend"


@object_rule(
    "ingress-backend-exists",
    family="networking",
    severity=Severity.CRITICAL,
    kinds=("Ingress",),
    description="Every Ingress backend names a Service in the Ingress's namespace and one of that Service's "
    "ports (by number or name). "
    "Same concern as kube-score ingress-targets-service and kube-linter dangling-ingress.",
    remediation="Point backend.service.name at an existing Service in the same namespace and "
    "backend.service.port at its `port` number or port name (not the container port).",
)
def ingress_backend_exists(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for backend, field in _backends(obj):
        if "resource" in backend:
            continue
        if "serviceName" in backend:
            yield Violation(
                obj,
                f"{field}.serviceName",
                backend.get("serviceName"),
                "backend.service.name / backend.service.port",
                "backend uses the removed extensions/v1beta1 fields serviceName/servicePort",
            )
            continue
        service = as_dict(backend.get("service"))
        name = service.get("name")
        svc = ctx.inventory.get("Service", obj.namespace, name) if isinstance(name, str) else None
        if svc is None:
            yield Violation(
                obj,
                f"{field}.service.name",
                name,
                f"a Service in namespace {obj.namespace}",
                f"no Service named {name} exists in namespace {obj.namespace}",
            )
            continue
        port = as_dict(service.get("port"))
        ports = [as_dict(p) for p in as_list(svc.spec.get("ports"))]
        number, port_name = port.get("number"), port.get("name")
        if number is not None and any(as_int(p.get("port")) == number for p in ports):
            continue
        if port_name is not None and any(p.get("name") == port_name for p in ports):
            continue
        wanted = number if number is not None else port_name
        exposed = ", ".join(f"{p.get('name') or '-'}={p.get('port')}" for p in ports) or "no ports"
        hint = f"the Service {name} has no port {wanted!r} (it exposes {exposed})"
        if number is not None and any(_target_port(p) == number for p in ports):
            hint += ": Ingress backends name the Service port, not the container port"
        yield Violation(obj, f"{field}.service.port", wanted, f"a port of Service {name} ({exposed})", hint)


def _tls_covers(pattern: Any, host: str) -> bool:
    if not isinstance(pattern, str):
        return False
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


@object_rule(
    "ingress-tls",
    family="networking",
    severity=Severity.CRITICAL,
    kinds=("Ingress",),
    description="An Ingress has spec.tls, every host it serves is listed in a tls entry (wildcards cover "
    "one label), and every tls entry names its certificate Secret. Same concern as Polaris "
    "tlsSettingsMissing.",
    remediation="Add the host to spec.tls[].hosts with a secretName (cert-manager issues it from the "
    "cluster-issuer annotation).",
)
def ingress_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    tls = [as_dict(t) for t in as_list(obj.spec.get("tls"))]
    if not tls:
        yield Violation(
            obj,
            "spec.tls",
            obj.spec.get("tls"),
            "a tls entry for the Ingress's hosts",
            "the Ingress has no spec.tls, so it serves plain HTTP",
        )
        return
    patterns = [h for t in tls for h in as_list(t.get("hosts"))]
    for i, rule in enumerate(as_list(obj.spec.get("rules"))):
        host = as_dict(rule).get("host")
        if not isinstance(host, str) or any(_tls_covers(p, host) for p in patterns):
            continue
        hint = f"host {host} is served without TLS"
        listed = ", ".join(map(str, patterns))
        hint += f": spec.tls covers only {listed}" if patterns else ": its tls entries list no hosts"
        yield Violation(obj, f"spec.rules[{i}].host", host, "listed in spec.tls[].hosts", hint)
    for i, entry in enumerate(tls):
        if not isinstance(entry.get("secretName"), str) or not entry.get("secretName"):
            yield Violation(
                obj,
                f"spec.tls[{i}].secretName",
                entry.get("secretName"),
                "the certificate Secret's name",
                "tls entry names no secretName, so the controller serves its default certificate",
            )


@object_rule(
    "ingress-host-set",
    family="networking",
    severity=Severity.NORMAL,
    kinds=("Ingress",),
    description="Every Ingress rule names a host and the Ingress has no defaultBackend: a host-less rule "
    "or default backend answers for every hostname pointed at the controller, including ones meant for "
    "another app, and no certificate can cover it.",
    remediation="Set spec.rules[].host to the app's hostname (and list it in spec.tls); drop "
    "spec.defaultBackend.",
)
def ingress_host_set(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.spec.get("defaultBackend") is not None:
        yield Violation(
            obj,
            "spec.defaultBackend",
            "set",
            "rules with a host",
            "defaultBackend serves every request that no rule's host matches",
        )
    for i, rule in enumerate(as_list(obj.spec.get("rules"))):
        host = as_dict(rule).get("host")
        if not isinstance(host, str) or not host:
            hint = f"rule {i} has no host, so it matches every host"
            yield Violation(obj, f"spec.rules[{i}].host", host, "a hostname", hint)


@object_rule(
    "netpol-port-null",
    family="networking",
    severity=Severity.CRITICAL,
    kinds=(NETPOL,),
    description="No NetworkPolicy port entry spells its port as null (`port: null`, `port: ~`, `port:`): "
    "the API server accepts it as unset, so the entry admits every port of its protocol. Critical: a "
    "rule written for one port silently opens all of them to its peers (a database's admin port, a "
    "debug listener), and nothing fails until someone probes; not a blocker, as the peers stay "
    "restricted by the rule's from/to.",
    remediation="Set the port meant (e.g. `port: 8080` or a named port); to allow every port of the "
    "protocol on purpose, leave `port` out of the entry (or the `ports` list out of the rule).",
)
def netpol_port_null(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(as_list(obj.spec.get(direction))):
            for j, entry in enumerate(as_list(as_dict(rule).get("ports"))):
                if isinstance(entry, dict) and "port" in entry and entry["port"] is None:
                    protocol = entry.get("protocol") or "TCP"
                    yield Violation(
                        obj,
                        f"spec.{direction}[{i}].ports[{j}].port",
                        None,
                        "a port number or name, or no `port` key",
                        f"port is null, which the API server reads as unset: this {direction} rule "
                        f"admits every {protocol} port, not one",
                    )
