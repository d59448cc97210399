"""The local cluster recovers a metrics-server that exited while it started (kwokctl restarts no
component): start() starts it again, once, and the metrics API becomes Available. Seen once on a
loaded machine, where every HPA test was then broken by a metrics API refusing connections."""

from __future__ import annotations

import os
import signal

import pytest

from conformance.cluster import local
from conformance.cluster.kube import Kube
from conformance.cluster.local import LocalProvider
from conformance.cluster.procs import alive, read_pid_file
from conformance.cluster.wait import Poll, wait_until
from conformance.settings import Settings

pytestmark = pytest.mark.slow


def _metrics_available(kube: Kube) -> str | None:
    svc = kube.get_or_none("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io") or {}
    conds = {c.get("type"): c.get("status") for c in (svc.get("status") or {}).get("conditions") or []}
    return conds.get("Available")


def test_a_metrics_server_that_exited_is_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "READY_TIMEOUT_S", 40.0)  # 20 s before the restart, not 60 s
    provider = LocalProvider(Settings.from_env({"CONFORMANCE_DATA_PLANE": "off"}))
    real_wait = LocalProvider._wait_ready
    killed: list[int] = []

    def exit_then_wait(self: LocalProvider, kube: Kube) -> None:
        pid = read_pid_file(self.workdir / "pids" / "metrics-server.pid")
        assert pid is not None and alive(pid)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        # The aggregator notices: the metrics API is no longer Available (what the start saw).
        wait_until(
            lambda: Poll(_metrics_available(kube) != "True", f"Available={_metrics_available(kube)}"),
            what="become unavailable",
            objects=["APIService/v1beta1.metrics.k8s.io"],
            timeout_s=90,
            interval_s=1,
        )
        real_wait(self, kube)

    monkeypatch.setattr(LocalProvider, "_wait_ready", exit_then_wait)
    try:
        cluster = provider.start()
        again = read_pid_file(provider.workdir / "pids" / "metrics-server.pid")
        assert killed and again is not None and again != killed[0] and alive(again)
        kube = Kube(cluster.kubeconfig)
        try:
            assert _metrics_available(kube) == "True"
        finally:
            kube.close()
    finally:
        provider.stop()
