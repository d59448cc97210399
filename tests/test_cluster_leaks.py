"""Nothing outlives an interrupted behaviour run: processes, listening ports, temp dirs.

A real behaviour run (pytest subprocess, local provider) is interrupted
- with SIGINT to its process group (a terminal Ctrl-C) while a test has a namespace and pods,
- with SIGTERM to pytest alone (a CI runner cancelling the job) at the same point,
- with SIGINT while kwokctl is still creating the cluster,
- with SIGKILL to pytest's whole process group (nothing in-process can react: the
  provider's reaper process must clean up),
- with SIGINT and with SIGKILL while the NetworkPolicy probe runs on the data plane
  (pod namespaces, kube-router and kube-proxy up).
The subprocess gets its own TMPDIR, so everything the run created is under it:
afterwards no process may mention that dir, no port the control plane listened
on may still be listening, and no cluster temp dir may remain. Where the data plane
runs (root), also: none of the run's network namespaces, no link of its kind in the
machine's namespace, no kube-router/kube-proxy chain in the machine's iptables, no
new ipset.

Each run has a CPU hog beside it (tests/interrupting.py: a busy loop per core), and after
SIGINT/SIGTERM the run must have exited within lifecycle.INTERRUPT_BUDGET_S + MARGIN_S:
the bound holds on a busy machine, not only on an idle one. Getting to each moment has
generous budgets of its own (a loaded start is slow); only the exit is the claim.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from interrupting import cpu_hog, tier_pytest

from conformance.cluster.dataplane import netns, unavailable
from conformance.cluster.lifecycle import INTERRUPT_BUDGET_S
from conformance.cluster.procs import alive, listening_port_numbers, listening_ports, processes_referencing
from conformance.tools import REPO, TOOLS_BIN

pytestmark = pytest.mark.slow
READY = "behaviour: local cluster"
IN_TEST = "waiting for its first CPU metrics"  # the HPA module: namespace, Deployment, pods, HPA exist
MARGIN_S = 5.0  # beyond the budget: this test's own observation of the exit on a loaded machine


class Run:
    """A behaviour run in its own session, with its output collected line by line."""

    def __init__(
        self, tmp: Path, tests: str = "conformance/suites/behaviour/test_autoscaling.py", *extra: str
    ) -> None:
        self.tmp = tmp
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
        env.update(TMPDIR=str(tmp), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        # The HPA module runs long enough (> 60 s) to be interrupted in the middle.
        # Not -q: the tier's live lines (the cluster-ready one among them) are quiet under -q.
        cmd = tier_pytest(tests, "-p", "no:cacheprovider", "-s", *extra)
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"run never got to {what} within {timeout_s:g} s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def cluster_processes(tmp: Path) -> list[int]:
    return processes_referencing(tmp)


DATA_PLANE = unavailable(TOOLS_BIN) is None
PROBE = "conformance/suites/behaviour/test_network_policy.py::test_data_plane_probe"


def host_state() -> dict[str, set[str]]:
    """What the data plane must never leave in the machine's namespace (where it can be read)."""
    state: dict[str, set[str]] = {"links": set(), "chains": set(), "ipsets": set()}
    if not DATA_PLANE:
        return state
    links = subprocess.run([str(TOOLS_BIN / "ip"), "-o", "link"], capture_output=True, text=True, check=False)
    state["links"] = {
        line.split(":")[1].strip().split("@")[0] for line in links.stdout.splitlines() if ":" in line
    }
    rules = subprocess.run([str(TOOLS_BIN / "iptables"), "-S"], capture_output=True, text=True, check=False)
    state["chains"] = {line for line in rules.stdout.splitlines() if "KUBE-" in line or "kube-router" in line}
    sets = subprocess.run(
        [str(TOOLS_BIN / "ipset"), "list", "-n"], capture_output=True, text=True, check=False
    )
    state["ipsets"] = set(sets.stdout.split())
    return state


def run_namespaces(pid: int) -> list[str]:
    return [n for n in netns.ours() if n.startswith(f"{netns.PREFIX}{pid}-")]


