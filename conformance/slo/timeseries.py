"""The k6 time series (``--out csv=...``), bucketed for the plot and per-route table.

CSV over ``--out json``: a third of the bytes for k6 to write on a shared
2-core machine, and each line's first three fields (metric, timestamp, value)
come out with a plain ``str.split``. Only the lines we use are split:
http_req_duration (latency, route) and http_req_failed (0/1). The header
names the columns, which depend on the run's ``systemTags``.

    series = parse_csv(run_dir / "timeseries.csv")
    series.points[0].rps, series.routes[0].p95_ms
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfraError

DURATION_LINE = "http_req_duration,"  # how the lines this module (and live.py) reads begin
FAILED_LINE = "http_req_failed,"


@dataclass(frozen=True)
class Point:
    t_s: float  # bucket start, seconds since the first sample
    rps: float  # requests completed per second in the bucket
    failed_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class RouteStats:
    route: str
    requests: int
    failed: int
    p95_ms: float


@dataclass(frozen=True)
class Series:
    bucket_s: float
    points: tuple[Point, ...]
    routes: tuple[RouteStats, ...]  # busiest first
    requests: int
    failed: int
    span_s: float  # first to last request

    def table(self) -> str:
        """Per-route breakdown as aligned text (an attachment)."""
        rows = [f"{'route':<40} {'requests':>9} {'failed':>7} {'p95 ms':>9}"]
        rows += [f"{r.route:<40} {r.requests:>9} {r.failed:>7} {r.p95_ms:>9.1f}" for r in self.routes]
        return "\n".join(rows) + "\n"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil without float error at q=100
    return sorted_values[int(rank) - 1]


def parse_csv(path: Path, bucket_s: float = 1.0) -> Series:
    """Read a k6 CSV output file. Raises InfraError if it is missing or has no header."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as err:
        raise InfraError(f"k6 time series {path}: {err.strerror}") from None
    with handle:
        header = handle.readline().rstrip("\r\n").split(",")
        if header[:3] != ["metric_name", "timestamp", "metric_value"]:
            raise InfraError(f"k6 time series {path}: unexpected header {header[:3]}")
        ncols = len(header)
        step_ms = bucket_s * 1000
        name_col = header.index("name") if "name" in header else None
        latencies: dict[int, list[float]] = defaultdict(list)
        failed: dict[int, int] = defaultdict(int)
        by_route: dict[str, list[float]] = defaultdict(list)
        failed_route: dict[str, int] = defaultdict(int)
        first: int | None = None
        last: int | None = None
        origin = 0
        for line in handle:
            is_duration = line.startswith(DURATION_LINE)
            if not is_duration and not line.startswith(FAILED_LINE):
                continue
            parts = line.rstrip("\r\n").split(",")
            if len(parts) != ncols:  # a quoted field with a comma: let csv do it
                parts = next(csv.reader([line]))
            ts_ms, value = int(parts[1]), float(parts[2])
            if first is None or last is None:
                first = last = origin = ts_ms
            first, last = min(first, ts_ms), max(last, ts_ms)
            route = parts[name_col] if name_col is not None else "(all)"
            # Buckets start at the first line's time (lines are nearly in time order;
            # an earlier straggler lands in bucket -1, which `start` below absorbs).
            bucket = int((ts_ms - origin) // step_ms)
            if is_duration:
                latencies[bucket].append(value)
                by_route[route].append(value)
            elif value >= 1:
                failed[bucket] += 1
                failed_route[route] += 1
    if first is None or last is None:
        return Series(bucket_s, (), (), 0, 0, 0.0)
    start, end = min(latencies.keys() | failed.keys()), max(latencies.keys() | failed.keys())
    if end > start and (last - origin) - end * step_ms < step_ms / 2:
        end -= 1  # a trailing sliver of a bucket would plot as a false drop in throughput
    points = []
    for i in range(end - start + 1):
        vals = sorted(latencies.get(start + i, []))
        pct = [percentile(vals, q) if vals else None for q in (50, 95, 99)]
        points.append(Point(i * bucket_s, len(vals) / bucket_s, failed.get(start + i, 0) / bucket_s, *pct))
    routes = [
        RouteStats(r, len(v), failed_route.get(r, 0), percentile(sorted(v), 95)) for r, v in by_route.items()
    ]
    routes.sort(key=lambda r: (-r.requests, r.route))
    total = sum(len(v) for v in latencies.values())
    return Series(bucket_s, tuple(points), tuple(routes), total, sum(failed.values()), (last - first) / 1000)


__all__ = ["Point", "RouteStats", "Series", "parse_csv", "percentile"]
