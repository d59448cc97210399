"""HPA behaviour on a real control plane, judged against the policy (policy.yaml org.hpa), not
against the HPA itself — an HPA that drifts from its policy fails here too, not only statically.

  test_hpa_scale_up[<hpa>]          usage above target -> replicas grow to the policy's maximum for
                                    the run profile, no step larger than the policy's scale-up rate
                                    allows, none before its window
  test_hpa_scale_down[<hpa>]        usage lowered -> no scale-down before the policy's window, no step
                                    larger than its scale-down rate allows, ending at the minimum
  test_hpa_scale_down_policy[<profile>-<hpa>]
                                    another profile's scale-down policy (prod: 10 % per 60 s) on a
                                    3 -> 1 range: the controller removes one replica, is held back
                                    for a whole period, then removes the next; short variant: the
                                    window set to 0 s (~90 s, overlapping the scale cycle above);
                                    `-m long`: the window as rendered (prod 300 s, ~7 min)

The rendered HPA's own drift from its policy fails the test of that aspect too (scaleUp and bounds:
scale_up; scaleDown: scale_down and the other profile's scale_down_policy), stricter or looser: the
policy is what the platform promises, and a timeline cannot show an HPA that scales too cautiously.

Which HPA: policy.yaml `exercise.hpa`, else the render's shortest scale cycle (exercise.py).
The ci scale-down budget of this tier is SCALE_DOWN_BUDGET_S: when the rendered periods do not
fit, a variant with the scale-down periodSeconds divided by the smallest integer that fits is
applied, the intent divided alike, and the test says so.
A scenario that cannot run because of the platform (rejected object, unschedulable pods, an HPA
that cannot compute its metric from the spec) FAILS with the cause; only infrastructure is BROKEN.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import allure
import pytest

from conformance.behaviour.blame import platform_fault
from conformance.behaviour.exercise import HpaSubject, ScalingIntent, scaling_intent
from conformance.behaviour.hpa import (
    HpaJudging,
    HpaRun,
    HpaStage,
    HpaWorkload,
    InBackground,
    scale_down_variant,
)
from conformance.behaviour.resources import TestNamespaces
from conformance.behaviour.scaling import (
    Rate,
    check_scale_down,
    check_scale_up,
    drift_in,
    render_svg,
    summarize,
)
from conformance.behaviour.verdict import require
from conformance.cluster import Cluster, Kube
from conformance.cluster.kube import ApiError
from conformance.cluster.wait import WaitTimeout
from conformance.inventory import Inventory
from conformance.report.allure_labels import attach_text, label

from .conftest import TIER, BehaviourEnv, render_profile, scale_down_cases

VARIANT_REPLICAS = 3  # 3 -> 2 -> 1 under 10 %: two steps, one whole period apart
SHORT_WINDOW_S = 0


@dataclass
class Scenario:
    """An HPA scenario, or why the platform kept it from starting (the tests fail with that)."""

    subject: HpaSubject
    run: HpaRun | None = None
    fault: str | None = None

    def require_run(self) -> HpaRun:
        __tracebackhide__ = True
        require(not self.subject.problem, self.subject.problem)
        require(self.fault is None, str(self.fault))
        assert self.run is not None
        return self.run


def _namespace_labels(inventory: Inventory, subject: HpaSubject) -> dict[str, str]:
    namespace = inventory.get("Namespace", "", subject.namespace)
    return dict(namespace.labels) if namespace else {}


def _blame(kube: Kube, spaces: TestNamespaces, subject: HpaSubject, err: WaitTimeout | ApiError) -> str:
    """The platform-caused reason a scenario could not run; re-raises when it is infrastructure."""
    fault = platform_fault(kube, spaces.names[-1], err, subject.name) if spaces.names else None
    if fault is None:
        raise err
    return f"{subject.hpa.ref if subject.hpa else subject.name}: {fault}"


def _own_bounds(subject: HpaSubject) -> tuple[int, int]:
    assert subject.hpa is not None
    spec = subject.hpa.spec
    return int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))


def _lacks_usage(cluster: Cluster) -> str | None:
    reason = cluster.capabilities.lacks(can_set_usage=True)
    if reason or cluster.capabilities.metrics == "none":
        return f"HPA behaviour needs CPU usage the suite can set and metrics: {reason or 'no metrics'}"
    return None


# -- another profile's scale-down policy, in the background ---------------------------------------


@dataclass
class Background:
    """One scale-down-policy scenario running in a thread while the tier goes on."""

    scenario: Scenario
    spaces: TestNamespaces
    job: InBackground | None = None
    not_applicable: str = ""  # why there is no policy to exercise (skipped with this reason)


def _stage(env: BehaviourEnv, spaces: TestNamespaces, subject: HpaSubject) -> HpaStage:
    """The session's cluster and driver, the scenario's namespaces labelled like `subject`'s."""
    return HpaStage(
        env.kube, env.workloads, spaces, _namespace_labels(env.inventory, subject), env.progress.post
    )


