"""Rules never crash: they also run on objects that failed schema validation.

Hypothesis builds objects of the kinds rules read with random, missing and
wrong-typed fields (keys drawn mostly from real Kubernetes field names, so the
generator reaches deep into pod specs and selectors), and also breaks one field
of realistic objects from the platform slice and the rule fixtures. Every
registered rule must run on the result without raising. The loader's own
guarantees hold (apiVersion/kind are strings, metadata is a mapping with a
string name, namespace is a string or absent): everything else is fair game.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.fixtures import FIXTURE_TODAY, FIXTURES
from conformance.inventory import Inventory, K8sObject, Source, load_bytes
from conformance.k8s import CUSTOM_WORKLOAD
from conformance.policy import Policy, load_policy
from conformance.rules import REGISTRY, Context, Rule, load_all
from conformance.rules.autoscaling import required_metrics
from conformance.tools import REPO

RULES: list[Rule] = sorted(load_all().values(), key=lambda r: r.id)
POLICY = load_policy(REPO / "manifests" / "policy.yaml")
# Every kind some rule reads (custom workloads as an Argo Rollout), plus a few no rule reads.
KINDS = sorted(
    ({kind for rule in REGISTRY.values() for kind in rule.kinds} - {CUSTOM_WORKLOAD})
    | {"Rollout", "Secret", "Node", "Unknown"}
)
FIELDS = [
    "spec", "template", "metadata", "labels", "annotations", "selector", "matchLabels", "matchExpressions",
    "key", "operator", "values", "containers", "initContainers", "name", "image", "ports", "containerPort",
    "targetPort", "port", "protocol", "endPort", "resources", "requests", "limits", "cpu", "memory",
    "securityContext", "runAsNonRoot", "runAsUser", "capabilities", "drop", "add", "seccompProfile", "type",
    "privileged", "hostPath", "hostNetwork", "volumes", "env", "value", "valueFrom", "livenessProbe",
    "readinessProbe", "httpGet", "replicas", "minReplicas", "maxReplicas", "scaleTargetRef", "kind",
    "metrics", "resource", "pods", "metric", "target", "averageValue", "behavior", "scaleUp", "scaleDown",
    "policies", "periodSeconds", "selectPolicy", "minAvailable", "maxUnavailable", "podSelector",
    "policyTypes", "ingress", "egress", "to", "namespaceSelector", "matchNames", "any", "endpoints", "groups",
    "rules", "alert", "expr", "slo", "hard", "scopes", "scopeSelector", "scopeName", "tls", "hosts",
    "secretName", "host", "http", "paths", "backend", "service", "number", "defaultBackend", "data",
    "priorityClassName", "topologySpreadConstraints", "labelSelector", "affinity", "podAntiAffinity",
    "requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution",
    "podAffinityTerm", "topologyKey", "updatePolicy", "updateMode", "targetRef", "resourcePolicy",
    "containerPolicies", "controlledResources", "mode", "jobTemplate", "app.kubernetes.io/name", "app",
    "requests.cpu", "pods", "DB_PASSWORD", "startupProbe", "tcpSocket", "grpc", "exec", "ephemeral-storage",
    "automountServiceAccountToken", "serviceAccountName", "roleRef", "subjects", "verbs", "apiGroups",
    "resourceNames", "aggregationRule", "workloadRef",
]  # fmt: skip
WORDS = [
    "", "0", "53", "100%", "0%", "500m", "1Gi", "1e400", "nan", "ALL", "all", "UDP", "TCP", "In", "NotIn",
    "Exists", "Percent", "Pods", "Resource", "Disabled", "Auto", "Off", "RuntimeDefault", "Unconfined",
    "http", "metrics", "cpu", "memory", "tartware", "api-gateway", "guests", "Deployment", "StatefulSet",
    "tartware-critical", "kubernetes.io/hostname", "latency_p95_ms", "error_rate", "up > 0.5", "x > ",
    "*.tartware.local", "api.tartware.local", "postgres://u:p@h", "password=x", "${X}", "latest",
    "*", "cluster-admin", "secrets", "pods/exec", "escalate", "ClusterRole", "yes", "$(X)", "a.yaml:1:2",
]  # fmt: skip

keys = st.sampled_from(FIELDS) | st.text(max_size=6) | st.integers(-3, 3) | st.booleans() | st.none()
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: 10**400 is a valid YAML integer
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(WORDS)
    | st.text(max_size=12)
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)
names = st.sampled_from(["api-gateway", "guests", "tartware", "default-deny", "x"]) | st.text(
    min_size=1, max_size=8
)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    """An object of a real kind whose every field below metadata.name may be anything."""
    metadata: dict[Any, Any] = {"name": draw(names)}
    if draw(st.booleans()):
        metadata["namespace"] = draw(
            st.sampled_from(["tartware", "monitoring", "other"]) | st.text(max_size=6)
        )
    if draw(st.booleans()):
        metadata["labels"] = draw(values)
    metadata.update(draw(st.dictionaries(keys, values, max_size=2)))
    body: dict[Any, Any] = {
        "apiVersion": draw(st.sampled_from(["v1", "apps/v1", "x/y", "argoproj.io/v1alpha1"])),
        "kind": draw(st.sampled_from(KINDS)),
    }
    body["metadata"] = metadata
    body.update(draw(st.dictionaries(keys, values, max_size=4)))
    if draw(st.booleans()):
        body["spec"] = draw(values)
    return body


def _realistic() -> list[dict[str, Any]]:
    """Bodies of the platform slice and every rule fixture: the shapes rules expect."""
    bodies = []
    for path in [FIXTURES / "platform-slice.yaml", *sorted(FIXTURES.glob("*/*/*.yaml"))]:
        bodies += [o.body for o in load_bytes(path.read_bytes(), str(path)) if isinstance(o, K8sObject)]
    return bodies


REALISTIC = _realistic()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a body below metadata.name (which the loader guarantees)."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        path = (*prefix, key)
        if path in (("kind",), ("apiVersion",), ("metadata",), ("metadata", "name")):
            out += _paths(child, path) if path == ("metadata",) else []
            continue
        if path == ("metadata", "namespace"):
            continue
        out.append(path)
        out += _paths(child, path)
    return out


@st.composite
def broken_realistic(draw: st.DrawFn) -> dict[str, Any]:
    """A realistic object with a few fields deleted, re-typed (wrapped in a list or map, stringified,
    a 400-digit integer...) or replaced by random values; sometimes under another kind."""
    body: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(REALISTIC)))
    if draw(st.booleans()):
        body["kind"] = draw(st.sampled_from(KINDS))
    for _ in range(draw(st.integers(1, 4), label="breaks")):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for key in path[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(["delete", "retype", "replace"]))
        old = parent[path[-1]]
        if how == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "retype":
            parent[path[-1]] = draw(
                st.sampled_from([[old], {"x": old}, str(old), None, 10**400, -1, 1.5, True])
            )
        else:
            parent[path[-1]] = draw(values)
    return body


def _run_all(bodies: list[dict[str, Any]], profile: str, provided: int = 0, policy: Policy = POLICY) -> None:
    """Run every rule; the first `provided` bodies are policy.yaml `provided` stand-ins."""
    objs = [K8sObject(b, Source("hypothesis.yaml", i), provided=i < provided) for i, b in enumerate(bodies)]
    ctx = Context(Inventory("robust", objs), policy, profile, FIXTURE_TODAY)
    for rule in RULES:
        try:
            for finding in rule.run(ctx):
                finding.render()  # rendering a finding must not fail either
        except Exception as err:  # pragma: no cover - the failure report
            pytest.fail(f"rule {rule.id} raised {type(err).__name__}: {err} on {bodies!r}")


PROFILES = st.sampled_from(["prod", "ci", "staging"])
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(bodies=st.lists(objects(), min_size=1, max_size=6), profile=PROFILES, provided=st.integers(0, 2))
def test_rules_survive_arbitrary_objects(bodies: list[dict[str, Any]], profile: str, provided: int) -> None:
    _run_all(bodies, profile, provided)


@SETTINGS
@given(broken=st.lists(broken_realistic(), min_size=1, max_size=3), profile=PROFILES, data=st.data())
def test_rules_survive_one_broken_field(
    broken: list[dict[str, Any]], profile: str, data: st.DataObject
) -> None:
    # Neighbours that parse fine, so cross-object rules reach the broken object's relations.
    neighbours = data.draw(st.lists(st.sampled_from(REALISTIC), max_size=6), label="neighbours")
    provided = data.draw(st.integers(0, 1), label="provided")
    _run_all(broken + copy.deepcopy(neighbours), profile, provided)


@pytest.mark.parametrize("profile", ["prod", "ci"])
def test_rules_survive_every_fixture_at_once(profile: str) -> None:
    """All fixtures in one inventory: same names in many namespaces, clashing selectors, duplicates."""
    _run_all(copy.deepcopy(REALISTIC), profile)


@pytest.mark.parametrize(
    ("configured", "profile", "expected"),
    [
        (("cpu", "memory", "http_requests_per_second"), "ci", ("cpu", "memory", "http_requests_per_second")),
        ({"prod": ["cpu", "memory", "http_requests_per_second"], "ci": ["cpu"]}, "ci", ("cpu",)),
        ({"prod": ["cpu", "memory", "http_requests_per_second"], "ci": ["cpu"]}, "prod",
         ("cpu", "memory", "http_requests_per_second")),
        ({"prod": ["cpu"]}, "staging", ()),
        ("cpu", "prod", ()),
    ],
)  # fmt: skip
def test_required_metrics_reads_a_list_or_a_per_profile_mapping(
    configured: Any, profile: str, expected: tuple[str, ...]
) -> None:
    policy = replace(POLICY, required_metrics=cast(tuple[str, ...], configured))
    assert required_metrics(policy, profile) == expected


def test_fixture_files_are_all_loaded() -> None:
    """The realistic corpus really holds the fixtures (a wrong glob would make the test above vacuous)."""
    assert len(REALISTIC) > 200
    assert Path(FIXTURES / "platform-slice.yaml").is_file()
