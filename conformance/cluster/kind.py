"""`kind` provider: a Docker-based cluster with a real data plane, for users with Docker and a registry.

kind >= 0.24 ships kindnet with NetworkPolicy enforcement (kube-network-policies),
so the NetworkPolicy matrix can be probed with real connections. Workloads run
agnhost (platform images are not pullable here): `resource-consumer` burns real
CPU for the HPA tests; `serve-hostname` + `connect` probe the policy matrix.

    provider = KindProvider(settings)
    cluster = provider.start()     # kind create cluster, load images, metrics-server, wait
    provider.stop()                # kind delete cluster, temp dir

Requirements: `kind` pinned in .tools/bin (`go install sigs.k8s.io/kind@v0.33.0`),
`docker` on PATH, and the images below pullable (or already present locally).
The API server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import tools
from ..errors import InfraError
from ..settings import Settings
from .base import Capabilities, Cluster, register
from .kube import ApiError, Kube
from .local import ZONES, metrics_server_objects
from .wait import Poll, wait_until

AGNHOST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"
METRICS_SERVER_IMAGE = "registry.k8s.io/metrics-server/metrics-server:v0.8.0"
HPA_SYNC_PERIOD = "5s"
CREATE_WAIT = "5m"
CONSUME_SECONDS = 10  # one ConsumeCPU call burns this long; re-issued before it runs out


def _hpa_sync_patches() -> list[dict[str, str]]:
    # kubeadm's ClusterConfiguration changed extraArgs from a map (v1beta3) to a
    # list of {name, value} (v1beta4, which kind uses from Kubernetes 1.36); a
    # JSON 6902 patch only applies to its own version, so both are listed.
    return [
        {
            "group": "kubeadm.k8s.io",
            "version": "v1beta3",
            "kind": "ClusterConfiguration",
            "patch": json.dumps(
                [
                    {
                        "op": "add",
                        "path": "/controllerManager/extraArgs/horizontal-pod-autoscaler-sync-period",
                        "value": HPA_SYNC_PERIOD,
                    }
                ]
            ),
        },
        {
            "group": "kubeadm.k8s.io",
            "version": "v1beta4",
            "kind": "ClusterConfiguration",
            "patch": json.dumps(
                [
                    {
                        "op": "add",
                        "path": "/controllerManager/extraArgs/-",
                        "value": {"name": "horizontal-pod-autoscaler-sync-period", "value": HPA_SYNC_PERIOD},
                    }
                ]
            ),
        },
    ]


def kind_config(name: str, node_image: str = "", zones: tuple[str, ...] = ZONES) -> dict[str, Any]:
    """The kind Cluster config: one control plane, one worker per zone, API on loopback.

    Example: ``kind_config("tw-1")["nodes"][1]["labels"]["topology.kubernetes.io/zone"] == "zone-a"``
    """
    nodes: list[dict[str, Any]] = [{"role": "control-plane"}]
    nodes += [{"role": "worker", "labels": {"topology.kubernetes.io/zone": zone}} for zone in zones]
    if node_image:
        for node in nodes:
            node["image"] = node_image
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": name,
        # Loopback only, any free port. kindnet (the default CNI, networking.disableDefaultCNI
        # false) enforces NetworkPolicy since kind v0.24.
        "networking": {"apiServerAddress": "127.0.0.1", "apiServerPort": 0},
        "kubeadmConfigPatchesJSON6902": _hpa_sync_patches(),
        "nodes": nodes,
    }


@dataclass(frozen=True)
class KindCommands:
    """The exact commands the provider runs (unit-tested; nothing is built ad hoc elsewhere)."""

    kind: str
    docker: str
    name: str
    config: Path
    kubeconfig: Path

    def create(self) -> list[str]:
        return [
            self.kind,
            "create",
            "cluster",
            "--name",
            self.name,
            "--config",
            str(self.config),
            "--kubeconfig",
            str(self.kubeconfig),
            "--wait",
            CREATE_WAIT,
        ]

    def delete(self) -> list[str]:
        return [self.kind, "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)]

    def image_present(self, image: str) -> list[str]:
        return [self.docker, "image", "inspect", "--format", "{{.Id}}", image]

    def pull(self, image: str) -> list[str]:
        return [self.docker, "pull", image]

    def load(self, image: str) -> list[str]:
        return [self.kind, "load", "docker-image", image, "--name", self.name]


def metrics_server_stack(image: str = METRICS_SERVER_IMAGE) -> list[dict[str, Any]]:
    """metrics-server as a workload in kube-system (kind has none), scraping kubelets every 10 s."""
    labels = {"k8s-app": "metrics-server"}
    ns = "kube-system"
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "metrics-server", "namespace": ns},
    }
    reader = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "system:metrics-server"},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
        ],
    }
    subject = [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": ns}]
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:metrics-server"},
            "subjects": subject,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:metrics-server",
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "metrics-server:system:auth-delegator"},
            "subjects": subject,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "metrics-server-auth-reader", "namespace": ns},
            "subjects": subject,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
        },
    ]
    container = {
        "name": "metrics-server",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # kind's kubelets serve self-signed certificates: hence --kubelet-insecure-tls.
        "args": [
            "--cert-dir=/tmp",
            "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            "--metric-resolution=10s",
            "--kubelet-request-timeout=5s",
            "--kubelet-insecure-tls",
        ],
        "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 5,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "metrics-server", "namespace": ns, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "metrics-server",
                    "priorityClassName": "system-cluster-critical",
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
    return [sa, reader, *bindings, deployment, *metrics_server_objects()]


def _tcp_probe(probe: Mapping[str, Any], port: Any) -> dict[str, Any]:
    kept = {k: v for k, v in probe.items() if k not in ("httpGet", "grpc", "exec", "tcpSocket")}
    return {**kept, "tcpSocket": {"port": port}}


@dataclass
class AgnhostWorkloads:
    """Platform workloads with agnhost `resource-consumer` in place of their (unpullable) images.

    Everything else stays as rendered (labels, resources, security context,
    priority, spread), so PodSecurity, scheduling, HPA and PDB see the real
    objects. HTTP probes become TCP probes on the same port: resource-consumer
    serves no /healthz.
    """

    image: str = AGNHOST_IMAGE
    _issued: dict[str, tuple[float, int]] = field(default_factory=dict)  # pod uid -> (time, millicores)

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(body))
        spec = out.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers") or []:
            ports = [p for p in container.get("ports") or [] if isinstance(p, dict)]
            http = next(
                (p for p in ports if p.get("name") == "http"), ports[0] if ports else {"containerPort": 8080}
            )
            container["image"] = self.image
            container["command"] = ["/agnhost"]
            container["args"] = ["resource-consumer", f"--port={http.get('containerPort', 8080)}"]
            for key in ("startupProbe", "livenessProbe", "readinessProbe"):
                if isinstance(container.get(key), dict):
                    container[key] = _tcp_probe(container[key], http.get("containerPort", 8080))
        return out

    def set_cpu(self, kube: Kube, namespace: str, selector: Mapping[str, str], millicores: int) -> int:
        """ConsumeCPU on every ready pod through the API server's pod proxy (no traffic off loopback).

        A consumer runs CONSUME_SECONDS and cannot be stopped, so lowering usage
        takes effect when the running ones end; raising re-issues at once.
        """
        now = time.monotonic()
        issued = 0
        for pod in kube.list("v1", "Pod", namespace, labels=selector):
            meta, status = pod.get("metadata") or {}, pod.get("status") or {}
            if meta.get("deletionTimestamp") or status.get("phase") != "Running":
                continue
            uid = str(meta.get("uid"))
            last_at, last_level = self._issued.get(uid, (0.0, 0))
            due = now - last_at >= CONSUME_SECONDS - 2 or millicores > last_level
            if millicores <= 0 or not due:
                continue
            port = _http_port(pod)
            path = (
                f"/api/v1/namespaces/{namespace}/pods/{meta['name']}:{port}/proxy/ConsumeCPU"
                f"?millicores={millicores}&durationSec={CONSUME_SECONDS}"
            )
            try:
                kube.request("POST", path)
            except ApiError:
                continue  # not serving yet; next tick
            self._issued[uid] = (now, millicores)
            issued += 1
        return issued


def _http_port(pod: Mapping[str, Any]) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == "http":
                return int(port["containerPort"])
    return 8080


def _run(cmd: list[str], timeout_s: float, what: str) -> str:
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, check=False, start_new_session=True
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InfraError(f"{what} failed: {' '.join(cmd)}: {err}") from None
    if out.returncode != 0:
        raise InfraError(
            f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n{(out.stderr or out.stdout)[-1500:]}"
        )
    return out.stdout


@register("kind")
class KindProvider:
    """See the module docstring."""

    name = "kind"
    capabilities = Capabilities(data_plane=True, metrics="real", can_set_usage=True, owns_cluster=True)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster_name = f"tw-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.node_image = settings.kind_node_image
        self.agnhost_image = settings.agnhost_image or AGNHOST_IMAGE
        self.tmp: Path | None = None
        self._created = False

    def commands(self, tmp: Path) -> KindCommands:
        """The commands for this cluster (kind from .tools/bin, docker from PATH)."""
        docker = shutil.which("docker")  # the user's container engine, not a pinned tool
        if docker is None:
            raise InfraError("the kind provider needs docker on PATH (or use --provider local)")
        return KindCommands(
            str(tools.find("kind")), docker, self.cluster_name, tmp / "kind.yaml", tmp / "kubeconfig"
        )

    def start(self) -> Cluster:
        """kind create, load agnhost and metrics-server images, install metrics-server, wait."""
        began = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="tartware-kind-"))
        cmds = self.commands(self.tmp)
        cmds.config.write_text(json.dumps(kind_config(self.cluster_name, self.node_image), indent=1))
        self._created = True  # from here on stop() must run `kind delete`, even after a failed create
        _run(cmds.create(), timeout_s=420, what="kind create cluster")
        for image in (self.agnhost_image, METRICS_SERVER_IMAGE):
            try:
                _run(cmds.image_present(image), timeout_s=30, what="docker image inspect")
            except InfraError:
                _run(cmds.pull(image), timeout_s=600, what=f"docker pull {image}")
            _run(cmds.load(image), timeout_s=300, what=f"kind load {image}")
        kube = Kube(cmds.kubeconfig)
        try:
            for obj in metrics_server_stack():
                kube.apply(obj)
            self._wait_metrics(kube)
        finally:
            kube.close()
        return Cluster(
            provider=self.name,
            name=self.cluster_name,
            kubeconfig=cmds.kubeconfig,
            capabilities=self.capabilities,
            ready_s=time.monotonic() - began,
            run_id=self.cluster_name,
            details={"workdir": str(self.tmp), "node image": self.node_image or "kind default"},
        )

    @staticmethod
    def _wait_metrics(kube: Kube) -> None:
        def available() -> Poll[bool]:
            svc = kube.get_or_none("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io") or {}
            conds = {c.get("type"): c for c in (svc.get("status") or {}).get("conditions") or []}
            cond = conds.get("Available", {})
            return Poll(
                cond.get("status") == "True", f"Available={cond.get('status')} {cond.get('message', '')}"
            )

        wait_until(
            available,
            what="become Available",
            objects=["APIService/v1beta1.metrics.k8s.io"],
            timeout_s=180,
            interval_s=2,
            retry_on=(ApiError,),
        )

    def stop(self) -> None:
        """kind delete cluster (also after a failed create), remove the temp dir. Idempotent."""
        tmp, self.tmp = self.tmp, None
        if tmp is None:
            return
        try:
            if self._created:
                cmds = self.commands(tmp)
                subprocess.run(
                    cmds.delete(), capture_output=True, timeout=120, check=False, start_new_session=True
                )
        except (InfraError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def workloads(self) -> AgnhostWorkloads:
        return AgnhostWorkloads(self.agnhost_image)
