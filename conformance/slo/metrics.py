"""The reference target's /metrics: the request counter and latency histogram the services export.

Names come from policy.yaml observability.metrics (passed on the target's command line);
labels are what the platform's rules read: `code` (HTTP status) on the counter, `le` on the
histogram buckets. Prometheus adds namespace/service/pod from its scrape configuration, as
it does from a ServiceMonitor.

    m = HttpMetrics("http_requests_total", "http_request_duration_seconds")
    m.observe(200, 0.012)
    m.render()   # Prometheus text exposition format 0.0.4
"""

from __future__ import annotations

import bisect
from collections import Counter

# The Prometheus client libraries' default buckets: they hold the SLO bounds 0.5 s and 1 s,
# so a latency just above a bound lands in the bucket above it.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Counts per status code and a latency histogram; O(log buckets) per request."""

    def __init__(self, requests_name: str, latency_name: str) -> None:
        self.requests_name, self.latency_name = requests_name, latency_name
        self.codes: Counter[int] = Counter()
        self.buckets = [0] * (len(BUCKETS) + 1)  # per bucket (not cumulative); last = +Inf
        self.sum_s = 0.0

    def observe(self, code: int, seconds: float) -> None:
        self.codes[code] += 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sum_s += seconds

    def render(self) -> str:
        req, lat = self.requests_name, self.latency_name
        lines = [f"# HELP {req} HTTP requests served, by status code.", f"# TYPE {req} counter"]
        lines += [f'{req}{{code="{code}"}} {n}' for code, n in sorted(self.codes.items())]
        lines += [f"# HELP {lat} Time to answer an HTTP request.", f"# TYPE {lat} histogram"]
        total = 0
        for le, n in zip((*(f"{b:g}" for b in BUCKETS), "+Inf"), self.buckets, strict=True):
            total += n
            lines.append(f'{lat}_bucket{{le="{le}"}} {total}')
        lines += [f"{lat}_sum {self.sum_s!r}", f"{lat}_count {total}"]
        return "\n".join(lines) + "\n"
