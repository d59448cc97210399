"""Time-series parsing (k6 CSV output) and the SVG plot, on small hand-written data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.errors import InfraError
from conformance.slo.plot import render_svg
from conformance.slo.timeseries import Series, parse_csv, percentile

# The columns k6 writes for the tier's systemTags.
COLUMNS = (
    "metric_name",
    "timestamp",
    "metric_value",
    "error_code",
    "expected_response",
    "method",
    "name",
    "scenario",
    "status",
    "extra_tags",
    "metadata",
)
HEADER = ",".join(COLUMNS)
T0 = 1_700_000_000_000  # ms


def row(metric: str, t_ms: int, value: float, name: str = "GET /api/v1/rooms", status: str = "200") -> str:
    return f"{metric},{t_ms},{value:f},,true,GET,{name},load,{status},,"


def write_csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "ts.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_buckets_count_requests_failures_and_latency(tmp_path: Path) -> None:
    lines = []
    for i in range(10):  # second 0: 10 requests of 1..10 ms, one failed
        lines += [row("http_reqs", T0 + i, 1), row("http_req_duration", T0 + i, i + 1)]
        lines.append(row("http_req_failed", T0 + i, 1 if i == 0 else 0))
    for i in range(4):  # second 1: 4 slow requests on another route
        t = T0 + 1000 + i * 200
        lines += [row("http_req_duration", t, 100, name="POST /api/v1/reservations", status="201")]
        lines.append(row("http_req_failed", t, 0, name="POST /api/v1/reservations"))
    lines.append(row("iterations", T0 + 1500, 1))  # ignored metric
    series = parse_csv(write_csv(tmp_path, lines))
    assert series.requests == 14 and series.failed == 1
    assert [p.rps for p in series.points] == [10, 4]
    assert [p.failed_per_s for p in series.points] == [1, 0]
    assert series.points[0].p50_ms == 5 and series.points[0].p99_ms == 10
    assert series.points[1].p95_ms == 100
    assert [(r.route, r.requests, r.failed) for r in series.routes] == [
        ("GET /api/v1/rooms", 10, 1),
        ("POST /api/v1/reservations", 4, 0),
    ]
    assert "POST /api/v1/reservations" in series.table()


def test_a_quoted_field_with_commas_is_still_read(tmp_path: Path) -> None:
    quoted = f'http_req_duration,{T0},3.000000,1211,false,GET,"GET /a, with comma",load,0,,'
    series = parse_csv(write_csv(tmp_path, [quoted]))
    assert series.routes[0].route == "GET /a, with comma" and series.routes[0].p95_ms == 3


def test_a_trailing_sliver_is_not_plotted_as_a_drop(tmp_path: Path) -> None:
    lines = [row("http_req_duration", T0 + i * 10, 1) for i in range(200)]  # 2 s of data...
    lines.append(row("http_req_duration", T0 + 2010, 1))  # ...plus one request 10 ms into second 3
    series = parse_csv(write_csv(tmp_path, lines))
    assert [p.rps for p in series.points] == [100, 100]
    assert series.requests == 201  # still counted


def test_missing_or_foreign_files_are_infra_errors(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="No such file"):
        parse_csv(tmp_path / "absent.csv")
    (tmp_path / "other.csv").write_text("a,b,c\n")
    with pytest.raises(InfraError, match="unexpected header"):
        parse_csv(tmp_path / "other.csv")
    assert parse_csv(write_csv(tmp_path, [])).requests == 0


def test_svg_is_well_formed_and_shows_slo_lines(tmp_path: Path) -> None:
    lines = [row("http_req_duration", T0 + i * 20, 2 + i % 7) for i in range(150)]
    series = parse_csv(write_csv(tmp_path, lines))
    svg = render_svg(series, "load (ci) <&>", [(0, 50), (3, 50)], {"p95 SLO": 500, "p99 SLO": 1000})
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    texts = [t.text or "" for t in root.iter(f"{ns}text")]
    assert "load (ci) <&>" in texts  # escaped in the XML, intact once parsed
    assert any(t.startswith("p95 SLO 500") for t in texts)
    assert len(list(root.iter(f"{ns}polyline"))) >= 4  # requested, achieved, failed, latencies


def test_svg_of_an_empty_series_still_renders() -> None:
    empty = Series(1.0, (), (), 0, 0, 0.0)
    ET.fromstring(render_svg(empty, "nothing", [], {}))
