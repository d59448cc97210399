"""Live lines on the terminal during long waits (a cluster start, HPA replicas, a k6 run).

Past pytest's output capture, so they show while the test runs; quiet under -q; never part
of a test's captured output, so JUnit and Allure results are unchanged.

    progress = Progress(config)
    progress.post("behaviour: HPA guests: 2 of 3 replicas (desired 3)")
"""

from __future__ import annotations

import threading

import pytest


class Progress:
    """Live lines for long waits (HPA replicas, background scenarios), quiet under -q.

    Any thread may post; only the main thread prints (pytest's capture is not thread-safe), at
    its next post or flush: the HPA loops flush every tick.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.quiet = config.option.verbose < 0
        self._lock = threading.Lock()
        self._pending: list[str] = []

    def post(self, line: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self._pending.append(line)
        self.flush()

    def flush(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        with self._lock:
            lines, self._pending = self._pending, []
        for line in lines:
            say(self.config, line)


def say(config: pytest.Config, line: str) -> None:
    """Print now, past output capture (a cluster start is worth seeing live); nothing under -q."""
    if config.option.verbose < 0:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
            reporter.flush()  # a pipe is block-buffered: whoever watches must see it now
    else:
        reporter.write_line(line)
        reporter.flush()


__all__ = ["Progress", "say"]
