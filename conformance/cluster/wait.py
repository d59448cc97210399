"""The one wait primitive: poll until a probe says done, against a monotonic deadline.

On timeout it raises WaitTimeout naming what was awaited, the objects, how long
it waited and the last state the probe saw, e.g.

    waited 30 s for Deployment/bt-hpa-x1/guests to have 3 replicas: last state: replicas 2, ready 2

never "error waiting for object" or an iteration count.

    pods = wait_until(lambda: ready_pods(kube, ns), what="2 pods ready",
                      objects=["Deployment/ns/guests"], timeout_s=30)

The probe returns ``Poll(done, state, value)``; `state` is a short human text of
what it saw. Exceptions listed in `retry_on` (e.g. a transient API error while a
server starts) are recorded as the state and polled again. Once the run is
interrupted (lifecycle.interrupted()), a wait stops polling and raises WaitInterrupted:
a background thread must not keep the interrupted run waiting on a cluster that is
going away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..errors import InfraError
from .lifecycle import interrupted, pause

T = TypeVar("T")


@dataclass(frozen=True)
class Poll(Generic[T]):
    done: bool
    state: str  # what the probe saw, for the timeout message
    value: T | None = None


class WaitTimeout(InfraError):
    """A wait ran out of time. Carries what, objects, timeout and the last state seen."""

    def __init__(self, what: str, objects: Sequence[str], timeout_s: float, last_state: str) -> None:
        names = ", ".join(objects) if objects else "(no objects)"
        super().__init__(f"waited {timeout_s:g} s for {names} to {what}: last state: {last_state}")
        self.what = what
        self.objects = tuple(objects)
        self.timeout_s = timeout_s
        self.last_state = last_state


class WaitInterrupted(InfraError):
    """The run was interrupted while waiting (an Exception: teardown's other steps still run)."""

    def __init__(self, what: str, objects: Sequence[str], last_state: str) -> None:
        names = ", ".join(objects) if objects else "(no objects)"
        super().__init__(f"interrupted while waiting for {names} to {what}: last state: {last_state}")


def wait_until(
    probe: Callable[[], Poll[T]],
    *,
    what: str,
    objects: Sequence[str],
    timeout_s: float,
    interval_s: float = 0.25,
    retry_on: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = pause,
) -> T | None:
    """Call probe until it reports done; return its value. Raise WaitTimeout at the deadline,
    WaitInterrupted once the run is interrupted.

    The probe always runs at least once, and once more at (or just after) the
    deadline, so a state reached while sleeping is not reported as a timeout.
    """
    deadline = clock() + timeout_s
    last = "not polled yet"
    while True:
        final = clock() >= deadline
        try:
            result = probe()
        except retry_on as err:
            last = f"{type(err).__name__}: {err}"
        else:
            if result.done:
                return result.value
            last = result.state
        if interrupted():
            raise WaitInterrupted(what, objects, last)
        if final:
            raise WaitTimeout(what, objects, timeout_s, last)
        sleep(max(0.0, min(interval_s, deadline - clock())))
