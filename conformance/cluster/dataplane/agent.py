"""The data plane's one helper process: the pods' servers and the API relay, inside namespaces.

    python -m conformance.cluster.dataplane.agent        # as root; commands on stdin, one JSON a line

Commands (each answered with one JSON line on stdout, {"ok": true} or {"ok": false, "error": ...}):

    {"op": "serve", "netns": "/run/netns/twdp-..-p003", "ip": "10.244.0.3",
     "ports": [[8080, "TCP"], [53, "UDP"]], "token": "tartware/api-gateway"}
        listen on each port at that IP inside the pod's namespace; a TCP client gets the
        token and a close, a UDP datagram gets the token back: the prober knows it reached
        that very pod (not just "something answered").
    {"op": "sysctl", "netns": "/run/netns/twdp-..-node", "key": "net.ipv4.ip_forward", "value": "1"}
        write a per-namespace sysctl from inside that namespace.
    {"op": "forget", "netns": "/run/netns/twdp-..-p003"}
        close every socket and handle held in that namespace, so that deleting it frees it.
    {"op": "relay", "netns": "/run/netns/twdp-..-node", "port": 32764, "target": 32764}
        listen on 127.0.0.1:port inside the node namespace and relay every connection to
        127.0.0.1:target of this process's own (the machine's) namespace: kube-router and
        kube-proxy reach the kube-apiserver with no link, address or route between the two.

The agent exits when stdin closes (its parent is gone) or on {"op": "quit"}. One thread,
one selector; stdlib only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .nsenter import Namespaces

BUFFER = 65536


@dataclass
class Pipe:
    """One relayed connection: bytes read from `a` wait in `to_b` until `b` can take them."""

    a: socket.socket
    b: socket.socket
    to_a: bytearray = field(default_factory=bytearray)
    to_b: bytearray = field(default_factory=bytearray)
    connected: bool = False
    closed: bool = False
    eof: set[int] = field(default_factory=set)  # fds of the ends that have sent their last byte


class Agent:
    def __init__(self) -> None:
        self.spaces = Namespaces()
        self.sel = selectors.DefaultSelector()
        self.stdin = bytearray()
        self.running = True
        self.sockets: dict[str, list[socket.socket]] = {}  # netns path -> the listeners made there

    # -- commands ---------------------------------------------------------------------
    def command(self, line: bytes) -> dict[str, Any]:
        try:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "serve":
                self.serve(
                    cmd["netns"], str(cmd["ip"]), [(int(p), str(t)) for p, t in cmd["ports"]], cmd["token"]
                )
            elif op == "sysctl":
                self.sysctl(cmd["netns"], str(cmd["key"]), str(cmd["value"]))
            elif op == "relay":
                self.relay(cmd["netns"], int(cmd["port"]), int(cmd["target"]))
            elif op == "forget":
                self.forget(cmd["netns"])
            elif op == "quit":
                self.running = False
            else:
                return {"ok": False, "error": f"unknown op {op!r}"}
        except (OSError, KeyError, TypeError, ValueError) as err:
            return {"ok": False, "error": f"{type(err).__name__}: {err}"}
        return {"ok": True}

    def serve(self, netns: str, ip: str, ports: list[tuple[int, str]], token: str) -> None:
        reply = token.encode() + b"\n"
        with self.spaces.inside(netns):
            for port, proto in ports:
                if proto == "TCP":
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((ip, port))
                    sock.listen(128)
                    sock.setblocking(False)
                    self.sel.register(sock, selectors.EVENT_READ, ("tcp", reply))
                elif proto == "UDP":
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sock.bind((ip, port))
                    sock.setblocking(False)
                    self.sel.register(sock, selectors.EVENT_READ, ("udp", reply))
                else:
                    raise ValueError(f"protocol {proto} is not served (TCP and UDP only)")
                self.sockets.setdefault(netns, []).append(sock)

    def forget(self, netns: str) -> None:
        """Close everything held in `netns` (a socket or handle would keep a deleted namespace alive)."""
        for sock in self.sockets.pop(netns, []):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(sock)
            sock.close()
        self.spaces.drop(netns)

    def sysctl(self, netns: str, key: str, value: str) -> None:
        """Write /proc/sys/<key> as seen from inside `netns` (net.* sysctls are per namespace)."""
        if not key.startswith("net.") or ".." in key:
            raise ValueError(f"only net.* sysctls: {key!r}")
        with self.spaces.inside(netns), Path("/proc/sys", *key.split(".")).open("w") as f:
            f.write(value)

    def relay(self, netns: str, port: int, target: int) -> None:
        with self.spaces.inside(netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, ("relay", target))

    # -- events -------------------------------------------------------------------------
    def on_tcp(self, sock: socket.socket, reply: bytes) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                conn, _ = sock.accept()
                with contextlib.suppress(OSError):
                    conn.send(reply)  # a few bytes into an empty send buffer: never blocks
                conn.close()

    def on_udp(self, sock: socket.socket, reply: bytes) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                _, peer = sock.recvfrom(BUFFER)
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)

    def on_relay(self, sock: socket.socket, target: int) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                client, _ = sock.accept()
                client.setblocking(False)
                upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # this (the machine's) namespace
                upstream.setblocking(False)
                code = upstream.connect_ex(("127.0.0.1", target))
                if code not in (0, errno.EINPROGRESS):
                    client.close()
                    upstream.close()
                    continue
                pipe = Pipe(client, upstream)
                self.sel.register(upstream, selectors.EVENT_WRITE, ("pipe", pipe))
                self.sel.register(client, selectors.EVENT_READ, ("pipe", pipe))

    def _watch(self, pipe: Pipe) -> None:
        """Register each end for what it needs now: read while its data has room, write while queued.

        An end that sent its last byte is read no more; once what it sent is delivered, the
        other end is shut for writing (half-close), and when both are done the pipe closes.
        """
        ends = ((pipe.a, pipe.to_a, pipe.to_b), (pipe.b, pipe.to_b, pipe.to_a))
        for sock, out, peer in ((pipe.a, pipe.to_a, pipe.b), (pipe.b, pipe.to_b, pipe.a)):
            if peer.fileno() in pipe.eof and not out and sock.fileno() not in pipe.eof | {-1}:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
        if {pipe.a.fileno(), pipe.b.fileno()} <= pipe.eof and not pipe.to_a and not pipe.to_b:
            self._close(pipe)
            return
        for sock, out, inbox in ends:
            events = 0
            reading = sock.fileno() not in pipe.eof and (pipe.connected or sock is pipe.a)
            if reading and len(inbox) < BUFFER:
                events |= selectors.EVENT_READ
            if out or (sock is pipe.b and not pipe.connected):
                events |= selectors.EVENT_WRITE
            self._want(sock, events, pipe)

    def _want(self, sock: socket.socket, events: int, pipe: Pipe) -> None:
        """Wait for exactly `events` on sock (none: not registered at all)."""
        try:
            key = self.sel.get_key(sock)
        except KeyError:
            key = None
        if not events:
            if key is not None:
                self.sel.unregister(sock)
        elif key is None:
            self.sel.register(sock, events, ("pipe", pipe))
        elif key.events != events:
            self.sel.modify(sock, events, ("pipe", pipe))

    def _close(self, pipe: Pipe) -> None:
        if pipe.closed:
            return
        pipe.closed = True
        for sock in (pipe.a, pipe.b):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(sock)
            sock.close()

    def on_pipe(self, sock: socket.socket, mask: int, pipe: Pipe) -> None:
        if pipe.closed:  # its other end failed earlier in the same round of events
            return
        try:
            if sock is pipe.b and not pipe.connected and mask & selectors.EVENT_WRITE:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
                pipe.connected = True
            out = pipe.to_a if sock is pipe.a else pipe.to_b
            into = pipe.to_b if sock is pipe.a else pipe.to_a
            if mask & selectors.EVENT_WRITE and out:
                sent = sock.send(out)
                del out[:sent]
            if mask & selectors.EVENT_READ and sock.fileno() not in pipe.eof:
                data = sock.recv(BUFFER)
                if data:
                    into.extend(data)
                else:
                    pipe.eof.add(sock.fileno())
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(pipe)
            return
        self._watch(pipe)

    def on_stdin(self) -> None:
        data = os.read(sys.stdin.fileno(), BUFFER)
        if not data:
            self.running = False
            return
        self.stdin.extend(data)
        while b"\n" in self.stdin:
            line, _, rest = bytes(self.stdin).partition(b"\n")
            self.stdin = bytearray(rest)
            sys.stdout.write(json.dumps(self.command(line)) + "\n")
            sys.stdout.flush()

    def run(self) -> None:
        os.set_blocking(sys.stdin.fileno(), False)
        self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, ("stdin", None))
        while self.running:
            for key, mask in self.sel.select(timeout=1.0):
                kind, data = key.data
                if kind == "stdin":
                    self.on_stdin()
                elif kind == "tcp":
                    self.on_tcp(key.fileobj, data)  # type: ignore[arg-type]
                elif kind == "udp":
                    self.on_udp(key.fileobj, data)  # type: ignore[arg-type]
                elif kind == "relay":
                    self.on_relay(key.fileobj, data)  # type: ignore[arg-type]
                elif kind == "pipe":
                    self.on_pipe(key.fileobj, mask, data)  # type: ignore[arg-type]


def main() -> int:
    agent = Agent()
    try:
        agent.run()
    except KeyboardInterrupt:
        pass
    finally:
        agent.spaces.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
