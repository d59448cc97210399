"""The Go reference target (tools/go/kind-target, `twtarget`): target.py's API, k6-proven, real CPU.

On kind the SLO tier runs the API-gateway workload with twtarget as its image (pods cannot run
Python), so without any cluster this proves: the same answers as target.py for the same requests
(status, content type, JSON; /metrics counters), the real k6 smoke scenario passing every check
against it as the SLO tier runs smoke against target.py (and failing them with --error-rate 1),
--work-us raising the CPU time each request costs (read from /proc, never from wall time), and a
clean stop on SIGTERM with a request in flight. The binary is built with the machine's Go into a
cache keyed by the source and the Go version, so a rerun builds nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.cluster.procs import stop_child
from conformance.policy import Policy, load_policy
from conformance.slo.evaluate import RunOptions, ScenarioRun, run_scenario
from conformance.slo.launcher import ReferenceTarget
from conformance.tools import REPO

GO = shutil.which("go")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(GO is None, reason="go not found on PATH: twtarget (tools/go/kind-target) is Go"),
]

SOURCE = REPO / "tools" / "go" / "kind-target"
METRICS = ("http_requests_total", "http_request_duration_seconds")
BUILD_TIMEOUT_S = 900.0  # a cold Go cache on a busy 2-core machine
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0  # twtarget drains in-flight requests for at most 10 s
HTTP_TIMEOUT_S = 30.0


def source_hash() -> str:
    """Every file of the module and the Go toolchain's version."""
    assert GO is not None
    digest = hashlib.sha256()
    for path in sorted(p for p in SOURCE.rglob("*") if p.is_file()):
        digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    version = subprocess.run([GO, "version"], capture_output=True, text=True, check=True, timeout=60)
    digest.update(version.stdout.encode())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="module")
