"""Connection probes through real pods, for providers whose pods run (kind, existing).

(The `local` provider has its own data plane: conformance/cluster/dataplane/.)

One probe pod per target of the probe matrix (and a peer pod for a workload's flows to itself),
carrying the target's labels and its named container ports, running the suite's probe program
(tools/go/kind-probe): `twprobe serve --token <target> --listen tcp:8080 ...` answers every
connection with the target's name. A source pod runs all its cells in one
`kubectl exec -i ... twprobe connect` (the plan on stdin, one JSON result per line); the API
server, on loopback, relays it: no traffic from this machine to the pod network. A cell is
connected only when an expected target answered (a Service may route to any of its backends).

    pod = probe_pod(name, namespace, labels, serving, image, token="tartware/guests")
    cmd = connect_command(kubectl, kubeconfig, site)
    results = run_plans([(cmd, plan), ...])                   # -> {probe id: ProbeResult}

Pods follow the `restricted` PodSecurity profile (non-root, no privilege escalation, all
capabilities dropped, RuntimeDefault seccomp); ports below 1024 are reachable through the
`net.ipv4.ip_unprivileged_port_start` sysctl, which the baseline and restricted profiles allow.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..k8s import restricted_container_context

PROBE_LABEL = "conformance.tartware.io/probe"
PROBE_CONTAINER = "probe"
TIMEOUT_MS = 2000  # per connection; a policy REJECT answers at once, a DROP takes this long
PARALLEL = 32  # connections in flight per source pod
OUTCOMES = ("connected", "wrong-peer", "refused", "timeout", "error")


def probe_pod(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    serving: Iterable[tuple[str, int, str]],
    image: str,
    *,
    token: str,
    pull_policy: str = "Never",
) -> dict[str, Any]:
    """A pod that looks like a target to NetworkPolicy and Services (labels, named ports) and
    answers every connection with `token`. serving: (port name or "", port, protocol)."""
    ports = sorted({(port, proto): pname for pname, port, proto in serving}.items())
    listen: list[str] = []
    for (port, proto), _pname in ports:
        listen += ["--listen", f"{proto.lower()}:{port}"]
    args = ["serve", "--token", token, *listen] if listen else ["pause"]
    pod_security: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if any(port < 1024 for (port, _), _n in ports):
        pod_security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, PROBE_LABEL: "true"}},
        "spec": {
            "containers": [
                {
                    "name": PROBE_CONTAINER,
                    "image": image,
                    "imagePullPolicy": pull_policy,
                    "command": ["/twprobe"],
                    "args": args,
                    "ports": [
                        {**({"name": pname} if pname else {}), "containerPort": port, "protocol": proto}
                        for (port, proto), pname in ports
                    ],
                    "securityContext": restricted_container_context(10001),
                }
            ],
            "securityContext": pod_security,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
        },
    }


@dataclass(frozen=True)
class ProbeSite:
    """Where a probe pod runs: namespace, pod, its container and its IP."""

    namespace: str
    pod: str
    ip: str
    container: str = PROBE_CONTAINER


@dataclass(frozen=True)
class Probe:
    """One connection: from a source site to ip:port, connected when one of `tokens` answers."""

    id: int
    ip: str
    port: int
    protocol: str
    tokens: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ip": self.ip,
            "port": self.port,
            "protocol": self.protocol,
            "tokens": list(self.tokens),
        }


@dataclass(frozen=True)
class ProbeResult:
    outcome: str  # one of OUTCOMES
    detail: str = ""

    @property
    def connected(self) -> bool:
        return self.outcome == "connected"


def connect_command(kubectl: Path, kubeconfig: Path, source: ProbeSite) -> list[str]:
    """`twprobe connect` inside the source pod, reading its plan from stdin."""
    return [
        str(kubectl),
        "--kubeconfig",
        str(kubeconfig),
        "exec",
        "-i",
        "-n",
        source.namespace,
        source.pod,
        "-c",
        source.container,
        "--",
        "/twprobe",
        "connect",
    ]


def plan_json(probes: Sequence[Probe], *, timeout_ms: int = TIMEOUT_MS, parallel: int = PARALLEL) -> str:
    return json.dumps(
        {"timeout_ms": timeout_ms, "parallel": parallel, "probes": [p.as_json() for p in probes]}
    )


def parse_results(output: str, probes: Sequence[Probe]) -> dict[int, ProbeResult]:
    """The results of one plan; a probe missing from the output is an error (never connected)."""
    got: dict[int, ProbeResult] = {}
    for line in output.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("outcome") in OUTCOMES:
            got[int(row["id"])] = ProbeResult(str(row["outcome"]), str(row.get("detail", ""))[:200])
    for p in probes:
        got.setdefault(p.id, ProbeResult("error", "no result from the probe program"))
    return got


def run_plans(
    plans: Sequence[tuple[list[str], Sequence[Probe]]], *, workers: int = 6, timeout_s: float = 180.0
) -> dict[int, ProbeResult]:
    """Run each source's plan (`workers` sources at a time); every probe id gets a result."""

    def one(item: tuple[list[str], Sequence[Probe]]) -> dict[int, ProbeResult]:
        cmd, probes = item
        try:
            out = subprocess.run(
                cmd, input=plan_json(probes), capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return {p.id: ProbeResult("error", f"kubectl exec: {err}") for p in probes}
        results = parse_results(out.stdout, probes)
        if out.returncode != 0:
            why = (out.stderr or "").strip()[-200:]
            results = {
                k: (v if v.outcome != "error" else ProbeResult("error", f"exit {out.returncode}: {why}"))
                for k, v in results.items()
            }
        return results

    merged: dict[int, ProbeResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for part in pool.map(one, plans):
            merged.update(part)
    return merged
