"""Mutation tests: a clean platform slice fires no rule; each known defect fires the right one.

fixtures/rules/platform-slice.yaml is a small but complete slice of the platform
(gateway + one backend with HPA, PDB, Service, NetworkPolicies, ServiceMonitor,
quota, priority classes, SLO alerts). Hypothesis picks a mutation from MUTATIONS,
the service and container it applies to and the values it uses; the rule the
mutation names must then fire on the object the mutation names.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.fixtures import FIXTURE_TODAY, FIXTURES
from conformance.inventory import Inventory, K8sObject, Problem, Source, load_bytes
from conformance.policy import Policy, load_policy
from conformance.rules import Context, evaluate
from conformance.tools import REPO

SLICE = FIXTURES / "platform-slice.yaml"
NAMESPACE = "tartware"
SERVICES = ("api-gateway", "guests")
Body = dict[str, Any]


def _load_slice() -> list[Body]:
    items = load_bytes(SLICE.read_bytes(), str(SLICE.relative_to(REPO)))
    problems = [i for i in items if isinstance(i, Problem)]
    assert not problems, f"platform slice does not load: {problems[0]}"
    return [i.body for i in items if isinstance(i, K8sObject)]


BODIES = _load_slice()
POLICY = load_policy(REPO / "manifests" / "policy.yaml")


def context(bodies: list[Body], policy: Policy = POLICY, today: dt.date = FIXTURE_TODAY) -> Context:
    objects = [K8sObject(b, Source(str(SLICE), i)) for i, b in enumerate(bodies)]
    return Context(Inventory("mutated slice", objects), policy, "prod", today)


def find(bodies: list[Body], kind: str, name: str) -> Body:
    for body in bodies:
        if body["kind"] == kind and body["metadata"]["name"] == name:
            return body
    raise LookupError(f"{kind}/{name} is not in the platform slice")


def remove(bodies: list[Body], kind: str, name: str) -> None:
    bodies.remove(find(bodies, kind, name))


def ref(kind: str, name: str, namespace: str = NAMESPACE) -> str:
    return "/".join(p for p in (kind, namespace, name) if p)


def pod_spec(bodies: list[Body], service: str) -> Body:
    spec: Body = find(bodies, "Deployment", service)["spec"]["template"]["spec"]
    return spec


def pick_container(data: st.DataObject, bodies: list[Body], service: str, init: bool = True) -> Body:
    """A container of the service's Deployment (init containers too, unless `init` is False)."""
    spec = pod_spec(bodies, service)
    choices = list(spec["containers"]) + (list(spec.get("initContainers", [])) if init else [])
    container: Body = data.draw(st.sampled_from(choices), label="container")
    return container


def security(container: Body) -> Body:
    context_: Body = container.setdefault("securityContext", {})
    return context_


# A mutation edits the bodies for one service and returns the ref the rule must name.
Mutate = Callable[[list[Body], str, st.DataObject], str]


@dataclass(frozen=True)
class Mutation:
    name: str
    rule: str
    apply: Mutate


def _drop_pdb(b: list[Body], svc: str, data: st.DataObject) -> str:
    remove(b, "PodDisruptionBudget", svc)
    return ref("Deployment", svc)


def _max_below_min(b: list[Body], svc: str, data: st.DataObject) -> str:
    hpa = find(b, "HorizontalPodAutoscaler", svc)
    hpa["spec"]["maxReplicas"] = hpa["spec"]["minReplicas"] - data.draw(st.integers(1, 5), label="below by")
    return ref("HorizontalPodAutoscaler", svc)


def _latest_image(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc)
    container["image"] = container["image"].rsplit(":", 1)[0] + data.draw(st.sampled_from([":latest", ""]))
    return ref("Deployment", svc)


def _remove_resources(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc)
    section = data.draw(st.sampled_from(["resources", "requests", "limits"]), label="section")
    if section == "resources":
        del container["resources"]
    else:
        del container["resources"][section][data.draw(st.sampled_from(["cpu", "memory"]), label="resource")]
    return ref("Deployment", svc)


def _break_service_selector(b: list[Body], svc: str, data: st.DataObject) -> str:
    selector = find(b, "Service", svc)["spec"]["selector"]
    key = data.draw(st.sampled_from(sorted(selector)), label="selector key")
    selector[key] = selector[key] + data.draw(st.sampled_from(["-v2", "x", "-canary"]), label="suffix")
    return ref("Service", svc)


