"""Finding and ending the processes the suite started, and the ports they listen on.

Only processes that are provably ours are touched: pids the provider recorded,
children the suite started in a session of their own, and processes whose command
line contains the provider's own unique temporary directory. Nothing is matched by
program name.

    pids = processes_referencing(workdir)          # e.g. etcd, kube-apiserver, kwok under workdir
    ports = listening_ports(pids)                  # TCP ports they listen on
    terminate(pids)                                # SIGTERM to each group, SIGKILL after the grace
    stop_child(proc, first=signal.SIGINT)          # a Popen started with start_new_session=True

These are the suite's only process-stop helpers (cluster and SLO tier alike). Each is
bounded: STOP_GRACE_S for a polite exit, then SIGKILL and KILL_WAIT_S; after an interrupt
the grace is cut to meet lifecycle.kill_deadline(). Waits end as soon as the processes and
every member of their process groups are gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from .lifecycle import kill_deadline

PROC = Path("/proc")
STOP_GRACE_S = 3.0  # SIGTERM (or `first`) -> SIGKILL, unless an interrupt's deadline is nearer
KILL_WAIT_S = 2.0  # SIGKILL -> gone (the kernel tears the process down; D-state waits end)
_POLL_S = 0.05


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


def _stat(entry: Path) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the parenthesised command: [state, ppid, pgrp, ...]."""
    try:
        return (entry / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _live_groups(pgids: set[int]) -> set[int]:
    """Those of `pgids` that still have a member which is not a zombie."""

    def pgrp_if_live(entry: Path) -> int | None:
        fields = _stat(entry)
        return int(fields[2]) if fields and fields[0] not in ("Z", "X") else None

    found = {g for g in pgids if pgrp_if_live(PROC / str(g)) == g}  # the leader: no need to look further
    if found != pgids:
        members = (pgrp_if_live(e) for e in PROC.iterdir() if e.name.isdigit())
        found |= {m for m in members if m is not None and m in pgids}
    return found


def _signal_all(pids: set[int], groups: set[int], sig: signal.Signals) -> None:
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _wait_gone(pids: set[int], groups: set[int], until: float) -> tuple[set[int], set[int]]:
    """Poll until every pid and group is gone or `until` (monotonic); returns what is left."""
    while True:
        pids = {p for p in pids if alive(p)}
        groups = _live_groups(groups)
        if not (pids or groups) or time.monotonic() >= until:
            return pids, groups
        time.sleep(_POLL_S)


def terminate(
    pids: Iterable[int] = (),
    grace_s: float = STOP_GRACE_S,
    *,
    groups: Iterable[int] = (),
    first: signal.Signals = signal.SIGTERM,
) -> list[int]:
    """`first` to each process (to its whole group where it leads one, as kwokctl's components
    and the suite's own children do) and to each pgid in `groups`; SIGKILL whatever is left
    after grace_s (or earlier, at lifecycle.kill_deadline() during an interrupt), then wait up
    to KILL_WAIT_S. Never signals this process or its group. Returns the pids and pgids that
    had to be killed."""
    own = os.getpgid(0)
    lone: set[int] = set()
    leaders = _live_groups({g for g in groups if g != own})  # an empty group's id may be reused
    for pid in set(pids) - {os.getpid()}:
        if not alive(pid):
            continue
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        # A group of its own: signal the group, so helpers the process spawned go too.
        (leaders if pgid == pid and pgid != own else lone).add(pid)
    if not (lone or leaders):
        return []
    _signal_all(lone, leaders, first)
    until = time.monotonic() + grace_s
    deadline = kill_deadline()
    if deadline is not None:
        until = min(until, deadline)
    lone, leaders = _wait_gone(lone, leaders, until)
    if not (lone or leaders):
        return []
    _signal_all(lone, leaders, signal.SIGKILL)
    _wait_gone(lone, leaders, time.monotonic() + KILL_WAIT_S)
    return sorted(lone | leaders)


def stop_child(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str],
    grace_s: float = STOP_GRACE_S,
    *,
    first: signal.Signals = signal.SIGTERM,
) -> None:
    """Stop a child started with start_new_session=True (its pid is its group's id) and every
    process in its group, as terminate() does; then reap it."""
    terminate(groups=[proc.pid], grace_s=grace_s, first=first)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(KILL_WAIT_S)


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
