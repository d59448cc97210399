"""HPA behaviour of one platform service on a real control plane.

  test_hpa_scale_up     usage above target -> replicas grow to policy.yaml's maximum for the run
                        profile, each step within scaleUp (100 % per 15 s in ci)
  test_hpa_scale_down   usage lowered -> no scale-down before the stabilization window, each
                        step within scaleDown, ending at the minimum

Both judge one recorded replica timeline (conformance/suites/behaviour/scaling.py,
pure functions) and attach it as text and as an SVG plot.

The service is `guests`: its ci range (1 -> 3) is the shortest scale cycle, so
the whole scenario fits the tier's budget. The ci scale-down policy (10 % per
60 s) would need ~140 s from 3 to 1 if the policy is to hold the HPA back; when
the rendered periods do not fit SCALE_DOWN_BUDGET_S, a variant with the
scale-down periodSeconds divided by the smallest integer that fits is applied,
and the test says so (everything else as rendered; the checks use its numbers).
"""

from __future__ import annotations

from collections.abc import Iterator

import allure
import pytest

from conformance.cluster import Cluster, Kube, WorkloadDriver
from conformance.inventory import Inventory
from conformance.policy import Policy
from conformance.report.allure_labels import attach_text, label
from conformance.settings import Settings

from .conftest import TIER, BehaviourTiming
from .hpa import HpaRun
from .platform import PlatformState
from .resources import TestNamespaces
from .scaling import check_scale_down, check_scale_up, render_svg, summarize
from .verdict import require

HPA_SERVICE = "guests"


@pytest.fixture(scope="module")
def hpa_run(
    cluster: Cluster,
    kube: Kube,
    workloads: WorkloadDriver,
    inventory: Inventory,
    policy: Policy,
    *,
    platform: PlatformState,
    settings: Settings,
    behaviour_timing: BehaviourTiming,
) -> Iterator[HpaRun]:
    """The service's Deployment + HPA from the render, in a namespace of their own, metrics flowing.

    `platform` first: the pods need the render's PriorityClasses.
    Example: ``hpa_run.scale_up().changes()`` -> [Change(10.0, 1, 2), Change(25.0, 2, 3)]
    """
    reason = cluster.capabilities.lacks(can_set_usage=True)
    if reason or cluster.capabilities.metrics == "none":
        pytest.skip(f"HPA behaviour needs CPU usage the suite can set and metrics: {reason or 'no metrics'}")
    profile = settings.run_profile
    bounds = policy.services[HPA_SERVICE].bounds.get(profile)
    if bounds is None:
        pytest.fail(f"policy.yaml has no {profile} bounds for {HPA_SERVICE}", pytrace=False)
    spaces = TestNamespaces(kube, cluster, f"hpa-{HPA_SERVICE}")
    try:
        run = HpaRun.start(
            kube,
            workloads,
            spaces,
            inventory,
            platform_ns=policy.namespace,
            service=HPA_SERVICE,
            expected=bounds,
        )
        yield run
    finally:
        spaces.cleanup()
    if run.up_s is not None:
        behaviour_timing.figures["HPA scale-up"] = (
            f"{run.up_s:.1f} s from usage raised to "
            f"{run.timeline.replicas_at(run.timeline.marks['max'])} replicas"
        )
    if run.down_s is not None:
        behaviour_timing.figures["HPA scale-down"] = (
            f"{run.down_s:.1f} s from usage lowered to "
            f"{run.spec.min_replicas} replica(s); {run.variant_note()}"
        )


def _attach(run: HpaRun, title: str) -> None:
    attach_text(
        "replica timeline",
        f"{run.variant_note()}\nlast HPA status: {run.last_status}\n\n{run.timeline.render()}",
    )
    allure.attach(
        render_svg(run.timeline, run.spec, title, run.variant_note()),
        name="replica timeline (plot)",
        attachment_type=allure.attachment_type.SVG,
    )


def test_hpa_scale_up(hpa_run: HpaRun) -> None:
    """Replicas grow to the expected maximum, each step within the scale-up policy."""
    label(TIER, "autoscaling", [HPA_SERVICE], "critical")
    timeline = hpa_run.scale_up()
    _attach(hpa_run, f"{HPA_SERVICE}: scale-up")
    problems = check_scale_up(timeline, hpa_run.spec, hpa_run.expected_max)
    ups = [c for c in timeline.changes() if c.after > c.before]
    require(
        not problems,
        f"HorizontalPodAutoscaler/{HPA_SERVICE} under load ({hpa_run.high_m}m/pod, {summarize(ups)}):\n  - "
        + "\n  - ".join(problems)
        + f"\nlast state: {hpa_run.last_status}",
    )


def test_hpa_scale_down(hpa_run: HpaRun) -> None:
    """After the stabilization window replicas shrink no faster than the scale-down policy, to the minimum."""
    label(TIER, "autoscaling", [HPA_SERVICE], "critical")
    timeline = hpa_run.scale_down()
    _attach(hpa_run, f"{HPA_SERVICE}: scale-up and scale-down")
    problems = check_scale_down(timeline, hpa_run.spec, hpa_run.expected_min)
    downs = [c for c in timeline.changes() if c.after < c.before]
    held = sum(1 for s in timeline.samples if s.limited == "ScaleDownLimit")
    print(
        f"{HPA_SERVICE}: scale-down {summarize(downs)}; the policy held the HPA back in {held} sample(s); "
        f"{hpa_run.variant_note()}"
    )
    require(
        not problems,
        f"HorizontalPodAutoscaler/{HPA_SERVICE} after load ({summarize(downs)}):\n  - "
        + "\n  - ".join(problems)
        + f"\nlast state: {hpa_run.last_status}",
    )
