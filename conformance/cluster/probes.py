"""Connection probes through real pods, for providers whose pods run (kind, existing).

(The `local` provider has its own data plane: conformance/cluster/dataplane/.)

One probe pod per endpoint of the truth table, carrying that endpoint's labels
in its namespace, with one agnhost `serve-hostname` container per (port,
protocol) it must answer on; sources connect with `agnhost connect` through
`kubectl exec` (the API server, on loopback, relays it: no traffic from this
machine to the pod network).

    pods = [probe_pod(ep, ns_of(ep), image) for ep in table.endpoints]
    cmd = connect_command(kubectl, kubeconfig, site, target_ip="10.244.1.7", port=8080, protocol="TCP")
    results = run_commands([cmd, ...], workers=8)                    # -> [(exit code, output tail)]

Pods follow the `restricted` PodSecurity profile (non-root, no privilege
escalation, all capabilities dropped, RuntimeDefault seccomp); ports below 1024
are reachable through the `net.ipv4.ip_unprivileged_port_start` sysctl, which
the baseline and restricted profiles allow.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..netpol import Endpoint, Flow

PROBE_LABEL = "conformance.tartware.io/probe"
CONNECT_TIMEOUT = "1s"


def probe_name(endpoint: Endpoint) -> str:
    """Pod name of an endpoint's probe, e.g. probe-api-gateway."""
    return ("probe-" + re.sub(r"[^a-z0-9-]+", "-", endpoint.app.lower()))[:63].rstrip("-")


def probe_pod(endpoint: Endpoint, namespace: str, image: str) -> dict[str, Any]:
    """A pod that looks like `endpoint` to NetworkPolicy (labels) and answers on its ports."""
    containers: list[dict[str, Any]] = []
    serving = sorted({(port, proto) for _name, port, proto in endpoint.ports})
    for port, proto in serving:
        flag = {"TCP": "--tcp", "UDP": "--udp", "SCTP": "--sctp"}[proto]
        containers.append(
            {
                "name": f"serve-{proto.lower()}-{port}",
                "image": image,
                "args": ["serve-hostname", flag, "--http=false", f"--port={port}"],
                "ports": [{"containerPort": port, "protocol": proto}],
            }
        )
    if not containers:  # a pure source: something to exec into
        containers.append({"name": "client", "image": image, "args": ["pause"]})
    security = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for c in containers:
        c["securityContext"] = security
    pod_security: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if any(port < 1024 for port, _ in serving):
        pod_security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": probe_name(endpoint),
            "namespace": namespace,
            "labels": {**endpoint.label_map(), PROBE_LABEL: "true"},
        },
        "spec": {
            "containers": containers,
            "securityContext": pod_security,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
        },
    }


@dataclass(frozen=True)
class ProbeSite:
    """Where an endpoint's probe runs: namespace, pod, a container to exec in, and its IP."""

    namespace: str
    pod: str
    container: str
    ip: str
    ours: bool  # False: an existing pod (e.g. CoreDNS) that can be a target but not a source


def connect_command(
    kubectl: Path, kubeconfig: Path, source: ProbeSite, *, target_ip: str, port: int, protocol: str
) -> list[str]:
    """`agnhost connect` from inside the source pod; exit code 0 means the connection was made."""
    host = f"[{target_ip}]" if ":" in target_ip else target_ip
    return [
        str(kubectl),
        "--kubeconfig",
        str(kubeconfig),
        "exec",
        "-n",
        source.namespace,
        source.pod,
        "-c",
        source.container,
        "--",
        "/agnhost",
        "connect",
        f"{host}:{port}",
        f"--timeout={CONNECT_TIMEOUT}",
        f"--protocol={protocol.lower()}",
    ]


def plan(cells: Iterable[Flow], sites: dict[str, ProbeSite]) -> list[tuple[Flow, ProbeSite, ProbeSite]]:
    """The cells that can be probed: both ends placed, the source one of ours."""
    out = []
    for cell in cells:
        src, dst = sites.get(cell.source), sites.get(cell.destination)
        if src is not None and dst is not None and src.ours:
            out.append((cell, src, dst))
    return out


def run_commands(
    commands: Sequence[list[str]], *, workers: int = 8, timeout_s: float = 15.0
) -> list[tuple[int, str]]:
    """Run each probe command (exit 0 = connected), `workers` at a time, each at most timeout_s."""

    def one(cmd: list[str]) -> tuple[int, str]:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return 124, "kubectl exec timed out"
        return out.returncode, (out.stdout + out.stderr).strip()[-200:]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, commands))
