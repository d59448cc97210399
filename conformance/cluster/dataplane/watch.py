"""Watching an interface for packets of the data plane's ranges: the proof that none leaves.

    with UplinkWatch(networks=[POD_CIDR, SERVICE_CIDR]) as watch:   # the default-route interface
        ... probes ...
    watch.seen            # 0, or the packets (IPv4 or ARP) with an address in those ranges
    watch.samples         # up to 10 of them, e.g. "IPv4 10.244.0.3 -> 10.0.9.1 proto 1"

An AF_PACKET socket on the interface gets a copy of every frame sent or received
there; a classic BPF filter attached to it keeps only IPv4 packets whose source
or destination, and ARP packets whose sender or target address, lies in one of
the networks, so the kernel hands over nothing else (no other traffic is read,
none can be dropped for lack of buffer). Needs root (CAP_NET_RAW).

    python -m conformance.cluster.dataplane.watch IFACE SECONDS CIDR...   # prints JSON {"seen": n, ...}
is the same, for a self-test inside a namespace of its own (`ip netns exec`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
_IPV4, _ARP = 0x0800, 0x0806
Network = ipaddress.IPv4Network


def default_interface(route_table: Path = Path("/proc/net/route")) -> str:
    """The interface of the machine's IPv4 default route (its uplink)."""
    for line in route_table.read_text().splitlines()[1:]:
        cols = line.split()
        if len(cols) > 2 and cols[1] == "00000000":
            return cols[0]
    raise OSError("no IPv4 default route: no uplink to watch")


def bpf_program(networks: Sequence[Network]) -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k) instructions: accept an IPv4/ARP frame with an address in `networks`.

    Layout (jumps are relative to the next instruction):
        ldh [12]; jeq IPv4 ? next : ARP-section
        IPv4 section: per (offset, network): ld [off]; and mask; jeq net ? ACCEPT : next;  ret 0
        ARP section:  jeq ARP ? next : DROP; per (offset, network): the same;            ret 0
        ACCEPT: ret 0xffff
    Offsets in an Ethernet frame: EtherType 12; IPv4 source 26, destination 30;
    ARP sender protocol address 28, target protocol address 38.
    """
    ldh, ld, jeq, and_, ret = 0x28, 0x20, 0x15, 0x54, 0x06
    ip_checks = [(off, n) for off in (26, 30) for n in networks]
    arp_checks = [(off, n) for off in (28, 38) for n in networks]
    ip_len = 3 * len(ip_checks) + 1
    arp_start = 2 + ip_len
    arp_len = 1 + 3 * len(arp_checks) + 1
    accept = arp_start + arp_len
    drop = accept - 1  # the ARP section's "ret 0"
    prog: list[tuple[int, int, int, int]] = [(ldh, 0, 0, 12), (jeq, 0, arp_start - 2, _IPV4)]

    def checks(items: list[tuple[int, Network]]) -> None:
        for off, net in items:
            prog.append((ld, 0, 0, off))
            prog.append((and_, 0, 0, int(net.netmask)))
            here = len(prog)
            prog.append((jeq, accept - here - 1, 0, int(net.network_address)))
        prog.append((ret, 0, 0, 0))

    checks(ip_checks)
    here = len(prog)
    prog.append((jeq, 0, drop - here - 1, _ARP))
    checks(arp_checks)
    prog.append((ret, 0, 0, 0xFFFF))
    assert len(prog) == accept + 1 and all(0 <= jt < 256 and 0 <= jf < 256 for _, jt, jf, _ in prog)
    return prog


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def attach_filter(sock: socket.socket, prog: list[tuple[int, int, int, int]]) -> None:
    array = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), ctypes.cast(array, ctypes.POINTER(_SockFilter)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(memoryview(fprog)))


def describe(frame: bytes) -> str:
    """One line for a captured frame: "IPv4 10.244.0.3 -> 10.96.0.1 proto 6"."""
    if len(frame) < 14:
        return f"short frame ({len(frame)} bytes)"
    kind = struct.unpack("!H", frame[12:14])[0]
    if kind == _IPV4 and len(frame) >= 34:
        src, dst = (str(ipaddress.IPv4Address(frame[i : i + 4])) for i in (26, 30))
        return f"IPv4 {src} -> {dst} proto {frame[23]}"
    if kind == _ARP and len(frame) >= 42:
        spa, tpa = (str(ipaddress.IPv4Address(frame[i : i + 4])) for i in (28, 38))
        return f"ARP {spa} asks/tells about {tpa}"
    return f"EtherType 0x{kind:04x}"


class UplinkWatch:
    """Capture on one interface (default: the uplink) in a thread, from __enter__ to __exit__."""

    def __init__(self, networks: Iterable[str | Network], interface: str | None = None) -> None:
        self.networks = [ipaddress.IPv4Network(str(n)) for n in networks]
        self.interface = interface or default_interface()
        self.seen = 0
        self.samples: list[str] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> UplinkWatch:
        # Protocol 0: the socket receives nothing until bound. Filter first, then bind to the
        # interface for every protocol: no unfiltered frame (of any interface) is ever queued.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        attach_filter(sock, bpf_program(self.networks))
        sock.bind((self.interface, ETH_P_ALL))  # Python converts the protocol to network order
        sock.setblocking(False)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="uplink-watch", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.1)
            if ready:
                self._drain()

    def _drain(self) -> None:
        assert self._sock is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                frame = self._sock.recv(65535)
                self.seen += 1
                if len(self.samples) < 10:
                    self.samples.append(describe(frame))

    def __exit__(self, *exc: object | TracebackType) -> None:
        time.sleep(0.2)  # a reply still in flight is still counted
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._drain()
            self._sock.close()

    def report(self) -> str:
        ranges = ", ".join(map(str, self.networks))
        if not self.seen:
            return f"0 packets of {ranges} on {self.interface}"
        return f"{self.seen} packet(s) of {ranges} on {self.interface}: " + "; ".join(self.samples)


def main(argv: list[str]) -> int:
    interface, seconds, networks = argv[0], float(argv[1]), argv[2:]
    with UplinkWatch(networks, interface) as watch:
        print(json.dumps({"ready": True}), flush=True)
        time.sleep(seconds)
    print(json.dumps({"seen": watch.seen, "samples": watch.samples}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
