"""Releasing what the behaviour tier acquires, on success, failure, SIGINT and SIGTERM.

Three layers, so a cluster never outlives the run:
1. pytest fixture teardown calls the release functions (normal path; pytest also
   tears fixtures down after Ctrl-C, which raises KeyboardInterrupt);
2. SIGTERM and SIGHUP are turned into KeyboardInterrupt so they take path 1;
3. an atexit hook runs whatever is still registered (e.g. an exception escaped
   the fixture machinery).

While a release function runs, SIGINT/SIGTERM are deferred: a second Ctrl-C
must not abandon a half-deleted cluster.

    stop = guarded("local cluster t1", provider.stop)   # registered for atexit
    ...
    stop()                                             # runs once; later calls are no-ops

`UndoStack` keeps a test's own changes (objects created, nodes cordoned) and
undoes them in reverse order.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

_pending: dict[int, tuple[str, Callable[[], None]]] = {}
_lock = threading.Lock()
_installed: set[int] = set()  # signals whose handler this module set


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP -> KeyboardInterrupt (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        # Only replace the default action: a handler someone else installed stays.
        if sig not in _installed and signal.getsignal(sig) in (signal.SIG_DFL, None):
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


@dataclass
class UndoStack:
    """Undo actions in reverse order of registration; every action runs even if one fails."""

    actions: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, description: str, action: Callable[[], None]) -> None:
        self.actions.append((description, action))

    def unwind(self) -> list[str]:
        """Run all actions, newest first; returns 'description: error' for the ones that failed."""
        errors = []
        with signals_deferred():
            while self.actions:
                description, action = self.actions.pop()
                try:
                    action()
                except Exception as err:
                    errors.append(f"{description}: {err}")
        return errors
