"""Reference target: a fast aiohttp model of the Tartware API gateway, with fault injection.

Run it in its own process so it does not share a GIL with the harness::

    python -m conformance.slo.target --port 0 --latency-ms 600 --latency-fraction 1 --error-rate 0.1

It prints one line ``LISTENING <host> <port>`` once the socket is bound, then
serves until SIGTERM/SIGINT, or until its stdin reaches EOF with
``--exit-on-stdin-eof`` (the launcher keeps a pipe open, so the server dies
with its parent even if the parent is killed with SIGKILL).

Faults apply to /api/* only; /healthz and /_admin/* stay healthy so a
preflight can tell "target injecting errors" from "target down". They can be
changed at runtime: ``POST /_admin/faults {"latency_ms": 0, "error_rate": 0.2}``.
With ``--metrics REQUESTS,LATENCY`` it serves /metrics for Prometheus (conformance.slo.metrics):
the request counter and latency histogram of /api/*, as the services export them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import math
import signal
import socket
import sys
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from .metrics import HttpMetrics

ROOM_TYPES = {
    "STD": ("Standard Queen", 129.0, 2),
    "DLX": ("Deluxe King", 189.0, 2),
    "FAM": ("Family Suite", 249.0, 4),
    "STE": ("Executive Suite", 389.0, 3),
}
# Bounded so a long run at high rate cannot grow the server without limit.
MAX_RESERVATIONS = 200_000
MAX_STAY_NIGHTS = 30


@dataclass
class Faults:
    """What to inject into /api/* responses."""

    latency_ms: float = 0.0  # extra delay for delayed requests
    latency_fraction: float = 1.0  # share of requests delayed (when latency_ms > 0)
    error_rate: float = 0.0  # share of requests answered with HTTP 500

    def check(self) -> None:
        for name in ("latency_fraction", "error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")


class _Spread:
    """Picks exactly `fraction` of calls, evenly spread (deterministic, no RNG flakiness)."""

    def __init__(self) -> None:
        self.count = 0

    def hit(self, fraction: float) -> bool:
        self.count += 1
        return math.floor(self.count * fraction) != math.floor((self.count - 1) * fraction)


def _dump(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )


def _problem(status: int, detail: str) -> web.Response:
    return _dump({"status": status, "detail": detail}, status)


def _date(raw: str | None, field: str) -> dt.date:
    if not raw:
        raise ValueError(f"{field} is required (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{field} {raw!r} is not a YYYY-MM-DD date") from None


def _stay(check_in_raw: str | None, check_out_raw: str | None) -> tuple[dt.date, dt.date, int]:
    check_in, check_out = _date(check_in_raw, "check_in"), _date(check_out_raw, "check_out")
    nights = (check_out - check_in).days
    if not 1 <= nights <= MAX_STAY_NIGHTS:
        raise ValueError(f"stay must be 1..{MAX_STAY_NIGHTS} nights, got {nights}")
    return check_in, check_out, nights


def _guest(guest_id: str) -> dict[str, Any] | None:
    if not guest_id.startswith("g-") or not guest_id[2:].isdigit():
        return None
    n = int(guest_id[2:])
    return {
        "id": guest_id,
        "first_name": f"Guest{n % 997}",
        "last_name": f"Traveller{n % 131}",
        "email": f"guest{n}@example.test",
        "phone": f"+1-555-{n % 10000:04d}",
        "loyalty": {"tier": ("none", "silver", "gold", "platinum")[n % 4], "points": (n * 37) % 50000},
        "preferences": {"floor": "high" if n % 2 else "low", "pillow": "foam", "newspaper": n % 3 == 0},
        "address": {"city": ("Lisbon", "Austin", "Osaka", "Cape Town")[n % 4], "country": "XX"},
    }


class Gateway:
    """The routes and in-memory state of the model gateway."""

    def __init__(self, faults: Faults, metrics: HttpMetrics | None = None) -> None:
        self.faults = faults
        self.metrics = metrics
        self.requests = 0
        self.errors_injected = 0
        self.delayed = 0
        self._lat, self._err = _Spread(), _Spread()
        self._next_id = 1
        self.reservations: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.by_guest: dict[str, deque[str]] = {}
        self.settings: dict[str, Any] = {
            "property_id": "prop-001",
            "name": "Tartware Harbour Hotel",
            "currency": "EUR",
            "timezone": "Europe/Lisbon",
            "check_in_time": "15:00",
            "check_out_time": "11:00",
            "overbooking_percent": 3,
            "cancellation_hours": 48,
            "tax_percent": 6.0,
        }
        rooms = [
            {
                "number": f"{floor}{i:02d}",
                "floor": floor,
                "type": code,
                "name": name,
                "max_occupancy": occ,
                "status": ("clean", "dirty", "inspected")[(floor + i) % 3],
            }
            for floor in range(1, 6)
            for i, (code, (name, _, occ)) in enumerate(ROOM_TYPES.items(), 1)
        ]
        # Static payloads are serialised once: the target must stay cheap per request.
        self._rooms_body = json.dumps({"items": rooms, "total": len(rooms)}).encode()
        tasks = [
            {
                "id": f"hk-{i}",
                "room": r["number"],
                "kind": ("clean", "turndown", "inspect")[i % 3],
                "status": "pending",
                "priority": ("low", "normal", "high")[i % 3],
            }
            for i, r in enumerate(rooms)
        ]
        self._tasks_body = json.dumps({"items": tasks, "total": len(tasks)}).encode()

    # --- middleware -------------------------------------------------------------
    @web.middleware
    async def inject(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)  # type: ignore[no-any-return]
        if self.metrics is None:
            return await self._api(request, handler)
        began, status = time.perf_counter(), 500
        try:
            response = await self._api(request, handler)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.metrics.observe(status, time.perf_counter() - began)

    async def _api(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        f = self.faults
        if f.latency_ms > 0 and self._lat.hit(f.latency_fraction):
            self.delayed += 1
            await asyncio.sleep(f.latency_ms / 1000)
        if f.error_rate > 0 and self._err.hit(f.error_rate):
            self.errors_injected += 1
            return _problem(500, "injected fault")
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except ValueError as err:
            return _problem(422, str(err))

    # --- health and admin -------------------------------------------------------
    async def healthz(self, _: web.Request) -> web.Response:
        return _dump({"status": "ok"})

    async def metrics_text(self, _: web.Request) -> web.Response:
        if self.metrics is None:
            return _problem(404, "metrics are off (start the target with --metrics REQUESTS,LATENCY)")
        return web.Response(text=self.metrics.render(), content_type="text/plain", charset="utf-8")

    async def admin_stats(self, _: web.Request) -> web.Response:
        return _dump(
            {
                "requests": self.requests,
                "errors_injected": self.errors_injected,
                "delayed": self.delayed,
                "reservations": len(self.reservations),
                "faults": asdict(self.faults),
            }
        )

    async def admin_faults(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            faults = Faults(**{**asdict(self.faults), **changes})
            faults.check()
        except (ValueError, TypeError) as err:
            return _problem(400, f"bad faults: {err}")
        self.faults = faults
        return _dump(asdict(faults))

    # --- API ---------------------------------------------------------------------
    async def availability(self, request: web.Request) -> web.Response:
        q = request.query
        check_in, check_out, nights = _stay(q.get("check_in"), q.get("check_out"))
        guests = int(q.get("guests", "2"))
        seed = check_in.toordinal()
        offers = []
        for i, (code, (name, rate, occ)) in enumerate(ROOM_TYPES.items()):
            if occ < guests:
                continue
            nightly = round(rate * (1.25 if check_in.weekday() >= 4 else 1.0), 2)
            offers.append(
                {
                    "room_type": code,
                    "name": name,
                    "available": (seed * (i + 3)) % 17,
                    "max_occupancy": occ,
                    "rate_plan": "BAR",
                    "refundable": i % 2 == 0,
                    "price": {
                        "currency": self.settings["currency"],
                        "nightly": nightly,
                        "total": round(nightly * nights, 2),
                    },
                }
            )
        return _dump(
            {
                "check_in": str(check_in),
                "check_out": str(check_out),
                "nights": nights,
                "guests": guests,
                "property_id": self.settings["property_id"],
                "offers": offers,
            }
        )

    async def rooms(self, _: web.Request) -> web.Response:
        return web.Response(body=self._rooms_body, content_type="application/json")

    async def housekeeping(self, _: web.Request) -> web.Response:
        return web.Response(body=self._tasks_body, content_type="application/json")

    async def create_reservation(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _problem(400, "body is not JSON")
        if not isinstance(body, dict):
            return _problem(422, "body must be a JSON object")
        guest_id = str(body.get("guest_id", ""))
        if _guest(guest_id) is None:
            return _problem(422, f"unknown guest_id {guest_id!r}")
        room_type = str(body.get("room_type", ""))
        if room_type not in ROOM_TYPES:
            return _problem(422, f"room_type must be one of {sorted(ROOM_TYPES)}")
        check_in, check_out, nights = _stay(body.get("check_in"), body.get("check_out"))
        rid = f"rsv-{self._next_id}"
        self._next_id += 1
        rate = ROOM_TYPES[room_type][1]
        rsv = {
            "id": rid,
            "guest_id": guest_id,
            "room_type": room_type,
            "check_in": str(check_in),
            "check_out": str(check_out),
            "nights": nights,
            "adults": int(body.get("adults", 2)),
            "status": "confirmed",
            "invoice_id": f"inv-{rid[4:]}",
            "special_requests": "",
            "total": {"currency": self.settings["currency"], "amount": round(rate * nights, 2)},
        }
        self.reservations[rid] = rsv
        self.by_guest.setdefault(guest_id, deque(maxlen=20)).append(rid)
        if len(self.reservations) > MAX_RESERVATIONS:
            self.reservations.popitem(last=False)
        return _dump(rsv, 201)

    def _reservation(self, request: web.Request) -> dict[str, Any] | None:
        return self.reservations.get(request.match_info["id"])

    async def get_reservation(self, request: web.Request) -> web.Response:
        rsv = self._reservation(request)
        return _dump(rsv) if rsv else _problem(404, "no such reservation")

    async def list_reservations(self, request: web.Request) -> web.Response:
        limit = max(1, min(int(request.query.get("limit", "20")), 100))
        guest_id = request.query.get("guest_id")
        if guest_id:
            ids = list(self.by_guest.get(guest_id, ()))[-limit:]
        else:
            ids = list(itertools.islice(reversed(self.reservations), limit))
        items = [self.reservations[i] for i in ids if i in self.reservations]
        return _dump({"items": items, "total": len(items)})

    async def modify_reservation(self, request: web.Request) -> web.Response:
        rsv = self._reservation(request)
        if rsv is None:
            return _problem(404, "no such reservation")
        if rsv["status"] == "cancelled":
            return _problem(409, "reservation is cancelled")
        changes = await request.json()
        if not isinstance(changes, dict):
            return _problem(422, "body must be a JSON object")
        if "check_out" in changes:
            _, check_out, nights = _stay(rsv["check_in"], changes["check_out"])
            rsv.update(check_out=str(check_out), nights=nights)
            rsv["total"]["amount"] = round(ROOM_TYPES[rsv["room_type"]][1] * nights, 2)
        for key in ("adults", "special_requests"):
            if key in changes:
                rsv[key] = changes[key]
        return _dump(rsv)

    async def cancel_reservation(self, request: web.Request) -> web.Response:
        rsv = self._reservation(request)
        if rsv is None:
            return _problem(404, "no such reservation")
        rsv["status"] = "cancelled"
        return _dump(rsv)

    async def guest(self, request: web.Request) -> web.Response:
        g = _guest(request.match_info["id"])
        return _dump(g) if g else _problem(404, "no such guest")

    async def invoice(self, request: web.Request) -> web.Response:
        iid = request.match_info["id"]
        if not iid.startswith("inv-") or not iid[4:].isdigit():
            return _problem(404, "no such invoice")
        n = int(iid[4:])
        room = round(129.0 + (n % 5) * 40, 2)
        items = [("Room night", 1 + n % 4, room), ("Breakfast", 2, 18.5), ("City tax", 1, 4.0)]
        lines = [{"description": d, "quantity": q, "unit_price": p} for d, q, p in items]
        net = round(sum(q * p for _, q, p in items), 2)
        tax = round(net * self.settings["tax_percent"] / 100, 2)
        return _dump(
            {
                "id": iid,
                "reservation_id": f"rsv-{n}",
                "currency": self.settings["currency"],
                "lines": lines,
                "net": net,
                "tax": tax,
                "gross": round(net + tax, 2),
                "status": ("open", "paid")[n % 2],
            }
        )

    async def get_settings(self, _: web.Request) -> web.Response:
        return _dump(self.settings)

    async def patch_settings(self, request: web.Request) -> web.Response:
        changes = await request.json()
        if not isinstance(changes, dict):
            return _problem(422, "body must be a JSON object")
        unknown = sorted(k for k in changes if k not in self.settings or k == "property_id")
        if unknown:
            return _problem(422, f"read-only or unknown settings: {unknown}")
        self.settings.update(changes)
        return _dump(self.settings)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.inject])
        app.add_routes(
            [
                web.get("/healthz", self.healthz),
                web.get("/metrics", self.metrics_text),
                web.get("/_admin/stats", self.admin_stats),
                web.post("/_admin/faults", self.admin_faults),
                web.get("/api/v1/availability", self.availability),
                web.get("/api/v1/rooms", self.rooms),
                web.get("/api/v1/reservations", self.list_reservations),
                web.post("/api/v1/reservations", self.create_reservation),
                web.get("/api/v1/reservations/{id}", self.get_reservation),
                web.patch("/api/v1/reservations/{id}", self.modify_reservation),
                web.delete("/api/v1/reservations/{id}", self.cancel_reservation),
                web.get("/api/v1/guests/{id}", self.guest),
                web.get("/api/v1/billing/invoices/{id}", self.invoice),
                web.get("/api/v1/housekeeping/tasks", self.housekeeping),
                web.get("/api/v1/settings", self.get_settings),
                web.patch("/api/v1/settings", self.patch_settings),
            ]
        )
        return app


async def serve(
    host: str, port: int, faults: Faults, exit_on_stdin_eof: bool, metrics: HttpMetrics | None = None
) -> None:
    """Bind, announce the port on stdout, serve until a signal (or stdin EOF)."""
    gateway = Gateway(faults, metrics)
    runner = web.AppRunner(gateway.app(), access_log=None, handle_signals=False)
    await runner.setup()
    # Bind the socket ourselves so port 0 resolves to a known port before announcing it.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    site = web.SockSite(runner, sock, backlog=4096)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

        async def watch() -> None:
            while await reader.read(4096):
                pass
            stop.set()

        watcher = asyncio.ensure_future(watch())
    print(f"LISTENING {host} {sock.getsockname()[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        if exit_on_stdin_eof:
            watcher.cancel()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.slo.target", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (0: an ephemeral port, printed on stdout)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="extra latency for delayed requests")
    parser.add_argument(
        "--latency-fraction", type=float, default=1.0, help="share of requests delayed (0..1)"
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500 (0..1)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    parser.add_argument(
        "--metrics",
        metavar="REQUESTS,LATENCY",
        help="serve /metrics: names of the request counter and latency histogram (policy.yaml)",
    )
    args = parser.parse_args(argv)
    metrics = None
    if args.metrics:
        names = args.metrics.split(",")
        if len(names) != 2 or not all(names):
            parser.error("--metrics takes two names: REQUESTS,LATENCY")
        metrics = HttpMetrics(*names)
    faults = Faults(args.latency_ms, args.latency_fraction, args.error_rate)
    try:
        faults.check()
    except ValueError as err:
        parser.error(str(err))
    asyncio.run(serve(args.host, args.port, faults, args.exit_on_stdin_eof, metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
