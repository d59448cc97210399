"""Running one platform service's HPA on a live cluster and recording its replica timeline.

    run = HpaRun.start(kube, driver, spaces, inventory, platform_ns="tartware", service="guests",
                       expected=(1, 3))
    run.scale_up()      # usage above target until replicas reach maxReplicas (or stall)
    run.scale_down()    # hold, lower usage, until replicas reach minReplicas (or time is up)
    run.timeline        # Sample(t, replicas, utilization, limited) + marks raise/max/lower/min

The real Deployment, ServiceAccount and HPA of the run profile's render are
applied in a test namespace (labelled like the platform namespace). CPU usage is
driven through the provider's WorkloadDriver (kwok: a pod annotation; kind:
agnhost ConsumeCPU). Levels derive from the pod's CPU request and the HPA's
target: 4x the target while loaded, 1m when idle.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.cluster.base import WorkloadDriver
from conformance.cluster.kube import ApiError, Kube
from conformance.cluster.wait import Poll, wait_until
from conformance.inventory import Inventory, K8sObject

from .resources import TestNamespaces, pod_security_labels, wait_deployment_ready
from .scaling import HpaSpec, Sample, Timeline, compress_scale_down, projected_scale_down_s

TICK_S = 0.5
SYNC_S = 5.0  # --horizontal-pod-autoscaler-sync-period of the local and kind providers
METRICS_LAG_S = 15.0  # metric-resolution 10 s + one HPA sync
SCALE_DOWN_BUDGET_S = 60.0  # the tier must finish in ~3 min; the scale-down gets this much
LOAD_FACTOR = 4  # usage while loaded = 4 x the target: far outside the HPA's 10 % tolerance
IDLE_MILLICORES = 1


def cpu_millicores(value: Any) -> int:
    """A CPU quantity in millicores: cpu_millicores("10m") == 10, cpu_millicores("1.5") == 1500."""
    text = str(value)
    if text.endswith("m"):
        return int(float(text[:-1]))
    return int(float(text) * 1000)


@dataclass
class HpaRun:
    """One service's HPA scenario on a live cluster; see the module docstring."""

    kube: Kube
    driver: WorkloadDriver
    spaces: TestNamespaces
    namespace: str
    service: str
    selector: dict[str, str]
    spec: HpaSpec
    rendered: dict[str, Any]  # the HPA as rendered
    applied: dict[str, Any]  # the HPA as applied (a variant when compression was needed)
    compression: int  # 1: as rendered; k: scale-down periods divided by k
    expected_min: int
    expected_max: int
    high_m: int
    low_m: int = IDLE_MILLICORES
    timeline: Timeline = field(default_factory=Timeline)
    t0: float = 0.0
    level_m: int = IDLE_MILLICORES
    up_s: float | None = None
    down_s: float | None = None
    last_status: str = ""

    # -- setup ----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        kube: Kube,
        driver: WorkloadDriver,
        spaces: TestNamespaces,
        inventory: Inventory,
        *,
        platform_ns: str,
        service: str,
        expected: tuple[int, int],
    ) -> HpaRun:
        """Apply ServiceAccount, Deployment and HPA (or its time-compressed variant) in a new
        namespace; return once the HPA has read CPU metrics (the timeline starts then)."""

        def find(kind: str) -> K8sObject:
            obj = inventory.get(kind, platform_ns, service)
            if obj is None:
                raise LookupError(f"the render has no {kind}/{platform_ns}/{service}")
            return obj

        deployment, hpa, account = find("Deployment"), find("HorizontalPodAutoscaler"), find("ServiceAccount")
        namespace_obj = inventory.get("Namespace", "", platform_ns)
        ns = spaces.create(labels=pod_security_labels(namespace_obj.labels if namespace_obj else {}))
        rendered = hpa.body
        applied, k = compress_scale_down(rendered, SCALE_DOWN_BUDGET_S, METRICS_LAG_S, SYNC_S)
        spec = HpaSpec.from_body(applied)
        request_m = sum(
            cpu_millicores(((c.get("resources") or {}).get("requests") or {}).get("cpu", "0"))
            for c in ((deployment.spec.get("template") or {}).get("spec") or {}).get("containers") or []
        )
        target = spec.cpu_target_percent or 70
        high = max(2, math.ceil(request_m * target / 100 * LOAD_FACTOR))
        for obj in (account.body, driver.adapt(deployment.body), applied):
            body = {**obj, "metadata": {**obj["metadata"], "namespace": ns}}
            spaces.apply(body)
        selector = dict((deployment.spec.get("selector") or {}).get("matchLabels") or {})
        run = cls(
            kube,
            driver,
            spaces,
            ns,
            service,
            selector,
            spec,
            rendered,
            applied,
            k,
            expected[0],
            expected[1],
            high,
        )
        wait_deployment_ready(kube, ns, service, spec.min_replicas)
        run._wait_for_metrics()
        return run

    def _wait_for_metrics(self) -> None:
        """Until the HPA has read CPU utilization once (first pod metrics take ~25 s on kwok)."""

        def ready() -> Poll[bool]:
            self.driver.set_cpu(self.kube, self.namespace, self.selector, self.level_m)
            hpa = self._hpa()
            util = _utilization(hpa)
            conds = _conditions(hpa)
            active = conds.get("ScalingActive", {})
            state = (
                f"ScalingActive={active.get('status')} {active.get('reason', '')}: "
                f"{active.get('message', '')[:200]}; utilization {util}"
            )
            return Poll(util is not None, state)

        wait_until(
            ready,
            what="read CPU metrics",
            objects=[f"HorizontalPodAutoscaler/{self.namespace}/{self.service}"],
            timeout_s=120,
            interval_s=1.0,
            retry_on=(ApiError,),
        )
        self.t0 = time.monotonic()
        self._tick()

    # -- sampling ---------------------------------------------------------------------------
    def _hpa(self) -> dict[str, Any]:
        return self.kube.get("autoscaling/v2", "HorizontalPodAutoscaler", self.service, self.namespace)

    def now(self) -> float:
        """Seconds since the timeline began."""
        return time.monotonic() - self.t0

    def _tick(self) -> Sample:
        self.driver.set_cpu(self.kube, self.namespace, self.selector, self.level_m)
        replicas = int(
            (self.kube.get("apps/v1", "Deployment", self.service, self.namespace).get("spec") or {}).get(
                "replicas"
            )
            or 0
        )
        hpa = self._hpa()
        limited = _conditions(hpa).get("ScalingLimited", {})
        sample = Sample(
            self.now(),
            replicas,
            _utilization(hpa),
            str(limited.get("reason", "")) if limited.get("status") == "True" else "",
        )
        self.timeline.add(sample)
        status = hpa.get("status") or {}
        self.last_status = (
            f"replicas {replicas} (HPA current {status.get('currentReplicas')}, desired "
            f"{status.get('desiredReplicas')}), utilization {sample.utilization}%, "
            f"ScalingLimited {limited.get('reason', '-')}"
        )
        return sample

    def _run_until(self, done: Any, budget_s: float) -> bool:
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            began = time.monotonic()
            if done(self._tick()):
                return True
            time.sleep(max(0.0, TICK_S - (time.monotonic() - began)))
        return False

    # -- phases -----------------------------------------------------------------------------
    def up_budget_s(self) -> float:
        """How long scale-up may take: each policy step as late as sync and metrics allow, + 30 s."""
        steps = self.spec.steps(self.spec.min_replicas, self.spec.max_replicas, up=True) or 1
        period = max(p.period_s for p in self.spec.up.policies)
        return self.spec.up.window_s + METRICS_LAG_S + steps * (period + SYNC_S) + 30

    def scale_up(self) -> Timeline:
        """Raise usage; sample until maxReplicas, a TooManyReplicas stall, or the budget. Once."""
        if "raise" in self.timeline.marks:
            return self.timeline
        self.timeline.marks["raise"] = self.now()
        self.level_m = self.high_m

        def at_max(s: Sample) -> bool:
            # Stop at maxReplicas, or as soon as the HPA says it wants more than its maximum allows.
            return s.replicas >= self.spec.max_replicas or (s.limited == "TooManyReplicas" and s.replicas > 0)

        if self._run_until(at_max, self.up_budget_s()):
            self.timeline.marks["max"] = self.now()
            self.up_s = self.timeline.marks["max"] - self.timeline.marks["raise"]
        return self.timeline

    def down_budget_s(self) -> float:
        """1.5 x the projected scale-down + 20 s."""
        return projected_scale_down_s(self.spec, METRICS_LAG_S, SYNC_S) * 1.5 + 20

    def scale_down(self) -> Timeline:
        """Scale up if not done, hold, lower usage; sample until minReplicas or the budget. Once."""
        if "lower" in self.timeline.marks:
            return self.timeline
        self.scale_up()
        # Hold at the top until a full scale-down period has passed there, minus the
        # window: otherwise the period would start before the scale-up and the
        # policy could not hold anything back (it is relative to the period start).
        period = max(p.period_s for p in self.spec.down.policies)
        hold_until = self.timeline.marks.get("max", self.now()) + max(0, period - self.spec.down.window_s)
        self._run_until(lambda _s: self.now() >= hold_until, max(0.0, hold_until - self.now()) + 1)
        self.timeline.marks["lower"] = self.now()
        self.level_m = self.low_m
        if self._run_until(lambda s: s.replicas <= self.spec.min_replicas, self.down_budget_s()):
            self.timeline.marks["min"] = self.now()
            self.down_s = self.timeline.marks["min"] - self.timeline.marks["lower"]
        return self.timeline

    def variant_note(self) -> str:
        """Whether the HPA ran as rendered, or which scale-down periods were divided and why."""
        if self.compression == 1:
            return "HPA applied as rendered"
        before = [p["periodSeconds"] for p in self.rendered["spec"]["behavior"]["scaleDown"]["policies"]]
        after = [p["periodSeconds"] for p in self.applied["spec"]["behavior"]["scaleDown"]["policies"]]
        return (
            f"HPA variant: scaleDown periodSeconds {before} -> {after} (divided by {self.compression}) so "
            f"the scale-down fits the {SCALE_DOWN_BUDGET_S:g} s budget of this tier; all else as rendered"
        )


def _conditions(hpa: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("type")): c for c in (hpa.get("status") or {}).get("conditions") or []}


def _utilization(hpa: Mapping[str, Any]) -> int | None:
    for metric in (hpa.get("status") or {}).get("currentMetrics") or []:
        res = metric.get("resource") or {}
        if res.get("name") == "cpu":
            value = (res.get("current") or {}).get("averageUtilization")
            return int(value) if value is not None else None
    return None