def _run_policy_down(env: BehaviourEnv, spaces: TestNamespaces, subject: HpaSubject, *, body: dict[str, Any],
                     intent: ScalingIntent, note: str, stop: threading.Event) -> HpaRun:  # fmt: skip
    run = HpaRun.start_at(
        _stage(env, spaces, subject),
        HpaWorkload(subject, body, VARIANT_REPLICAS),
        HpaJudging(intent.judge, intent.source, expected=(1, VARIANT_REPLICAS)),
        note=note,
        stop=stop,
    )
    run.settle_down()
    return run


def _start_policy_downs(env: BehaviourEnv, *, long: bool) -> dict[str, Background]:
    out: dict[str, Background] = {}
    for profile, subject in scale_down_cases(env.config):
        spaces = TestNamespaces(env.kube, env.cluster, f"hpa-{profile}-{subject.name}")
        background = Background(Scenario(subject), spaces)
        out[f"{profile}-{subject.id}"] = background
        if subject.problem or subject.hpa is None:
            continue
        other = render_profile(env.config, profile).get(
            "HorizontalPodAutoscaler", subject.namespace, subject.name
        )
        if other is None:
            background.scenario.fault = f"the {profile} render has no HorizontalPodAutoscaler/{subject.name}"
            continue
        base = scaling_intent(env.policy, profile, other, with_bounds=False)
        declared = ((other.body.get("spec") or {}).get("behavior") or {}).get("scaleDown") or {}
        if not declared.get("policies") and base.down is None:
            background.not_applicable = (
                f"the {profile} HorizontalPodAutoscaler/{subject.name} declares no scaleDown policies and no "
                f"policy sets a scale-down rate (judged against {base.source}): Kubernetes' default "
                "(100 % per 15 s) applies, no policy to exercise"
            )
            continue
        window = None if long else SHORT_WINDOW_S
        body = scale_down_variant(subject.hpa.body, other.body, replicas=VARIANT_REPLICAS, window_s=window)
        down = base.down
        if down is not None and window is not None:
            down = Rate(down.percent, down.period_s, window)  # the variant's window, on purpose
        intent = ScalingIntent(None, down, (1, VARIANT_REPLICAS), base.source)
        note = (
            f"{profile} scaleDown behavior as rendered, on the {env.settings.run_profile} HPA's metrics, "
            f"bounds 1-{VARIANT_REPLICAS}"
        )
        if window is not None:
            note += f"; stabilization window set to {window} s (short variant; `-m long` keeps it)"
        stop = threading.Event()
        job = functools.partial(
            _run_policy_down, env, spaces, subject, body=body, intent=intent, note=note, stop=stop
        )
        background.job = InBackground(f"{profile}-{subject.name}", job, stop)
    return out


def _stop_all(backgrounds: dict[str, Background]) -> None:
    for background in backgrounds.values():
        if background.job is not None:
            background.job.cancel()
        background.spaces.cleanup()


@pytest.fixture(scope="module")
def policy_downs(behaviour_env: BehaviourEnv) -> Iterator[dict[str, Background]]:
    """Every scale-down-policy case (short variant), started at once in the background: each mostly
    waits on the controller's periods, so they overlap the run profile's scale cycle.

    Example: ``policy_downs["prod-guests"].job.result(240)`` -> HpaRun
    """
    if _lacks_usage(behaviour_env.cluster):
        yield {}
        return
    backgrounds = _start_policy_downs(behaviour_env, long=False)
    try:
        yield backgrounds
    finally:
        _stop_all(backgrounds)


