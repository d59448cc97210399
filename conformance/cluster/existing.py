"""`existing` provider: any cluster a kubeconfig points at (staging clusters, shared clusters).

It never creates or deletes the cluster, never installs CRDs and never creates
cluster-scoped objects (those are only dry-run), and never cordons nodes. It
only creates namespaces of its own, all named ``ct-<run>-...`` and labelled
``conformance.tartware.io/run=<run>``; stop() deletes whatever namespaces with
that label are still there.

    provider = ExistingProvider(settings)        # needs --kubeconfig / CONFORMANCE_KUBECONFIG
    cluster = provider.start()                   # checks the API answers, detects what it can run

Whether the suite can drive CPU usage (the HPA tests) is detected, not assumed: start() runs one
pod of the suite's workload image (resource-consumer, imagePullPolicy IfNotPresent) in a namespace
of its own; when it runs, workloads use that image (as on kind) and can_set_usage is True; else
the HPA tests are skipped with what the pod reported (e.g. ErrImageNeverPull / ImagePullBackOff).
"""

from __future__ import annotations

import contextlib
import copy
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InfraError
from ..k8s import IMAGE_PULL_FAILURES, restricted_container_context
from ..settings import Settings
from .base import MANAGED_BY, RUN_LABEL, Capabilities, Cluster, register
from .kind import PROBE_IMAGE, WORKLOAD_IMAGE, ConsumerWorkloads
from .kube import ApiError, Kube

DETECT_TIMEOUT_S = 60.0


class UnchangedWorkloads:
    """Workloads run with their own images; CPU usage is whatever real traffic causes."""

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(body)  # a copy: callers change it

    def set_cpu(self, kube: Kube, namespace: str, selector: Mapping[str, str], millicores: int) -> int:
        raise InfraError("the existing provider cannot set CPU usage (capability can_set_usage=False)")


@register("existing")
class ExistingProvider:
    """See the module docstring."""

    name = "existing"
    # A real cluster: pods run and connect, metrics are real. The suite neither
    # owns it nor can fake usage on it.
    capabilities = Capabilities(data_plane=True, metrics="real", can_set_usage=False, owns_cluster=False)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_id = uuid.uuid4().hex[:6]
        self.prefix = f"ct-{self.run_id}-"
        self._kube: Kube | None = None
        self._consumer = False
        self._classes: frozenset[str] = frozenset()  # the PriorityClasses the cluster has

    def start(self) -> Cluster:
        """Check the kubeconfig and that the API answers; nothing is created."""
        began = time.monotonic()
        path = self.settings.kubeconfig
        if path is None:
            raise InfraError(
                "the existing provider needs a kubeconfig: set --kubeconfig or CONFORMANCE_KUBECONFIG"
            )
        if not path.is_file():
            raise InfraError(f"kubeconfig {path} does not exist (--kubeconfig / CONFORMANCE_KUBECONFIG)")
        self._kube = Kube(path)
        try:
            version = self._kube.request("GET", "/version").body
        except ApiError as err:
            raise InfraError(f"cluster of {path} did not answer /version: {err}") from None
        why_not = self._detect_consumer(self._kube)
        try:
            self._classes = frozenset(
                str(pc["metadata"]["name"]) for pc in self._kube.list("scheduling.k8s.io/v1", "PriorityClass")
            )
        except ApiError as err:
            raise InfraError(f"cluster of {path}: cannot list PriorityClasses: {err}") from None
        caps = Capabilities(
            data_plane=True,
            metrics="real",
            can_set_usage=self._consumer,
            owns_cluster=False,
            why_not={"can_set_usage": why_not} if why_not else {},
        )
        return Cluster(
            provider=self.name,
            name=self._kube.host,
            kubeconfig=path,
            capabilities=caps,
            ready_s=time.monotonic() - began,
            namespace_prefix=self.prefix,
            run_id=self.run_id,
            details={
                "kubernetes": str(version.get("gitVersion", "?")),
                "namespaces": f"{self.prefix}*",
                "workload image": WORKLOAD_IMAGE if self._consumer else f"not runnable here: {why_not}",
                "probe image": PROBE_IMAGE,  # the probe pods' (pulled only if the cluster can)
                "priority classes": ", ".join(sorted(self._classes)) or "none",
            },
        )

    def _detect_consumer(self, kube: Kube) -> str:
        """Run one pod of the suite's workload image; "" when it runs, else why not."""
        ns = f"{self.prefix}detect"
        labels = {RUN_LABEL: self.run_id, **MANAGED_BY}
        try:
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
            kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "resource-consumer", "namespace": ns, "labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "consumer",
                                "image": WORKLOAD_IMAGE,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["/resource-consumer"],
                                "securityContext": restricted_container_context(65532),
                            }
                        ],
                        "terminationGracePeriodSeconds": 0,
                        "automountServiceAccountToken": False,
                    },
                }
            )
        except ApiError as err:
            return f"cannot create a detection pod in {ns}: {err}"
        why = f"the pod of {WORKLOAD_IMAGE} did not run within {DETECT_TIMEOUT_S:.0f} s"
        deadline = time.monotonic() + DETECT_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                pod = kube.get_or_none("v1", "Pod", "resource-consumer", ns) or {}
                status = pod.get("status") or {}
                if status.get("phase") == "Running":
                    self._consumer = True
                    return ""
                for cs in status.get("containerStatuses") or []:
                    waiting = (cs.get("state") or {}).get("waiting") or {}
                    if waiting.get("reason") in IMAGE_PULL_FAILURES:
                        return (
                            f"{WORKLOAD_IMAGE}: {waiting.get('reason')} ({waiting.get('message', '')[:200]})"
                        )
                time.sleep(1)
            return why
        finally:
            with contextlib.suppress(ApiError, InfraError):
                kube.delete("v1", "Namespace", ns)

    def stop(self) -> None:
        """Delete this run's namespaces that teardown did not (e.g. after an interrupt)."""
        kube, self._kube = self._kube, None
        if kube is None:
            return
        try:
            for ns in kube.list("v1", "Namespace", labels={RUN_LABEL: self.run_id}):
                name = str(ns["metadata"]["name"])
                if name.startswith(self.prefix):  # belt and braces: never anything else
                    kube.delete("v1", "Namespace", name)
        except (ApiError, InfraError):
            pass
        finally:
            kube.close()

    def workloads(self) -> ClassBoundWorkloads:
        """The suite's resource-consumer where the cluster runs it (detected), else the images as rendered;
        either way without a PriorityClass the cluster does not have."""
        inner = ConsumerWorkloads(WORKLOAD_IMAGE) if self._consumer else UnchangedWorkloads()
        return ClassBoundWorkloads(inner, self._classes)


@dataclass
class ClassBoundWorkloads:
    """A workload driver whose pods name only PriorityClasses the cluster has.

    The provider never creates cluster-scoped objects, so a platform PriorityClass that is not
    installed on the cluster would keep every pod out ("no PriorityClass with name ..."). The
    HPA and PDB tests judge scaling and evictions, not priority: such pods run without the field,
    and the cluster line of the summary lists the classes the cluster has.
    """

    inner: UnchangedWorkloads | ConsumerWorkloads
    classes: frozenset[str]

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        out = self.inner.adapt(body)
        spec = ((out.get("spec") or {}).get("template") or {}).get("spec") or {}
        if spec.get("priorityClassName") and spec["priorityClassName"] not in self.classes:
            del spec["priorityClassName"]
        return out

    def set_cpu(self, kube: Kube, namespace: str, selector: Mapping[str, str], millicores: int) -> int:
        return self.inner.set_cpu(kube, namespace, selector, millicores)
