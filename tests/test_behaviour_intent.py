"""The behaviour tier's own glue: what it exercises, what it judges against, whose fault a stall is.

Pure functions and a tiny fake API (only for this glue; the tier itself always talks to a real
control plane — see test_behaviour_negative.py for the same verdicts on one).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from conformance.behaviour.blame import platform_fault
from conformance.behaviour.exercise import hpa_subjects, pdb_subjects, scaling_intent
from conformance.behaviour.hpa import scale_down_variant
from conformance.behaviour.scaling import HpaSpec, Rate, Sample, Timeline, check_scale_up, intended
from conformance.cluster.kube import ApiError
from conformance.cluster.wait import WaitTimeout
from conformance.inventory import Inventory, K8sObject, Source
from conformance.policy import PolicyError, load_policy
from conformance.tools import REPO

POLICY = load_policy(REPO / "manifests" / "policy.yaml")


def hpa(
    name: str, lo: int, hi: int, *, up: int = 100, down: int = 10, namespace: str = "tartware"
) -> K8sObject:
    body = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": lo,
            "maxReplicas": hi,
            "behavior": {
                "scaleUp": {"policies": [{"type": "Percent", "value": up, "periodSeconds": 15}]},
                "scaleDown": {
                    "stabilizationWindowSeconds": 15,
                    "policies": [{"type": "Percent", "value": down, "periodSeconds": 15}],
                },
            },
        },
    }
    return K8sObject(body, Source("test", 0))


def deployment(name: str, namespace: str = "tartware") -> K8sObject:
    labels = {"app.kubernetes.io/name": name}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x:1"}]},
            },
        },
    }
    return K8sObject(body, Source("test", 0))


def pdb(name: str, app: str, namespace: str = "tartware") -> K8sObject:
    body = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": app}}},
    }
    return K8sObject(body, Source("test", 0))


# -- what the tier exercises ----------------------------------------------------------------------


def test_named_hpas_are_exercised_and_a_missing_one_is_a_problem_not_a_skip() -> None:
    inventory = Inventory("t", [hpa("guests", 1, 3), deployment("guests")])
    policy = dataclasses.replace(POLICY, exercise={"hpa": ("guests", "ghost")})
    guests, ghost = hpa_subjects(inventory, policy)
    assert (guests.name, guests.problem, guests.target is not None) == ("guests", "", True)
    assert "exercise.hpa names ghost, but the render has no HorizontalPodAutoscaler" in ghost.problem


def test_without_names_the_shortest_scale_cycle_is_picked() -> None:
    inventory = Inventory(
        "t",
        [hpa("big", 2, 40), deployment("big"), hpa("small", 1, 3), deployment("small"), hpa("orphan", 1, 2)],
    )
    (chosen,) = hpa_subjects(inventory, dataclasses.replace(POLICY, exercise={}))
    assert chosen.name == "small"
    assert "shortest scale cycle of the render's 2 usable HPA(s)" in chosen.chosen_by


def test_a_render_without_hpas_exercises_none() -> None:
    assert hpa_subjects(Inventory("t", [deployment("web")]), None) == []


def test_pdb_subjects_come_from_the_render() -> None:
    inventory = Inventory("t", [pdb("a-orphan", "nobody"), pdb("web", "web"), deployment("web")])
    (chosen,) = pdb_subjects(inventory, None)
    assert (chosen.name, chosen.target.name if chosen.target else None) == ("web", "web")
    named = pdb_subjects(inventory, dataclasses.replace(POLICY, exercise={"pdb": ("a-orphan",)}))
    assert "selects no Deployment of the render" in named[0].problem


# -- what the timeline is judged against ---------------------------------------------------------------


def test_the_intent_is_the_policy_not_the_hpa() -> None:
    drifted = HpaSpec.from_body(hpa("guests", 1, 3, up=300, down=100).body)
    spec, drift = intended(drifted, Rate(100, 15, 0), Rate(10, 15, 15), (1, 3))
    assert spec.up.limit({15: 1}, up=True) == 2  # the policy: double per 15 s
    assert spec.down.limit({15: 3}, up=False) == 2  # the policy: 10 % per 15 s
    assert any("scaleUp: the HPA says +300 % per 15 s" in d for d in drift)
    tl = Timeline(samples=[Sample(0.0, 1), Sample(10.0, 3)], marks={"raise": 0.0})
    problems = check_scale_up(tl, spec, 3)
    assert any("replicas went 1 -> 3, but scaleUp allows at most 2" in p for p in problems), problems


def test_scaling_intent_reads_rates_windows_and_bounds_per_profile() -> None:
    intent = scaling_intent(POLICY, "ci", hpa("guests", 1, 3))
    assert intent.up == Rate(100, 15, 0)
    assert intent.down == Rate(10, 15, 15)
    assert intent.bounds == (1, 3)
    assert intent.source == "policy.yaml org.hpa (profile ci) and org.services.guests.ci"
    prod = scaling_intent(POLICY, "prod", hpa("guests", 2, 40))
    assert prod.down == Rate(10, 60, 300)
    unknown = scaling_intent(POLICY, "ci", hpa("stranger", 1, 2))
    assert unknown.bounds is None and "bounds from the HPA itself" in unknown.source


def test_the_scale_down_variant_keeps_the_other_profiles_behavior() -> None:
    ci, prod = hpa("guests", 1, 3).body, hpa("guests", 2, 40, down=10).body
    prod["spec"]["behavior"]["scaleDown"]["policies"][0]["periodSeconds"] = 60
    short = scale_down_variant(ci, prod, replicas=3, window_s=0)
    down = short["spec"]["behavior"]["scaleDown"]
    assert (down["policies"][0]["periodSeconds"], down["stabilizationWindowSeconds"]) == (60, 0)
    assert (short["spec"]["minReplicas"], short["spec"]["maxReplicas"]) == (1, 3)
    assert (
        scale_down_variant(ci, prod, replicas=3, window_s=None)["spec"]["behavior"]["scaleDown"][
            "stabilizationWindowSeconds"
        ]
        == 15
    )


def test_policy_windows_and_exercise_are_checked(tmp_path: Path) -> None:
    text = (REPO / "manifests" / "policy.yaml").read_text()
    bad = tmp_path / "policy.yaml"
    bad.write_text(text.replace("exercise:\n  hpa: [guests]", "exercise:\n  hpas: [guests]"))
    with pytest.raises(PolicyError, match=r"unknown key exercise\.hpas"):
        load_policy(bad)
    bad.write_text(text.replace("stabilization_window_seconds: 300", "stabilization_window_seconds: -1"))
    with pytest.raises(PolicyError, match=r"stabilization_window_seconds must be >= 0"):
        load_policy(bad)


# -- whose fault --------------------------------------------------------------------------------------------


class FakeKube:
    """Answers list/get_or_none from canned objects (unit tests of blame.py only)."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects

    def list(self, api_version: str, kind: str, namespace: str = "", **_: Any) -> list[dict[str, Any]]:
        return self.objects.get(kind, [])

    def get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str = ""
    ) -> dict[str, Any] | None:
        found = self.objects.get(kind, [])
        return found[0] if found else None


