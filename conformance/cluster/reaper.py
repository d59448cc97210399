"""Last line of defence: clean up a local cluster when the test process dies without doing so.

Signal handlers and atexit cannot run after SIGKILL (or an OOM kill). So the
local provider starts this reaper in its own session with a pipe on its stdin:

    python -m conformance.cluster.reaper <tmp dir> <kwokctl> <cluster name> [<ip> <netns run>]

It blocks reading the pipe. A normal stop() writes "done" and the reaper exits
doing nothing; if the pipe closes without that word, the provider's process is
gone, and the reaper runs the same cleanup: `kwokctl delete cluster`, end every
process whose command line names the temp dir, delete the run's network namespaces
(with the processes inside them, their iptables rules and ipsets), remove the dir.
Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .dataplane import netns
from .procs import processes_referencing, read_pid_files, terminate

DONE = "done"


def cleanup(tmp: Path, kwokctl: str, name: str, ip: str = "", netns_run: str = "") -> None:
    """kwokctl delete, kill what is left under tmp, delete the run's network namespaces, remove tmp
    (each step regardless of the others)."""
    env = dict(os.environ)
    env.update(
        KWOK_WORKDIR=str(tmp / "workdir"), KUBECONFIG=str(tmp / "kubeconfig"), KUBECACHEDIR=str(tmp / "cache")
    )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [kwokctl, "delete", "cluster", "--name", name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    pids = set(read_pid_files(tmp / "workdir" / "clusters" / name / "pids")) | set(processes_referencing(tmp))
    terminate(pids)
    if ip and netns_run:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            netns.delete(Path(ip), netns.Netns(Path(ip), netns_run).names())
    shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    tmp, kwokctl, name = Path(argv[0]), argv[1], argv[2]
    ip, netns_run = (argv[3], argv[4]) if len(argv) >= 5 else ("", "")
    try:
        word = sys.stdin.readline().strip()
    except (OSError, KeyboardInterrupt):
        word = ""
    if word != DONE:
        cleanup(tmp, kwokctl, name, ip, netns_run)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
