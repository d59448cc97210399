"""`existing` provider: any cluster a kubeconfig points at (staging clusters, shared clusters).

It never creates or deletes the cluster, never installs CRDs and never creates
cluster-scoped objects (those are only dry-run), and never cordons nodes. It
only creates namespaces of its own, all named ``ct-<run>-...`` and labelled
``conformance.tartware.io/run=<run>``; stop() deletes whatever namespaces with
that label are still there.

    provider = ExistingProvider(settings)        # needs --kubeconfig / CONFORMANCE_KUBECONFIG
    cluster = provider.start()                   # checks the API answers
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import InfraError
from ..settings import Settings
from .base import RUN_LABEL, Capabilities, Cluster, register
from .kube import ApiError, Kube


class UnchangedWorkloads:
    """Workloads run with their own images; CPU usage is whatever real traffic causes."""

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

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
        return Cluster(
            provider=self.name,
            name=self._kube.host,
            kubeconfig=path,
            capabilities=self.capabilities,
            ready_s=time.monotonic() - began,
            namespace_prefix=self.prefix,
            run_id=self.run_id,
            details={"kubernetes": str(version.get("gitVersion", "?")), "namespaces": f"{self.prefix}*"},
        )

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

    def workloads(self) -> UnchangedWorkloads:
        return UnchangedWorkloads()