def pending_pod(message: str) -> dict[str, Any]:
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    return {"metadata": {"name": "guests-1"}, "status": {"conditions": [cond]}}


TIMEOUT = WaitTimeout("have 1 ready pod(s)", ["Deployment/ns/guests"], 60, "0/1 ready")


def test_pods_the_scheduler_cannot_place_are_the_platforms_fault() -> None:
    kube = FakeKube({"Pod": [pending_pod("0/6 nodes are available: 6 Insufficient cpu.")]})
    fault = platform_fault(kube, "ns", TIMEOUT)  # type: ignore[arg-type]
    assert fault is not None and "Pod/guests-1 cannot be scheduled: 0/6 nodes are available" in fault


def test_nodes_the_suite_cordoned_are_not_the_platforms_fault() -> None:
    kube = FakeKube({"Pod": [pending_pod("0/6 nodes are available: 6 node(s) were unschedulable.")]})
    assert platform_fault(kube, "ns", TIMEOUT) is None  # type: ignore[arg-type]


def test_a_rejected_object_is_the_platforms_fault_and_a_server_error_is_not() -> None:
    kube = FakeKube({})
    assert "rejected an object" in str(platform_fault(kube, "ns", ApiError(422, "Invalid", "bad")))  # type: ignore[arg-type]
    assert platform_fault(kube, "ns", ApiError(503, "ServiceUnavailable", "down")) is None  # type: ignore[arg-type]


def test_an_hpa_without_cpu_requests_is_the_platforms_fault_and_missing_metrics_are_not() -> None:
    def hpa_with(reason: str, message: str) -> FakeKube:
        cond = {"type": "ScalingActive", "status": "False", "reason": reason, "message": message}
        return FakeKube({"HorizontalPodAutoscaler": [{"status": {"conditions": [cond]}}]})

    missing = hpa_with(
        "FailedGetResourceMetric", "failed to get cpu utilization: missing request for cpu in c"
    )
    assert "needs a resource request" in str(platform_fault(missing, "ns", TIMEOUT, "guests"))  # type: ignore[arg-type]
    down = hpa_with("FailedGetResourceMetric", "unable to fetch metrics from resource metrics API: 503")
    assert platform_fault(down, "ns", TIMEOUT, "guests") is None  # type: ignore[arg-type]
