"""What a failed behaviour test leaves behind for a human: events and describe output.

texts = collect(kube, cluster.kubeconfig, "bt-pdb-x1")
texts["events"]      # "12:01:02 Warning FailedScheduling Pod/x: 0/6 nodes are available: ..."
texts["describe"]    # `kubectl describe` of the namespace's objects (pinned kubectl), or
                     # an API-built summary when kubectl is not installed
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import tools
from ..errors import InfraError
from .kube import ApiError, Kube

DESCRIBE_KINDS = "deployments,replicasets,pods,horizontalpodautoscalers,poddisruptionbudgets,networkpolicies"


def events(kube: Kube, namespace: str, limit: int = 200) -> str:
    """A namespace's events, oldest first, one line each (time type reason object: message)."""
    items = kube.list("v1", "Event", namespace)

    def when(e: dict[str, Any]) -> str:
        return str(
            e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
        )

    lines = []
    for e in sorted(items, key=when)[-limit:]:
        obj = e.get("involvedObject") or {}
        count = f" (x{e['count']})" if (e.get("count") or 1) > 1 else ""
        what = f"{obj.get('kind', '')}/{obj.get('name', '')}"
        lines.append(
            f"{when(e)} {e.get('type', '')} {e.get('reason', '')} {what}: {e.get('message', '')}{count}"
        )
    return "\n".join(lines) or f"no events in namespace {namespace}"


def describe(kube: Kube, kubeconfig: Path, namespace: str, timeout_s: float = 20.0) -> str:
    """`kubectl describe` via the pinned kubectl; without it, the objects' status from the API."""
    try:
        kubectl = tools.find("kubectl")
        out = subprocess.run(
            [str(kubectl), "--kubeconfig", str(kubeconfig), "describe", DESCRIBE_KINDS, "-n", namespace],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        return out.stdout + (f"\n(stderr) {out.stderr}" if out.stderr.strip() else "")
    except (InfraError, OSError, subprocess.TimeoutExpired) as err:
        lines = [f"(kubectl unavailable: {err}; status from the API instead)"]
        for api_version, kind in (
            ("apps/v1", "Deployment"),
            ("v1", "Pod"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("policy/v1", "PodDisruptionBudget"),
        ):
            for obj in kube.list(api_version, kind, namespace):
                lines.append(f"--- {kind}/{obj['metadata']['name']}")
                lines.append(json.dumps(obj.get("status") or {}, indent=1, sort_keys=True))
        return "\n".join(lines)


def collect(kube: Kube, kubeconfig: Path, namespace: str) -> dict[str, str]:
    """Events and describe output of one namespace; errors become the text (never raise)."""
    out = {}
    fetchers: list[tuple[str, Callable[[], str]]] = [
        ("events", lambda: events(kube, namespace)),
        ("describe", lambda: describe(kube, kubeconfig, namespace)),
    ]
    for name, fetch in fetchers:
        try:
            out[name] = fetch()
        except (ApiError, InfraError) as err:
            out[name] = f"could not collect {name}: {err}"
    return out
