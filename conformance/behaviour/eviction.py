"""PodDisruptionBudgets on a live cluster: the budget, evictions, and a drain like `kubectl drain`.

    allowed_disruptions({"minAvailable": 1}, replicas=2)      # 1
    attempts = evict_in_turn(kube, ns, pods)                  # stops at the first PDB refusal
    result = drain(kube, ns, selector, "kwok-zone-a-0", timeout_s=8)  # evicts what the budget allows

A 429 from the Eviction API means either "the PDB does not allow it" (its
message says so) or plain API rate limiting; only the former counts as a refusal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.cluster.kube import ApiError, Kube
from conformance.k8s import condition_true

PDB_REFUSAL = "Cannot evict pod as it would violate the pod's disruption budget"
RATE_LIMIT_RETRIES = 5


def _scaled(value: Any, total: int) -> int:
    """An int-or-percent scaled against `total`, rounding up (as the disruption controller does)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(float(value[:-1]) * total / 100)
    return int(value)


def desired_healthy(spec: Mapping[str, Any], expected_pods: int) -> int:
    """Pods the budget keeps healthy: desired_healthy({"maxUnavailable": "10%"}, 5) == 4."""
    if spec.get("maxUnavailable") is not None:
        return max(0, expected_pods - _scaled(spec["maxUnavailable"], expected_pods))
    if spec.get("minAvailable") is not None:
        return _scaled(spec["minAvailable"], expected_pods)
    return 0


def allowed_disruptions(spec: Mapping[str, Any], replicas: int) -> int:
    """Evictions the budget allows when all `replicas` pods are healthy."""
    return max(0, replicas - desired_healthy(spec, replicas))


@dataclass(frozen=True)
class Eviction:
    """The answer to one eviction request."""

    pod: str
    status: int  # 201 created; 429 refused or rate limited; 404 gone; ...
    message: str
    t: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def refused_by_pdb(self) -> bool:
        return self.status == 429 and PDB_REFUSAL in self.message

    def __str__(self) -> str:
        verdict = "evicted" if self.ok else f"{self.status} {self.message}"
        return f"t={self.t:5.1f} s {self.pod}: {verdict}"


def evict(kube: Kube, namespace: str, pod: str, t0: float) -> Eviction:
    """One eviction; a rate-limit 429 (not the PDB message) is retried a few times."""
    for attempt in range(RATE_LIMIT_RETRIES):
        try:
            resp = kube.evict(namespace, pod)
            return Eviction(pod, resp.status, "", time.monotonic() - t0)
        except ApiError as err:
            result = Eviction(pod, err.status, err.message, time.monotonic() - t0)
            if err.status != 429 or result.refused_by_pdb or attempt == RATE_LIMIT_RETRIES - 1:
                return result
            time.sleep(0.5)
    raise AssertionError("unreachable")


def pods_of(kube: Kube, namespace: str, selector: Mapping[str, str], node: str = "") -> list[dict[str, Any]]:
    """Live (not terminating) pods, oldest first."""
    fields = f"spec.nodeName={node}" if node else ""
    pods = [
        p
        for p in kube.list("v1", "Pod", namespace, labels=selector, fields=fields)
        if not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    return sorted(
        pods, key=lambda p: (str(p["metadata"].get("creationTimestamp")), str(p["metadata"]["name"]))
    )


def ready_count(kube: Kube, namespace: str, selector: Mapping[str, str]) -> int:
    """Live pods matching selector whose Ready condition is True."""
    count = 0
    for pod in pods_of(kube, namespace, selector):
        count += condition_true(pod, "Ready")
    return count


def evict_in_turn(kube: Kube, namespace: str, pods: list[str], limit: int) -> list[Eviction]:
    """Evict pods one after another until the first refusal (or `limit` attempts)."""
    t0 = time.monotonic()
    out: list[Eviction] = []
    for pod in pods[:limit]:
        out.append(evict(kube, namespace, pod, t0))
        if not out[-1].ok:
            break
    return out


@dataclass
class DrainResult:
    """What a drain did: evicted pods, PDB refusals while retrying, pods left on the node."""

    node: str
    evicted: list[str] = field(default_factory=list)
    refusals: int = 0  # PDB 429s seen while retrying
    remaining: list[str] = field(default_factory=list)
    seconds: float = 0.0
    min_ready_seen: int | None = None
    log: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.remaining


def drain(
    kube: Kube,
    namespace: str,
    selector: Mapping[str, str],
    node: str,
    *,
    timeout_s: float,
    retry_s: float = 1.0,
    watch_ready: Callable[[], int] | None = None,
) -> DrainResult:
    """Evict the test's pods on a (cordoned) node, retrying PDB refusals until `timeout_s`, as
    `kubectl drain --timeout` does (it waits 5 s between retries; 1 s here for the tier's budget).
    Only pods of `namespace` matching `selector` are touched: other pods are not the test's."""
    t0 = time.monotonic()
    result = DrainResult(node)
    deadline = t0 + timeout_s
    while True:
        if watch_ready is not None:
            ready = watch_ready()
            result.min_ready_seen = (
                ready if result.min_ready_seen is None else min(result.min_ready_seen, ready)
            )
        pods = [str(p["metadata"]["name"]) for p in pods_of(kube, namespace, selector, node)]
        if not pods or time.monotonic() >= deadline:
            result.remaining = pods
            break
        for pod in pods:
            attempt = evict(kube, namespace, pod, t0)
            result.log.append(str(attempt))
            if attempt.ok:
                result.evicted.append(pod)
            elif attempt.refused_by_pdb:
                result.refusals += 1
        time.sleep(min(retry_s, max(0.0, deadline - time.monotonic())))
    result.seconds = time.monotonic() - t0
    return result