@pytest.mark.parametrize(
    "moment",
    [
        "sigint-in-test",
        "sigterm-in-test",
        "sigint-in-create",
        "sigkill-in-test",
        pytest.param(
            "sigint-in-probe", marks=pytest.mark.skipif(not DATA_PLANE, reason="no data plane here")
        ),
        pytest.param(
            "sigkill-in-probe", marks=pytest.mark.skipif(not DATA_PLANE, reason="no data plane here")
        ),
    ],
)
def test_interrupted_run_leaves_nothing(tmp_path: Path, moment: str) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = host_state()
    settled = ""
    with cpu_hog():
        run = Run(
            tmp,
            PROBE if moment.endswith("-in-probe") else "conformance/suites/behaviour/test_autoscaling.py",
        )
        try:
            _reach(run, moment)
            pids = cluster_processes(tmp)
            ports = listening_ports(pids)
            assert pids, "no control-plane processes found under the run's TMPDIR"
            if moment != "sigint-in-create":
                assert len(ports) >= 5, f"expected the control plane's listening ports, got {ports}"
            spaces = run_namespaces(run.proc.pid)
            if DATA_PLANE and moment != "sigint-in-create":
                assert any(n.endswith("-node") for n in spaces), f"no data plane namespaces: {spaces}"
            exit_s = _interrupt(run, moment)
            if moment.startswith("sigkill"):
                settled = _await_reaper(tmp, run.proc.pid)
        finally:
            run.kill()
    code = run.proc.returncode
    leftovers = sorted(set([p for p in pids if alive(p)] + cluster_processes(tmp)))
    left = "; ".join(f"{p}: {_cmdline(p)[:160]}" for p in leftovers)
    still_listening = ports & listening_port_numbers()
    dirs = sorted(p.name for p in tmp.iterdir() if p.name.startswith("tartware-kwok-"))
    namespaces = run_namespaces(run.proc.pid)
    after = host_state()
    # Links, chains, sets of the data plane's kind that appeared in the machine's namespace.
    ours = re.compile(r"^(v\d+|br0|eth0)$")
    new_links = sorted(n for n in after["links"] - before["links"] if ours.match(n))
    new_chains = sorted(after["chains"] - before["chains"])
    new_sets = sorted(after["ipsets"] - before["ipsets"])
    took = f"exited {exit_s:.1f} s after the signal" if exit_s is not None else "never exited by itself"
    report = (
        f"exit {code}, {took}{settled}; processes left [{left}]; ports still listening "
        f"{sorted(still_listening)}; dirs left {dirs}; network namespaces left {namespaces}; host links "
        f"{new_links}, iptables {new_chains}, ipsets {new_sets}\n--- output ---\n{run.output()[-2500:]}"
    )
    assert exit_s is not None, f"not exited within {INTERRUPT_BUDGET_S + MARGIN_S:g} s: {report}"
    print(f"{moment}: exited {exit_s:.1f} s after the signal (bound {INTERRUPT_BUDGET_S + MARGIN_S:g} s)")
    expected = -signal.SIGKILL if moment.startswith("sigkill") else pytest.ExitCode.INTERRUPTED
    assert code == expected, report  # pytest's own "interrupted", not a crash
    assert not leftovers and not still_listening and not dirs, report
    assert not namespaces and not new_links and not new_chains and not new_sets, report


def _reach(run: Run, moment: str) -> None:
    """Until the run is where `moment` interrupts it (budgets for a loaded start, not the claim)."""
    if moment.endswith("-in-probe"):
        # Pod namespaces exist, kube-router is starting or enforcing.
        run.wait_for(
            lambda: any("-p0" in n for n in run_namespaces(run.proc.pid)), "pod network namespaces", 300
        )
    elif moment == "sigint-in-create":
        # etcd is up (kwokctl starts it first) but the cluster is not ready yet.
        run.wait_for(
            lambda: any("etcd" in _cmdline(p) for p in cluster_processes(run.tmp)), "etcd running", 180
        )
        assert not any(READY in line for line in run.lines), "too late: the cluster was already ready"
    else:
        run.wait_for(lambda: any(IN_TEST in line for line in run.lines), "an HPA scenario", 300)


def _interrupt(run: Run, moment: str) -> float | None:
    """Send the moment's signal; seconds until the run exited (None: not within the bound + margin)."""
    sent = time.monotonic()
    if moment == "sigterm-in-test":
        os.kill(run.proc.pid, signal.SIGTERM)  # a CI runner cancelling the job: pytest alone
    elif moment.startswith("sigkill"):
        os.killpg(run.proc.pid, signal.SIGKILL)
    else:
        os.killpg(run.proc.pid, signal.SIGINT)  # a terminal Ctrl-C: the whole process group
    try:
        run.proc.wait(timeout=INTERRUPT_BUDGET_S + MARGIN_S)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - sent


def _await_reaper(tmp: Path, pid: int) -> str:
    """Wait (bounded) for the reaper's asynchronous cleanup after a SIGKILL: kwokctl delete (up to
    30 s), the fallback kill, the namespaces. On a loaded machine (CI) that took more than 40 s."""
    killed_at = time.monotonic()
    deadline = killed_at + 120
    while time.monotonic() < deadline and (
        cluster_processes(tmp)
        or any(p.name.startswith("tartware-kwok-") for p in tmp.iterdir())
        or run_namespaces(pid)
    ):
        time.sleep(0.2)
    return f"; {time.monotonic() - killed_at:.1f} s after the kill"


def _cmdline(pid: int) -> str:
    try:
        return (
            (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""
