"""Summary parsing: both k6 layouts, and the pitfalls each one hides."""

from __future__ import annotations

import pytest

from conformance.slo.k6_summary import SummaryError, SummaryFormat, parse_summary

# handleSummary data (what k6/lib/summary.js writes): "ok" means passed.
HANDLE_SUMMARY = """{
 "state": {"isStdOutTTY": false, "testRunDurationMs": 20001.5},
 "metrics": {
  "http_req_duration": {"type": "trend", "contains": "time",
   "values": {"avg": 120.5, "p(95)": 612.0, "p(99)": 880.1, "count": 6000},
   "thresholds": {"p(95)<500": {"ok": false}, "p(99)<1000": {"ok": true}}},
  "http_req_failed": {"type": "rate", "contains": "default",
   "values": {"rate": 0.02, "passes": 120, "fails": 5880},
   "thresholds": {"rate<0.05": {"ok": true}}},
  "http_reqs": {"type": "counter", "contains": "default", "values": {"count": 6000, "rate": 299.9}}
 }
}"""

# The same verdicts as --summary-export writes them: true means CROSSED (failed).
SUMMARY_EXPORT = """{
 "root_group": {"name": "", "checks": []},
 "metrics": {
  "http_req_duration": {"avg": 120.5, "p(95)": 612.0, "p(99)": 880.1,
   "thresholds": {"p(95)<500": true, "p(99)<1000": false}},
  "http_req_failed": {"passes": 120, "fails": 5880, "value": 0.02,
   "thresholds": {"rate<0.05": false}},
  "http_reqs": {"count": 6000, "rate": 299.9}
 }
}"""


@pytest.mark.parametrize("text", [HANDLE_SUMMARY, SUMMARY_EXPORT], ids=["handleSummary", "summary-export"])
def test_both_layouts_give_the_same_verdicts(text: str) -> None:
    s = parse_summary(text)
    assert s.threshold("http_req_duration", "p(95)<500") is False
    assert s.threshold("http_req_duration", "p(99)<1000") is True
    assert s.threshold("http_req_failed", "rate<0.05") is True
    assert s.threshold("http_req_failed", "rate<0.01") is None
    assert [t.expression for t in s.failed] == ["p(95)<500"]
    assert s.value("http_req_duration", "p(95)") == 612.0
    assert s.value("http_reqs", "count") == 6000


def test_summary_export_false_means_passed() -> None:
    """The trap: in --summary-export, `false` is a PASS. Reading it as 'ok' inverts every verdict."""
    s = parse_summary(SUMMARY_EXPORT)
    assert s.format is SummaryFormat.SUMMARY_EXPORT
    assert s.threshold("http_req_duration", "p(99)<1000") is True  # written as false


def test_failed_requests_are_passes_of_http_req_failed() -> None:
    """Another trap: http_req_failed counts failed requests as `passes`; the error rate is `rate`."""
    for text in (HANDLE_SUMMARY, SUMMARY_EXPORT):
        s = parse_summary(text)
        assert s.value("http_req_failed", "rate") == 0.02
        assert s.value("http_req_failed", "passes") == 120  # 120 failed requests, not 120 successes


def test_run_duration_is_read_from_handle_summary() -> None:
    assert parse_summary(HANDLE_SUMMARY).duration_ms == 20001.5
    assert parse_summary(SUMMARY_EXPORT).duration_ms is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not JSON"),
        ("{truncated", "not JSON"),
        ('{"metrics": {}}', "no `metrics`"),
        ("[1, 2]", "no `metrics`"),
        ('{"metrics": {"a": {"values": {"rate": 1}}, "b": {"rate": 1}}}', "mix"),
        ('{"metrics": {"a": {"values": {}, "thresholds": {"rate<1": true}}}}', "expected {'ok': bool}"),
        ('{"metrics": {"a": {"rate": 1, "thresholds": {"rate<1": {"ok": true}}}}}', "expected a boolean"),
    ],
    ids=["empty", "truncated", "no-metrics", "not-an-object", "mixed", "bool-in-handle", "dict-in-export"],
)
def test_unparseable_summaries_are_infra_errors(text: str, message: str) -> None:
    with pytest.raises(SummaryError, match=message):
        parse_summary(text, "summary.json")
