"""Last line of defence: clean up a cluster when the test process dies without doing so.

Signal handlers and atexit cannot run after SIGKILL (or an OOM kill). So the
local and kind providers start this reaper in its own session with a pipe on its stdin:

    python -m conformance.cluster.reaper <tmp dir> <kwokctl> <cluster name> [<ip> <netns run>]
    python -m conformance.cluster.reaper --kind <tmp dir> <docker> <cluster name> <network>

    reaper = spawn([...the arguments above...], env)    # the providers' start()
    dismiss(reaper)                                      # their stop(), once all is cleaned up

It blocks reading the pipe. A normal stop() writes "done" and the reaper exits
doing nothing; if the pipe closes without that word, the provider's process is
gone, and the reaper runs the same cleanup. local: `kwokctl delete cluster`, end every
process whose command line names the temp dir, delete the run's network namespaces
(with the processes inside them, their iptables rules and ipsets), remove the dir.
kind: remove the cluster's node containers (kind's own label) and the run's network,
remove the dir. Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .dataplane import netns
from .procs import processes_referencing, read_pid_files, stop_child, terminate

REPO = Path(__file__).resolve().parents[2]  # stdlib only: not conformance.tools

DONE = "done"
IMAGE = "image"  # "image <tag>": an image the run loaded, removed with the cluster


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


def kind_cleanup(tmp: Path, docker: str, name: str, network: str, images: list[str] | None = None) -> None:
    """The kind cluster's node containers (`kind delete` does no more), the run's network, the
    images the run loaded into the engine, tmp."""

    def run(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([docker, *args], capture_output=True, text=True, timeout=60, check=False)
            return out.stdout
        return ""

    ids = run("ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={name}").split()
    if ids:
        run("rm", "-f", "-v", *ids)
    run("network", "rm", network)
    for image in images or []:
        run("rmi", image)
    shutil.rmtree(tmp, ignore_errors=True)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the reaper with `args` (see the module docstring) in its own session."""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "conformance.cluster.reaper", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
        text=True,
        start_new_session=True,
    )


def dismiss(reaper: subprocess.Popen[str] | None) -> None:
    """Tell the reaper all is cleaned up, and end it."""
    if reaper is None or reaper.stdin is None:
        return
    with contextlib.suppress(OSError, ValueError):
        reaper.stdin.write(f"{DONE}\n")
        reaper.stdin.close()
    # Everything is cleaned up: no need to wait until it reads the word (on a loaded machine
    # it may still be importing), SIGTERM ends it now either way.
    stop_child(reaper)


def hand_over(reaper: subprocess.Popen[str] | None, images: list[str]) -> None:
    """An interrupted run leaves its cleanup to the reaper and exits at once: the reaper (its own
    session, outliving the run) removes what `images` and its arguments name, at the machine's
    pace, while the run stays within lifecycle.INTERRUPT_BUDGET_S."""
    if reaper is None or reaper.stdin is None:
        return
    with contextlib.suppress(OSError, ValueError):
        for image in images:
            reaper.stdin.write(f"{IMAGE} {image}\n")
        reaper.stdin.close()  # EOF without the word: the reaper cleans up


def main(argv: list[str]) -> int:
    images: list[str] = []
    try:
        for line in sys.stdin:
            word, _, rest = line.strip().partition(" ")
            if word == DONE:
                return 0
            if word == IMAGE and rest:
                images.append(rest)
    except (OSError, KeyboardInterrupt):
        pass
    if argv[0] == "--kind":
        kind_cleanup(Path(argv[1]), argv[2], argv[3], argv[4], images)
        return 0
    tmp, kwokctl, name = Path(argv[0]), argv[1], argv[2]
    ip, netns_run = (argv[3], argv[4]) if len(argv) >= 5 else ("", "")
    cleanup(tmp, kwokctl, name, ip, netns_run)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
