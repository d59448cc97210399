"""`local` provider: a real control plane as local processes, with simulated nodes and usage.

kwokctl's binary runtime runs etcd, kube-apiserver, kube-controller-manager (HPA
and disruption controllers), kube-scheduler, the kwok controller (fake nodes and
pods, usage from pod annotations) and metrics-server, all from the pinned
binaries in .tools/bin, bound to 127.0.0.1, without Docker, images or network.

    provider = LocalProvider(settings)
    cluster = provider.start()        # ~4-6 s here: prints "local cluster ... ready in 4.8 s"
    provider.stop()                   # kwokctl delete, stray processes, temp dir
                                      # (interrupted: SIGKILL to every process at once; see stop())

With the data plane (capability data_plane, on by default where it can run:
root, iptables/ipset/iproute2 linked by `make tools`), a seventh kwok node,
DATA_PLANE_NODE, carries the probe pods: tainted so no workload lands there,
InternalIP 127.0.0.1 (what metrics-server already scrapes for every kwok node)
and podCIDR POD_CIDR; the network namespaces, kube-router and kube-proxy of
conformance/cluster/dataplane/ make its pods' packets real.

Everything lives in one temp dir (KWOK_WORKDIR, KUBECACHEDIR, kubeconfig, the
metrics-server manifests, the data plane's logs), removed by stop(). kwokctl starts each component in
its own process group, so stop() also ends any process whose command line
names that dir, in case kwokctl itself was interrupted mid-create. A reaper
process (reaper.py) does the same if this process dies without stop(), e.g. on
SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import tools
from ..errors import InfraError
from ..k8s import condition_true, conditions
from ..settings import Settings
from . import dataplane, reaper
from .base import Capabilities, Cluster, register
from .dataplane import netns
from .kube import ApiError, Kube
from .lifecycle import interrupted, pause
from .procs import (
    alive,
    listening_ports,
    processes_referencing,
    read_pid_file,
    read_pid_files,
    stop_child,
    terminate,
)
from .wait import Poll, WaitTimeout, wait_until

KUBE_VERSION = tools.pinned_versions()["KUBE_VERSION"]
BINARIES = {
    # KwokctlConfiguration option -> binary in .tools/bin. Every field that would
    # otherwise download something is set (kwok v0.8.0 downloads unless told).
    "kubeApiserverBinary": "kube-apiserver",
    "kubeControllerManagerBinary": "kube-controller-manager",
    "kubeSchedulerBinary": "kube-scheduler",
    "kubectlBinary": "kubectl",
    "etcdBinary": "etcd",
    "etcdctlBinary": "etcdctl",
    "kwokControllerBinary": "kwok",
    "metricsServerBinary": "metrics-server",
}
USAGE_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
# Six nodes in three zones: the critical services spread over zones and prefer a
# host of their own (anti-affinity), and api-gateway's ci maximum is 6 replicas.
ZONES = ("zone-a", "zone-b", "zone-c")
NODES_PER_ZONE = 2
NODE_LABEL = "conformance.tartware.io/fake-node"
# The data plane's node and address ranges (see the module docstring and dataplane/netns.py).
DATA_PLANE_NODE = "kwok-dataplane"
DATA_PLANE_TAINT = "conformance.tartware.io/data-plane"
# Cluster IPs: set explicitly, so that they cannot overlap kwok's default pod range (10.0.0.0/24,
# the apiserver's own default service range too).
SERVICE_CIDR = "10.96.0.0/16"
CREATE_TIMEOUT_S = 90.0
DELETE_TIMEOUT_S = 30.0  # `kwokctl delete cluster` on the polite path
READY_TIMEOUT_S = 120.0  # a bound, not a target: ready in ~5 s, but minutes on a loaded machine


def kwokctl_config(repo_bin: Path, metrics_manifests: Path) -> dict[str, Any]:
    """The KwokctlConfiguration: binary runtime, local binaries only, fast HPA and metrics.

    metric-resolution 10 s is metrics-server's minimum; it must be >= 10/9 of
    kubelet-request-timeout. The HPA syncs every 5 s instead of 15 s.
    """
    options: dict[str, Any] = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",
        "kubeVersion": KUBE_VERSION,
        "enableMetricsServer": True,
        # A local kustomize folder: kwokctl builds it with `kubectl kustomize`
        # (the default is a GitHub URL).
        "metricsServerManifests": [str(metrics_manifests)],
    }
    options.update({field: str(repo_bin / binary) for field, binary in BINARIES.items()})
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
        "componentsPatches": [
            {
                "name": "metrics-server",
                "extraArgs": [
                    {"key": "metric-resolution", "value": "10s"},
                    {"key": "kubelet-request-timeout", "value": "5s"},
                ],
            },
            {
                "name": "kube-controller-manager",
                "extraArgs": [{"key": "horizontal-pod-autoscaler-sync-period", "value": "5s"}],
            },
            {
                "name": "kube-apiserver",
                "extraArgs": [{"key": "service-cluster-ip-range", "value": SERVICE_CIDR}],
            },
        ],
    }


def metrics_server_objects() -> list[dict[str, Any]]:
    """What kwokctl needs from metrics-server's manifests in the binary runtime.

    kwokctl drops Deployments, RBAC and the like from these manifests and rewrites
    the Service (to the local process) and the APIService (to its port); only those
    two matter, so the suite writes them itself instead of depending on a module cache.
    """
    labels = {"k8s-app": "metrics-server"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": labels},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "insecureSkipTLSVerify": True,
                "service": {"name": "metrics-server", "namespace": "kube-system"},
            },
        },
    ]


def fake_node(name: str, zone: str) -> dict[str, Any]:
    """A node kwok manages. Deliberately without status.addresses: kwok fills them in, and a
    made-up InternalIP (kwokctl's template uses 192.0.2.1) breaks metrics-server's scrapes."""
    capacity = {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "1Ti", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
            },
            "labels": {
                "type": "kwok",
                NODE_LABEL: "true",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": zone,
            },
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def data_plane_node() -> dict[str, Any]:
    """The kwok node of the data plane's pods: no workload lands on it (taint), kube-router
    knows its pods by hostIP 127.0.0.1, kwok gives them addresses in POD_CIDR."""
    capacity = {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "1Ti", "pods": "250"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": DATA_PLANE_NODE,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{DATA_PLANE_NODE}/metrics/resource",
            },
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": DATA_PLANE_NODE,
                "kubernetes.io/os": "linux",
            },
        },
        "spec": {
            "podCIDR": str(dataplane.POD_CIDR),
            "taints": [{"key": DATA_PLANE_TAINT, "value": "true", "effect": "NoSchedule"}],
        },
        # Loopback: metrics-server prefers InternalIP; any other address would send its
        # scrapes out of the machine.
        "status": {
            "allocatable": capacity,
            "capacity": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        },
    }


def node_names() -> list[str]:
    """The fake nodes, two per zone: kwok-zone-a-0, kwok-zone-a-1, kwok-zone-b-0, ..."""
    return [f"kwok-{zone}-{i}" for zone in ZONES for i in range(NODES_PER_ZONE)]


class KwokWorkloads:
    """Workloads run as kwok fake pods: images are never pulled; usage comes from an annotation."""

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(body))
        template = out.get("spec", {}).get("template", {})
        annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
        annotations.setdefault(USAGE_ANNOTATION, "1m")  # idle until a test sets usage
        return out

    def set_cpu(self, kube: Kube, namespace: str, selector: Mapping[str, str], millicores: int) -> int:
        value = f"{millicores}m"
        changed = 0
        for pod in kube.list("v1", "Pod", namespace, labels=selector):
            meta = pod.get("metadata") or {}
            if (
                meta.get("deletionTimestamp")
                or (meta.get("annotations") or {}).get(USAGE_ANNOTATION) == value
            ):
                continue
            with contextlib.suppress(ApiError):  # a pod deleted meanwhile
                kube.patch(
                    "v1",
                    "Pod",
                    str(meta["name"]),
                    {"metadata": {"annotations": {USAGE_ANNOTATION: value}}},
                    namespace=namespace,
                )
                changed += 1
        return changed


@register("local")
class LocalProvider:
    """kwokctl binary runtime; see the module docstring."""

    name = "local"

    def __init__(self, settings: Settings, bin_dir: Path | None = None) -> None:
        self.settings = settings
        self.bin_dir = bin_dir or tools.TOOLS_BIN
        self.tag = uuid.uuid4().hex[:6]
        self.cluster_name = f"tw-{os.getpid()}-{self.tag}"
        why = (
            "turned off (--data-plane off)"
            if not settings.data_plane
            else dataplane.unavailable(self.bin_dir)
        )
        self.capabilities = Capabilities(
            data_plane=why is None,
            metrics="simulated",
            can_set_usage=True,
            owns_cluster=True,
            why_not={"data_plane": why} if why else {},
        )
        self.plane: dataplane.DataPlane | None = None
        self.tmp: Path | None = None
        self._create: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[str] | None = None
        self._stopped = False

    # -- paths --------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        assert self.tmp is not None
        env = dict(os.environ)
        env.update(
            {
                "KWOK_WORKDIR": str(self.tmp / "workdir"),
                "KUBECONFIG": str(self.tmp / "kubeconfig"),
                "KUBECACHEDIR": str(self.tmp / "cache"),
                # kwokctl runs `kubectl` from PATH before its kubectlBinary: the pinned one
                # must come first, never a machine-wide kubectl.
                "PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            }
        )
        return env

    @property
    def workdir(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "workdir" / "clusters" / self.cluster_name

    def _kwokctl(self) -> str:
        return str(tools.find("kwokctl"))

    # -- start ----------------------------------------------------------------------------
    def start(self) -> Cluster:
        """kwokctl create (own session), then metrics APIService Available and fake nodes Ready."""
        began = time.monotonic()
        for binary in ("kwokctl", *BINARIES.values()) + (
            ("kube-router", "kube-proxy") if self.capabilities.data_plane else ()
        ):
            tools.find(binary)  # ToolMissing (an InfraError) names `make tools`
        self.tmp = Path(tempfile.mkdtemp(prefix="tartware-kwok-"))
        self._start_reaper()
        self._create_cluster(self._write_config(self.tmp))
        kube = Kube(self.tmp / "kubeconfig")
        try:
            self._wait_ready(kube)
        finally:
            kube.close()
        cluster_s = time.monotonic() - began
        details = {"workdir": str(self.tmp), "kubernetes": KUBE_VERSION, "nodes": str(len(node_names()))}
        details["data plane"] = self._start_data_plane(self.tmp)
        ready_s = time.monotonic() - began
        details["control plane"] = f"{cluster_s:.1f} s"
        return Cluster(
            provider=self.name,
            name=self.cluster_name,
            kubeconfig=self.tmp / "kubeconfig",
            capabilities=self.capabilities,
            ready_s=ready_s,
            run_id=self.cluster_name,
            details=details,
            data_plane=self.plane,
        )

    def _write_config(self, tmp: Path) -> Path:
        """kwokctl's config, with metrics-server's Service and APIService as a kustomization it
        applies; returns the config's path."""
        manifests = tmp / "metrics-server"
        manifests.mkdir()
        (manifests / "metrics-server.yaml").write_text(
            "\n---\n".join(json.dumps(o, indent=1) for o in metrics_server_objects())
        )
        (manifests / "kustomization.yaml").write_text("resources:\n- metrics-server.yaml\n")
        config = tmp / "kwokctl.yaml"
        config.write_text(json.dumps(kwokctl_config(self.bin_dir, manifests), indent=1))
        return config

    def _create_cluster(self, config: Path) -> None:
        """`kwokctl create cluster --wait`; a failure names its exit code and the log's tail."""
        assert self.tmp is not None
        log = self.tmp / "kwokctl-create.log"
        with log.open("wb") as out:
            # Own session: a terminal Ctrl-C reaches pytest (which then calls stop()),
            # not kwokctl halfway through starting components.
            self._create = subprocess.Popen(
                [
                    self._kwokctl(),
                    "create",
                    "cluster",
                    "--name",
                    self.cluster_name,
                    "--config",
                    str(config),
                    "--wait",
                    f"{int(CREATE_TIMEOUT_S)}s",
                ],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = self._create.wait(timeout=CREATE_TIMEOUT_S + 10)
            except subprocess.TimeoutExpired:
                code = None
        if code != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise InfraError(f"kwokctl create cluster {self.cluster_name} failed (exit {code}):\n{tail}")
        self._create = None

    def _start_data_plane(self, tmp: Path) -> str:
        """The data plane (node namespace, kube-proxy) when this machine can run one; what it is,
        for the cluster's details."""
        if not self.capabilities.data_plane:
            return f"none ({self.capabilities.why_not.get('data_plane')})"
        self.plane = dataplane.DataPlane(
            tmp / "dataplane",
            tmp / "kubeconfig",
            DATA_PLANE_NODE,
            netns.run_name(os.getpid(), self.tag),
            bin_dir=self.bin_dir,
        )
        self.plane.start()
        return f"node namespace + kube-proxy ready in {self.plane.timings['start']:.1f} s"

    def _wait_ready(self, kube: Kube) -> None:
        # `kwokctl --wait` reports ready even when metrics-server crashed: the
        # APIService must be Available before any HPA can work.
        def metrics_available() -> Poll[bool]:
            svc = kube.get_or_none("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io")
            available = conditions(svc).get("Available", {})
            return Poll(
                available.get("status") == "True",
                f"Available={available.get('status')} {available.get('message', '')}".strip(),
            )

        for name, zone in zip(node_names(), [z for z in ZONES for _ in range(NODES_PER_ZONE)], strict=True):
            kube.create(fake_node(name, zone))
        if self.capabilities.data_plane:
            kube.create(data_plane_node())

        def nodes_ready() -> Poll[bool]:
            ready = []
            for node in kube.list("v1", "Node", labels={NODE_LABEL: "true"}):
                if condition_true(node, "Ready"):
                    ready.append(node["metadata"]["name"])
            return Poll(
                len(ready) == len(node_names()), f"{len(ready)}/{len(node_names())} Ready: {sorted(ready)}"
            )

        def wait_metrics(timeout_s: float) -> None:
            wait_until(
                metrics_available,
                what="become Available",
                objects=["APIService/v1beta1.metrics.k8s.io"],
                timeout_s=timeout_s,
                retry_on=(ApiError, InfraError),
            )

        try:
            wait_metrics(READY_TIMEOUT_S / 2)
        except WaitTimeout as first:
            # metrics-server exits when it starts before the API server answers it (seen once on
            # a loaded machine: connection refused for the whole wait), and kwokctl restarts no
            # component. Start what has stopped, once, and wait again; else say why, with its log.
            restarted = self._start_stopped_components()
            try:
                wait_metrics(READY_TIMEOUT_S / 2)
            except WaitTimeout as err:
                raise InfraError(
                    f"{err}\n(after {first.timeout_s:.0f} s: {restarted})\n"
                    f"metrics-server log, last lines:\n{self._log_tail('metrics-server')}"
                ) from err
        wait_until(
            nodes_ready,
            what="be Ready",
            objects=[f"Node/{n}" for n in node_names()],
            timeout_s=READY_TIMEOUT_S,
            retry_on=(ApiError,),
        )

    def _start_stopped_components(self) -> str:
        """`kwokctl start cluster` starts the components that are not running (it leaves running
        ones alone); what it did, in words."""
        pids = {f.stem: read_pid_file(f) for f in sorted((self.workdir / "pids").glob("*.pid"))}
        stopped = [name for name, pid in pids.items() if pid is None or not alive(pid)]
        if not stopped:
            return "every component was running; nothing restarted"
        result = subprocess.run(
            [self._kwokctl(), "start", "cluster", "--name", self.cluster_name],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=CREATE_TIMEOUT_S,
            check=False,
        )
        done = "started again" if result.returncode == 0 else f"kwokctl start failed ({result.returncode})"
        return f"{', '.join(stopped)} had stopped: {done}"

    def _log_tail(self, component: str, limit: int = 1500) -> str:
        log = self.workdir / "logs" / f"{component}.log"
        try:
            return log.read_text(errors="replace")[-limit:] or "(empty)"
        except OSError as err:
            return f"(no log: {err.strerror})"

    # -- stop -------------------------------------------------------------------------------
    def processes(self) -> list[int]:
        """Pids of this cluster's components (pid files and any process naming the temp dir)."""
        if self.tmp is None:
            return []
        found = set(read_pid_files(self.workdir / "pids")) | set(processes_referencing(self.tmp))
        return sorted(found - ({self._reaper.pid} if self._reaper is not None else set()))

    def ports(self) -> set[int]:
        """TCP ports the components listen on (all on 127.0.0.1)."""
        return listening_ports(self.processes())

    def stop(self) -> None:
        """kwokctl delete, then end any process naming the temp dir, then remove it. Idempotent.

        After an interrupt (lifecycle.interrupted(), also one that arrived while this runs) the
        fast path instead: no kwokctl, SIGKILL to every process of the cluster and its data plane
        at once (what `kwokctl delete` sends each component too, one after the other), then the
        data plane's namespaces and the temp dir. Nothing of the cluster is kept, so nothing
        needs a polite goodbye, and lifecycle.INTERRUPT_BUDGET_S holds on a loaded machine.
        """
        if self._stopped or self.tmp is None:
            return
        self._stopped = True
        if not interrupted():
            if self._create is not None and self._create.poll() is None:
                terminate([self._create.pid])
            if self.plane is not None:
                self.plane.stop()  # before the API goes: kube-router and kube-proxy end cleanly
            self._kwokctl_delete()
        # Every process at once: all of them after an interrupt, else whatever kwokctl did not
        # stop (an interrupted create, a crash). Twice: an interrupted `kwokctl create` may have
        # started a component while the first round ran.
        for _ in range(2):
            pids = set(self.processes())
            if self._create is not None:
                pids.add(self._create.pid)
            if self.plane is not None:
                pids |= set(netns.processes_in(self.plane.net.names()))
            terminate(pids, first=signal.SIGKILL if interrupted() else signal.SIGTERM)
        if self.plane is not None:
            self.plane.stop()  # its processes are gone by now: what is left is its namespaces
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._dismiss_reaper()

    def _kwokctl_delete(self) -> None:
        """`kwokctl delete cluster`, bounded by DELETE_TIMEOUT_S and cut short by an interrupt."""
        try:
            proc = subprocess.Popen(
                [self._kwokctl(), "delete", "cluster", "--name", self.cluster_name],
                env=self._env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except (OSError, InfraError):
            return
        deadline = time.monotonic() + DELETE_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline and not interrupted():
            pause(0.1)
        stop_child(proc)

    def _start_reaper(self) -> None:
        """See reaper.py: cleans up if this process dies without calling stop() (e.g. SIGKILL)."""
        assert self.tmp is not None
        # What a killed run's data plane left: the namespaces of this run (the last two).
        args = [str(self.tmp), self._kwokctl(), self.cluster_name, str(self.bin_dir / "ip")]
        self._reaper = reaper.spawn([*args, netns.run_name(os.getpid(), self.tag)], self._env())

    def _dismiss_reaper(self) -> None:
        proc, self._reaper = self._reaper, None
        reaper.dismiss(proc)

    def workloads(self) -> KwokWorkloads:
        return KwokWorkloads()
