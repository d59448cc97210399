"""PodDisruptionBudget behaviour on a real control plane, for each PDB the tier exercises
(policy.yaml `exercise.pdb`, else the render's first PDB protecting a Deployment).

  test_pdb_evictions   at the HPA minimum, evictions succeed until the budget is used; the next
                       one gets 429 with the PDB message (not a rate limit)
  test_pdb_drain       draining a node that holds all the pods (like `kubectl drain`, bounded
                       time) evicts exactly what the budget allows and then stops

The workload runs at its HPA minReplicas (its spec.replicas without an HPA): the count at
which a budget most often blocks drains, and the one the chart promises stays drainable ("minAvailable
stays below the HPA minimum, or maxUnavailable >= 1"). Once the pods run, the budget must not
refill, so that what the PDB allows is exactly what can be evicted: for evictions a LimitRange
in the test's namespace refuses every replacement pod (any cluster, shared ones too); a drain
cordons the nodes as `kubectl drain` does (a cluster the suite owns only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.behaviour.blame import platform_fault
from conformance.behaviour.eviction import (
    PDB_REFUSAL,
    allowed_disruptions,
    desired_healthy,
    drain,
    evict_in_turn,
    pods_of,
    ready_count,
)
from conformance.behaviour.exercise import PdbSubject
from conformance.behaviour.resources import TestNamespaces, deployment_state, pod_security_labels
from conformance.behaviour.verdict import require
from conformance.cluster import Cluster, Kube, Poll, wait_until
from conformance.cluster.kube import ApiError
from conformance.cluster.wait import WaitTimeout
from conformance.inventory import K8sObject
from conformance.report.allure_labels import attach_text, label

from .conftest import TIER, BehaviourEnv

DRAIN_TIMEOUT_S = 8.0


@dataclass
class Deployed:
    """The service running at its HPA minimum with its PDB, and the PDB's settled status."""

    namespace: str
    selector: dict[str, str]
    replicas: int
    pdb: K8sObject
    status: dict[str, Any]


def _deploy(env: BehaviourEnv, spaces: TestNamespaces, subject: PdbSubject) -> Deployed:
    """The subject's Deployment at its HPA minimum with its PDB; a platform-caused failure FAILS."""
    __tracebackhide__ = True
    require(not subject.problem, subject.problem)
    try:
        return _deploy_as_is(env, spaces, subject)
    except (WaitTimeout, ApiError) as err:
        fault = platform_fault(env.kube, spaces.names[-1], err) if spaces.names else None
        if fault is None:
            raise
        pytest.fail(f"{subject.pdb.ref if subject.pdb else subject.name}: {fault}", pytrace=False)


def _deploy_as_is(env: BehaviourEnv, spaces: TestNamespaces, subject: PdbSubject) -> Deployed:
    kube = env.kube
    deployment, pdb = subject.target, subject.pdb
    assert deployment is not None and pdb is not None
    namespace_obj = env.inventory.get("Namespace", "", subject.namespace)
    ns = spaces.create(labels=pod_security_labels(namespace_obj.labels if namespace_obj else {}))
    if subject.hpa is not None:
        replicas = int(subject.hpa.spec.get("minReplicas", 1))
    else:
        replicas = int(deployment.spec.get("replicas", 1))
    body = env.workloads.adapt(deployment.body)
    body["spec"]["replicas"] = replicas  # what the HPA would hold it at; the HPA itself is not applied
    objects = [subject.account.body] if subject.account is not None else []
    for obj in (*objects, body, pdb.body):
        spaces.apply({**obj, "metadata": {**obj["metadata"], "namespace": ns}})
    selector = dict((deployment.spec.get("selector") or {}).get("matchLabels") or {})

    def settled() -> Poll[dict[str, Any]]:
        status = kube.get("policy/v1", "PodDisruptionBudget", pdb.name, ns).get("status") or {}
        ready = ready_count(kube, ns, selector)
        _, pods_state = deployment_state(kube, ns, deployment.name)
        done = (
            ready == replicas
            and status.get("currentHealthy") == replicas
            and status.get("expectedPods") == replicas
            and status.get("observedGeneration") is not None
        )
        return Poll(done, f"Deployment {pods_state}; PDB status {json.dumps(status, sort_keys=True)}", status)

    status = (
        wait_until(
            settled,
            what=f"run {replicas} ready pods counted by the PDB",
            objects=[f"Deployment/{ns}/{deployment.name}", f"PodDisruptionBudget/{ns}/{pdb.name}"],
            timeout_s=60,
            retry_on=(ApiError,),
        )
        or {}
    )
    return Deployed(ns, selector, replicas, pdb, status)


def _require_budget(d: Deployed) -> int:
    """The budget must allow an eviction at the HPA minimum, and the API must agree with the spec."""
    spec = d.pdb.spec
    expected = allowed_disruptions(spec, d.replicas)
    actual = int(d.status.get("disruptionsAllowed", -1))
    budget = {k: spec[k] for k in ("minAvailable", "maxUnavailable") if k in spec}
    require(
        actual == expected,
        f"PodDisruptionBudget/{d.pdb.name} {budget}: the API allows {actual} disruption(s) "
        f"with {d.replicas} healthy pods, the spec says {expected}",
    )
    require(
        actual >= 1,
        f"PodDisruptionBudget/{d.pdb.name} {budget} allows 0 disruptions with {d.replicas} of {d.replicas} "
        f"pods healthy (the HPA minimum): no eviction can proceed, so a node drain or upgrade would block "
        f"forever; keep minAvailable below the HPA minReplicas or set maxUnavailable >= 1",
    )
    return actual


