"""Running one HPA of the render on a live cluster and recording its replica timeline.

    stage = HpaStage(kube, driver, spaces, ns_labels)
    run = HpaRun.start(stage, subject, HpaJudging(intent.judge, intent.source, expected=(1, 3)))
    run.scale_up()      # usage above target until replicas reach maxReplicas (or stall)
    run.scale_down()    # hold, lower usage, until replicas reach minReplicas (or time is up)
    run.timeline        # Sample(t, replicas, utilization, limited) + marks raise/max/lower/min

    run = HpaRun.start_at(stage, HpaWorkload(subject, variant, replicas=3), judging, note=..., stop=...)
    run.settle_down()   # idle from the start: the timeline of one policy-limited scale-down

The real Deployment, ServiceAccount and HPA of the render are applied in a test
namespace (labelled like the platform namespace). CPU usage is driven through the
provider's WorkloadDriver (kwok: a pod annotation; kind: resource-consumer's ConsumeCPU). Levels
derive from the pod's CPU request and the HPA's target: 4x the target while loaded,
1m when idle. The timeline is judged against `intent` (the policy's rates, windows
and bounds: scaling.intended), and the budgets of each phase come from it too, so an
HPA slower than its policy runs out of time and one faster breaks a step limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.cluster.base import WorkloadDriver
from conformance.cluster.kube import ApiError, Kube
from conformance.cluster.wait import Poll, wait_until
from conformance.errors import InfraError
from conformance.inventory import K8sObject
from conformance.k8s import conditions, containers, requests_of

from .exercise import HpaSubject
from .resources import TestNamespaces, pod_security_labels, wait_deployment_ready
from .scaling import HpaSpec, Sample, Timeline, compress_scale_down, compressed, projected_scale_down_s

TICK_S = 0.5
SYNC_S = 5.0  # --horizontal-pod-autoscaler-sync-period of the local and kind providers
METRICS_LAG_S = 15.0  # metric-resolution 10 s + one HPA sync
FIRST_METRICS_S = 45.0  # kwok + metrics-server: first pod metrics after ~25 s
SCALE_DOWN_BUDGET_S = 60.0  # the tier must finish in ~3 min; the scale-down gets this much
LOAD_FACTOR = 4  # usage while loaded = 4 x the target: far outside the HPA's 10 % tolerance
IDLE_MILLICORES = 1
PROGRESS_EVERY_S = 5.0  # a live line at least this often while an HPA phase runs
Intent = Callable[[HpaSpec], tuple[HpaSpec, list[str]]]  # rendered spec -> (intended spec, drift)


def cpu_millicores(value: Any) -> int:
    """A CPU quantity in millicores: cpu_millicores("10m") == 10, cpu_millicores("1.5") == 1500."""
    text = str(value)
    if text.endswith("m"):
        return int(float(text[:-1]))
    return int(float(text) * 1000)


def _request_millicores(workload: K8sObject) -> int:
    """CPU requested by one pod of the workload, over its (non-init) containers."""
    return sum(
        cpu_millicores(requests_of(container).get("cpu", "0"))
        for container, _ in containers(workload, include_init=False)
    )


def _quiet(_line: str) -> None:
    """No live lines (a run without a progress reporter)."""


@dataclass(frozen=True)
class HpaStage:
    """Where an HPA scenario runs: the cluster's API, the provider's CPU driver, the scenario's own
    namespaces, the labels they copy from the platform namespace (PodSecurity) and where live lines go."""

    kube: Kube
    driver: WorkloadDriver
    spaces: TestNamespaces
    namespace_labels: Mapping[str, str]
    progress: Callable[[str], None] = _quiet


@dataclass(frozen=True)
class HpaWorkload:
    """What is deployed: the render's HPA subject (Deployment, ServiceAccount), the HPA body to apply
    (the rendered one or a variant) and the Deployment's starting replicas (None: minReplicas)."""

    subject: HpaSubject
    hpa_body: dict[str, Any]
    replicas: int | None


@dataclass(frozen=True)
class HpaJudging:
    """What the timeline is judged against: the intent (rendered spec -> intended spec, drift), where
    it comes from (named in every verdict) and the (min, max) replicas the run must reach."""

    intent: Intent
    source: str
    expected: tuple[int, int]


