"""`kind` provider: a cluster of real pods in Docker, created offline from the project's node image.

    provider = KindProvider(settings)
    cluster = provider.start()     # node image, suite network, kind create, enforcer, DNS, metrics-server
    provider.stop()                # kind delete, node containers, the network, images it loaded, temp dir

The node image is built by setup (tools/build-kind-node.sh, `make kind-node`; the provider runs
it when the cache lacks it): Debian rootfs, Kubernetes KUBE_VERSION from the Go module proxy, and
every image kubeadm and the suite need pre-loaded, so nothing is ever pulled. On a machine that
can pull, `--kind-node-image kindest/node:v1.36.3` (pinned in tools/kind-node/upstream.env) uses
upstream's image instead: the suite's own images (suite_images(), read off the objects and pods the
suite runs) are then built alone, without a node (`build-kind-node.sh --images-only`), and loaded
with `kind load image-archive`.

One node (control plane, schedulable, labelled zone-a): its CNI is a bridge (no kindnet,
`networking.disableDefaultCNI`), NetworkPolicy is enforced by kube-router (DaemonSet, firewall
only), Services by kube-proxy (iptables). Workloads run the suite's resource-consumer image
(built from k8s.io/kubernetes/test/images/resource-consumer), which burns real CPU for the HPA
tests; probe pods run the suite's probe program (tools/go/kind-probe).

Network containment: the nodes sit on a Docker network the suite creates for the run, without
masquerading; the engine is expected behind the guard of tools/docker.sh (`make docker`); the
API server is published on 127.0.0.1 only; CoreDNS forwards nothing out of the cluster.
Requirements: `kind` in .tools/bin (make tools), a Docker engine answering `docker info`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import tools
from ..errors import InfraError
from ..k8s import as_dict, as_list, conditions, container_ports
from ..settings import Settings
from . import reaper
from .base import RUN_LABEL, Capabilities, Cluster, register
from .kind_addons import (
    KUBE_ROUTER,
    binding,
    cluster_role,
    contain_coredns,
    kube_router_stack,
    service_account,
    system_workload,
)
from .kube import ApiError, Kube
from .lifecycle import interrupted
from .local import metrics_server_objects
from .wait import Poll, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "build-kind-node.sh"
KUBE_VERSION = "v1.36.3"  # tools/controlplane-versions.env; the node image and the images below
KUBE_ROUTER_VERSION = "v2.1.0"  # tools/dataplane-versions.env
WORKLOAD_IMAGE = f"tartware.local/conformance/resource-consumer:{KUBE_VERSION}"
PROBE_IMAGE = f"tartware.local/conformance/probe:{KUBE_VERSION}"
TARGET_IMAGE = f"tartware.local/conformance/target:{KUBE_VERSION}"  # twtarget: the SLO workload
KUBE_ROUTER_IMAGE = f"tartware.local/conformance/kube-router:{KUBE_ROUTER_VERSION}"
METRICS_SERVER_IMAGE = "registry.k8s.io/metrics-server/metrics-server:v0.8.0"
OWN_NODE_REPO = "tartware.local/kind-node"  # the repository tools/build-kind-node.sh tags node images in
ZONE = "zone-a"
POD_SUBNET = "10.244.0.0/16"  # tools/kind-node/versions.env: the node's CNI routes these
SERVICE_SUBNET = "10.96.0.0/16"
HPA_SYNC_PERIOD = "5s"
CREATE_WAIT = "5m"
CONSUME_SECONDS = 10  # one ConsumeCPU call burns this long; re-issued before it runs out
# At or below this level a real pod is left alone: its own idle use is about that, and every
# ConsumeCPU call (a forked consume-cpu) costs more than it asks for at such levels (measured:
# 1m asked every 8 s kept a 10m-request pod at 190 % utilization).
IDLE_MILLICORES = 2
ENFORCER = f"kube-router {KUBE_ROUTER_VERSION} (DaemonSet {KUBE_ROUTER}, firewall only)"


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


# cgroup v1 hosts: kubelet 1.35+ refuses them unless told otherwise (kind warns, the node works).
KUBELET_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n"


def kind_config(name: str, node_image: str = "", *, own_image: bool = True) -> dict[str, Any]:
    """The kind Cluster config: one node (control plane, schedulable), API on loopback, no default CNI.

    own_image=False (an upstream kindest/node image): kindnet stays, as that image has no other CNI.

    Example: ``kind_config("tw-1")["nodes"][0]["labels"]["topology.kubernetes.io/zone"] == "zone-a"``
    """
    node: dict[str, Any] = {"role": "control-plane", "labels": {"topology.kubernetes.io/zone": ZONE}}
    if node_image:
        node["image"] = node_image
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": name,
        # Loopback only, any free port. No kindnet: the node's bridge CNI, kube-router enforces.
        "networking": {
            "apiServerAddress": "127.0.0.1",
            "apiServerPort": 0,
            "disableDefaultCNI": own_image,
            "podSubnet": POD_SUBNET,
            "serviceSubnet": SERVICE_SUBNET,
        },
        "kubeadmConfigPatches": [KUBELET_PATCH],
        "kubeadmConfigPatchesJSON6902": _hpa_sync_patches(),
        "nodes": [node],
    }


@dataclass(frozen=True)
class KindCommands:
    """The exact commands the provider runs (unit-tested; nothing is built ad hoc elsewhere)."""

    kind: str
    docker: str
    name: str
    config: Path
    kubeconfig: Path

    @property
    def network(self) -> str:
        """The run's own Docker network (kind uses it through KIND_EXPERIMENTAL_DOCKER_NETWORK)."""
        return f"{self.name}-net"

    def env(self) -> dict[str, str]:
        return {**os.environ, "KIND_EXPERIMENTAL_DOCKER_NETWORK": self.network}

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

    def network_create(self) -> list[str]:
        # No masquerading: nothing on this network is translated onto the machine's address.
        return [
            self.docker,
            "network",
            "create",
            "--driver",
            "bridge",
            "--label",
            f"{RUN_LABEL}={self.name}",
            "-o",
            "com.docker.network.bridge.enable_ip_masquerade=false",
            self.network,
        ]

    def image_present(self, image: str) -> list[str]:
        return [self.docker, "image", "inspect", "--format", "{{.Id}}", image]

    def image_load(self, archive: Path) -> list[str]:
        return [self.docker, "load", "--input", str(archive)]

    def load_archive(self, archive: Path) -> list[str]:
        return [self.kind, "load", "image-archive", str(archive), "--name", self.name]


