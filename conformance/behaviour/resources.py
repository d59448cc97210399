"""A test's own namespaces and objects, removed in reverse creation order at teardown.

spaces = TestNamespaces(kube, cluster, "pdb-evictions")
ns = spaces.create(labels=psa_labels)          # bt-pdb-evictions-x7k2 (prefixed on `existing`)
spaces.apply(deployment_in(ns))                 # real object; deleted at teardown
spaces.cordon("kwok-zone-a-0")                  # uncordoned at teardown
errors = spaces.cleanup()                       # newest first; every step runs even if one fails

After an interrupt, on a cluster the suite owns, cleanup() undoes nothing: the provider
deletes the whole cluster next, and polite per-object deletes would only spend the run's
interrupt budget (lifecycle.INTERRUPT_BUDGET_S).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from conformance.cluster.base import MANAGED_BY, RUN_LABEL, Cluster
from conformance.cluster.diagnostics import collect
from conformance.cluster.kube import ApiError, Kube
from conformance.cluster.lifecycle import UndoStack
from conformance.cluster.wait import Poll, wait_until
from conformance.k8s import conditions

PSA_PREFIX = "pod-security.kubernetes.io/"


def slug(text: str, limit: int = 30) -> str:
    """A DNS-label-safe fragment: slug("pdb_drain[x]") == "pdb-drain-x"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "t"


def pod_security_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The PodSecurity labels of a namespace (so a test namespace is admitted like the platform's)."""
    return {k: v for k, v in labels.items() if k.startswith(PSA_PREFIX)}


def deployment_state(kube: Kube, namespace: str, name: str) -> tuple[int, str]:
    """(ready replicas, a one-line state with the reasons pods are missing) of a Deployment."""
    dep = kube.get("apps/v1", "Deployment", name, namespace)
    status = dep.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    notes = [
        f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}"
        for c in conditions(dep).values()
        if c.get("type") == "ReplicaFailure" or c.get("status") != "True"
    ]
    want = (dep.get("spec") or {}).get("replicas")
    return ready, f"{ready}/{want} ready" + (f"; {'; '.join(notes)}" if notes else "")


def wait_deployment_ready(
    kube: Kube, namespace: str, name: str, replicas: int, timeout_s: float = 60
) -> None:
    """Until `replicas` pods of the Deployment are ready; the timeout names why (e.g. a rejected pod)."""

    def probe() -> Poll[bool]:
        ready, state = deployment_state(kube, namespace, name)
        return Poll(ready >= replicas, state)

    wait_until(
        probe,
        what=f"have {replicas} ready pod(s)",
        objects=[f"Deployment/{namespace}/{name}"],
        timeout_s=timeout_s,
        retry_on=(ApiError,),
    )


class TestNamespaces:
    """Namespaces and objects one test (or one module) creates; see the module docstring."""

    __test__ = False  # not a pytest test class

    def __init__(self, kube: Kube, cluster: Cluster, purpose: str) -> None:
        self.kube = kube
        self.cluster = cluster
        self.purpose = slug(purpose)
        self.names: list[str] = []
        self.undo = UndoStack(abandon_on_interrupt=cluster.capabilities.owns_cluster)

    def create(self, labels: Mapping[str, str] | None = None, suffix: str = "") -> str:
        """A new namespace (run label added), deleted at cleanup. Returns its name."""
        base = f"{self.cluster.namespace_prefix}bt-{self.purpose}{'-' + slug(suffix, 10) if suffix else ''}"
        name = f"{base[:56]}-{uuid.uuid4().hex[:4]}"
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {**(labels or {}), RUN_LABEL: self.cluster.run_id, **MANAGED_BY},
            },
        }
        self.kube.create(body)
        self.names.append(name)
        self.undo.push(f"delete Namespace/{name}", lambda: self._delete("v1", "Namespace", name, ""))
        return name

    def _delete(self, api_version: str, kind: str, name: str, namespace: str) -> None:
        try:
            self.kube.delete(api_version, kind, name, namespace, grace_s=0 if kind == "Pod" else None)
        except ApiError as err:
            if err.status not in (404, 409):  # gone, or already being deleted
                raise

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update an object for real; it is deleted at cleanup (before its namespace)."""
        created = self.kube.apply(body).body
        meta = created.get("metadata") or {}
        api_version, kind = str(created.get("apiVersion")), str(created.get("kind"))
        name, namespace = str(meta.get("name")), str(meta.get("namespace") or "")
        self.undo.push(
            f"delete {kind}/{namespace}/{name}", lambda: self._delete(api_version, kind, name, namespace)
        )
        return created

    def cordon(self, node: str) -> None:
        """Mark a node unschedulable until cleanup (only on clusters the suite owns)."""
        if not self.cluster.capabilities.owns_cluster:
            raise RuntimeError("refusing to cordon a node of a cluster the suite does not own")
        self.kube.patch("v1", "Node", node, {"spec": {"unschedulable": True}})

        def uncordon() -> None:
            self.kube.patch("v1", "Node", node, {"spec": {"unschedulable": None}})

        self.undo.push(f"uncordon Node/{node}", uncordon)

    def diagnostics(self) -> dict[str, str]:
        """Events and describe output of every namespace (for a failed test's report)."""
        out = {}
        for ns in self.names:
            for name, text in collect(self.kube, self.cluster.kubeconfig, ns).items():
                out[f"{name} ({ns})"] = text
        return out

    def cleanup(self) -> list[str]:
        """Undo everything, newest first; returns the errors (every step runs regardless)."""
        return self.undo.unwind()
