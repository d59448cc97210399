"""tools/progress.sh: a long build prints where it is while it runs, and the ticker never
outlives the command or the script that started it."""

from __future__ import annotations

import os
import subprocess
import time

from conformance.cluster.procs import alive
from conformance.tools import REPO

PROGRESS = REPO / "tools" / "progress.sh"


def _bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; . {PROGRESS}; {script}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_heartbeat_names_the_build_the_step_and_what_is_next() -> None:
    out = _bash(
        'with_heartbeat "kube-apiserver v1.36.3" sleep 3.5; echo "ticker: ${HEARTBEAT_PID:-gone}"',
        TOOLS_HEARTBEAT_S="1",
        TOOLS_STEP="7/8 control plane",
        TOOLS_NEXT="data plane",
    )
    assert out.returncode == 0, out.stderr
    beats = [line for line in out.stdout.splitlines() if line.startswith("tools: still building")]
    assert len(beats) >= 2, out.stdout
    assert beats[0] == (
        "tools: still building kube-apiserver v1.36.3: 1s so far (step 7/8 control plane; next: data plane)"
    )
    assert out.stdout.splitlines()[-1] == "ticker: gone"


def test_a_quick_command_prints_nothing_and_its_failure_is_returned() -> None:
    out = _bash('rc=0; with_heartbeat "helm" false || rc=$?; echo "rc=$rc"', TOOLS_HEARTBEAT_S="30")
    assert out.stdout.strip() == "rc=1"


def test_the_ticker_ends_when_the_script_that_started_it_is_killed() -> None:
    proc = subprocess.Popen(
        ["bash", "-c", f". {PROGRESS}; heartbeat_start x; echo $HEARTBEAT_PID; exec sleep 60"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TOOLS_HEARTBEAT_S": "0.2"},
    )
    assert proc.stdout is not None
    ticker = int(proc.stdout.readline())
    assert alive(ticker)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while alive(ticker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(ticker), "the ticker outlived its script"
