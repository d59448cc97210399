"""The reference target: routes answer like the gateway, faults are exact, it always goes away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.errors import InfraError
from conformance.slo.launcher import ReferenceTarget
from conformance.tools import REPO

pytestmark = pytest.mark.slow


@pytest.fixture
def target(tmp_path: Path) -> Iterator[ReferenceTarget]:
    """A fresh target (counters at zero)."""
    with ReferenceTarget().start(tmp_path) as t:
        yield t


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceTarget]:
    """One target for the tests that only read answers (starting one costs ~0.4 s)."""
    with ReferenceTarget().start(tmp_path_factory.mktemp("target")) as t:
        yield t


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_reservation_lifecycle(shared: ReferenceTarget) -> None:
    u = shared.url
    assert call(u, "GET", "/healthz") == (200, {"status": "ok"})
    status, avail = call(u, "GET", "/api/v1/availability?check_in=2027-03-01&check_out=2027-03-04&guests=3")
    assert status == 200 and avail["nights"] == 3
    assert {o["room_type"] for o in avail["offers"]} == {"FAM", "STE"}, "only rooms for 3 guests are offered"
    body = {"guest_id": "g-42", "room_type": "DLX", "check_in": "2027-03-01", "check_out": "2027-03-04"}
    status, rsv = call(u, "POST", "/api/v1/reservations", body)
    assert status == 201 and rsv["status"] == "confirmed" and rsv["nights"] == 3
    rid = rsv["id"]
    status, changed = call(u, "PATCH", f"/api/v1/reservations/{rid}", {"check_out": "2027-03-06"})
    assert status == 200 and changed["nights"] == 5
    assert call(u, "GET", "/api/v1/reservations?guest_id=g-42")[1]["items"][0]["id"] == rid
    assert call(u, "DELETE", f"/api/v1/reservations/{rid}")[1]["status"] == "cancelled"
    assert call(u, "PATCH", f"/api/v1/reservations/{rid}", {"adults": 1})[0] == 409
    status, invoice = call(u, "GET", f"/api/v1/billing/invoices/{rsv['invoice_id']}")
    assert status == 200 and invoice["gross"] > invoice["net"]
    assert call(u, "GET", "/api/v1/guests/g-42")[1]["id"] == "g-42"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/reservations/rsv-999999", None, 404),
        ("GET", "/api/v1/guests/nobody", None, 404),
        ("GET", "/api/v1/billing/invoices/x", None, 404),
        ("GET", "/api/v1/availability?check_in=2027-01-01", None, 422),
        ("GET", "/api/v1/availability?check_in=2027-01-02&check_out=2027-01-01", None, 422),
        ("POST", "/api/v1/reservations", {"guest_id": "g-1", "room_type": "PENTHOUSE"}, 422),
        ("PATCH", "/api/v1/settings", {"property_id": "other"}, 422),
        ("GET", "/api/v1/unknown", None, 404),
    ],
)
def test_bad_requests_get_client_errors(
    shared: ReferenceTarget, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    got = urllib.request.Request(
        shared.url + path, method=method, data=json.dumps(body).encode() if body else None
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(got, timeout=5)
    assert err.value.code == status


def test_lists_and_settings(shared: ReferenceTarget) -> None:
    u = shared.url
    assert call(u, "GET", "/api/v1/rooms")[1]["total"] == 20
    assert call(u, "GET", "/api/v1/housekeeping/tasks?status=pending")[1]["total"] == 20
    assert call(u, "PATCH", "/api/v1/settings", {"overbooking_percent": 5})[1]["overbooking_percent"] == 5
    assert call(u, "GET", "/api/v1/settings")[1]["overbooking_percent"] == 5


def test_error_injection_is_exact_and_spares_health(target: ReferenceTarget) -> None:
    assert target.set_faults(error_rate=0.25)["error_rate"] == 0.25
    codes = [call(target.url, "GET", "/api/v1/rooms")[0] for _ in range(100)]
    assert codes.count(500) == 25 and codes.count(200) == 75
    assert call(target.url, "GET", "/healthz")[0] == 200, "health stays up so a preflight sees the target"
    stats = target.stats()
    assert stats["errors_injected"] == 25 and stats["requests"] == 100


def test_latency_injection_delays_the_chosen_fraction(tmp_path: Path) -> None:
    with ReferenceTarget(latency_ms=150, latency_fraction=0.5).start(tmp_path) as t:
        took = []
        for _ in range(4):
            began = time.monotonic()
            call(t.url, "GET", "/api/v1/rooms")
            took.append(time.monotonic() - began)
        assert sum(d >= 0.15 for d in took) == 2 and t.stats()["delayed"] == 2


def test_bad_faults_are_refused(shared: ReferenceTarget) -> None:
    with pytest.raises(InfraError, match="400"):
        shared.set_faults(error_rate=2)


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    t = ReferenceTarget().start(tmp_path)
    assert t.proc is not None
    pid = t.proc.pid
    t.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(InfraError, match="not running"):
        _ = t.url


def test_server_exits_when_its_parent_goes_away(tmp_path: Path) -> None:
    """stdin EOF (what a dead parent leaves behind) stops the server: no orphans."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "conformance.slo.target", "--port", "0", "--exit-on-stdin-eof"]
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=tmp_path)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith(b"LISTENING 127.0.0.1 ")
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_target_that_cannot_start_is_infra(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="exited"):
        ReferenceTarget(error_rate=7).start(tmp_path)