def _cordon_all(kube: Kube, spaces: TestNamespaces, except_node: str = "") -> list[str]:
    names = []
    for node in kube.list("v1", "Node"):
        name = str(node["metadata"]["name"])
        if name != except_node and not (node.get("spec") or {}).get("unschedulable"):
            spaces.cordon(name)
            names.append(name)
    return names


def _fence(spaces: TestNamespaces, namespace: str) -> None:
    """A LimitRange no container meets (1000 CPUs minimum): the ReplicaSet's replacements for
    evicted pods are refused at admission, in this namespace only, so the budget cannot refill
    (no node is cordoned: it works on a shared cluster too). The running pods are not touched."""
    spaces.apply(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "no-replacements", "namespace": namespace},
            "spec": {"limits": [{"type": "Container", "min": {"cpu": "1000"}}]},
        }
    )


def _needs_owned(cluster: Cluster) -> None:
    reason = cluster.capabilities.lacks(owns_cluster=True)
    if reason:
        pytest.skip(f"cordons nodes to keep the budget from refilling: {reason}")


def test_pdb_evictions(pdb_subject: PdbSubject, behaviour_env: BehaviourEnv, spaces: TestNamespaces) -> None:
    label(TIER, "disruption", [pdb_subject.name], "critical")
    kube = behaviour_env.kube
    d = _deploy(behaviour_env, spaces, pdb_subject)
    allowed = _require_budget(d)
    _fence(spaces, d.namespace)  # no replacement pod is admitted: the budget cannot refill
    pods = [str(p["metadata"]["name"]) for p in pods_of(kube, d.namespace, d.selector)]
    attempts = evict_in_turn(kube, d.namespace, pods, allowed + 1)
    attach_text("evictions", "\n".join(map(str, attempts)))
    behaviour_env.timing.figures["PDB evictions"] = (
        f"{pdb_subject.name} at {d.replicas} replicas, budget {allowed}: "
        + ", ".join("201" if a.ok else f"{a.status}{' (PDB)' if a.refused_by_pdb else ''}" for a in attempts)
    )
    ok = [a for a in attempts if a.ok]
    require(
        len(ok) == allowed,
        f"{len(ok)} eviction(s) succeeded but the budget allows {allowed}:\n" + "\n".join(map(str, attempts)),
    )
    if len(pods) <= allowed:
        return  # every pod could be evicted: nothing left for the budget to refuse
    last = attempts[-1]
    require(last.status == 429, f"eviction {allowed + 1} should be refused with 429, got: {last}")
    require(
        last.refused_by_pdb,
        f"429 without the PDB message (rate limiting?): {last.message!r}; wanted {PDB_REFUSAL!r}",
    )


def test_pdb_drain(pdb_subject: PdbSubject, behaviour_env: BehaviourEnv, spaces: TestNamespaces) -> None:
    label(TIER, "disruption", [pdb_subject.name], "critical")
    kube = behaviour_env.kube
    _needs_owned(behaviour_env.cluster)
    schedulable = [
        n
        for n in kube.list("v1", "Node")
        if not (n.get("spec") or {}).get("unschedulable") and not (n.get("spec") or {}).get("taints")
    ]
    if not schedulable:
        pytest.fail("no schedulable node to drain", pytrace=False)
    target = str(schedulable[0]["metadata"]["name"])
    _cordon_all(kube, spaces, except_node=target)  # every pod lands on the node to drain
    d = _deploy(behaviour_env, spaces, pdb_subject)
    allowed = _require_budget(d)
    spaces.cordon(target)  # `kubectl drain` step 1; no node is left for replacements
    floor = desired_healthy(d.pdb.spec, d.replicas)
    result = drain(
        kube,
        d.namespace,
        d.selector,
        target,
        timeout_s=DRAIN_TIMEOUT_S,
        watch_ready=lambda: ready_count(kube, d.namespace, d.selector),
    )
    attach_text("drain", "\n".join(result.log) + f"\nremaining on {target}: {result.remaining}")
    summary = (
        f"drain of Node/{target} ({d.replicas} pods, budget {allowed}) for {result.seconds:.1f} s: "
        f"evicted {len(result.evicted)}, refused {result.refusals} time(s), {len(result.remaining)} left"
    )
    print(summary)
    behaviour_env.timing.figures["PDB drain"] = summary
    require(
        len(result.evicted) == min(allowed, d.replicas), f"{summary}; the budget allows exactly {allowed}"
    )
    if d.replicas > allowed:
        require(result.refusals >= 1 and not result.complete, f"{summary}; it should stop at the budget")
    require(
        (result.min_ready_seen or 0) >= floor,
        f"{summary}; ready pods dropped to {result.min_ready_seen}, below the {floor} the budget guarantees",
    )