@pytest.fixture(scope="module")
def policy_downs_long(behaviour_env: BehaviourEnv) -> Iterator[dict[str, Background]]:
    """As policy_downs, with the stabilization window as rendered (only for `-m long`)."""
    if _lacks_usage(behaviour_env.cluster):
        yield {}
        return
    backgrounds = _start_policy_downs(behaviour_env, long=True)
    try:
        yield backgrounds
    finally:
        _stop_all(backgrounds)


# -- the run profile's scale cycle -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hpa_run(
    hpa_subject: HpaSubject, policy_downs: dict[str, Background], behaviour_env: BehaviourEnv
) -> Iterator[Scenario]:
    """The HPA's Deployment + HPA in a namespace of their own, metrics flowing (`policy_downs`
    first, so those run meanwhile; `platform` first: the pods need the render's PriorityClasses).

    Example: ``hpa_run.require_run().scale_up().changes()`` -> [Change(10.0, 1, 2), ...]
    """
    lacking = _lacks_usage(behaviour_env.cluster)
    if lacking:
        pytest.skip(lacking)
    scenario = Scenario(hpa_subject)
    if hpa_subject.problem or hpa_subject.hpa is None:
        yield scenario
        return
    intent = scaling_intent(behaviour_env.policy, behaviour_env.settings.run_profile, hpa_subject.hpa)
    spaces = TestNamespaces(behaviour_env.kube, behaviour_env.cluster, f"hpa-{hpa_subject.name}")
    try:
        try:
            scenario.run = HpaRun.start(
                _stage(behaviour_env, spaces, hpa_subject),
                hpa_subject,
                HpaJudging(intent.judge, intent.source, expected=intent.bounds or _own_bounds(hpa_subject)),
            )
        except (WaitTimeout, ApiError) as err:
            scenario.fault = _blame(behaviour_env.kube, spaces, hpa_subject, err)
        yield scenario
    finally:
        spaces.cleanup()
    run = scenario.run
    if run is not None and run.up_s is not None:
        behaviour_env.timing.figures[f"HPA {run.service} scale-up"] = (
            f"{run.up_s:.1f} s from usage raised to "
            f"{run.timeline.replicas_at(run.timeline.marks['max'])} replicas"
        )
    if run is not None and run.down_s is not None:
        behaviour_env.timing.figures[f"HPA {run.service} scale-down"] = (
            f"{run.down_s:.1f} s from usage lowered to {run.spec.min_replicas} replica(s); "
            f"{run.variant_note()}"
        )


def _attach(run: HpaRun, title: str) -> None:
    attach_text(
        "replica timeline",
        f"judged against {run.intent_source}\n{run.variant_note()}\nlast HPA status: {run.last_status}\n\n"
        f"{run.timeline.render()}",
    )
    allure.attach(
        render_svg(
            run.timeline, run.intent, title, f"judged against {run.intent_source}; {run.variant_note()}"
        ),
        name="replica timeline (plot)",
        attachment_type=allure.attachment_type.SVG,
    )


def _verdict(run: HpaRun, what: str, problems: list[str], changes: str, *, drift: tuple[str, ...]) -> None:
    """Fail with the timeline's problems and with the rendered HPA's drift from its policy in the
    aspects this test answers for (`drift`: scaleUp, scaleDown, bounds). The policy is what the
    platform promises, so a drift fails even when it is stricter (slower) than the policy: a timeline
    shows a step too far, but rarely an HPA more cautious than promised."""
    __tracebackhide__ = True
    own = drift_in(run.drift, *drift)
    problems = problems + [f"the rendered HPA drifts from its policy: {line}" for line in own]
    rest = [line for line in run.drift if line not in own]
    context = "".join(f"\n  - {line}" for line in rest)
    if context:
        context = "\nthe rendered HPA also drifts from its policy (another test's verdict):" + context
    require(
        not problems,
        f"HorizontalPodAutoscaler/{run.service} {what} ({changes}), judged against {run.intent_source}:\n  - "
        + "\n  - ".join(problems)
        + context
        + f"\n{run.variant_note()}\nlast state: {run.last_status}",
    )