_METRICS_SERVER = "metrics-server"


def _metrics_server_rbac() -> list[dict[str, Any]]:
    """Its account, read access to nodes' metrics and pods, and the API-aggregation delegations
    every aggregated API server needs (token reviews; the authentication ConfigMap)."""
    reader = cluster_role(
        "system:metrics-server",
        [
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
        ],
    )
    return [
        service_account(_METRICS_SERVER),
        reader,
        binding("system:metrics-server", _METRICS_SERVER, "system:metrics-server"),
        binding("metrics-server:system:auth-delegator", _METRICS_SERVER, "system:auth-delegator"),
        binding(
            "metrics-server-auth-reader",
            _METRICS_SERVER,
            "extension-apiserver-authentication-reader",
            role_kind="Role",
            namespaced=True,
        ),
    ]


def _metrics_server_container(image: str) -> dict[str, Any]:
    """metrics-server scraping every kubelet each 10 s, restricted-style security context."""
    return {
        "name": _METRICS_SERVER,
        "image": image,
        "imagePullPolicy": "Never",  # pre-loaded in the node image: never pulled
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


def metrics_server_stack(image: str = METRICS_SERVER_IMAGE) -> list[dict[str, Any]]:
    """metrics-server as a workload in kube-system (kind has none), scraping kubelets every 10 s:
    RBAC, the Deployment, then its Service and APIService (shared with the local provider)."""
    pod_spec = {
        "serviceAccountName": _METRICS_SERVER,
        "priorityClassName": "system-cluster-critical",
        "containers": [_metrics_server_container(image)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    deployment = system_workload("Deployment", _METRICS_SERVER, {"k8s-app": _METRICS_SERVER}, pod_spec)
    return [*_metrics_server_rbac(), deployment, *metrics_server_objects()]


def _tcp_probe(probe: Mapping[str, Any], port: Any) -> dict[str, Any]:
    kept = {k: v for k, v in probe.items() if k not in ("httpGet", "grpc", "exec", "tcpSocket")}
    return {**kept, "tcpSocket": {"port": port}}


@dataclass
class ConsumerWorkloads:
    """Platform workloads with the suite's resource-consumer in place of their (unpullable) images.

    Everything else stays as rendered (labels, ports, resources, security context, priority,
    spread), so PodSecurity, scheduling, HPA and PDB see the real objects. HTTP probes become TCP
    probes on the same port (resource-consumer serves no /healthz); imagePullPolicy Never.
    """

    image: str = WORKLOAD_IMAGE
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
            container["imagePullPolicy"] = "Never"
            container["command"] = ["/resource-consumer"]
            container["args"] = [f"--port={http.get('containerPort', 8080)}"]
            for key in ("startupProbe", "livenessProbe", "readinessProbe"):
                if isinstance(container.get(key), dict):
                    container[key] = _tcp_probe(container[key], http.get("containerPort", 8080))
        return out

    def set_cpu(self, kube: Kube, namespace: str, selector: Mapping[str, str], millicores: int) -> int:
        """ConsumeCPU on every ready pod through the API server's pod proxy (no traffic off loopback).

        A consumer runs CONSUME_SECONDS and cannot be stopped, so lowering usage
        takes effect when the running ones end; raising re-issues at once. At or below
        IDLE_MILLICORES nothing is asked for: the pod idles.
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
            if millicores <= IDLE_MILLICORES or not due:
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
    for container in as_list(as_dict(pod.get("spec")).get("containers")):
        for port in container_ports(as_dict(container)):
            if port.name == "http" and port.number is not None:
                return port.number
    return 8080


def _run(cmd: list[str], timeout_s: float, what: str, env: Mapping[str, str] | None = None) -> str:
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InfraError(f"{what} failed: {' '.join(cmd)}: {err}") from None
    if out.returncode != 0:
        raise InfraError(
            f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n{(out.stderr or out.stdout)[-1500:]}"
        )
    return out.stdout


def _quiet(cmd: list[str], timeout_s: float = 120) -> int:
    """Run a cleanup command; its exit code (never raises)."""
    try:
        return subprocess.run(
            cmd, capture_output=True, timeout=timeout_s, check=False, start_new_session=True
        ).returncode
    except (OSError, subprocess.TimeoutExpired):
        return -1


def docker_answers(docker: str | None) -> str | None:
    """None when `docker info` answers, else why not (for the capability's reason)."""
    if docker is None:
        return "no docker on PATH: run `make docker` (Debian's docker.io behind the network guard)"
    try:
        out = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"`docker info` failed: {err}"
    if out.returncode != 0:
        return "no container engine answers `docker info`: run `make docker` (as root)"
    return None


def suite_images() -> list[str]:
    """The suite's own images a cluster needs and an upstream node image lacks, read off what runs:
    every container image of the add-ons the provider applies (kube-router, metrics-server) and the
    images of the suite's pods (the workloads' resource-consumer, the probe, the SLO target).

    Example: ``"tartware.local/conformance/probe:v1.36.3" in suite_images()``
    """
    applied = [*kube_router_stack(KUBE_ROUTER_IMAGE), *metrics_server_stack()]
    images = {
        str(container["image"])
        for obj in applied
        for key in ("initContainers", "containers")
        for container in ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get(key) or []
    }
    return sorted(images | {ConsumerWorkloads().image, PROBE_IMAGE, TARGET_IMAGE})


def is_own_node_image(image: str) -> bool:
    """A node image of tools/build-kind-node.sh (every image pre-loaded, bridge CNI) vs one from
    elsewhere (kindest/node: kindnet, the suite's images loaded after create)."""
    return image.split(":", maxsplit=1)[0] == OWN_NODE_REPO


def archive_tags(archive: Path) -> list[str]:
    """The names a docker-archive loads under (its manifest.json RepoTags): what `kind load
    image-archive` puts into the node."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.load(member) if member is not None else None
    except (OSError, KeyError, tarfile.TarError, ValueError) as err:
        raise InfraError(f"{archive}: not a docker-archive with a manifest.json: {err}") from None
    if not isinstance(manifest, list):
        raise InfraError(f"{archive}: manifest.json is not a list of images")
    return [str(tag) for image in manifest if isinstance(image, dict) for tag in image.get("RepoTags") or []]


def archives_for(folder: Path, images: list[str]) -> list[Path]:
    """The archives in `folder` that bring `images`, each once; an image none of them carries is
    an error naming it (the cluster's pods would never start: nothing is pulled)."""
    chosen: list[Path] = []
    missing = set(images)
    for archive in sorted(folder.glob("*.tar")):
        tags = set(archive_tags(archive))
        if tags & missing:
            chosen.append(archive)
            missing -= tags
    if missing:
        raise InfraError(f"{folder}: no image archive carries {', '.join(sorted(missing))}")
    return chosen


def _build(cmd: list[str], what: str, progress: Any) -> None:
    """Run a build script, its lines to `progress` as they come; the last 30 in the error."""
    began = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    tail: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            tail = [*tail[-30:], line.rstrip()]
            if progress is not None:
                progress(line.rstrip())
        code = proc.wait()
    except BaseException:
        proc.terminate()
        proc.wait(timeout=30)
        raise
    if code != 0:
        raise InfraError(f"building {what} failed (exit {code}):\n" + "\n".join(tail))
    if progress is not None:
        progress(f"{what} built in {time.monotonic() - began:.0f} s")


def _print(args: list[str]) -> list[str]:
    """What tools/build-kind-node.sh --print answers for `args` (cache folder, and tag)."""
    cmd = [str(BUILD_SCRIPT), *args, "--print"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.split()
    except subprocess.CalledProcessError as err:
        raise InfraError(f"{' '.join(cmd)} failed: {(err.stderr or '').strip()[-500:]}") from None
    except (OSError, subprocess.SubprocessError) as err:
        raise InfraError(f"{' '.join(cmd)} failed: {err}") from None


def _used(folder: Path) -> None:
    # Most recently used first: what the build's cache pruning (tools/kind-node/prune.sh) keeps.
    with contextlib.suppress(OSError):
        os.utime(folder)


def node_image_build(progress: Any = None) -> tuple[str, Path]:
    """Run tools/build-kind-node.sh (a no-op when cached); (image tag, its cache folder)."""
    where = _print([])
    folder, tag = Path(where[0]), where[1]
    if (folder / "node.tar").is_file():
        _used(folder)
        return tag, folder
    _build([str(BUILD_SCRIPT)], "the kind node image", progress)
    return tag, folder


def suite_images_build(images: list[str], progress: Any = None) -> Path:
    """tools/build-kind-node.sh --images-only <images> (a no-op when cached): the folder of their
    archives, one docker-archive per image, no node rootfs."""
    args = ["--images-only", *images]
    folder = Path(_print(args)[0])
    if (folder / "images.txt").is_file():
        _used(folder)
        return folder
    _build([str(BUILD_SCRIPT), *args], "the suite's image archives", progress)
    return folder


@register("kind")
class KindProvider:
    """See the module docstring."""

    name = "kind"
    capabilities = Capabilities(data_plane=True, metrics="real", can_set_usage=True, owns_cluster=True)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster_name = f"tw-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.node_image = settings.kind_node_image
        self.tmp: Path | None = None
        self._created = False
        self._network = False
        self._loaded: list[str] = []  # images this run loaded into the engine (removed at stop)
        self._reaper: subprocess.Popen[str] | None = None  # cleans up if this process is SIGKILLed
        self.progress: Any = None  # callable(str) for live lines, set by the caller (optional)
        self.timings: dict[str, float] = {}

    def commands(self, tmp: Path) -> KindCommands:
        """The commands for this cluster (kind from .tools/bin, docker from PATH)."""
        docker = shutil.which("docker")  # the user's container engine, not a pinned tool
        if docker is None:
            raise InfraError(
                "the kind provider needs docker on PATH: run `make docker` (or use --provider local)"
            )
        return KindCommands(
            str(tools.find("kind")), docker, self.cluster_name, tmp / "kind.yaml", tmp / "kubeconfig"
        )

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)
        elif sys.__stderr__ is not None:  # past pytest's capture: a cold node image build takes minutes
            print(line, file=sys.__stderr__, flush=True)

    def _timed(self, what: str, began: float) -> None:
        self.timings[what] = time.monotonic() - began

    def _node_image(self, cmds: KindCommands) -> tuple[str, Path | None]:
        """The node image, in the engine: the project's (built and loaded if needed) or the user's."""
        if self.node_image:
            return self.node_image, None  # e.g. kindest/node:v1.36.3 where pulls work
        began = time.monotonic()
        tag, folder = node_image_build(self._say)
        self._timed("node image build/check", began)
        try:
            _run(cmds.image_present(tag), timeout_s=30, what="docker image inspect")
        except InfraError:
            began = time.monotonic()
            self._say(f"kind: loading the node image {tag} into the engine ...")
            _run(cmds.image_load(folder / "node.tar"), timeout_s=900, what="docker load (node image)")
            self._loaded.append(tag)
            self._timed("node image load", began)
        return tag, folder

    def start(self) -> Cluster:
        """Node image, the run's network, kind create, kube-router, contained CoreDNS, metrics-server."""
        began = time.monotonic()
        why = docker_answers(shutil.which("docker"))
        if why is not None:
            raise InfraError(f"the kind provider needs a container engine: {why}")
        self.tmp = Path(tempfile.mkdtemp(prefix="tartware-kind-"))
        cmds = self.commands(self.tmp)
        image, folder = self._node_image(cmds)
        own = folder is not None or is_own_node_image(image)  # every image pre-loaded, bridge CNI
        config = kind_config(self.cluster_name, image, own_image=own)
        archives = [] if own else self._suite_archives()  # built before anything of the cluster exists
        cmds.config.write_text(json.dumps(config, indent=1))
        # Before anything of the cluster exists: a SIGKILLed run leaves nothing either.
        self._reaper = reaper.spawn(
            ["--kind", str(self.tmp), cmds.docker, self.cluster_name, cmds.network], dict(os.environ)
        )
        _run(cmds.network_create(), timeout_s=60, what="docker network create")
        self._network = True
        self._created = True  # from here on stop() must run `kind delete`, even after a failed create
        step = time.monotonic()
        self._say(f"kind: creating cluster {self.cluster_name} from {image}{' (offline)' if own else ''} ...")
        _run(cmds.create(), timeout_s=420, what="kind create cluster", env=cmds.env())
        self._timed("kind create", step)
        step = time.monotonic()
        for archive in archives:
            _run(cmds.load_archive(archive), timeout_s=300, what=f"kind load image-archive {archive}")
        if archives:
            self._timed("kind load image-archive", step)
        kube = Kube(cmds.kubeconfig)
        try:
            step = time.monotonic()
            self._addons(kube)
            self._timed("enforcer, DNS, metrics-server ready", step)
        finally:
            kube.close()
        figures = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        loaded = "pre-loaded in the node image"
        if archives:
            loaded = f"kind load image-archive {' '.join(a.name for a in archives)} (in {archives[0].parent})"
        return Cluster(
            provider=self.name,
            name=self.cluster_name,
            kubeconfig=cmds.kubeconfig,
            capabilities=self.capabilities,
            ready_s=time.monotonic() - began,
            run_id=self.cluster_name,
            details={
                "workdir": str(self.tmp),
                "node image": image,
                "network": cmds.network,
                "enforcer": ENFORCER,
                "probe image": PROBE_IMAGE,
                "target image": TARGET_IMAGE,
                "workload image": WORKLOAD_IMAGE,
                "suite images": loaded,
                "timings": figures,
            },
        )

    def _suite_archives(self) -> list[Path]:
        """A node image from elsewhere: the archives of the suite's own images (built alone, cached)."""
        began = time.monotonic()
        images = suite_images()
        archives = archives_for(suite_images_build(images, self._say), images)
        self._timed("suite image archives build/check", began)
        return archives

    def _addons(self, kube: Kube) -> None:
        def default_sa() -> Poll[bool]:
            found = kube.get_or_none("v1", "ServiceAccount", "default", "default") is not None
            return Poll(found, "no ServiceAccount default/default yet")

        wait_until(
            default_sa,
            what="exist",
            objects=["ServiceAccount/default/default"],
            timeout_s=60,
            interval_s=0.5,
            retry_on=(ApiError,),
        )
        for obj in kube_router_stack(KUBE_ROUTER_IMAGE):
            kube.apply(obj)
        contain_coredns(kube)
        for obj in metrics_server_stack():
            kube.apply(obj)
        self._wait_rollouts(kube)
        self._wait_metrics(kube)

    @staticmethod
    def _wait_rollouts(kube: Kube) -> None:
        def ready() -> Poll[bool]:
            waiting = []
            ds = kube.get("apps/v1", "DaemonSet", KUBE_ROUTER, "kube-system").get("status") or {}
            if not ds.get("desiredNumberScheduled") or ds.get("numberReady") != ds.get(
                "desiredNumberScheduled"
            ):
                have, want = ds.get("numberReady", 0), ds.get("desiredNumberScheduled", "?")
                waiting.append(f"DaemonSet {KUBE_ROUTER} ready {have}/{want}")
            for name in ("coredns", "metrics-server"):
                dep = kube.get("apps/v1", "Deployment", name, "kube-system")
                want = (dep.get("spec") or {}).get("replicas", 1)
                have = (dep.get("status") or {}).get("readyReplicas", 0)
                if have != want:
                    waiting.append(f"Deployment {name} ready {have}/{want}")
            return Poll(not waiting, "; ".join(waiting))

        wait_until(
            ready,
            what="be ready",
            objects=[f"DaemonSet/kube-system/{KUBE_ROUTER}", "Deployment/kube-system/coredns",
                     "Deployment/kube-system/metrics-server"],
            timeout_s=180,
            interval_s=1,
            retry_on=(ApiError,),
        )  # fmt: skip

    @staticmethod
    def _wait_metrics(kube: Kube) -> None:
        def available() -> Poll[bool]:
            svc = kube.get_or_none("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io") or {}
            cond = conditions(svc).get("Available", {})
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
        """kind delete (also after a failed create), leftover node containers, the run's network,
        the images this run loaded, the temp dir. Idempotent. Interrupted: all of it is handed to
        the reaper (reaper.hand_over), which goes on after the run has exited within its budget."""
        tmp, self.tmp = self.tmp, None
        if tmp is not None and interrupted() and self._reaper is not None:
            # The reaper removes the containers, network, images and tmp at the machine's pace; the
            # run exits within its budget however slowly `docker rm` goes on a loaded machine.
            handed, self._reaper = self._reaper, None
            reaper.hand_over(handed, self._loaded)
            self._created = self._network = False
            self._loaded = []
            return
        try:
            if tmp is not None:
                self._release(tmp)
        finally:
            proc, self._reaper = self._reaper, None
            reaper.dismiss(proc)

    def _release(self, tmp: Path) -> None:
        try:
            cmds = self.commands(tmp)
        except InfraError:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        try:
            if self._created and not interrupted():
                _quiet(cmds.delete())  # kind's own delete first; the same cleanup as the reaper's after it
            reaper.kind_cleanup(tmp, cmds.docker, self.cluster_name, cmds.network, self._loaded)
        finally:
            self._created = self._network = False
            self._loaded = []
            shutil.rmtree(tmp, ignore_errors=True)

    def workloads(self) -> ConsumerWorkloads:
        return ConsumerWorkloads(WORKLOAD_IMAGE)
