"""conformance.slo.live: k6's figures of the last interval, from its CSV output as it grows."""

from __future__ import annotations

from pathlib import Path

from conformance.slo.live import CsvTail

HEADER = "metric_name,timestamp,metric_value,check,error,error_code,group,method,name,status\n"


def _row(metric: str, ts: int, value: float) -> str:
    return f"{metric},{ts},{value},,,,,GET,/api,200\n"


def test_no_file_yet_means_no_requests(tmp_path: Path) -> None:
    window = CsvTail(tmp_path / "timeseries.csv").window()
    assert window.requests == 0
    assert window.describe().startswith("no requests completed")


def test_each_window_reads_only_new_lines_and_keeps_an_unfinished_one(tmp_path: Path) -> None:
    path = tmp_path / "timeseries.csv"
    lines = [_row("http_req_duration", 1000 + i, float(i + 1)) for i in range(100)]
    lines += [_row("http_req_failed", 1000, 1), _row("http_req_failed", 1001, 0), _row("vus", 1000, 5)]
    path.write_text(HEADER + "".join(lines) + "http_req_duration,1200,5")  # k6 mid-write
    tail = CsvTail(path)
    first = tail.window()
    assert (first.requests, first.failed) == (100, 1)
    assert (first.p95_ms, first.p99_ms) == (95.0, 99.0)
    with path.open("a") as handle:
        handle.write("00\n" + _row("http_req_duration", 1201, 7))
    second = tail.window()
    assert second.requests == 2  # the finished line (500 ms) and one more
    assert second.p99_ms == 500.0
    assert tail.window().requests == 0


def test_describe_gives_rate_latency_and_failures(tmp_path: Path) -> None:
    path = tmp_path / "timeseries.csv"
    path.write_text(HEADER + _row("http_req_duration", 1, 12.5) + _row("http_req_failed", 1, 1))
    text = CsvTail(path).window().describe()
    assert "p95 12.5 ms" in text
    assert "failed 100.00 %" in text
    assert "req/s" in text
