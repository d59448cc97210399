"""The wait primitive against a fake clock: deadlines, the timeout message, retried errors."""

from __future__ import annotations

import re

import pytest

from conformance.cluster.wait import Poll, WaitTimeout, wait_until
from conformance.errors import InfraError


class FakeClock:
    """Monotonic time that only moves when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_value_once_done() -> None:
    clock = FakeClock()
    states = iter([Poll(False, "1/3 ready"), Poll(False, "2/3 ready"), Poll(True, "3/3 ready", value=3)])
    got = wait_until(
        lambda: next(states),
        what="be ready",
        objects=["Deployment/ns/a"],
        timeout_s=10,
        interval_s=1,
        clock=clock,
        sleep=clock.sleep,
    )
    assert got == 3
    assert clock.sleeps == [1, 1]


def test_timeout_names_objects_and_the_last_state_seen() -> None:
    clock = FakeClock()
    seen = iter(range(1000))

    def probe() -> Poll[None]:
        return Poll(False, f"replicas {next(seen)}, ScalingLimited TooManyReplicas")

    with pytest.raises(WaitTimeout) as info:
        wait_until(
            probe,
            what="have 3 replicas",
            objects=["Deployment/ns/guests", "HorizontalPodAutoscaler/ns/guests"],
            timeout_s=5,
            interval_s=1,
            clock=clock,
            sleep=clock.sleep,
        )
    message = str(info.value)
    assert message.startswith(
        "waited 5 s for Deployment/ns/guests, HorizontalPodAutoscaler/ns/guests to have 3 replicas: "
        "last state: "
    )
    assert message.endswith("ScalingLimited TooManyReplicas")
    assert info.value.last_state == "replicas 5, ScalingLimited TooManyReplicas"  # polled at the deadline too
    assert not re.search(r"\b(attempt|iteration|tries|retries)\b", message)
    assert isinstance(info.value, InfraError)  # callers that judge behaviour turn it into a failure


def test_the_deadline_is_monotonic_time_not_a_count() -> None:
    clock = FakeClock()
    calls = 0

    def slow_probe() -> Poll[None]:
        nonlocal calls
        calls += 1
        clock.now += 4  # each poll itself takes 4 s
        return Poll(False, "pending")

    with pytest.raises(WaitTimeout):
        wait_until(
            slow_probe,
            what="x",
            objects=["Pod/ns/p"],
            timeout_s=10,
            interval_s=0.5,
            clock=clock,
            sleep=clock.sleep,
        )
    # Polls at t=100, 104.5 and 109; the deadline (110) passed during the third, so one final
    # poll follows at once and the wait ends: bounded by time, not by a number of tries.
    assert calls == 4
    assert clock.now == 117


def test_listed_errors_are_retried_and_reported() -> None:
    clock = FakeClock()

    def probe() -> Poll[None]:
        raise ConnectionError("connection refused")

    with pytest.raises(WaitTimeout, match=r"last state: ConnectionError: connection refused$"):
        wait_until(
            probe,
            what="answer",
            objects=["APIService/v1beta1.metrics.k8s.io"],
            timeout_s=2,
            retry_on=(ConnectionError,),
            clock=clock,
            sleep=clock.sleep,
        )


def test_other_errors_propagate() -> None:
    clock = FakeClock()

    def probe() -> Poll[None]:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        wait_until(probe, what="x", objects=[], timeout_s=2, clock=clock, sleep=clock.sleep)


def test_zero_timeout_still_polls_once() -> None:
    clock = FakeClock()
    assert (
        wait_until(
            lambda: Poll(True, "ok", "v"),
            what="x",
            objects=["a"],
            timeout_s=0,
            clock=clock,
            sleep=clock.sleep,
        )
        == "v"
    )
    with pytest.raises(WaitTimeout, match="waited 0 s for a to x: last state: no"):
        wait_until(
            lambda: Poll(False, "no"), what="x", objects=["a"], timeout_s=0, clock=clock, sleep=clock.sleep
        )
