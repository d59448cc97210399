// Command twtarget: the suite's reference target for pods that really run (kind), a Go port of
// conformance/slo/target.py: the Tartware API gateway model with fault injection, the same
// routes, JSON fields and status codes, so the k6 scenarios (k6/) check it unchanged.
//
//	twtarget --port 8080 --work-us 500 --metrics http_requests_total,http_request_duration_seconds
//	twtarget --latency-ms 600 --latency-fraction 0.5 --error-rate 0.1
//
// It prints one line "LISTENING <host> <port>" once the socket is bound (--port 0: an ephemeral
// port), then serves until SIGTERM/SIGINT (in-flight requests finish, for up to 10 s) or, with
// --exit-on-stdin-eof, until stdin closes. Faults apply to /api/* only; /healthz and /_admin/*
// stay healthy, and POST /_admin/faults {"error_rate": 0.2} changes them at runtime.
// GET /_admin/stats counts requests, injected errors and delays. With --metrics REQUESTS,LATENCY
// it serves /metrics (Prometheus text) as conformance/slo/metrics.py does.
//
// Beyond target.py: --work-us N burns N microseconds of real CPU (this thread's CPU clock, a
// busy loop the compiler cannot remove) in every /api/* request, so CPU usage follows the
// request rate and an HPA scales on real CPU. Memory stays bounded: at most --max-reservations
// reservations are kept (the oldest go first), as target.py's MAX_RESERVATIONS.
//
// Built by tools/build-kind-node.sh into the image tartware.local/conformance/target (user
// 65532); tests/test_kind_target.py builds it and proves parity with target.py and k6 smoke.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const shutdownGrace = 10 * time.Second

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "twtarget: error: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	fs := flag.NewFlagSet("twtarget", flag.ExitOnError)
	host := fs.String("host", "0.0.0.0", "address to bind")
	port := fs.Int("port", 8080, "port (0: an ephemeral port, printed on stdout)")
	latencyMS := fs.Float64("latency-ms", 0, "extra latency for delayed requests")
	latencyFraction := fs.Float64("latency-fraction", 1, "share of requests delayed (0..1)")
	errorRate := fs.Float64("error-rate", 0, "share of requests answered 500 (0..1)")
	metrics := fs.String("metrics", "", "serve /metrics: REQUESTS,LATENCY names of the request counter and latency histogram")
	workUS := fs.Int64("work-us", 0, "microseconds of CPU burnt by every /api/* request")
	maxReservations := fs.Int("max-reservations", 200_000, "reservations kept in memory (the oldest go first)")
	exitOnEOF := fs.Bool("exit-on-stdin-eof", false, "stop when stdin closes")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fail("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	f := faults{pyFloat(*latencyMS), pyFloat(*latencyFraction), pyFloat(*errorRate)}
	if err := f.check(); err != nil {
		fail("%v", err)
	}
	if *workUS < 0 || *workUS > 10_000_000 {
		fail("--work-us must be within 0..10000000, got %d", *workUS)
	}
	if *maxReservations < 1 {
		fail("--max-reservations must be >= 1, got %d", *maxReservations)
	}
	var m *httpMetrics
	if *metrics != "" {
		names := strings.Split(*metrics, ",")
		if len(names) != 2 || !metricName.MatchString(names[0]) || !metricName.MatchString(names[1]) {
			fail("--metrics takes two metric names: REQUESTS,LATENCY, got %q", *metrics)
		}
		m = newHTTPMetrics(names[0], names[1])
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fail("%v", err)
	}
	srv := &http.Server{
		Handler:           newGateway(f, m, *workUS, *maxReservations),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          nil,
	}
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	if *exitOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			cancel()
		}()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("LISTENING %s %d\n", *host, ln.Addr().(*net.TCPAddr).Port)
	fmt.Fprintf(os.Stderr, "twtarget: serving on %s (work %d us per /api request, faults %+v)\n",
		ln.Addr(), *workUS, f)

	select {
	case err := <-served:
		fail("serve: %v", err)
	case <-stop.Done():
	}
	ctx, done := context.WithTimeout(context.Background(), shutdownGrace)
	defer done()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fail("serve: %v", err)
	}
	fmt.Fprintln(os.Stderr, "twtarget: stopped")
}
