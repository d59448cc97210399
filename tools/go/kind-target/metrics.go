package main

// /metrics: the request counter and latency histogram of /api/*, as conformance/slo/metrics.py
// renders them (names from --metrics; `code` on the counter, `le` on the buckets; Prometheus
// adds namespace/service/pod from its scrape configuration).

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// buckets: the Prometheus client libraries' defaults; they hold the SLO bounds 0.5 s and 1 s.
var buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

type httpMetrics struct {
	requests, latency string

	mu     sync.Mutex
	codes  map[int]uint64
	counts []uint64 // per bucket (not cumulative); last = +Inf
	sum    float64
}

func newHTTPMetrics(requests, latency string) *httpMetrics {
	return &httpMetrics{requests: requests, latency: latency, codes: map[int]uint64{},
		counts: make([]uint64, len(buckets)+1)}
}

func (m *httpMetrics) observe(code int, seconds float64) {
	i := sort.SearchFloat64s(buckets, seconds) // bisect_left: `le` is inclusive
	m.mu.Lock()
	m.codes[code]++
	m.counts[i]++
	m.sum += seconds
	m.mu.Unlock()
}

// render: Prometheus text exposition format 0.0.4.
func (m *httpMetrics) render() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	req, lat := m.requests, m.latency
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s HTTP requests served, by status code.\n# TYPE %s counter\n", req, req)
	codes := make([]int, 0, len(m.codes))
	for c := range m.codes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, "%s{code=\"%d\"} %d\n", req, c, m.codes[c])
	}
	fmt.Fprintf(&b, "# HELP %s Time to answer an HTTP request.\n# TYPE %s histogram\n", lat, lat)
	var total uint64
	for i, n := range m.counts {
		le := "+Inf"
		if i < len(buckets) {
			le = strconv.FormatFloat(buckets[i], 'g', -1, 64)
		}
		total += n
		fmt.Fprintf(&b, "%s_bucket{le=\"%s\"} %d\n", lat, le, total)
	}
	fmt.Fprintf(&b, "%s_sum %s\n%s_count %d\n", lat, formatFloat(m.sum), lat, total)
	return b.String()
}
