"""Finding and ending the processes a provider started, and the ports they listen on.

Only processes that are provably ours are touched: pids the provider recorded,
and processes whose command line contains the provider's own unique temporary
directory. Nothing is matched by program name.

    pids = processes_referencing(workdir)          # e.g. etcd, kube-apiserver, kwok under workdir
    ports = listening_ports(pids)                  # TCP ports they listen on
    terminate(pids, grace_s=5)                     # SIGTERM to each group, then SIGKILL
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    # Field 3 (after the parenthesised command) is the state; Z = zombie, X = dead.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def processes_referencing(path: Path) -> list[int]:
    """Pids whose command line mentions `path` (a directory only this run created)."""
    needle = str(path).encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def read_pid_file(file: Path) -> int | None:
    """The pid in one of the *.pid files kwokctl keeps per component (None: unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        return int(file.read_text().strip())
    return None


def read_pid_files(folder: Path) -> list[int]:
    """Pids from the *.pid files of a folder (unreadable ones skipped)."""
    pids = (read_pid_file(file) for file in (sorted(folder.glob("*.pid")) if folder.is_dir() else []))
    return [pid for pid in pids if pid is not None]


def _signal(pid: int, sig: signal.Signals) -> None:
    # Each component runs in its own process group (kwokctl starts them with
    # setsid): signal the group so helpers it spawned go too, but never our own.
    try:
        pgid = os.getpgid(pid)
    except OSError:
        return
    with contextlib.suppress(OSError):
        if pgid != os.getpgid(0) and pgid == pid:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)


def terminate(pids: Iterable[int], grace_s: float = 5.0) -> list[int]:
    """SIGTERM, wait up to grace_s, then SIGKILL what is left. Returns pids that had to be killed."""
    pending = [p for p in set(pids) if p != os.getpid() and alive(p)]
    for pid in pending:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pending and time.monotonic() < deadline:
        time.sleep(0.05)
        pending = [p for p in pending if alive(p)]
    for pid in pending:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while any(alive(p) for p in pending) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pending


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in (PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = str(fd.readlink())
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def listening_ports(pids: Iterable[int]) -> set[int]:
    """TCP ports (v4 and v6) in LISTEN state owned by the given processes."""
    inodes: set[str] = set()
    for pid in pids:
        inodes |= _socket_inodes(pid)
    return {port for port, inode in _listening() if inode in inodes}


def listening_port_numbers() -> set[int]:
    """Every TCP port in LISTEN state on this host (any owner)."""
    return {port for port, _ in _listening()}


def _listening() -> list[tuple[int, str]]:
    out = []
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A":  # 0A = LISTEN
                out.append((int(cols[1].rsplit(":", 1)[1], 16), cols[9]))
    return out
