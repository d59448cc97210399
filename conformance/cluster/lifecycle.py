"""Releasing what the behaviour tier acquires, on success, failure, SIGINT and SIGTERM.

Three layers, so a cluster never outlives the run:
1. pytest fixture teardown calls the release functions (normal path; pytest also
   tears fixtures down after Ctrl-C, which raises KeyboardInterrupt);
2. SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (noting the interrupt, see the
   bound below) so they take path 1;
3. an atexit hook runs whatever is still registered (e.g. an exception escaped
   the fixture machinery).

While a release function runs, SIGINT/SIGTERM are deferred: a second Ctrl-C
must not abandon a half-deleted cluster.

    stop = guarded("local cluster t1", provider.stop)   # registered for atexit
    ...
    stop()                                             # runs once; later calls are no-ops

The bound. From the first SIGINT/SIGTERM/SIGHUP the run has INTERRUPT_BUDGET_S to have
stopped every process it started and to exit, loaded machine or not (measured: 1-5 s beside
a CPU hog on 2 cores, where the old polite teardown took 7.5-12 s). Once interrupted
(`interrupted()`), teardown takes the fast path: per-object cleanup of a cluster that is
deleted anyway is skipped, waits (wait.py) give up, the local cluster's processes get SIGKILL
at once, and procs.terminate cuts any SIGTERM grace so that its SIGKILL lands by
`kill_deadline()`; what follows the last kill (temp dirs, pytest's summary, interpreter exit)
has EXIT_RESERVE_S. The SLO tier, which installs no handlers, stays within the bound by
construction: k6, Prometheus and the target are stopped one after the other, each within
procs.STOP_GRACE_S + KILL_WAIT_S. No step waits on the machine being idle: every wait ends on
an event (a process gone) or at a stated deadline.

`UndoStack` keeps a test's own changes (objects created, nodes cordoned) and
undoes them in reverse order; after an interrupt, one made with `abandon_on_interrupt`
drops them instead (the whole cluster goes).
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Cluster, Provider

_pending: dict[int, tuple[str, Callable[[], None]]] = {}
_lock = threading.Lock()
_installed: set[int] = set()  # signals whose handler this module set

INTERRUPT_BUDGET_S = 30.0  # signal -> every process stopped and pytest exited (module docstring)
EXIT_RESERVE_S = 10.0  # of the budget, for what follows the last SIGKILL (measured: <= 3 s, loaded)
# time.monotonic() of the first interrupt. A list, no lock and no Event: signal handlers set it,
# and a handler that waits for a lock the interrupted main thread holds would hang the run.
_interrupted_at: list[float] = []
_PAUSE_SLICE_S = 0.1  # how soon a pause() notices an interrupt


def note_interrupt() -> None:
    """The run is being interrupted: from now on teardown takes the fast path (first call counts)."""
    if not _interrupted_at:
        _interrupted_at.append(time.monotonic())


def interrupted() -> bool:
    return bool(_interrupted_at)


def kill_deadline() -> float | None:
    """time.monotonic() by which release functions must have SIGKILLed what is left (None: no interrupt)."""
    return _interrupted_at[0] + INTERRUPT_BUDGET_S - EXIT_RESERVE_S if _interrupted_at else None


def pause(seconds: float) -> None:
    """time.sleep that ends early (within _PAUSE_SLICE_S) once the run is interrupted."""
    end = time.monotonic() + seconds
    while not _interrupted_at and (left := end - time.monotonic()) > 0:
        time.sleep(min(left, _PAUSE_SLICE_S))


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    note_interrupt()
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install_signal_handlers() -> None:
    """SIGINT/SIGTERM/SIGHUP -> note_interrupt() + KeyboardInterrupt (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # Only replace the default action (Python's own KeyboardInterrupt for SIGINT): a handler
        # someone else installed stays.
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        if sig not in _installed and signal.getsignal(sig) in (default, None):
            signal.signal(sig, _raise_interrupt)
            _installed.add(sig)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while cleaning up; re-deliver the first one afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, _frame: FrameType | None) -> None:
        note_interrupt()  # the steps still to come take the fast path
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            signal.raise_signal(received[0])


def guarded(name: str, release: Callable[[], None]) -> Callable[[], None]:
    """Register `release` for exit time; the returned function runs it once (signals deferred)."""
    key = id(release)
    done = threading.Event()

    def run() -> None:
        with _lock:
            if done.is_set():
                return
            done.set()
            _pending.pop(key, None)
        with signals_deferred():
            release()

    with _lock:
        _pending[key] = (name, run)
    return run


@atexit.register
def _release_all() -> None:
    with _lock:
        items = list(_pending.values())
    for _name, run in reversed(items):
        with contextlib.suppress(Exception):
            run()


@contextlib.contextmanager
def running(provider: Provider) -> Iterator[Cluster]:
    """The provider's cluster for the block: started with the signal handlers installed, stopped at
    the end, on failure and on SIGINT/SIGTERM (within INTERRUPT_BUDGET_S), also after a failed start.

        with running(create_provider(settings)) as cluster: ...
    """
    install_signal_handlers()
    stop = guarded(f"{provider.name} cluster", provider.stop)
    try:
        yield provider.start()
    finally:
        stop()


@dataclass
class UndoStack:
    """Undo actions in reverse order of registration; every action runs even if one fails.

    With `abandon_on_interrupt` (the cluster is deleted as a whole), an interrupted run drops
    the actions not yet run instead of spending its budget on them.
    """

    actions: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    abandon_on_interrupt: bool = False

    def push(self, description: str, action: Callable[[], None]) -> None:
        self.actions.append((description, action))

    def unwind(self) -> list[str]:
        """Run all actions, newest first; returns 'description: error' for the ones that failed."""
        errors = []
        with signals_deferred():
            while self.actions:
                if self.abandon_on_interrupt and interrupted():
                    self.actions.clear()
                    break
                description, action = self.actions.pop()
                try:
                    action()
                except Exception as err:
                    errors.append(f"{description}: {err}")
        return errors
