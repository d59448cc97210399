"""The `local` provider's data plane: real packets between pods, a real NetworkPolicy enforcer.

    plane = DataPlane(workdir, kubeconfig, node="kwok-dataplane", run="1234-abcdef")
    plane.start()                          # node namespace, bridge, API relay, kube-proxy (~1 s)
    plane.attach([PodPlan("tartware/api-gateway", "10.244.0.3", ((8080, "TCP"),), "tartware/api-gateway")])
    plane.enforce()                        # kube-router, until its first full sync
    plane.wait_services(["tartware/guests:http"])
    spec = ProbeSpec(0, "tartware/api-gateway", "10.244.0.9", 8080, "TCP", "tartware/guests")
    outcomes = plane.probe([spec])         # connected / refused / timeout / wrong-peer
    plane.stop()                           # processes ended, every namespace deleted

What runs where (see netns.py for the namespaces):
- kube-router (NetworkPolicy controller only: --run-firewall, no router, no service
  proxy, no CNI) and kube-proxy (iptables mode) run inside the node namespace
  (`ip netns exec`), so their iptables chains and ipsets live there and go with it.
  They reach the kube-apiserver on 127.0.0.1 through the agent's relay (agent.py):
  no link joins the node namespace to the machine.
- kube-router treats as its own the pods whose status.hostIP is its node's
  InternalIP. The data-plane node is a kwok node with InternalIP 127.0.0.1 (the
  address metrics-server already scrapes for every kwok node, so nothing new is
  contacted) and podCIDR = POD_CIDR, so kwok gives its pods addresses there.
- Probes run in prober.py, from inside each source pod's namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ... import tools
from ...errors import InfraError
from ..procs import terminate
from ..wait import Poll, wait_until
from . import netns
from .netns import POD_CIDR, Netns

SYNC_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 2.5  # > 1 s: a SYN lost once is retransmitted after 1 s
# kube-router: "sync iptables took" ends every full sync (-v=1); an aborted one logs "Aborting sync" first.
_SYNC_START = re.compile(r"Starting sync of iptables with version: (\S+)")
_SYNC_DONE = re.compile(r"sync iptables took")
_SYNC_ABORT = re.compile(r"Aborting sync")


@dataclass(frozen=True)
class PodPlan:
    """A pod of the cluster that gets a namespace: its key, its IP, what it serves, its answer."""

    key: str  # e.g. "tartware/api-gateway" (or a probe's own name)
    ip: str
    ports: tuple[tuple[int, str], ...]  # (port, protocol) it listens on
    token: str  # what its servers answer, so a probe knows it reached this very pod


@dataclass(frozen=True)
class ProbeSpec:
    id: int
    source: str  # PodPlan.key of the pod the connection starts in
    ip: str  # a pod IP or a Service's cluster IP
    port: int
    protocol: str
    token: str  # the destination pod's token


@dataclass(frozen=True)
class ProbeOutcome:
    id: int
    outcome: str  # prober.OUTCOMES
    detail: str

    @property
    def connected(self) -> bool:
        return self.outcome == "connected"


def api_port(kubeconfig: Path) -> int:
    """The kube-apiserver's port on 127.0.0.1, from the kubeconfig kwokctl wrote."""
    match = re.search(r"server:\s*https?://127\.0\.0\.1:(\d+)", kubeconfig.read_text())
    if not match:
        raise InfraError(f"data plane: {kubeconfig} names no https://127.0.0.1:<port> server")
    return int(match.group(1))