def binary() -> Path:
    """twtarget, built once per source hash into ~/.cache/tartware-conformance/kind-target-<hash>/."""
    assert GO is not None
    root = Path(os.environ.get("TARTWARE_TOOLS_CACHE") or Path.home() / ".cache" / "tartware-conformance")
    out = root / f"kind-target-{source_hash()}" / "twtarget"
    if out.is_file() and os.access(out, os.X_OK):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".twtarget.{os.getpid()}.tmp")
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    build = subprocess.run(
        [GO, "build", "-trimpath", "-o", str(tmp), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert build.returncode == 0, f"go build failed:\n{build.stderr}"
    tmp.replace(out)  # atomic: a parallel build of the same source writes the same file
    return out


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path
    exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_ticks(self) -> int:
        """utime + stime of the process (all its threads), in clock ticks."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)

    def terminate(self) -> int:
        """SIGTERM (not stdin EOF): the pod's way to stop it. Its exit code."""
        if self.exit_code is None:
            self.proc.send_signal(signal.SIGTERM)
            self.exit_code = self.proc.wait(STOP_TIMEOUT_S)
        return self.exit_code


@contextlib.contextmanager
def twtarget(binary: Path, log_dir: Path, *args: str) -> Iterator[Running]:
    """Start twtarget on 127.0.0.1 (ephemeral port), wait for LISTENING; always stop it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "twtarget.log"
    argv = [str(binary), "--host", "127.0.0.1", "--port", "0", "--exit-on-stdin-eof", *args]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )
    try:
        line = first_line(proc, START_TIMEOUT_S)
        parts = line.split()
        assert len(parts) == 3 and parts[0] == "LISTENING" and parts[2].isdigit(), (
            f"twtarget said {line!r}, not 'LISTENING host port'; log: {log.read_text()[-2000:]}"
        )
        running = Running(proc, parts[1], int(parts[2]), log)
        yield running
        running.terminate()
    finally:
        if proc.poll() is None:
            stop_child(proc)  # stdin closes with it (--exit-on-stdin-eof), then SIGTERM, SIGKILL
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def first_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert proc.stdout is not None
    deadline, buf = time.monotonic() + timeout_s, b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            assert left > 0, f"twtarget did not announce its port within {timeout_s:.0f} s"
            if sel.select(left):
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, f"twtarget exited (code {proc.wait(5)}) before listening"
                buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace").strip()


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def parsed(self) -> Any:
        if self.content_type.startswith("application/json"):
            return json.loads(self.body)
        return self.body.decode(errors="replace")


def request(
    url: str,
    method: str,
    path: str,
    data: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> Answer:
    """One request (on `conn` if given: keep-alive); any status is an answer."""
    own = conn is None
    if conn is None:
        port = int(url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return Answer(resp.status, resp.getheader("Content-Type") or "", resp.read())
    finally:
        if own:
            conn.close()


# --- parity with target.py ---------------------------------------------------------------------

RSV = "/api/v1/reservations"
AVAIL = "/api/v1/availability"


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def booking(**fields: Any) -> bytes:
    doc = {"guest_id": "g-5", "room_type": "DLX", "check_in": "2026-12-11", "check_out": "2026-12-14"}
    return body({**doc, **fields})


# (method, path, body, compare the body too). Bodies are compared parsed: 129.0 == 129, key order
# aside. Only where the message is the JSON parser's own (Go's vs Python's) is the status alone compared.
CALLS: list[tuple[str, str, bytes | None, bool]] = [
    ("GET", "/healthz", None, True),
    ("HEAD", "/healthz", None, True),
    ("GET", "/api/v1/rooms", None, True),
    ("GET", "/api/v1/housekeeping/tasks?status=pending", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-11&check_out=2026-12-14&guests=3", None, True),  # a Friday: x1.25
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-08", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-08&guests=1", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-08&guests=9", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-08&guests=+1_0", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-08&guests=abc", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-08&guests=", None, True),
    ("GET", f"{AVAIL}?check_out=2026-12-08", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07", None, True),
    ("GET", f"{AVAIL}?check_in=2026-13-01&check_out=2026-12-08", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-07", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2027-02-07", None, True),
    ("GET", f"{AVAIL}?check_in=2024-02-28&check_out=2024-03-02", None, True),
    ("GET", f"{AVAIL}?check_in=2023-02-29&check_out=2023-03-02", None, True),
    ("GET", f"{AVAIL}?check_in=20261207&check_out=2026-W50-5", None, True),
    ("GET", f"{AVAIL}?check_in=2026-W53&check_out=2027W011", None, True),
    ("GET", f"{AVAIL}?check_in=2025-W53&check_out=2026-01-02", None, True),
    ("GET", f"{AVAIL}?check_in=2026-1207&check_out=2026-12-09", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-7&check_out=2026-12-09", None, True),
    ("GET", f"{AVAIL}?check_in=0000-01-01&check_out=2026-12-09", None, True),
    ("POST", RSV, booking(), True),
    ("POST", RSV, booking(guest_id="g-77", room_type="FAM", adults="3"), True),
    ("POST", RSV, booking(guest_id="g-77", adults=2.7, check_out="2026-12-12"), True),
    ("POST", RSV, booking(guest_id="g-x"), True),
    ("POST", RSV, booking(guest_id=17), True),
    ("POST", RSV, booking(guest_id="g-"), True),
    ("POST", RSV, booking(room_type="XXX"), True),
    ("POST", RSV, b"{not json", True),
    ("POST", RSV, b"[1, 2]", True),
    ("POST", RSV, booking(check_in=None), True),
    ("POST", RSV, booking(check_out="2026-12-11"), True),
    ("POST", RSV, booking(adults="many"), True),  # target.py takes the id before reading adults
    ("POST", RSV, booking(guest_id="g-5", room_type="STE", adults=True), True),
    ("GET", f"{RSV}/rsv-1", None, True),
    ("GET", f"{RSV}/rsv-999", None, True),
    ("PATCH", f"{RSV}/rsv-1", body({"check_out": "2026-12-20", "special_requests": "late arrival"}), True),
    ("PATCH", f"{RSV}/rsv-1", body({"adults": 3}), True),
    ("PATCH", f"{RSV}/rsv-1", body({"check_out": "soon"}), True),
    ("PATCH", f"{RSV}/rsv-1", body("x"), True),
    ("PATCH", f"{RSV}/rsv-1", b"{not json", False),
    ("GET", f"{RSV}?limit=20", None, True),
    ("GET", f"{RSV}?guest_id=g-5&limit=20", None, True),
    ("GET", f"{RSV}?guest_id=g-77&limit=1", None, True),
    ("GET", f"{RSV}?guest_id=g-404", None, True),
    ("GET", f"{RSV}?limit=0", None, True),
    ("GET", f"{RSV}?limit=x", None, True),
    ("DELETE", f"{RSV}/rsv-2", None, True),
    ("PATCH", f"{RSV}/rsv-2", body({"adults": 1}), True),
    ("DELETE", f"{RSV}/rsv-999", None, True),
    ("GET", "/api/v1/guests/g-42", None, True),
    ("GET", "/api/v1/guests/g-0", None, True),
    ("GET", "/api/v1/guests/g-123456789012345678901234567890", None, True),
    ("GET", "/api/v1/guests/x-1", None, True),
    ("GET", "/api/v1/billing/invoices/inv-7", None, True),
    ("GET", "/api/v1/billing/invoices/inv-8", None, True),
    ("GET", "/api/v1/billing/invoices/inv-x", None, True),
    ("GET", "/api/v1/settings", None, True),
    ("PATCH", "/api/v1/settings", body({"overbooking_percent": 4}), True),
    ("PATCH", "/api/v1/settings", body({"property_id": "p", "zzz": 1, "name": "n"}), True),
    ("PATCH", "/api/v1/settings", body({"tax_percent": 10, "currency": "USD"}), True),
    ("PATCH", "/api/v1/settings", body([1]), True),
    ("GET", "/api/v1/billing/invoices/inv-3", None, True),
    ("GET", f"{AVAIL}?check_in=2026-12-07&check_out=2026-12-08", None, True),
    ("POST", RSV, booking(guest_id="g-9"), True),
    ("GET", "/api/v1/nope", None, True),
    ("PUT", "/api/v1/settings", body({}), False),
    ("GET", "/nope", None, True),
    ("POST", "/_admin/faults", body({"error_rate": 1}), True),
    ("GET", "/api/v1/rooms", None, True),
    ("GET", "/healthz", None, True),
    ("POST", "/_admin/faults", body({"error_rate": 0, "latency_ms": 1, "latency_fraction": 0.5}), True),
    ("GET", "/api/v1/rooms", None, True),
    ("GET", "/api/v1/rooms", None, True),
    ("GET", "/api/v1/rooms", None, True),
    ("POST", "/_admin/faults", body({"error_rate": 2}), True),
    ("POST", "/_admin/faults", body({"latency_ms": -1}), True),
    ("POST", "/_admin/faults", body({"nope": 1}), True),
    ("POST", "/_admin/faults", body("x"), True),
    ("POST", "/_admin/faults", body({"latency_ms": "5"}), False),
    ("POST", "/_admin/faults", b"{not json", False),
    ("POST", "/_admin/faults", body({"latency_ms": 0}), True),
    ("GET", "/_admin/stats", None, True),
    ("GET", "/_admin/faults", None, False),
]


def metric_samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_answers_as_target_py_does(binary: Path, tmp_path: Path) -> None:
    """The same calls, in the same order, against target.py and twtarget: the same answers."""
    with (
        ReferenceTarget(metrics=METRICS).start(tmp_path / "py") as py,
        twtarget(binary, tmp_path / "go", "--metrics", ",".join(METRICS)) as go,
    ):
        differences = []
        for method, path, data, whole in CALLS:
            want, got = request(py.url, method, path, data), request(go.url, method, path, data)
            same = (want.status, want.content_type) == (got.status, got.content_type)
            if same and whole and method != "HEAD":
                same = want.parsed() == got.parsed()
            if not same:
                differences.append(
                    f"{method} {path} {data!r}:\n  target.py {want.status} {want.content_type} {want.body!r}"
                    f"\n  twtarget  {got.status} {got.content_type} {got.body!r}"
                )
        want_metrics, got_metrics = request(py.url, "GET", "/metrics"), request(go.url, "GET", "/metrics")
    assert not differences, "\n".join(differences)
    assert got_metrics.content_type == want_metrics.content_type
    want_s, got_s = metric_samples(want_metrics.parsed()), metric_samples(got_metrics.parsed())
    assert sorted(want_s) == sorted(got_s), "the same metric names and labels"
    counters = {k: v for k, v in want_s.items() if k.startswith(METRICS[0]) or k.endswith("_count")}
    assert counters == {k: got_s[k] for k in counters}, "the same request counts by code"
    assert counters[f'{METRICS[0]}{{code="500"}}'] == 1, "the injected fault is counted"
    assert got_s[f'{METRICS[1]}_bucket{{le="+Inf"}}'] == got_s[f"{METRICS[1]}_count"]


# --- the real k6 smoke scenario ----------------------------------------------------------------


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(REPO / "manifests" / "policy.yaml")


def route_names() -> list[str]:
    """The `name` tags of k6/lib/routes.js's ROUTES: what every check is named after."""
    text = (REPO / "k6" / "lib" / "routes.js").read_text()
    block = text[text.index("export const ROUTES") :]
    block = block[: block.index("};")]
    names = re.findall(r"^\s+\w+: '([A-Z]+ /[^']*)',?$", block, re.MULTILINE)
    assert len(names) >= 10, f"could not read ROUTES from k6/lib/routes.js: {names}"
    return names


def by_route(run: ScenarioRun) -> dict[str, tuple[int, int]]:
    """Requests and failed requests per route (k6's `name` tag), from the run's time series."""
    return {r.route: (r.requests, r.failed) for r in run.series.routes}


def test_k6_smoke_passes_every_check(binary: Path, policy: Policy, tmp_path: Path) -> None:
    """k6/smoke.js with the ci profile, judged as the SLO tier judges it; a short think time so every
    user flow (and every route) runs many times in the scenario's 10 s."""
    with twtarget(binary, tmp_path / "target", "--work-us", "200") as target:
        options = RunOptions(overrides={"smoke": {"think_time_s": 0.1}})
        run = run_scenario(policy, "ci", "smoke", target.url, tmp_path / "run", options=options)
        stats = json.loads(request(target.url, "GET", "/_admin/stats").body)
    failed = [r.message for r in run.results.values() if not r.passed]
    assert not failed, failed
    assert run.process.exit_code == 0, run.process.describe_exit()
    assert run.summary.value("checks", "fails") == 0
    assert run.summary.value("http_req_failed", "rate") == 0, "no HTTP errors"
    assert (run.summary.value("tartware_transport_errors", "count") or 0) == 0
    # k6 runs with the `check` system tag off (conformance/slo/config.py), so checks are judged in
    # total and routes by their requests: every route was called, and none ever failed.
    requests = run.summary.value("http_reqs", "count") or 0
    assert (run.summary.value("checks", "passes") or 0) >= requests > 0, "at least one check per response"
    routes = by_route(run)
    missing = [r for r in route_names() if routes.get(r, (0, 0))[0] == 0]
    assert not missing, f"routes k6 never called: {missing} (called: {routes})"
    assert not {r: rf for r, rf in routes.items() if rf[1]}, routes
    assert stats["requests"] >= requests - 1, "every k6 request but setup's /healthz reached /api"
    assert stats["errors_injected"] == 0 and stats["reservations"] > 0


def test_k6_smoke_fails_when_every_request_errors(binary: Path, policy: Policy, tmp_path: Path) -> None:
    """--error-rate 1: every /api check fails (the health check in setup still passes)."""
    with twtarget(binary, tmp_path / "target", "--error-rate", "1") as target:
        options = RunOptions(overrides={"smoke": {"vus": 2, "duration_s": 3}})
        run = run_scenario(policy, "ci", "smoke", target.url, tmp_path / "run", options=options)
        stats = json.loads(request(target.url, "GET", "/_admin/stats").body)
    assert run.process.exit_code == 99, "k6 reports the crossed thresholds"
    assert not run.results["checks"].passed and not run.results["error_rate"].passed
    assert run.summary.value("http_req_failed", "rate") == pytest.approx(
        1 - 1 / (run.summary.value("http_reqs", "count") or 1)
    ), "every request but the setup's /healthz failed"
    assert run.summary.value("checks", "passes") == 1, "only setup's /healthz check passed"
    assert (run.summary.value("checks", "fails") or 0) >= (run.summary.value("http_reqs", "count") or 0) - 1
    routes = by_route(run)
    api = {r: rf for r, rf in routes.items() if " /api/" in r}
    assert api and all(failed == requests > 0 for requests, failed in api.values()), api
    assert routes["GET /healthz"] == (1, 0)
    assert stats["errors_injected"] == stats["requests"] > 0


# --- real CPU per request -------------------------------------------------------------------------


def cpu_per_request(binary: Path, log_dir: Path, work_us: int, n: int) -> tuple[float, int]:
    """Seconds of twtarget's CPU (utime + stime from /proc) per GET /api/v1/rooms, over n requests."""
    tick = os.sysconf("SC_CLK_TCK")
    with twtarget(binary, log_dir, "--work-us", str(work_us)) as target:
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=HTTP_TIMEOUT_S)
        try:
            for _ in range(20):  # warm up: connection, first allocations
                assert request(target.url, "GET", "/api/v1/rooms", conn=conn).status == 200
            before = target.cpu_ticks()
            for _ in range(n):
                assert request(target.url, "GET", "/api/v1/rooms", conn=conn).status == 200
            after = target.cpu_ticks()
        finally:
            conn.close()
        served = json.loads(request(target.url, "GET", "/_admin/stats").body)["requests"]
    return (after - before) / tick / n, served


def test_work_us_burns_real_cpu_per_request(binary: Path, tmp_path: Path) -> None:
    """--work-us 2000: each request costs >= ~2 ms of the process's CPU time; without it, a fraction.
    Ratios of CPU time (the kernel's accounting), not wall time: a busy machine slows both alike."""
    n = 400
    idle, served_idle = cpu_per_request(binary, tmp_path / "idle", 0, n)
    busy, served_busy = cpu_per_request(binary, tmp_path / "busy", 2000, n)
    assert served_idle == served_busy == n + 20
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    print(f"CPU per request: {idle * 1e6:.0f} us without --work-us, {busy * 1e6:.0f} us with --work-us 2000")
    # The burn is measured on the thread's own CPU clock: at least 2000 us each, less one tick of
    # /proc's granularity over the whole run.
    assert busy >= 0.002 - 2 * tick_s / n, f"{busy * 1e6:.0f} us of CPU per request with --work-us 2000"
    assert busy >= 5 * max(idle, tick_s / n), f"with work {busy * 1e6:.0f} us vs {idle * 1e6:.0f} us without"
    assert busy - idle <= 0.002 * 3, "the burn stays near what was asked (no runaway loop)"


# --- process behaviour -------------------------------------------------------------------------------


def test_sigterm_drains_a_request_in_flight_then_exits_zero(binary: Path, tmp_path: Path) -> None:
    with twtarget(binary, tmp_path, "--latency-ms", "1500") as target:
        answers: list[Answer] = []
        client = threading.Thread(target=lambda: answers.append(request(target.url, "GET", "/api/v1/rooms")))
        client.start()
        deadline = time.monotonic() + HTTP_TIMEOUT_S
        while json.loads(request(target.url, "GET", "/_admin/stats").body)["delayed"] < 1:
            assert time.monotonic() < deadline, "the delayed request never reached twtarget"
            time.sleep(0.02)
        code = target.terminate()
        client.join(HTTP_TIMEOUT_S)
        assert not client.is_alive()
    assert code == 0, target.log.read_text()
    assert [a.status for a in answers] == [200], "the request in flight was answered, not dropped"
    assert "twtarget: stopped" in target.log.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--error-rate", "2"], "error_rate must be within 0..1, got 2.0"),
        (["--latency-fraction", "-0.5"], "latency_fraction must be within 0..1"),
        (["--latency-ms", "-1"], "latency_ms must be >= 0"),
        (["--metrics", "only_one"], "--metrics takes two metric names"),
        (["--metrics", "a b,c"], "--metrics takes two metric names"),
        (["--work-us", "-1"], "--work-us must be within"),
        (["--port", "x"], "invalid value"),
    ],
)
def test_bad_flags_exit_2(binary: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(
        [str(binary), "--host", "127.0.0.1", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "LISTENING" not in proc.stdout
