"""Making a socket inside another network namespace, from a single-threaded root helper.

A socket belongs to the network namespace its creator was in when it was made,
for its whole life. So one process can hold listeners and clients in many
namespaces: switch the calling thread in (setns), make the socket, switch back.

    with inside(Path("/run/netns/twdp-123-abc-p001")):
        sock = socket.socket()                     # lives in that namespace from now on

Python 3.11 has no os.setns; libc's is called through ctypes. Stdlib only (the
helpers that import this run as separate processes, see agent.py and prober.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace open on `fd`."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Namespaces:
    """Open handles on network namespaces (kept open: a namespace cannot vanish under us)."""

    def __init__(self) -> None:
        # The thread's own namespace, to come back to after every switch.
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self._fds: dict[str, int] = {}

    def fd(self, path: Path | str) -> int:
        key = str(path)
        if key not in self._fds:
            self._fds[key] = os.open(key, os.O_RDONLY)
        return self._fds[key]

    @contextlib.contextmanager
    def inside(self, path: Path | str) -> Iterator[None]:
        setns(self.fd(path))
        try:
            yield
        finally:
            setns(self.home)

    def drop(self, path: Path | str) -> None:
        fd = self._fds.pop(str(path), None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        for fd in [*self._fds.values(), self.home]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
