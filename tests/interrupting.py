"""Helpers of the interrupt self-tests: a CPU hog beside the run, and runs Ctrl-C reaches.

    with cpu_hog():                                       # one busy loop per core, for the block
        proc = subprocess.Popen(tier_pytest("conformance/suites/slo", "-k", "quiet"), ...)
        ...SIGINT; assert it exited within lifecycle.INTERRUPT_BUDGET_S + a margin...
    with ctrl_c_raises():                                 # SIGINT to this very process
        ...

Each busy loop is its own process in its own session, ends itself after HOG_MAX_S, dies with
this process (PDEATHSIG, also on SIGKILL) and is stopped when the block ends, also on failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

from conformance.cluster.procs import stop_child
from conformance.slo.runner import _die_with_parent

HOG_MAX_S = 900  # longer than any test that uses it: a safety net, not a timing
LOOP = "import time\nend = time.monotonic() + {max_s}\nwhile time.monotonic() < end:\n    pass\n"
# A process started in the background of a non-interactive shell (`make test &` beside a build,
# some CI runners) ignores SIGINT, and its children inherit that: the Ctrl-C a test sends would
# never arrive (the run went on past 60 s, k6 ran into its timeout). Python's own SIGINT handler
# is put back before pytest starts.
WITH_SIGINT = (
    "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.exit(pytest.main())"
)


def tier_pytest(*args: str) -> list[str]:
    """argv of a tier run as `make` runs it (no hypothesis plugin, the suite's plugin first),
    with SIGINT reaching it whatever this process inherited."""
    return [sys.executable, "-c", WITH_SIGINT, "-p", "no:hypothesispytest", "-p", "conformance.plugin", *args]


@contextlib.contextmanager
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process for the block (see WITH_SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def cpu_hog(loops: int | None = None, max_s: float = HOG_MAX_S) -> Iterator[list[int]]:
    """`loops` busy loops (default: one per core, at least 2) at normal priority; yields their pids."""
    count = loops or max(2, os.cpu_count() or 2)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", LOOP.format(max_s=max_s)],
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(),  # noqa: PLW1509 (only prctl: see runner.run_k6)
                )
            )
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            stop_child(proc)
