"""One pod-template accessor for every kind that runs pods, built-in or custom."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from conformance.fixtures import FIXTURE_TODAY
from conformance.inventory import Inventory, K8sObject, Source
from conformance.k8s import (
    CUSTOM_WORKLOAD,
    WORKLOADS,
    ContainerPort,
    condition_true,
    conditions,
    container_ports,
    containers,
    is_workload,
    of_kinds,
    pod_labels,
    pod_template_of,
)
from conformance.policy import load_policy
from conformance.rules import REGISTRY, Context, load_all
from conformance.tools import REPO

POD = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}


def obj(api: str, kind: str, spec: dict[str, Any] | None = None, name: str = "x") -> K8sObject:
    body: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "shop"}}
    if spec is not None:
        body["spec"] = spec
    return K8sObject(body, Source("test.yaml", 0))


@pytest.mark.parametrize(
    ("api", "kind", "spec", "prefix"),
    [
        ("apps/v1", "Deployment", {"template": POD}, "spec.template."),
        ("apps/v1", "StatefulSet", {"template": POD}, "spec.template."),
        ("apps/v1", "DaemonSet", {"template": POD}, "spec.template."),
        ("apps/v1", "ReplicaSet", {"template": POD}, "spec.template."),
        ("batch/v1", "Job", {"template": POD}, "spec.template."),
        (
            "batch/v1",
            "CronJob",
            {"jobTemplate": {"spec": {"template": POD}}},
            "spec.jobTemplate.spec.template.",
        ),
        ("argoproj.io/v1alpha1", "Rollout", {"replicas": 2, "template": POD}, "spec.template."),
        ("serving.knative.dev/v1", "Service", {"template": POD}, "spec.template."),
        ("apps.kruise.io/v1alpha1", "CloneSet", {"template": POD}, "spec.template."),
    ],
)
def test_every_pod_bearing_kind_has_its_template_found(
    api: str, kind: str, spec: dict[str, Any], prefix: str
) -> None:
    o = obj(api, kind, spec)
    template = pod_template_of(o)
    assert template is not None and template.prefix == prefix
    assert is_workload(o) and pod_labels(o) == {"app": "x"}
    assert [path for _, path in containers(o)] == [f"{prefix}spec.containers[c]"]
    assert list(of_kinds(Inventory("t", [o]), WORKLOADS)) == [o]


def test_a_pod_is_its_own_template() -> None:
    pod = K8sObject({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, **POD}, Source("t", 0))
    assert [path for _, path in containers(pod)] == ["spec.containers[c]"]


@pytest.mark.parametrize(
    ("api", "kind", "spec"),
    [
        ("v1", "Service", {"selector": {"app": "x"}}),  # a core Service runs no pods
        ("argoproj.io/v1alpha1", "Rollout", {"workloadRef": {"kind": "Deployment", "name": "x"}}),
        ("batch.volcano.sh/v1alpha1", "Job", {"tasks": [{"template": POD}]}),  # not batch/v1
        ("example.com/v1", "Report", {"template": {"title": "weekly"}}),  # a template, not of pods
        ("v1", "ConfigMap", None),
    ],
)
def test_objects_without_pods_are_not_workloads(api: str, kind: str, spec: dict[str, Any] | None) -> None:
    o = obj(api, kind, spec)
    assert pod_template_of(o) is None and not is_workload(o)
    assert list(of_kinds(Inventory("t", [o]), WORKLOADS)) == []


def test_custom_workloads_are_only_in_kinds_that_ask_for_them() -> None:
    rollout = obj("argoproj.io/v1alpha1", "Rollout", {"template": POD})
    inventory = Inventory("t", [rollout])
    assert list(of_kinds(inventory, ("Deployment",))) == []
    assert list(of_kinds(inventory, ("Deployment", CUSTOM_WORKLOAD))) == [rollout]


def test_every_rule_on_pods_sees_custom_workloads() -> None:
    """Rules that read pods (their kinds include Deployment) also read custom workloads."""
    missing = [
        r.id for r in load_all().values() if "Deployment" in r.kinds and CUSTOM_WORKLOAD not in r.kinds
    ]
    assert not missing, f"rules that read Deployments but not custom workloads: {missing}"


def test_service_near_miss_names_the_rollout_whose_pods_it_nearly_selects() -> None:
    docs = yaml.safe_load_all(
        """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout, namespace: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: checkout, track: stable}}
    spec: {containers: [{name: checkout, image: "example.com/checkout:1.0.0"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout-db, namespace: shop}
spec:
  template:
    metadata: {labels: {app: checkout-db, track: canary}}
    spec: {containers: [{name: db, image: "example.com/db:1.0.0"}]}
---
apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop}
spec:
  selector: {app: checkout, track: canary}
  ports: [{port: 80}]
"""
    )
    objects = [K8sObject(body, Source("t.yaml", i)) for i, body in enumerate(docs)]
    policy = load_policy(REPO / "manifests" / "policy.yaml")
    ctx = Context(Inventory("t", objects), policy, "prod", FIXTURE_TODAY)
    load_all()
    findings = REGISTRY["service-selector-matches"].run(ctx)
    assert [f.obj.ref for f in findings] == ["Service/shop/checkout"]
    assert "Rollout checkout" in findings[0].violation.message, findings[0].violation.message


def test_conditions_by_type_tolerate_any_shape() -> None:
    ready = [{"type": "Ready", "status": "False"}, "junk", {"type": "Ready", "status": "True"}]
    pod = {"status": {"conditions": ready}}
    assert conditions(pod) == {"Ready": {"type": "Ready", "status": "True"}}  # the later one wins
    assert conditions(None) == {} and conditions({"status": "x"}) == {} and conditions({"status": {}}) == {}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, True),
        ({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}, False),
        ({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}, False),
        ({"status": {"conditions": [{"type": "Initialized", "status": "True"}]}}, False),  # type missing
        ({"status": {"conditions": [{"status": "True"}]}}, False),  # a condition without a type
        ({"metadata": {"name": "p"}}, False),  # no status yet (just created)
        (None, False),
    ],
    ids=["true", "unknown", "false", "type-missing", "untyped", "no-status", "no-object"],
)
def test_condition_true_only_when_reported_true(obj: dict[str, Any] | None, expected: bool) -> None:
    assert condition_true(obj, "Ready") is expected


def test_container_ports_read_wrong_types_as_absent() -> None:
    container = {
        "ports": [
            {"name": "http", "containerPort": 8080},
            "junk",
            {"containerPort": "53", "protocol": "UDP"},
            {"name": 7, "containerPort": True, "protocol": None},
        ]
    }
    assert container_ports(container) == [
        ContainerPort("http", 8080, "TCP"),
        ContainerPort(None, None, "UDP"),
        ContainerPort(None, None, "TCP"),
    ]
    assert container_ports({}) == [] and container_ports({"ports": "8080"}) == []