@dataclass
class HpaRun:
    """One HPA scenario on a live cluster; see the module docstring."""

    kube: Kube
    driver: WorkloadDriver
    spaces: TestNamespaces
    namespace: str
    service: str  # the HPA's (and its Deployment's) name
    target: str  # the Deployment it scales
    selector: dict[str, str]
    spec: HpaSpec  # the HPA as applied
    intent: HpaSpec  # what the timeline is judged against (compressed like the applied HPA)
    intent_source: str
    drift: list[str]  # how the rendered HPA differs from the intent
    rendered: dict[str, Any]  # the HPA as rendered
    applied: dict[str, Any]  # the HPA as applied (a variant when compression was needed)
    compression: int  # 1: as rendered; k: scale-down periods divided by k
    expected_min: int
    expected_max: int
    high_m: int
    low_m: int = IDLE_MILLICORES
    stop: threading.Event = field(default_factory=threading.Event)
    timeline: Timeline = field(default_factory=Timeline)
    t0: float = 0.0
    level_m: int = IDLE_MILLICORES
    up_s: float | None = None
    down_s: float | None = None
    last_status: str = ""
    note: str = ""  # a variant applied on purpose (e.g. a shortened window), named in every verdict
    progress: Callable[[str], None] = field(default=lambda _line: None)  # live lines (Progress.post)
    phase: str = "starting"
    _said: tuple[float, int] = (-math.inf, -1)  # (when, replicas) of the last progress line

    # -- setup ----------------------------------------------------------------------------
    @classmethod
    def _deploy(
        cls,
        stage: HpaStage,
        workload: HpaWorkload,
        judging: HpaJudging,
        *,
        compress: bool,
        stop: threading.Event,
    ) -> HpaRun:
        subject, hpa_body, replicas = workload.subject, workload.hpa_body, workload.replicas
        assert subject.hpa is not None and subject.target is not None
        spaces = stage.spaces
        ns = spaces.create(labels=pod_security_labels(stage.namespace_labels))
        if compress:
            applied, k = compress_scale_down(hpa_body, SCALE_DOWN_BUDGET_S, METRICS_LAG_S, SYNC_S)
        else:
            applied, k = hpa_body, 1
        spec = HpaSpec.from_body(applied)
        wanted, drift = judging.intent(HpaSpec.from_body(hpa_body))
        target = spec.cpu_target_percent or 70
        high = max(2, math.ceil(_request_millicores(subject.target) * target / 100 * LOAD_FACTOR))
        deployment = stage.driver.adapt(subject.target.body)
        if replicas is not None:
            deployment.setdefault("spec", {})["replicas"] = replicas
        objects = [subject.account.body] if subject.account is not None else []
        for obj in (*objects, deployment):
            spaces.apply({**obj, "metadata": {**obj["metadata"], "namespace": ns}})
        run = cls(
            kube=stage.kube,
            driver=stage.driver,
            spaces=spaces,
            namespace=ns,
            service=subject.name,
            target=subject.target.name,
            selector=dict((subject.target.spec.get("selector") or {}).get("matchLabels") or {}),
            spec=spec,
            intent=compressed(wanted, k),
            intent_source=judging.source,
            drift=drift,
            rendered=subject.hpa.body,
            applied=applied,
            compression=k,
            expected_min=judging.expected[0],
            expected_max=judging.expected[1],
            high_m=high,
            stop=stop,
            progress=stage.progress,
        )
        run.progress(f"behaviour: HPA {run.service}: {run.target} deployed in {ns}, waiting for its pods")
        wait_deployment_ready(
            stage.kube, ns, run.target, replicas if replicas is not None else spec.min_replicas
        )
        spaces.apply({**applied, "metadata": {**applied["metadata"], "namespace": ns}})
        return run

    @classmethod
    def start(cls, stage: HpaStage, subject: HpaSubject, judging: HpaJudging) -> HpaRun:
        """The Deployment at minReplicas, then its HPA (or a time-compressed variant); returns once
        the HPA has read CPU metrics (the timeline starts then)."""
        assert subject.hpa is not None
        workload = HpaWorkload(subject, subject.hpa.body, replicas=None)
        run = cls._deploy(stage, workload, judging, compress=True, stop=threading.Event())
        run.progress(f"behaviour: HPA {run.service}: waiting for its first CPU metrics (~25 s on kwok)")
        run._wait_for_metrics()
        return run

    @classmethod
    def start_at(
        cls, stage: HpaStage, workload: HpaWorkload, judging: HpaJudging, *, note: str, stop: threading.Event
    ) -> HpaRun:
        """The Deployment at `workload.replicas`, idle, then `workload.hpa_body` as given; the timeline
        starts when the HPA is applied (its first scale-down may come with its first metrics)."""
        run = cls._deploy(stage, workload, judging, compress=False, stop=stop)
        run.note = note
        run.t0 = time.monotonic()
        run.timeline.marks["lower"] = 0.0
        run._tick()
        return run

    def _wait_for_metrics(self) -> None:
        """Until the HPA has read CPU utilization once (first pod metrics take ~25 s on kwok)."""

        def ready() -> Poll[bool]:
            self._check_stop()
            self.driver.set_cpu(self.kube, self.namespace, self.selector, self.level_m)
            hpa = self._hpa()
            util = _utilization(hpa)
            conds = conditions(hpa)
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
            timeout_s=FIRST_METRICS_S + 75,
            interval_s=1.0,
            retry_on=(ApiError,),
        )
        self.t0 = time.monotonic()
        self._tick()

    # -- sampling ---------------------------------------------------------------------------
    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise InfraError(f"HPA scenario for {self.service} interrupted")

    def _hpa(self) -> dict[str, Any]:
        return self.kube.get("autoscaling/v2", "HorizontalPodAutoscaler", self.service, self.namespace)

    def now(self) -> float:
        """Seconds since the timeline began."""
        return time.monotonic() - self.t0

    def _tick(self) -> Sample:
        self.driver.set_cpu(self.kube, self.namespace, self.selector, self.level_m)
        replicas = int(
            (self.kube.get("apps/v1", "Deployment", self.target, self.namespace).get("spec") or {}).get(
                "replicas"
            )
            or 0
        )
        hpa = self._hpa()
        limited = conditions(hpa).get("ScalingLimited", {})
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
        if sample.t - self._said[0] >= PROGRESS_EVERY_S or replicas != self._said[1]:
            self._said = (sample.t, replicas)
            target = self.spec.cpu_target_percent
            self.progress(
                f"behaviour: HPA {self.service} {self.phase} t={sample.t:.0f}s: {self.last_status}"
                + (f" (target {target}%)" if target else "")
            )
        return sample

    def _run_until(self, done: Callable[[Sample], bool], budget_s: float) -> bool:
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            self._check_stop()
            began = time.monotonic()
            if done(self._tick()):
                return True
            time.sleep(max(0.0, TICK_S - (time.monotonic() - began)))
        return False

    # -- phases -----------------------------------------------------------------------------
    def up_budget_s(self) -> float:
        """How long scale-up may take when it keeps to the intent: each step as late as sync and
        metrics allow, + 30 s."""
        spec = self.intent
        steps = spec.steps(self.spec.min_replicas, self.spec.max_replicas, up=True) or 1
        period = max(p.period_s for p in spec.up.policies)
        return spec.up.window_s + METRICS_LAG_S + steps * (period + SYNC_S) + 30

    def scale_up(self) -> Timeline:
        """Raise usage; sample until maxReplicas, a TooManyReplicas stall, or the budget. Once."""
        if "raise" in self.timeline.marks:
            return self.timeline
        self.timeline.marks["raise"] = self.now()
        self.level_m = self.high_m
        self.phase = f"scale-up to {self.spec.max_replicas}"

        def at_max(s: Sample) -> bool:
            # Stop at maxReplicas, or as soon as the HPA says it wants more than its maximum allows.
            return s.replicas >= self.spec.max_replicas or (s.limited == "TooManyReplicas" and s.replicas > 0)

        if self._run_until(at_max, self.up_budget_s()):
            self.timeline.marks["max"] = self.now()
            self.up_s = self.timeline.marks["max"] - self.timeline.marks["raise"]
        return self.timeline

    def down_budget_s(self, start: int | None = None) -> float:
        """1.5 x the scale-down the intent projects (from `start`, default maxReplicas) + 20 s."""
        spec = self.intent
        if start is not None:
            spec = HpaSpec(spec.name, spec.min_replicas, start, spec.up, spec.down, spec.cpu_target_percent)
        return projected_scale_down_s(spec, METRICS_LAG_S, SYNC_S) * 1.5 + 20

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
        self.phase = f"scale-down to {self.spec.min_replicas}"
        return self._until_min(self.down_budget_s())

    def settle_down(self) -> Timeline:
        """For a run made with start_at: sample until minReplicas or the intent's budget. Once."""
        if "min" in self.timeline.marks:
            return self.timeline
        self.phase = f"{self.note.split(' ', 1)[0]} scale-down policy, to {self.spec.min_replicas}"
        return self._until_min(self.down_budget_s(start=self.timeline.samples[0].replicas))

    def _until_min(self, budget_s: float) -> Timeline:
        lowered = self.timeline.marks["lower"]
        if self._run_until(lambda s: s.replicas <= self.spec.min_replicas, budget_s):
            self.timeline.marks["min"] = self.now()
            self.down_s = self.timeline.marks["min"] - lowered
        return self.timeline

    def variant_note(self) -> str:
        """Whether the HPA ran as rendered, or which variant was applied and why."""
        if self.note:
            return self.note
        if self.compression == 1:
            return "HPA applied as rendered"
        before = [p["periodSeconds"] for p in self.rendered["spec"]["behavior"]["scaleDown"]["policies"]]
        after = [p["periodSeconds"] for p in self.applied["spec"]["behavior"]["scaleDown"]["policies"]]
        return (
            f"HPA variant: scaleDown periodSeconds {before} -> {after} (divided by {self.compression}) so "
            f"the scale-down fits the {SCALE_DOWN_BUDGET_S:g} s budget of this tier; all else as rendered"
        )


