"""The HPA timeline rules (pure functions) on synthetic timelines, and the plot."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from conformance.behaviour.scaling import (
    HpaSpec,
    Sample,
    ScalingPolicy,
    Timeline,
    check_bounds,
    check_scale_down,
    check_scale_up,
    compress_scale_down,
    projected_scale_down_s,
    render_svg,
)


def hpa(min_r: int = 1, max_r: int = 3, down_period: int = 60, down_window: int = 15) -> dict[str, Any]:
    """The shape the chart renders for `ci` (values-ci.yaml numbers by default)."""
    return {
        "metadata": {"name": "guests"},
        "spec": {
            "minReplicas": min_r,
            "maxReplicas": max_r,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": down_window,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 10, "periodSeconds": down_period}],
                },
            },
        },
    }


def timeline(points: list[tuple[float, int]], **marks: float) -> Timeline:
    """Samples every 0.5 s between the given (time, replicas) steps, like the poller records."""
    tl = Timeline(marks=dict(marks))
    end = points[-1][0] + 5
    t, i = 0.0, 0
    while t <= end:
        while i + 1 < len(points) and points[i + 1][0] <= t:
            i += 1
        tl.add(Sample(t, points[i][1]))
        t = round(t + 0.5, 1)
    return tl


SPEC = HpaSpec.from_body(hpa())


def test_policy_rounding_matches_the_controller() -> None:
    up = ScalingPolicy("Percent", 100, 15)
    down = ScalingPolicy("Percent", 10, 60)
    assert [up.propose(n, up=True) for n in (1, 2, 3)] == [2, 4, 6]
    # int(n * 0.9): below 10 replicas a 10 % policy still removes one pod per period.
    assert [down.propose(n, up=False) for n in (1, 2, 3, 10, 11)] == [0, 1, 2, 9, 9]
    assert ScalingPolicy("Pods", 4, 15).propose(3, up=True) == 7


def test_defaults_when_the_hpa_has_no_behavior() -> None:
    body = hpa()
    del body["spec"]["behavior"]
    spec = HpaSpec.from_body(body)
    assert spec.down.window_s == 300
    assert spec.up.limit({15: 2}, up=True) == 6  # max(2 + 4 pods, 2 x 200 %)


def test_a_compliant_scale_up_passes() -> None:
    tl = timeline([(0, 1), (10, 2), (26, 3)])
    tl.marks = {"raise": 0.0}
    assert check_scale_up(tl, SPEC, expected_max=3) == []


def test_doubling_faster_than_the_policy_fails() -> None:
    tl = timeline([(0, 1), (10, 3)])
    tl.marks = {"raise": 0.0}
    problems = check_scale_up(tl, SPEC, expected_max=3)
    assert problems == [
        "at t=10.0 s replicas went 1 -> 3, but scaleUp allows at most 2 "
        "(+100 % per 15 s (selectPolicy Max, window 0 s))"
    ]


def test_two_steps_inside_one_period_fail() -> None:
    tl = timeline([(0, 1), (10, 2), (20, 3)])  # 2 -> 3 only 10 s after 1 -> 2: base is still 1
    tl.marks = {"raise": 0.0}
    assert any("1 -> 3" in p or "2 -> 3" in p for p in check_scale_up(tl, SPEC, expected_max=3))


def test_observation_jitter_within_tolerance_passes() -> None:
    # The second step seen 14 s after the first (polling), the controller saw >= 15 s.
    tl = timeline([(0, 1), (10, 2), (24, 3)])
    tl.marks = {"raise": 0.0}
    assert check_scale_up(tl, SPEC, expected_max=3, tolerance_s=2.0) == []


def test_max_too_low_names_the_hpa_maximum() -> None:
    spec = HpaSpec.from_body(hpa(max_r=2))
    tl = timeline([(0, 1), (10, 2)])
    tl.marks = {"raise": 0.0}
    assert check_scale_up(tl, spec, expected_max=3) == [
        "replicas peaked at 2 under load but 3 were expected (the HPA's maxReplicas is 2)"
    ]


def test_scale_down_while_loaded_fails() -> None:
    tl = timeline([(0, 1), (10, 2), (30, 1)])
    tl.marks = {"raise": 0.0}
    assert "while usage was still above target" in " ".join(check_scale_up(tl, SPEC, expected_max=2))


def test_a_compliant_scale_down_passes() -> None:
    # At max since t=30; lowered at 75; 3 -> 2 at 95 (window 15 + lag), 2 -> 1 one period later.
    tl = timeline([(0, 1), (10, 2), (30, 3), (95, 2), (156, 1)])
    tl.marks = {"raise": 0.0, "max": 30.0, "lower": 75.0}
    assert check_scale_down(tl, SPEC) == []


def test_scale_down_before_the_window_fails() -> None:
    tl = timeline([(0, 3), (100, 2), (170, 1)])
    tl.marks = {"lower": 95.0}
    problems = check_scale_down(tl, SPEC)
    assert problems[0].startswith("at t=100.0 s replicas went 3 -> 2, 5.0 s after usage was lowered")


def test_scale_down_faster_than_the_policy_fails() -> None:
    tl = timeline([(0, 3), (100, 1)])  # 3 -> 1 at once, 3 replicas for the whole period before
    tl.marks = {"lower": 80.0}
    assert check_scale_down(tl, SPEC) == [
        "at t=100.0 s replicas went 3 -> 1, but scaleDown allows no fewer than 2 "
        "(-10 % per 60 s (selectPolicy Max, window 15 s))"
    ]


def test_second_step_inside_the_period_fails() -> None:
    tl = timeline([(0, 3), (100, 2), (130, 1)])
    tl.marks = {"lower": 80.0}
    problems = check_scale_down(tl, SPEC)
    assert len(problems) == 1 and "2 -> 1" in problems[0]


def test_the_period_counts_from_its_start_not_from_the_last_scale_up() -> None:
    # Documented semantics: 60 s before t=75 there was 1 replica, so 3 -> 1 is allowed.
    tl = timeline([(0, 1), (10, 2), (25, 3), (75, 1)])
    tl.marks = {"raise": 0.0, "lower": 50.0}
    assert check_scale_down(tl, SPEC) == []


def test_scale_down_must_end_at_minimum() -> None:
    tl = timeline([(0, 3), (100, 2)])
    tl.marks = {"lower": 80.0}
    assert "replicas ended at 2 after usage was lowered, expected 1 (minReplicas)" in check_scale_down(
        tl, SPEC
    )


def test_bounds() -> None:
    tl = timeline([(0, 1), (10, 4)])
    assert check_bounds(tl, SPEC) == ["at t=10.0 s replicas 4 are above maxReplicas 3"]
    assert check_bounds(timeline([(0, 0)]), SPEC) == ["at t=0.0 s replicas 0 are below minReplicas 1"]


def test_the_ci_scale_down_does_not_fit_the_budget_so_a_variant_is_derived() -> None:
    body = hpa()
    assert projected_scale_down_s(HpaSpec.from_body(body), lag_s=15, sync_s=5) == 60 + 15 + 65
    variant, k = compress_scale_down(body, budget_s=60, lag_s=15, sync_s=5)
    assert k == 3
    assert variant["spec"]["behavior"]["scaleDown"]["policies"] == [
        {"type": "Percent", "value": 10, "periodSeconds": 20}
    ]
    # Nothing else changes, and the input is untouched.
    rest = copy.deepcopy(variant)
    rest["spec"]["behavior"]["scaleDown"]["policies"][0]["periodSeconds"] = 60
    assert rest == body == hpa()


def test_a_fitting_policy_is_applied_as_rendered() -> None:
    body = hpa(down_period=15)
    variant, k = compress_scale_down(body, budget_s=60, lag_s=15, sync_s=5)
    assert (variant, k) == (body, 1)


@pytest.mark.parametrize("samples", [[], [(0.0, 1)]])
def test_svg_is_well_formed(samples: list[tuple[float, int]]) -> None:
    tl = timeline([(0, 1), (10, 2), (26, 3), (60, 2), (80, 1)]) if samples else Timeline()
    tl.marks = {"raise": 0.0, "max": 26.0, "lower": 40.0, "min": 80.0} if samples else {}
    for s in tl.samples:
        object.__setattr__(s, "utilization", 280 if s.t < 45 else 10)
    root = ET.fromstring(render_svg(tl, SPEC, "guests <ci> & co", "variant note"))
    assert root.tag.endswith("svg")
    text = ET.tostring(root, encoding="unicode")
    assert "guests &lt;ci&gt; &amp; co" in text
    if samples:
        assert "maxReplicas 3" in text and "minReplicas 1" in text
        assert root.find("{http://www.w3.org/2000/svg}path") is not None
