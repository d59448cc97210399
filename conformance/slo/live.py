"""Live figures of a running k6, read from its own CSV output (``--out csv=``) as it grows.

k6 runs with --quiet (its progress bar would garble pytest's output), so the tier reads the
time series k6 flushes about every second and reports the last interval:

    tail = CsvTail(run_dir / "timeseries.csv")
    tail.window()  # -> Window(requests=9012, failed=3, p95_ms=12.4, p99_ms=30.1, span_s=5.0)

Only the bytes added since the last call are read; a line k6 has not finished writing is kept
for the next call. The final verdicts never come from here (see timeseries.py and k6_summary.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .timeseries import DURATION_LINE, FAILED_LINE, percentile

_DURATION, _FAILED = DURATION_LINE.encode(), FAILED_LINE.encode()


@dataclass(frozen=True)
class Window:
    requests: int  # http_req_duration samples since the previous window
    failed: int  # http_req_failed == 1 samples since the previous window
    p95_ms: float | None
    p99_ms: float | None
    span_s: float  # wall-clock length of the window

    def describe(self) -> str:
        rate = self.requests / self.span_s if self.span_s > 0 else 0.0
        if not self.requests:
            return f"no requests completed in the last {self.span_s:.0f} s"
        failed = 100 * self.failed / self.requests
        return (
            f"{rate:,.0f} req/s, p95 {self.p95_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"failed {failed:.2f} % (last {self.span_s:.0f} s)"
        )


class CsvTail:
    """Incremental reader of a k6 CSV file that may not exist yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._rest = b""
        self._last = time.monotonic()

    def window(self) -> Window:
        now = time.monotonic()
        span, self._last = now - self._last, now
        durations: list[float] = []
        failed = 0
        for line in self._new_lines():
            if line.startswith(_DURATION):
                value = _value(line)
                if value is not None:
                    durations.append(value)
            elif line.startswith(_FAILED) and (_value(line) or 0) >= 1:
                failed += 1
        durations.sort()
        p95 = percentile(durations, 95) if durations else None
        p99 = percentile(durations, 99) if durations else None
        return Window(len(durations), failed, p95, p99, span)

    def _new_lines(self) -> list[bytes]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return []  # k6 has not created it yet
        self._offset += len(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()  # unfinished (or empty after a final newline)
        return lines


def _value(line: bytes) -> float | None:
    parts = line.split(b",", 3)
    try:
        return float(parts[2])
    except (IndexError, ValueError):
        return None


__all__ = ["CsvTail", "Window"]