class DataPlane:
    """See the module docstring. Every method raises InfraError on an infrastructure fault."""

    def __init__(self, workdir: Path, kubeconfig: Path, node: str, run: str, bin_dir: Path | None = None):
        self.workdir = workdir  # inside the provider's temp dir: processes naming it are ours
        self.kubeconfig = kubeconfig
        self.node = node
        self.bin_dir = bin_dir or tools.TOOLS_BIN
        self.net = Netns(self.bin_dir / "ip", run)
        self.pods: dict[str, tuple[PodPlan, str]] = {}  # key -> (plan, namespace name)
        self._agent: subprocess.Popen[str] | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}
        self._next_index = 0

    # -- helpers ----------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        # kube-router and kube-proxy run iptables, iptables-save/-restore and ipset from PATH:
        # only the project's links (tools/install-dataplane.sh), never whatever the machine has.
        env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TZ")}
        env["PATH"] = str(self.bin_dir)
        return env

    def _agent_call(self, **command: object) -> None:
        agent = self._agent
        if agent is None or agent.stdin is None or agent.stdout is None or agent.poll() is not None:
            raise InfraError("data plane: the agent process is not running")
        agent.stdin.write(json.dumps(command) + "\n")
        agent.stdin.flush()
        reply = agent.stdout.readline()
        answer = json.loads(reply) if reply else {"ok": False, "error": "agent exited"}
        if not answer.get("ok"):
            raise InfraError(f"data plane agent: {command.get('op')} failed: {answer.get('error')}")

    def _start_in_node(self, name: str, argv: list[str]) -> None:
        log: IO[bytes] = (self.workdir / f"{name}.log").open("wb")
        with log:
            self._procs[name] = subprocess.Popen(
                [str(self.bin_dir / "ip"), "netns", "exec", self.net.node, *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,  # a Ctrl-C reaches pytest, which stops us in order
            )

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _alive(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            raise InfraError(f"data plane: {name} exited ({proc.returncode}):\n{self.log(name)[-1500:]}")

    def iptables_save(self, table: str) -> str:
        out = subprocess.run(
            [
                str(self.bin_dir / "ip"),
                "netns",
                "exec",
                self.net.node,
                str(self.bin_dir / "iptables-save"),
                "-t",
                table,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=self._env(),
            check=False,
        )
        if out.returncode != 0:
            raise InfraError(f"data plane: iptables-save -t {table} in {self.net.node}: {out.stderr.strip()}")
        return out.stdout

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Node namespace, agent + API relay, kube-proxy. Removes what killed runs left first."""
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        leftovers = netns.stale()
        if leftovers:
            errors = netns.delete(self.bin_dir / "ip", leftovers)
            if errors:
                raise InfraError("data plane: cannot remove a killed run's namespaces: " + "; ".join(errors))
        self.net.create_node()
        self._agent = subprocess.Popen(
            [sys.executable, "-m", "conformance.cluster.dataplane.agent", str(self.workdir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tools.REPO,
            env={**os.environ, "PYTHONPATH": str(tools.REPO)},
            start_new_session=True,
        )
        node_path = str(netns.path_of(self.net.node))
        self._agent_call(op="sysctl", netns=node_path, key="net.ipv4.ip_forward", value="1")
        # kube-router REJECTs with ICMP unreachable; the kernel's ICMP rate limits (per peer and
        # per namespace) would silently drop some of a probe run's refusals, which then look
        # like lost packets (timeouts). No ICMP type is rate-limited in the node namespace.
        self._agent_call(op="sysctl", netns=node_path, key="net.ipv4.icmp_ratemask", value="0")
        port = api_port(self.kubeconfig)
        self._agent_call(op="relay", netns=node_path, port=port, target=port)
        self._start_in_node(
            "kube-proxy",
            [
                str(tools.find("kube-proxy")),
                f"--kubeconfig={self.kubeconfig}",
                "--proxy-mode=iptables",
                f"--hostname-override={self.node}",
                f"--cluster-cidr={POD_CIDR}",
                "--detect-local-mode=ClusterCIDR",
                # Leave the machine-wide conntrack settings alone (not per namespace).
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                "--iptables-localhost-nodeports=false",
                "--healthz-bind-address=127.0.0.1:10256",
                "--metrics-bind-address=127.0.0.1:10249",
                "--v=1",
            ],
        )
        self.wait_services(["default/kubernetes:https"])
        self.timings["start"] = time.monotonic() - began

    def attach(self, pods: Sequence[PodPlan]) -> None:
        """A namespace per pod with exactly its IP, and its servers listening."""
        began = time.monotonic()
        for plan in pods:
            if plan.key in self.pods:
                raise InfraError(f"data plane: pod {plan.key} attached twice")
            # Never reuse an index: a deleted namespace (and its veth) is freed asynchronously.
            self._next_index += 1
            name = self.net.add_pod(self._next_index, plan.ip)
            self.pods[plan.key] = (plan, name)
            if plan.ports:
                self._agent_call(
                    op="serve",
                    netns=str(netns.path_of(name)),
                    ip=plan.ip,
                    ports=[list(p) for p in plan.ports],
                    token=plan.token,
                )
        self.net.pin_neighbours({name: plan.ip for plan, name in self.pods.values()})
        self.timings["attach"] = time.monotonic() - began

    def enforce(self) -> None:
        """Start kube-router and wait for its first complete sync (all pods and policies exist by now)."""
        began = time.monotonic()
        self._start_in_node(
            "kube-router",
            [
                str(tools.find("kube-router")),
                f"--kubeconfig={self.kubeconfig}",
                f"--hostname-override={self.node}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                "--enable-ipv6=false",
                "--health-port=0",
                "--metrics-port=0",
                "--v=1",
            ],
        )

        def synced() -> Poll[bool]:
            self._alive("kube-router")
            lines = self.log("kube-router").splitlines()
            state, done = "no sync started", False
            for line in lines:
                if _SYNC_START.search(line):
                    state = "syncing"
                elif _SYNC_ABORT.search(line):
                    state = f"aborted: {line.strip()[-300:]}"
                elif _SYNC_DONE.search(line) and state == "syncing":
                    done = True
            return Poll(done, state)

        wait_until(synced, what="finish a full sync", objects=["kube-router"], timeout_s=SYNC_TIMEOUT_S)
        self.timings["enforce"] = time.monotonic() - began

    def wait_services(self, ports: Iterable[str], timeout_s: float = SYNC_TIMEOUT_S) -> None:
        """Wait until kube-proxy routes each "namespace/service:port-name" (its rules' comments)."""
        wanted = sorted(set(ports))

        def routed() -> Poll[bool]:
            self._alive("kube-proxy")
            rules = self.iptables_save("nat")
            missing = [p for p in wanted if f'"{p} cluster IP"' not in rules]
            return Poll(not missing, f"not routed yet: {', '.join(missing[:8])}")

        wait_until(
            routed, what="route the Services", objects=["kube-proxy"], timeout_s=timeout_s, interval_s=0.2
        )

    def probe(
        self, specs: Sequence[ProbeSpec], *, parallel: int = 64, deadline_s: float = 120
    ) -> list[ProbeOutcome]:
        """Real connections (prober.py); bounded: PROBE_TIMEOUT_S each, deadline_s in all."""
        plan = {
            "timeout_s": PROBE_TIMEOUT_S,
            "parallel": parallel,
            "deadline_s": deadline_s,
            "probes": [
                {
                    "id": s.id,
                    "netns": str(netns.path_of(self.pods[s.source][1])),
                    "ip": s.ip,
                    "port": s.port,
                    "protocol": s.protocol,
                    "token": s.token,
                }
                for s in specs
            ],
        }
        try:
            out = subprocess.run(
                [sys.executable, "-m", "conformance.cluster.dataplane.prober"],
                input=json.dumps(plan),
                capture_output=True,
                text=True,
                cwd=tools.REPO,
                env={**os.environ, "PYTHONPATH": str(tools.REPO)},
                timeout=deadline_s + 30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InfraError(f"data plane: the prober did not finish within {deadline_s + 30:g} s") from None
        if out.returncode != 0:
            raise InfraError(f"data plane: the prober failed: {out.stderr.strip()[-1500:]}")
        return [
            ProbeOutcome(int(r["id"]), str(r["outcome"]), str(r["detail"])) for r in json.loads(out.stdout)
        ]

    def reset(self) -> list[str]:
        """Back to the state after start(): kube-router ended, every pod namespace deleted. Returns errors."""
        router = self._procs.pop("kube-router", None)
        if router is not None and router.poll() is None:
            terminate([router.pid], grace_s=3)
        errors = []
        for _plan, name in self.pods.values():
            with contextlib.suppress(InfraError):
                self._agent_call(op="forget", netns=str(netns.path_of(name)))
        errors += netns.delete(self.net.ip_tool, [name for _plan, name in self.pods.values()])
        self.pods.clear()
        return errors

    def stop(self) -> list[str]:
        """End kube-router, kube-proxy and the agent, delete every namespace. Returns errors."""
        procs = [p for p in self._procs.values() if p.poll() is None]
        terminate([p.pid for p in procs], grace_s=3)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        if self._agent is not None:
            with contextlib.suppress(OSError, ValueError):
                if self._agent.stdin is not None:
                    self._agent.stdin.close()  # the agent exits when its stdin closes
            try:
                self._agent.wait(timeout=3)
            except subprocess.TimeoutExpired:
                terminate([self._agent.pid], grace_s=1)
        self._agent = None
        return self.net.delete_all()