def _break_target_port(b: list[Body], svc: str, data: st.DataObject) -> str:
    # Only a name can miss: a numeric targetPort is forwarded to whether or not it is declared.
    port = data.draw(st.sampled_from(find(b, "Service", svc)["spec"]["ports"]), label="service port")
    port["targetPort"] = data.draw(st.sampled_from(["web", "metric", "HTTP"]), label="target port")
    return ref("Service", svc)


def _probe_elsewhere(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc, init=False)
    probe = container[data.draw(st.sampled_from(["livenessProbe", "readinessProbe"]), label="probe")]
    # Only a name can miss: the kubelet probes a number as written, declared or not.
    probe["httpGet"]["port"] = data.draw(st.sampled_from(["health", "admin", "HTTP"]), label="probe port")
    return ref("Deployment", svc)


def _same_probe_twice(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc, init=False)
    container["readinessProbe"] = copy.deepcopy(container["livenessProbe"])
    container["readinessProbe"]["periodSeconds"] = data.draw(st.integers(1, 30), label="period")
    return ref("Deployment", svc)


def _no_ephemeral_storage(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc)
    section = data.draw(st.sampled_from(["requests", "limits"]), label="section")
    del container["resources"][section]["ephemeral-storage"]
    return ref("Deployment", svc)


def _duplicate_env(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc, init=False)
    env = container.setdefault("env", [])
    for value in ("info", data.draw(st.sampled_from(["debug", "info"]), label="second value")):
        env.append({"name": "LOG_FORMAT", "value": value})
    return ref("Deployment", svc)


def _token_by_default(b: list[Body], svc: str, data: st.DataObject) -> str:
    del pod_spec(b, svc)["automountServiceAccountToken"]
    return ref("Deployment", svc)


def _hpa_down_to_one(b: list[Body], svc: str, data: st.DataObject) -> str:
    # Under another name the policy file's bounds no longer apply, so 2 replicas is the floor.
    hpa = find(b, "HorizontalPodAutoscaler", svc)
    hpa["metadata"]["name"] = hpa["spec"]["scaleTargetRef"]["name"] = f"{svc}-next"
    find(b, "Deployment", svc)["metadata"]["name"] = f"{svc}-next"
    hpa["spec"]["minReplicas"] = data.draw(st.sampled_from([1, None]), label="minReplicas")
    if hpa["spec"]["minReplicas"] is None:
        del hpa["spec"]["minReplicas"]
    return ref("HorizontalPodAutoscaler", f"{svc}-next")


def _drop_the_hpa(b: list[Body], svc: str, data: st.DataObject) -> str:
    remove(b, "HorizontalPodAutoscaler", svc)
    return ref("Deployment", svc)


def _netpol_typo(b: list[Body], svc: str, data: st.DataObject) -> str:
    policy = find(b, "NetworkPolicy", svc)
    labels = policy["spec"]["podSelector"]["matchLabels"]
    key = data.draw(st.sampled_from(sorted(labels)), label="selector key")
    labels[key] = labels[key] + "-typo"
    return ref("NetworkPolicy", svc)


def _ingress_catch_all(b: list[Body], svc: str, data: st.DataObject) -> str:
    ingress = next(body for body in b if body["kind"] == "Ingress")
    del ingress["spec"]["rules"][0]["host"]
    return ref("Ingress", ingress["metadata"]["name"])


def _drop_probe(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc, init=False)
    del container[data.draw(st.sampled_from(["livenessProbe", "readinessProbe"]), label="probe")]
    return ref("Deployment", svc)


def _privileged(b: list[Body], svc: str, data: st.DataObject) -> str:
    security(pick_container(data, b, svc))["privileged"] = True
    return ref("Deployment", svc)


def _host_namespace(b: list[Body], svc: str, data: st.DataObject) -> str:
    pod_spec(b, svc)[data.draw(st.sampled_from(["hostNetwork", "hostPID", "hostIPC"]), label="host ns")] = (
        True
    )
    return ref("Deployment", svc)


def _host_path(b: list[Body], svc: str, data: st.DataObject) -> str:
    pod_spec(b, svc).setdefault("volumes", []).append({"name": "host", "hostPath": {"path": "/var/run"}})
    return ref("Deployment", svc)


def _run_as_root(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc)
    if data.draw(st.booleans(), label="via uid 0"):
        security(container)["runAsUser"] = 0
    else:
        security(container)["runAsNonRoot"] = False
    return ref("Deployment", svc)