def _utilization(hpa: Mapping[str, Any]) -> int | None:
    for metric in (hpa.get("status") or {}).get("currentMetrics") or []:
        res = metric.get("resource") or {}
        if res.get("name") == "cpu":
            value = (res.get("current") or {}).get("averageUtilization")
            return int(value) if value is not None else None
    return None


def scale_down_variant(
    run_hpa: Mapping[str, Any], other: Mapping[str, Any], *, replicas: int, window_s: int | None
) -> dict[str, Any]:
    """The run profile's HPA (its target and metrics, which this cluster serves) with another
    profile's scaleDown behavior as rendered, bounds 1..`replicas`, and — when `window_s` is not
    None — that behavior's stabilization window replaced (the short variant)."""
    import copy

    body = copy.deepcopy(dict(run_hpa))
    spec = body.setdefault("spec", {})
    down = copy.deepcopy(((other.get("spec") or {}).get("behavior") or {}).get("scaleDown") or {})
    if window_s is not None:
        down["stabilizationWindowSeconds"] = window_s
    spec.setdefault("behavior", {})["scaleDown"] = down
    spec["minReplicas"], spec["maxReplicas"] = 1, replicas
    return body


class InBackground:
    """Run `fn` in a thread now; `result()` joins (bounded) and returns its value or re-raises.

    Lets two HPA scenarios overlap: each waits mostly on the controller's periods.
    """

    def __init__(self, name: str, fn: Callable[[], Any], stop: threading.Event) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._stop = stop
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as err:  # handed to the joining test, never lost
            self._error = err

    def result(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> Any:
        """Join (calling `tick` every second, e.g. to print progress), then the value or its error."""
        deadline = time.monotonic() + timeout_s
        while self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(1.0)
            tick()
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(10)
            raise InfraError(f"background HPA scenario {self._thread.name} did not finish in {timeout_s:g} s")
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> None:
        """Stop the scenario (its loops check the event) and wait for the thread to end."""
        self._stop.set()
        self._thread.join(15)
