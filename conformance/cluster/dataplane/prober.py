"""Real connections from inside pods' network namespaces: one process, many probes in flight.

    python -m conformance.cluster.dataplane.prober < plan.json > results.json     # as root

plan: {"timeout_s": 1.0, "parallel": 64, "deadline_s": 120,
       "probes": [{"id": 0, "netns": "/run/netns/twdp-..-p001", "ip": "10.244.0.7",
                   "port": 8080, "protocol": "TCP", "token": "tartware/guests"}, ...]}
results: [{"id": 0, "outcome": "connected", "detail": "tartware/guests"}, ...]

Each probe's socket is made inside the source pod's namespace (nsenter.py), so its
packets leave through that pod's own interface with the pod's IP, cross the node's
bridge and meet the enforcer's rules there, as a pod's would. Outcomes:

    connected   the destination's server answered with the expected token
    wrong-peer  something else answered (e.g. a Service routed to another pod)
    refused     connection refused / ICMP unreachable (kube-router REJECTs what policy denies)
    timeout     no answer within timeout_s
    error       the socket could not be made (detail says why)

A TCP probe sends nothing: the server speaks first. A UDP probe sends one datagram
and waits for the token. Bounded: at most `parallel` probes at once, each at most
timeout_s, the whole plan at most deadline_s (the rest come back as "timeout").
Stdlib only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .nsenter import Namespaces

IP_RECVERR = 11  # <linux/in.h>; not in the socket module of Python 3.11
OUTCOMES = ("connected", "wrong-peer", "refused", "timeout", "error")
_REFUSED = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM}


@dataclass
class Probe:
    id: int
    netns: str
    ip: str
    port: int
    protocol: str
    token: str
    sock: socket.socket | None = None
    deadline: float = 0.0
    received: bytearray = field(default_factory=bytearray)
    sent: bool = False


def _queued_error(sock: socket.socket) -> int:
    """The errno of an ICMP error waiting on the socket's error queue (IP_RECVERR), or 0."""
    try:
        _data, ancillary, _flags, _addr = sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError as err:
        return err.errno or 0
    for level, kind, payload in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_RECVERR and len(payload) >= 4:
            return int.from_bytes(payload[:4], sys.byteorder)  # struct sock_extended_err.ee_errno
    return 0


def _error_outcome(code: int) -> str:
    return "refused" if code in _REFUSED else "error"


class Prober:
    def __init__(self, probes: list[Probe], timeout_s: float, parallel: int) -> None:
        self.pending = list(reversed(probes))
        self.timeout_s = timeout_s
        self.parallel = max(1, parallel)
        self.sel = selectors.DefaultSelector()
        self.spaces = Namespaces()
        self.results: dict[int, tuple[str, str]] = {}
        self.active: dict[int, Probe] = {}

    def _finish(self, probe: Probe, outcome: str, detail: str) -> None:
        self.results[probe.id] = (outcome, detail)
        self.active.pop(probe.id, None)
        if probe.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(probe.sock)
            probe.sock.close()

    def _start(self, probe: Probe) -> None:
        kind = socket.SOCK_STREAM if probe.protocol == "TCP" else socket.SOCK_DGRAM
        try:
            with self.spaces.inside(probe.netns):
                sock = socket.socket(socket.AF_INET, kind)
        except OSError as err:
            self.results[probe.id] = ("error", f"socket in {probe.netns}: {err}")
            return
        sock.setblocking(False)
        if probe.protocol == "TCP":
            # The kernel drops an ICMP error that arrives while connect() still holds the
            # socket (kube-router's REJECT answers within that very call): it only keeps a
            # "soft" error and retransmits a second later. With IP_RECVERR the ICMP is also
            # queued on the socket's error queue, which wakes us at once.
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        probe.sock = sock
        probe.deadline = time.monotonic() + self.timeout_s
        self.active[probe.id] = probe
        code = sock.connect_ex((probe.ip, probe.port))
        if code not in (0, errno.EINPROGRESS):
            self._finish(probe, _error_outcome(code), os.strerror(code))
            return
        if probe.protocol == "UDP":
            try:
                sock.send(b"probe\n")
                probe.sent = True
            except OSError as err:
                self._finish(probe, _error_outcome(err.errno or 0), str(err))
                return
            self.sel.register(sock, selectors.EVENT_READ, probe)
        else:
            self.sel.register(sock, selectors.EVENT_WRITE, probe)

    def _event(self, probe: Probe, mask: int) -> None:
        sock = probe.sock
        assert sock is not None
        if probe.protocol == "TCP" and not probe.sent:
            queued = _queued_error(sock)
            if queued:
                self._finish(probe, _error_outcome(queued), f"{os.strerror(queued)} (ICMP)")
                return
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._finish(probe, _error_outcome(code), os.strerror(code))
                return
            try:
                sock.getpeername()
            except OSError:
                return  # woken by something else: still connecting
            probe.sent = True  # connected: now wait for the server's token
            self.sel.modify(sock, selectors.EVENT_READ, probe)
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._finish(probe, _error_outcome(err.errno or 0), str(err))
            return
        probe.received.extend(data)
        if data and b"\n" not in probe.received and probe.protocol == "TCP":
            return  # more to come
        got = probe.received.decode(errors="replace").strip()
        if got in probe.token.split("|"):  # "a|b": any of these pods (a Service's backends)
            self._finish(probe, "connected", got)
        else:
            self._finish(probe, "wrong-peer", got or "connected, but the peer sent nothing")

    def run(self, deadline_s: float) -> list[dict[str, Any]]:
        end = time.monotonic() + deadline_s
        order = [p.id for p in reversed(self.pending)]
        while (self.pending or self.active) and time.monotonic() < end:
            while self.pending and len(self.active) < self.parallel:
                self._start(self.pending.pop())
            now = time.monotonic()
            for probe in [p for p in self.active.values() if p.deadline <= now]:
                self._finish(probe, "timeout", f"no answer within {self.timeout_s:g} s")
            if not self.active:
                continue
            wait = max(0.0, min(p.deadline for p in self.active.values()) - time.monotonic())
            for key, mask in self.sel.select(timeout=min(wait, 0.2)):
                probe = key.data
                if probe.id in self.active:
                    self._event(probe, mask)
        for probe in list(self.active.values()):
            self._finish(probe, "timeout", "plan deadline reached")
        for probe in self.pending:
            self.results[probe.id] = ("timeout", "not started: plan deadline reached")
        self.spaces.close()
        return [{"id": i, "outcome": self.results[i][0], "detail": self.results[i][1]} for i in order]


def main() -> int:
    plan = json.load(sys.stdin)
    probes = [
        Probe(
            int(p["id"]), str(p["netns"]), str(p["ip"]), int(p["port"]), str(p["protocol"]), str(p["token"])
        )
        for p in plan["probes"]
    ]
    prober = Prober(probes, float(plan.get("timeout_s", 1.0)), int(plan.get("parallel", 64)))
    json.dump(prober.run(float(plan.get("deadline_s", 120))), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