def _allow_escalation(b: list[Body], svc: str, data: st.DataObject) -> str:
    container = pick_container(data, b, svc)
    if data.draw(st.booleans(), label="delete"):
        del security(container)["allowPrivilegeEscalation"]
    else:
        security(container)["allowPrivilegeEscalation"] = True
    return ref("Deployment", svc)


def _add_capability(b: list[Body], svc: str, data: st.DataObject) -> str:
    cap = data.draw(st.sampled_from(["SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE"]), label="capability")
    security(pick_container(data, b, svc))["capabilities"]["add"] = [cap]
    return ref("Deployment", svc)


def _writable_root(b: list[Body], svc: str, data: st.DataObject) -> str:
    security(pick_container(data, b, svc))["readOnlyRootFilesystem"] = False
    return ref("Deployment", svc)


def _unconfined(b: list[Body], svc: str, data: st.DataObject) -> str:
    security(pick_container(data, b, svc))["seccompProfile"] = {"type": "Unconfined"}
    return ref("Deployment", svc)


def _written_down(text: str) -> bool:
    """Not one of the values the rule documents as no credential: a placeholder filled in at run
    time ($X, ${X}, $(X)), a short dashed id such as `etcd-cluster-k8s` (what API_TOKEN may hold),
    an image reference (a CI run drew 'a00000-0' for API_TOKEN: an id by the rule's own terms)."""
    from conformance.credentials import _IMAGE, PLACEHOLDER, _short_id

    literal = PLACEHOLDER.sub("", text).strip()
    return len(literal) >= 8 and not _short_id(literal) and not _IMAGE.fullmatch(literal)


# Printable secrets without spaces (so "the message does not contain it" is a meaningful check).
SECRETS = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=24).filter(
    _written_down
)


def _literal_password(b: list[Body], svc: str, data: st.DataObject) -> str:
    name = data.draw(
        st.sampled_from(["DB_PASSWORD", "API_TOKEN", "STRIPE_API_KEY", "REDIS_SECRET"]), label="env"
    )
    env = pick_container(data, b, svc).setdefault("env", [])
    env.append({"name": name, "value": data.draw(SECRETS, label="secret")})
    return ref("Deployment", svc)


def _configmap_credential(b: list[Body], svc: str, data: st.DataObject) -> str:
    secret = data.draw(SECRETS.filter(lambda s: "@" not in s and "/" not in s), label="secret")
    value = data.draw(st.sampled_from([f"postgres://tartware:{secret}@db:5432/app", secret]), label="value")
    key = "DATABASE_URL" if value.startswith("postgres") else "DB_PASSWORD"
    find(b, "ConfigMap", "tartware-config")["data"][key] = value
    return ref("ConfigMap", "tartware-config")


def _unknown_priority_class(b: list[Body], svc: str, data: st.DataObject) -> str:
    pod_spec(b, svc)["priorityClassName"] = data.draw(st.sampled_from(["tartware-crit", "Tartware-Standard"]))
    return ref("Deployment", svc)


def _drop_default_deny(b: list[Body], svc: str, data: st.DataObject) -> str:
    policy = find(b, "NetworkPolicy", "default-deny")
    if data.draw(st.booleans(), label="delete"):
        b.remove(policy)
    else:  # egress only: ingress is no longer denied
        policy["spec"]["policyTypes"] = ["Egress"]
    return ref("Namespace", NAMESPACE, "")


def _drop_dns(b: list[Body], svc: str, data: st.DataObject) -> str:
    policy = find(b, "NetworkPolicy", "allow-dns")
    if data.draw(st.booleans(), label="delete"):
        b.remove(policy)
    else:
        protocol = data.draw(st.sampled_from(["UDP", "TCP"]), label="protocol left")
        policy["spec"]["egress"][0]["ports"] = [{"protocol": protocol, "port": 53}]
    return ref("Deployment", svc)


def _drop_workload_netpol(b: list[Body], svc: str, data: st.DataObject) -> str:
    remove(b, "NetworkPolicy", svc)
    return ref("Deployment", svc)


def _hpa_target_typo(b: list[Body], svc: str, data: st.DataObject) -> str:
    target = find(b, "HorizontalPodAutoscaler", svc)["spec"]["scaleTargetRef"]
    if data.draw(st.booleans(), label="kind"):
        target["kind"] = "StatefulSet"
    else:
        target["name"] = svc + "-v2"
    return ref("HorizontalPodAutoscaler", svc)