def test_hpa_scale_up(hpa_run: Scenario) -> None:
    """Replicas grow to the expected maximum, no step beyond the policy's scale-up rate; the rendered
    scaleUp and bounds are the policy's."""
    label(TIER, "autoscaling", [hpa_run.subject.name], "critical")
    run = hpa_run.require_run()
    timeline = run.scale_up()
    _attach(run, f"{run.service}: scale-up")
    problems = check_scale_up(timeline, run.intent, run.expected_max)
    ups = [c for c in timeline.changes() if c.after > c.before]
    _verdict(run, f"under load ({run.high_m}m/pod)", problems, summarize(ups), drift=("scaleUp", "bounds"))


def test_hpa_scale_down(hpa_run: Scenario) -> None:
    """After the policy's window replicas shrink no faster than its scale-down rate, to the minimum;
    the rendered scaleDown is the policy's."""
    label(TIER, "autoscaling", [hpa_run.subject.name], "critical")
    run = hpa_run.require_run()
    timeline = run.scale_down()
    _attach(run, f"{run.service}: scale-up and scale-down")
    problems = check_scale_down(timeline, run.intent, run.expected_min)
    downs = [c for c in timeline.changes() if c.after < c.before]
    held = sum(1 for s in timeline.samples if s.limited == "ScaleDownLimit")
    print(
        f"{run.service}: scale-down {summarize(downs)}; the policy held the HPA back in {held} sample(s); "
        f"{run.variant_note()}"
    )
    _verdict(run, "after load", problems, summarize(downs), drift=("scaleDown",))


def _judge_policy_down(background: Background | None, env: BehaviourEnv, timeout_s: float) -> None:
    __tracebackhide__ = True
    if background is None:
        pytest.skip("HPA behaviour needs CPU usage the suite can set and metrics")
    scenario = background.scenario
    label(TIER, "autoscaling", [scenario.subject.name], "critical")
    if background.not_applicable:
        pytest.skip(background.not_applicable)
    run = None
    if background.job is not None:
        try:
            run = background.job.result(timeout_s, env.progress.flush)
        except (WaitTimeout, ApiError) as err:
            scenario.fault = _blame(env.kube, background.spaces, scenario.subject, err)
    scenario.run = run
    run = scenario.require_run()
    _attach(run, f"{run.service}: {run.note}")
    problems = check_scale_down(run.timeline, run.intent, 1)
    if run.timeline.changes() and not any(s.limited == "ScaleDownLimit" for s in run.timeline.samples):
        problems.append("the controller never reported ScaleDownLimit: the policy never held it back")
    downs = [c for c in run.timeline.changes() if c.after < c.before]
    print(f"{run.service}: {summarize(downs)}; {run.note}")
    env.timing.figures[f"HPA {run.service} scale-down policy ({run.intent_source})"] = (
        f"{summarize(downs)} after the HPA was applied; {run.note}"
    )
    # The variant's only intent is the other profile's scaleDown (bounds and window set on purpose).
    _verdict(run, f"idle from {VARIANT_REPLICAS} replicas", problems, summarize(downs), drift=("scaleDown",))


def test_hpa_scale_down_policy(
    policy_case: str, policy_downs: dict[str, Background], behaviour_env: BehaviourEnv
) -> None:
    """Another profile's scale-down policy holds the real controller back, step by step."""
    _judge_policy_down(policy_downs.get(policy_case), behaviour_env, 300)


@pytest.mark.long
def test_hpa_scale_down_policy_long(
    policy_case: str, policy_downs_long: dict[str, Background], behaviour_env: BehaviourEnv
) -> None:
    """As test_hpa_scale_down_policy, with the stabilization window as rendered (prod: 300 s, ~7 min)."""
    _judge_policy_down(policy_downs_long.get(policy_case), behaviour_env, 900)