def _behaviour_drift(b: list[Body], svc: str, data: st.DataObject) -> str:
    behavior = find(b, "HorizontalPodAutoscaler", svc)["spec"]["behavior"]
    direction = data.draw(st.sampled_from(["scaleUp", "scaleDown"]), label="direction")
    field = data.draw(st.sampled_from(["value", "periodSeconds"]), label="field")
    behavior[direction]["policies"][0][field] += data.draw(st.integers(1, 50), label="by")
    return ref("HorizontalPodAutoscaler", svc)


def _drop_metric(b: list[Body], svc: str, data: st.DataObject) -> str:
    metrics = find(b, "HorizontalPodAutoscaler", svc)["spec"]["metrics"]
    metrics.pop(data.draw(st.integers(0, len(metrics) - 1), label="metric index"))
    return ref("HorizontalPodAutoscaler", svc)


def _rps_target_drift(b: list[Body], svc: str, data: st.DataObject) -> str:
    metric = find(b, "HorizontalPodAutoscaler", svc)["spec"]["metrics"][2]["pods"]
    metric["target"]["averageValue"] = str(
        data.draw(st.integers(1, 1000).filter(lambda v: v not in (200, 250)))
    )
    return ref("HorizontalPodAutoscaler", svc)


def _gateway_capacity(b: list[Body], svc: str, data: st.DataObject) -> str:
    # 79 × 250 rps < 20000: below the prod load target (hpa-bounds fires too, as it should).
    find(b, "HorizontalPodAutoscaler", "api-gateway")["spec"]["maxReplicas"] = data.draw(st.integers(10, 79))
    return ref("HorizontalPodAutoscaler", "api-gateway")


def _pin_replicas(b: list[Body], svc: str, data: st.DataObject) -> str:
    floor = find(b, "HorizontalPodAutoscaler", svc)["spec"]["minReplicas"]
    find(b, "Deployment", svc)["spec"]["replicas"] = data.draw(
        st.integers(0, 200).filter(lambda n: n != floor)
    )
    return ref("Deployment", svc)


def _block_eviction(b: list[Body], svc: str, data: st.DataObject) -> str:
    spec = find(b, "PodDisruptionBudget", svc)["spec"]
    spec.pop("maxUnavailable", None)
    spec.pop("minAvailable", None)
    choice = data.draw(st.sampled_from(["min=hpa-min", "100%", "maxUnavailable=0"]), label="budget")
    if choice == "min=hpa-min":
        spec["minAvailable"] = find(b, "HorizontalPodAutoscaler", svc)["spec"]["minReplicas"]
    elif choice == "100%":
        spec["minAvailable"] = "100%"
    else:
        spec["maxUnavailable"] = 0
    return ref("PodDisruptionBudget", svc)


def _shrink_quota(b: list[Body], svc: str, data: st.DataObject) -> str:
    hard = find(b, "ResourceQuota", "tartware-quota")["spec"]["hard"]
    key = data.draw(st.sampled_from(sorted(hard)), label="quota key")
    hard[key] = "1"
    return ref("ResourceQuota", "tartware-quota")


def _slo_drift(b: list[Body], svc: str, data: st.DataObject) -> str:
    rules = find(b, "PrometheusRule", "tartware-slo")["spec"]["groups"][0]["rules"]
    rule = data.draw(st.sampled_from(rules), label="alert")
    head = rule["expr"].rsplit(">", 1)[0]
    rule["expr"] = f"{head}> {data.draw(st.sampled_from(['500', '0.75', '5', '1000', '30000', '0.1']))}"
    return ref("PrometheusRule", "tartware-slo")


def _drop_slo_alert(b: list[Body], svc: str, data: st.DataObject) -> str:
    rules = find(b, "PrometheusRule", "tartware-slo")["spec"]["groups"][0]["rules"]
    rules.pop(data.draw(st.integers(0, len(rules) - 1), label="alert index"))
    return ref("PrometheusRule", "tartware-slo")


def _break_monitor_port(b: list[Body], svc: str, data: st.DataObject) -> str:
    find(b, "ServiceMonitor", "tartware-services")["spec"]["endpoints"][0]["port"] = "metric"
    return ref("ServiceMonitor", "tartware-services")


def _unmonitored_service(b: list[Body], svc: str, data: st.DataObject) -> str:
    del find(b, "Service", svc)["metadata"]["labels"]["app.kubernetes.io/part-of"]
    return ref("Service", svc)


def _drop_required_label(b: list[Body], svc: str, data: st.DataObject) -> str:
    body = find(b, data.draw(st.sampled_from(["Deployment", "Service"]), label="kind"), svc)
    key = data.draw(
        st.sampled_from(["app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"]), label="label"
    )
    # The Deployment's pod template shares the labels mapping (a YAML alias): both lose it.
    del body["metadata"]["labels"][key]
    return ref(body["kind"], svc)


def _no_spread(b: list[Body], svc: str, data: st.DataObject) -> str:
    spec = pod_spec(b, "api-gateway")
    if data.draw(st.booleans(), label="delete"):
        del spec["topologySpreadConstraints"]
    else:
        spec["topologySpreadConstraints"][0]["labelSelector"] = {"matchLabels": {"app": "other"}}
    return ref("Deployment", "api-gateway")


def _no_anti_affinity(b: list[Body], svc: str, data: st.DataObject) -> str:
    term = pod_spec(b, "api-gateway")["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    term[0]["podAffinityTerm"]["topologyKey"] = "topology.kubernetes.io/zone"
    return ref("Deployment", "api-gateway")


def _demote_gateway(b: list[Body], svc: str, data: st.DataObject) -> str:
    pod_spec(b, "api-gateway")["priorityClassName"] = "tartware-standard"
    return ref("Deployment", "api-gateway")


def _vpa_auto(b: list[Body], svc: str, data: st.DataObject) -> str:
    vpa = find(b, "VerticalPodAutoscaler", "guests-recommender")
    if data.draw(st.booleans(), label="delete updatePolicy"):
        del vpa["spec"]["updatePolicy"]
    else:
        vpa["spec"]["updatePolicy"]["updateMode"] = data.draw(
            st.sampled_from(["Auto", "Recreate", "InPlaceOrRecreate"])
        )
    return ref("VerticalPodAutoscaler", "guests-recommender")


def _ingress_without_tls(b: list[Body], svc: str, data: st.DataObject) -> str:
    ingress = find(b, "Ingress", "api")
    ingress["spec"]["rules"][0]["host"] = data.draw(
        st.sampled_from(["www.tartware.local", "api.tartware.io"])
    )
    return ref("Ingress", "api")


def _ingress_backend_port(b: list[Body], svc: str, data: st.DataObject) -> str:
    backend = find(b, "Ingress", "api")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    backend["service"]["port"] = data.draw(st.sampled_from([{"number": 8080}, {"name": "https"}]))
    return ref("Ingress", "api")


def _requests_over_limits(b: list[Body], svc: str, data: st.DataObject) -> str:
    resources = pick_container(data, b, svc)["resources"]
    resources["requests"]["memory"] = "64Gi"
    return ref("Deployment", svc)


MUTATIONS = (
    Mutation("drop the PodDisruptionBudget", "pdb-per-workload", _drop_pdb),
    Mutation("maxReplicas below minReplicas", "hpa-bounds", _max_below_min),
    Mutation("unpinned image", "image-pinned", _latest_image),
    Mutation("remove resources", "resources-set", _remove_resources),
    Mutation("break the Service selector", "service-selector-matches", _break_service_selector),
    Mutation("undeclared targetPort", "service-selector-matches", _break_target_port),
    Mutation("drop a probe", "probes-set", _drop_probe),
    Mutation("privileged container", "no-host-namespaces-or-paths", _privileged),
    Mutation("host namespace", "no-host-namespaces-or-paths", _host_namespace),
    Mutation("hostPath volume", "no-host-namespaces-or-paths", _host_path),
    Mutation("run as root", "run-as-non-root", _run_as_root),
    Mutation("allow privilege escalation", "no-privilege-escalation", _allow_escalation),
    Mutation("add a capability", "capabilities-drop-all", _add_capability),
    Mutation("writable root filesystem", "read-only-root-filesystem", _writable_root),
    Mutation("seccomp Unconfined", "seccomp-runtime-default", _unconfined),
    Mutation("literal credential in env", "no-literal-credentials-in-env", _literal_password),
    Mutation("credential in ConfigMap", "no-credentials-in-configmap", _configmap_credential),
    Mutation("undefined PriorityClass", "priority-class-defined", _unknown_priority_class),
    Mutation("weaken default-deny", "default-deny-per-namespace", _drop_default_deny),
    Mutation("drop or halve DNS egress", "dns-egress-allowed", _drop_dns),
    Mutation("drop the workload's NetworkPolicy", "workload-netpol-coverage", _drop_workload_netpol),
    Mutation("HPA target typo", "hpa-target-exists", _hpa_target_typo),
    Mutation("behaviour drift", "hpa-behaviour", _behaviour_drift),
    Mutation("drop an HPA metric", "hpa-metrics", _drop_metric),
    Mutation("rps target drift", "capacity-meets-target", _rps_target_drift),
    Mutation("gateway max too low", "capacity-meets-target", _gateway_capacity),
    Mutation("pin spec.replicas", "hpa-replicas-unset", _pin_replicas),
    Mutation("block eviction", "pdb-allows-eviction", _block_eviction),
    Mutation("shrink the quota", "quota-covers-max-replicas", _shrink_quota),
    Mutation("SLO threshold drift", "slo-alert-thresholds", _slo_drift),
    Mutation("drop an SLO alert", "slo-alerts-present", _drop_slo_alert),
    Mutation("ServiceMonitor port typo", "servicemonitor-matches", _break_monitor_port),
    Mutation("Service outside the ServiceMonitor", "servicemonitor-per-service", _unmonitored_service),
    Mutation("drop a required label", "required-labels", _drop_required_label),
    Mutation("no topology spread", "topology-spread-critical", _no_spread),
    Mutation("anti-affinity on zones only", "anti-affinity-critical", _no_anti_affinity),
    Mutation("gateway off the critical class", "priority-class-critical", _demote_gateway),
    Mutation("VPA updating beside the HPA", "vpa-hpa-conflict", _vpa_auto),
    Mutation("host outside tls", "ingress-tls", _ingress_without_tls),
    Mutation("ingress backend port", "ingress-backend-exists", _ingress_backend_port),
    Mutation("requests over limits", "requests-within-limits", _requests_over_limits),
    Mutation("probe on another port", "probe-port-exposed", _probe_elsewhere),
    Mutation("readiness copies liveness", "probes-distinct", _same_probe_twice),
    Mutation("no ephemeral-storage", "ephemeral-storage-set", _no_ephemeral_storage),
    Mutation("env var twice", "env-names-unique", _duplicate_env),
    Mutation("token mounted by default", "service-account-token-opt-in", _token_by_default),
    Mutation("HPA down to one replica", "hpa-min-replicas-ha", _hpa_down_to_one),
    Mutation("single replica without HPA", "replicas-ha", _drop_the_hpa),
    Mutation("NetworkPolicy selector typo", "netpol-selects-pods", _netpol_typo),
    Mutation("Ingress rule without host", "ingress-host-set", _ingress_catch_all),
)


def test_platform_slice_fires_no_rule() -> None:
    outcomes = evaluate(context(copy.deepcopy(BODIES)))
    broken = [f"{o.rule.id}: {o.error}" for o in outcomes if o.error]
    fired = [f.render() for o in outcomes for f in o.findings]
    assert not broken, broken
    assert not fired, "the clean platform slice must pass every rule:\n" + "\n".join(fired)


def test_every_mutation_names_a_registered_rule() -> None:
    from conformance.rules import load_all

    unknown = sorted({m.rule for m in MUTATIONS} - set(load_all()))
    assert not unknown, f"mutations name unregistered rules: {unknown}"
    assert len(MUTATIONS) >= 10


@settings(max_examples=100, deadline=None)
@given(mutation=st.sampled_from(MUTATIONS), service=st.sampled_from(SERVICES), data=st.data())
def test_mutation_fires_expected_rule(mutation: Mutation, service: str, data: st.DataObject) -> None:
    bodies = copy.deepcopy(BODIES)
    expected_ref = mutation.apply(bodies, service, data)
    outcomes = {o.rule.id: o for o in evaluate(context(bodies))}
    broken = {rid: o.error for rid, o in outcomes.items() if o.error}
    assert not broken, f"rules crashed on mutation {mutation.name!r}: {broken}"
    findings = outcomes[mutation.rule].findings
    fired = sorted({f.obj.ref for f in findings})
    assert expected_ref in fired, (
        f"mutation {mutation.name!r} on {service}: {mutation.rule} fired on {fired}, expected {expected_ref}"
    )
    for finding in findings:
        message = finding.violation.message
        assert message[:1] == message[:1].lower(), f"messages start lower-case: {message!r}"


@settings(max_examples=50, deadline=None)
@given(service=st.sampled_from(SERVICES), data=st.data())
def test_credential_findings_never_echo_the_value(service: str, data: st.DataObject) -> None:
    bodies = copy.deepcopy(BODIES)
    _literal_password(bodies, service, data)
    _configmap_credential(bodies, service, data)
    spec = pod_spec(bodies, service)
    containers = spec["containers"] + spec.get("initContainers", [])
    secrets = [
        e["value"] for c in containers for e in c.get("env", []) if "value" in e and e["name"] != "LOG_LEVEL"
    ]
    secrets += [v for k, v in find(bodies, "ConfigMap", "tartware-config")["data"].items() if "PASSWORD" in k]
    rules = ("no-literal-credentials-in-env", "no-credentials-in-configmap")
    outcomes = {o.rule.id: o for o in evaluate(context(bodies))}
    for rule in rules:
        assert outcomes[rule].findings, f"{rule} did not fire"
    # A secret may also be a substring of the report's own words (hypothesis draws literals from
    # the code, such as the redaction marker): it leaks only if the text follows the value, so
    # the same bodies with every secret replaced by Qs must not contain it.
    masked = copy.deepcopy(bodies)
    for secret in secrets:
        masked = _replace_text(masked, secret, "Q" * len(secret))
    masked_out = {o.rule.id: o for o in evaluate(context(masked))}
    for rule in rules:
        text = "\n".join(f.render() for f in outcomes[rule].findings)
        without = "\n".join(f.render() for f in masked_out[rule].findings)
        leaked = [s for s in secrets if s in text and s not in without]
        assert not leaked, f"{rule} echoes a credential: {text}"


def _replace_text(node: Any, old: str, new: str) -> Any:
    if isinstance(node, str):
        return node.replace(old, new)
    if isinstance(node, dict):
        return {k: _replace_text(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_text(v, old, new) for v in node]
    return node


def test_provided_stand_ins_are_never_reported() -> None:
    """policy.yaml `provided` objects (created by operators at run time) feed lookups but are not checked:
    a bare provided Deployment/Service/quota in a new namespace breaks half the rules, yet none names it."""
    bodies = copy.deepcopy(BODIES)
    stand_ins: list[Body] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "operator", "namespace": "ops"},
         "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "op", "image": "op"}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "operator", "namespace": "ops"},
         "spec": {"selector": {"app": "nothing"}, "ports": [{"name": "metrics", "port": 9090}]}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "tiny", "namespace": NAMESPACE},
         "spec": {"hard": {"pods": "1"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}},
    ]  # fmt: skip
    objects = [K8sObject(b, Source(str(SLICE), i)) for i, b in enumerate(bodies)]
    objects += [
        K8sObject(b, Source("policy.yaml provided", i), provided=True) for i, b in enumerate(stand_ins)
    ]
    outcomes = evaluate(Context(Inventory("slice + provided", objects), POLICY, "prod", FIXTURE_TODAY))
    named = [f"{o.rule.id}: {f.obj.ref}" for o in outcomes for f in o.findings if f.obj.provided]
    assert not named, named
    assert not [o.error for o in outcomes if o.error]


@pytest.mark.parametrize(("profile", "fires"), [("prod", True), ("ci", False)])
def test_hpa_metrics_follow_the_profile(profile: str, fires: bool) -> None:
    """policy.yaml org.hpa.required_metrics is per profile: the one-machine ci cluster scales on cpu only."""
    bodies = copy.deepcopy(BODIES)
    for service in SERVICES:
        hpa = find(bodies, "HorizontalPodAutoscaler", service)
        hpa["spec"]["metrics"] = hpa["spec"]["metrics"][:1]  # cpu
    ctx = replace(context(bodies), profile=profile)
    fired = {f.obj.ref for o in evaluate(ctx) if o.rule.id == "hpa-metrics" for f in o.findings}
    assert fired == ({ref("HorizontalPodAutoscaler", s) for s in SERVICES} if fires else set())


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_rule_is_quiet_before_mutation(mutation: Mutation) -> None:
    """Each mutation's rule is silent on the unmutated slice (so firing afterwards means something)."""
    outcomes = {o.rule.id: o for o in evaluate(context(copy.deepcopy(BODIES)))}
    assert not outcomes[mutation.rule].findings
