"""The load -> autoscaling -> SLO loop on a cluster whose pods really run (`kind`, or `existing`
where the cluster can run the suite's images).

The platform's own gateway objects as rendered (Deployment, Service, HPA, PDB, the namespace's
NetworkPolicies, quotas and ConfigMaps, the PriorityClasses) go on the cluster with one change,
said in every verdict: the gateway's image is the suite's reference target (a Go port of
conformance/slo/target.py that burns WORK_US of real CPU per API request, so CPU follows the
request rate). Clients reach it the way the platform routes them: through an ingress stand-in
(the probe image relaying TCP) that carries the labels the platform's NetworkPolicies admit
from outside, behind a NodePort on the node's address on the run's own container network.
k6 then ramps the arrival rate while a sampler records the HPA's replicas and CPU every second.

    route = gateway_route(inventory, policy)                    # Ingress -> Service -> Deployment + HPA
    loop = GatewayLoop.deploy(kube, inventory, route, images)   # waits for ready pods and metrics
    with loop.sampling():                                       # Timeline of replicas / CPU
        run = run_scenario(policy, profile, "stress", loop.url, workdir, options=ramp_options())
    problems = loop.scaling_problems(intent)                     # against policy.yaml org.hpa

On a cluster the suite does not own (`existing`) the objects go into the run's prefixed
namespaces (`Placement`, the behaviour tier's NamespaceMap: NetworkPolicy namespace selectors
follow), no cluster-scoped object is created (a PriorityClass the cluster lacks is dropped from
the gateway's pods, said in the verdict), and the provider deletes the namespaces at stop.

Nothing here is simulated: real pods, real CPU (metrics-server), the real HPA controller,
kube-router enforcing the NetworkPolicies, kube-proxy routing the Service and the NodePort.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from conformance.behaviour.platform import NamespaceMap, owned_namespace
from conformance.behaviour.scaling import HpaSpec, Sample, Timeline, check_bounds, check_scale_up
from conformance.cluster.kube import ApiError, Kube
from conformance.cluster.lifecycle import interrupted, pause
from conformance.cluster.wait import Poll, WaitTimeout, wait_until
from conformance.errors import InfraError
from conformance.inventory import Inventory, K8sObject
from conformance.k8s import (
    HPA,
    IMAGE_PULL_FAILURES,
    conditions,
    labels_match,
    pod_labels,
    restricted_container_context,
    selector_matches,
)

from .evaluate import RunOptions

WORK_US = 1500  # CPU per API request in the target: 200 req/s ~ 300m, beyond two pods' 200m limits
# The ramp (k6 ramping-arrival-rate stages [target rate, seconds]): a quiet start, a climb to
# several replicas' worth, a hold at the top. The ci gateway requests 10m CPU per pod.
RAMP = [[20, 20], [200, 60], [200, 40]]
RAMP_VUS = {"pre_allocated_vus": 60, "max_vus": 200}
SAMPLE_S = 1.0
READY_TIMEOUT_S = 240.0  # pods of a fresh image on one loaded node
METRICS_TIMEOUT_S = 180.0  # metrics-server's first sample of new pods (kind: ~30-60 s)
ENTRY_LABEL = "conformance.tartware.io/slo-entry"
PROXY = "/api/v1/namespaces"  # the API server's pod proxy: <PROXY>/<ns>/pods/<pod>:<port>/proxy/<path>
ENTRY_PORT = 80  # what the stand-in listens on (the admitting policy's port, else this)
ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})  # ipBlocks that admit clients from outside the cluster


class ImageNotRunnable(InfraError):
    """The cluster cannot run one of the loop's images (not loaded, not pullable)."""


@dataclass(frozen=True)
class Placement:
    """Where the loop's objects go: the platform's own namespaces on a cluster the suite owns,
    else the run's prefixed namespaces labelled with its run id."""

    prefix: str = ""
    run_id: str = ""

    @property
    def owned(self) -> bool:
        return not self.prefix

    def inventory(self, inventory: Inventory) -> Inventory:
        """The render under the cluster's namespace names (selectors on namespace names follow)."""
        names = NamespaceMap(self.prefix)
        objects = [
            K8sObject(
                names.object_to_cluster(o.body),
                o.source,
                names.to_cluster(o.default_namespace),
                o.provided,
                o.origin,
            )
            for o in inventory.objects
        ]
        return Inventory(inventory.label, objects, list(inventory.problems), list(inventory.left_out))

    def namespace(self, name: str, declared: K8sObject | None) -> dict[str, Any]:
        if self.owned:
            return declared.body if declared is not None else {"apiVersion": "v1", "kind": "Namespace",
                                                               "metadata": {"name": name}}  # fmt: skip
        labels = dict(declared.labels) if declared is not None else {}
        return owned_namespace(name, self.run_id, {**labels, "kubernetes.io/metadata.name": name})


def ramp_options(**extra: Any) -> RunOptions:
    """k6 options of the loop: the `stress` executor (ramping arrival rate) with the loop's ramp."""
    return RunOptions(overrides={"stress": {"stages": RAMP, **RAMP_VUS}}, calibrate_above=None, **extra)


@dataclass(frozen=True)
class Route:
    """How a client reaches the gateway, as the render declares it."""

    ingress: K8sObject
    service: K8sObject
    service_port: Mapping[str, Any]
    deployment: K8sObject
    hpa: K8sObject
    # The ingress controller as the platform's NetworkPolicies know it.
    entry_namespace: str
    entry_labels: Mapping[str, str]
    entry_port: int
    entry_port_name: str = "http"  # the stand-in's container port name (a policy may name the port)

    def serves(self, port: Mapping[str, Any]) -> bool:
        """Is this container port the one the Service's targetPort names (by name or number)?"""
        return self.service_port.get("targetPort") in (port.get("name"), port.get("containerPort"))

    def describe(self) -> str:
        return (
            f"Ingress {self.ingress.namespace}/{self.ingress.name} -> Service {self.service.name}:"
            f"{self.service_port.get('port')} -> Deployment {self.deployment.name} "
            f"(HPA {self.hpa.name}); clients enter through a stand-in in {self.entry_namespace} "
            f"labelled {dict(self.entry_labels)}"
        )


def gateway_route(inventory: Inventory, namespace: str) -> Route:
    """The first Ingress (by name) in `namespace` whose backend Service selects a Deployment an HPA
    scales: the platform's front door. InfraError when the render has none."""
    for ingress in sorted(inventory.of_kind("Ingress"), key=lambda o: (o.namespace != namespace, o.name)):
        for rule in ingress.spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                route = _route(inventory, ingress, backend)
                if route is not None:
                    return route
    raise InfraError(
        f"no Ingress of the render routes to a Deployment an HPA scales (looked in {namespace} first): "
        "the loop needs the platform's front door"
    )


def _route(inventory: Inventory, ingress: K8sObject, backend: Mapping[str, Any]) -> Route | None:
    service = inventory.get("Service", ingress.namespace, str(backend.get("name", "")))
    if service is None:
        return None
    wanted = backend.get("port") or {}
    port = next(
        (
            p
            for p in service.spec.get("ports") or []
            if p.get("name") == wanted.get("name") or p.get("port") == wanted.get("number")
        ),
        None,
    )
    selector = service.spec.get("selector") or {}
    if port is None or not selector:
        return None
    for deployment in inventory.of_kind("Deployment"):
        if deployment.namespace != service.namespace or not labels_match(selector, pod_labels(deployment)):
            continue
        hpa = next(
            (
                h
                for h in inventory.of_kind(HPA)
                if h.namespace == deployment.namespace
                and (h.spec.get("scaleTargetRef") or {}).get("name") == deployment.name
            ),
            None,
        )
        if hpa is not None:
            entry_ns, entry_labels, entry_port, name = _entry(inventory, deployment, port)
            return Route(ingress, service, port, deployment, hpa, entry_ns, entry_labels, entry_port, name)
    return None


def _entry(
    inventory: Inventory, deployment: K8sObject, port: Mapping[str, Any]
) -> tuple[str, dict[str, str], int, str]:
    """Where the ingress stand-in goes: the peer the gateway's NetworkPolicies admit on its serving
    port (namespace + pod labels), completed by the peer namespace's policy that admits clients from
    anywhere (its labels and port). Without such policies: a namespace of its own, port 80."""
    target = port.get("targetPort")
    labels_of_pods = pod_labels(deployment)
    for policy in sorted(inventory.of_kind("NetworkPolicy"), key=lambda o: o.name):
        if policy.namespace != deployment.namespace or not selector_matches(
            policy.spec.get("podSelector"), labels_of_pods
        ):
            continue
        for rule in policy.spec.get("ingress") or []:
            if not any(p.get("port") in (target, port.get("port")) for p in rule.get("ports") or []):
                continue
            for peer in rule.get("from") or []:
                ns_labels = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
                namespace = ns_labels.get("kubernetes.io/metadata.name")
                labels = dict((peer.get("podSelector") or {}).get("matchLabels") or {})
                if namespace:
                    extra, listen, name = _outside_admission(inventory, namespace, labels)
                    return namespace, {**labels, **extra}, listen, name
    return "slo-entry", {}, ENTRY_PORT, "http"


def _outside_admission(
    inventory: Inventory, namespace: str, labels: Mapping[str, str]
) -> tuple[dict[str, str], int, str]:
    """The first rule of a policy selecting the stand-in that admits clients from anywhere (no
    `from`, or an ipBlock of 0.0.0.0/0 or ::/0): its pod labels and the TCP port it admits, as
    (labels, port to listen on, container port name). A named port is taken as the stand-in's
    port name; a rule without ports admits any, so the stand-in keeps ENTRY_PORT."""
    for policy in sorted(inventory.of_kind("NetworkPolicy"), key=lambda o: o.name):
        selector = (policy.spec.get("podSelector") or {}).get("matchLabels") or {}
        if policy.namespace != namespace or any(labels.get(k, v) != v for k, v in selector.items()):
            continue
        for rule in policy.spec.get("ingress") or []:
            peers = rule.get("from") or []
            if peers and not any((p.get("ipBlock") or {}).get("cidr") in ANYWHERE for p in peers):
                continue
            tcp = [p for p in rule.get("ports") or [] if p.get("protocol", "TCP") == "TCP"]
            if not rule.get("ports"):
                return dict(selector), ENTRY_PORT, "http"
            for entry in tcp:
                port = entry.get("port")
                if isinstance(port, int):
                    return dict(selector), port, "http"
                if isinstance(port, str) and port:
                    return dict(selector), ENTRY_PORT, port
    return {}, ENTRY_PORT, "http"


@dataclass
class GatewayLoop:
    """The gateway deployed with the target image, its entry, and the sampler's timeline."""

    kube: Kube
    route: Route
    url: str
    spec: HpaSpec  # the HPA as rendered
    timeline: Timeline = field(default_factory=Timeline)
    cpu: list[tuple[float, int | None]] = field(default_factory=list)  # (t, HPA CPU utilization %)
    began: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)  # what differs from the platform, said in verdicts
    scrape: PodScrape | None = None  # Prometheus's targets, kept in step with the pods while sampling

    # -- setup ---------------------------------------------------------------------------------
    @classmethod
    def deploy(
        cls,
        kube: Kube,
        inventory: Inventory,
        route: Route,
        images: tuple[str, str],
        *,
        metrics: tuple[str, str] | None = None,
        placement: Placement = Placement(),
    ) -> GatewayLoop:
        """The gateway as rendered with `images` = (target, relay), serving /metrics under the
        policy's metric names `metrics` = (request counter, latency histogram) when given.
        `inventory` and `route` are under the cluster's namespace names (`Placement.inventory`)."""
        target_image, relay_image = images
        namespaces = {route.deployment.namespace, route.entry_namespace}
        classes: frozenset[str] | None = None  # the PriorityClasses pods may name (None: any)
        if placement.owned:
            for pc in inventory.of_kind("PriorityClass"):
                kube.apply(pc.body)
        else:
            pcs = kube.list("scheduling.k8s.io/v1", "PriorityClass")
            classes = frozenset(str(pc["metadata"]["name"]) for pc in pcs)
        for name in sorted(namespaces):
            kube.apply(placement.namespace(name, inventory.get("Namespace", "", name)))
        kept = ("ConfigMap", "ServiceAccount", "ResourceQuota", "LimitRange", "NetworkPolicy")
        for obj in inventory.objects:
            if obj.namespace in namespaces and obj.kind in kept:
                kube.apply(obj.body)
        notes = [
            f"the gateway's image is the suite's reference target {target_image} "
            f"({WORK_US} µs CPU per request)"
        ]
        if not placement.owned:
            notes.append(f"on a cluster the suite does not own: namespaces {placement.prefix}*")
        kube.apply(gateway_body(route, target_image, notes, metrics, classes))
        kube.apply(route.service.body)
        for obj in inventory.objects:
            if obj.kind == "PodDisruptionBudget" and obj.namespace == route.deployment.namespace:
                kube.apply(obj.body)
        service = kube.get("v1", "Service", route.service.name, route.service.namespace)
        cluster_ip = str((service.get("spec") or {}).get("clusterIP"))
        node_port = _entry_objects(kube, route, relay_image, f"{cluster_ip}:{route.service_port.get('port')}")
        notes.append(
            f"clients enter through an ingress stand-in ({relay_image} relaying TCP) in "
            f"{route.entry_namespace} with the controller's labels, behind a NodePort"
        )
        _wait_ready(kube, route.entry_namespace, "slo-entry", 1)
        kube.apply(route.hpa.body)  # from here the HPA owns the replica count (at least its minimum)
        _wait_ready(
            kube, route.deployment.namespace, route.deployment.name, int(route.hpa.spec.get("minReplicas", 1))
        )
        _wait_metrics(kube, route.hpa)
        url = f"http://{_node_address(kube)}:{node_port}"
        return cls(kube, route, url, HpaSpec.from_body(route.hpa.body), notes=notes)

    # -- observation ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def sampling(self) -> Iterator[GatewayLoop]:
        """Sample replicas and CPU every SAMPLE_S in a thread while the block runs; marks "raise"
        when it begins and "lower" when it ends."""
        stop = threading.Event()
        self.began = time.monotonic()
        thread = threading.Thread(target=self._sample, args=(stop,), daemon=True, name="slo-loop-sampler")
        self._sample_once()
        self.timeline.marks["raise"] = 0.0
        thread.start()
        try:
            yield self
        finally:
            self.timeline.marks["lower"] = time.monotonic() - self.began
            stop.set()
            thread.join(timeout=10)

    def _sample(self, stop: threading.Event) -> None:
        while not stop.is_set() and not interrupted():
            pause(SAMPLE_S)
            with contextlib.suppress(ApiError, InfraError):
                self._sample_once()

    def _sample_once(self) -> None:
        hpa = self.route.hpa
        dep = self.kube.get("apps/v1", "Deployment", self.route.deployment.name, hpa.namespace)
        status = self.kube.get("autoscaling/v2", HPA, hpa.name, hpa.namespace).get("status") or {}
        utilization = None
        for metric in status.get("currentMetrics") or []:
            current = (metric.get("resource") or {}).get("current") or {}
            if (metric.get("resource") or {}).get("name") == "cpu":
                utilization = current.get("averageUtilization")
        cond = conditions({"status": status}).get("ScalingLimited", {})
        limited = str(cond.get("reason", "")) if cond.get("status") == "True" else ""
        t = time.monotonic() - self.began
        replicas = int((dep.get("spec") or {}).get("replicas") or 0)
        self.timeline.add(Sample(t, replicas, utilization, limited))
        self.cpu.append((t, utilization))
        if self.scrape is not None:
            self.scrape.write(self.kube, self.route)

    # -- judgement -----------------------------------------------------------------------------
    def scaling_problems(self, intent: HpaSpec) -> list[str]:
        """The timeline against the policy's intent: every step within scaleUp, no decrease under
        load, bounds kept, and the replicas reaching the intended maximum under the ramp."""
        if not self.timeline.samples:
            return ["no replica sample was taken"]
        return check_scale_up(self.timeline, intent, intent.max_replicas) or check_bounds(
            self.timeline, intent
        )

    def replicas_over_time(self) -> list[tuple[float, int]]:
        return [(s.t, s.replicas) for s in self.timeline.samples]


def gateway_body(
    route: Route,
    image: str,
    notes: list[str],
    metrics: tuple[str, str] | None = None,
    classes: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The gateway Deployment as rendered, its serving container running the reference target;
    without its PriorityClass when `classes` (what the cluster has) lacks it."""
    body: dict[str, Any] = copy.deepcopy(route.deployment.body)
    spec = body["spec"]["template"]["spec"]
    wanted = spec.get("priorityClassName")
    if classes is not None and wanted and wanted not in classes:
        del spec["priorityClassName"]
        notes.append(
            f"PriorityClass {wanted} dropped from the gateway's pods (the cluster has no such class)"
        )
    for container in spec.get("containers") or []:
        serving = next((p for p in container.get("ports") or [] if route.serves(p)), None)
        if serving is None:
            continue
        container["image"] = image
        container["imagePullPolicy"] = "Never"
        container["command"] = ["/usr/local/bin/twtarget"]
        container["args"] = [f"--port={serving['containerPort']}", f"--work-us={WORK_US}", "--host=0.0.0.0"]
        if metrics is not None:
            container["args"].append(f"--metrics={','.join(metrics)}")
        for key in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = (container.get(key) or {}).get("httpGet")
            if isinstance(get, dict) and get.get("path") not in (None, "/healthz"):
                notes.append(f"{key} path {get['path']} -> /healthz (what the target serves)")
                get["path"] = "/healthz"
    return body


@dataclass
class PodScrape:
    """Prometheus scraping the gateway's pods as a ServiceMonitor would, through the API server's
    pod proxy: Prometheus on the machine reaches only the API server (127.0.0.1), never the pod
    network. The pods come from the API server's pod list, written to a file_sd targets file
    (Prometheus's own file discovery) at setup and by the loop's sampler every second; the
    suite's Prometheus build leaves out the Kubernetes discovery with the other discovery
    plugins. Series carry the platform's namespace name (the run's prefix stripped), as its
    rules expect."""

    config: dict[str, Any]  # the scrape config
    targets: Path
    server: str  # the API server's host:port
    port: int  # the gateway's serving container port (its /metrics)
    prefix: str

    @classmethod
    def through_api_server(cls, kubeconfig: Path, route: Route, folder: Path, prefix: str = "") -> PodScrape:
        """The scrape config with the kubeconfig's credentials written to `folder`."""
        config = yaml.safe_load(kubeconfig.read_text())
        server = str(config["clusters"][0]["cluster"]["server"])
        user = config["users"][0]["user"]
        folder.mkdir(parents=True, exist_ok=True)
        tls = {}
        for key, data in (
            ("ca_file", config["clusters"][0]["cluster"].get("certificate-authority-data")),
            ("cert_file", user.get("client-certificate-data")),
            ("key_file", user.get("client-key-data")),
        ):
            if not data:
                raise InfraError(
                    f"{kubeconfig}: no {key} data (the loop scrapes through the API server with it)"
                )
            path = folder / key
            path.write_bytes(base64.b64decode(data))
            path.chmod(0o600)
            tls[key] = str(path)
        port = next(
            p["containerPort"]
            for c in route.deployment.spec["template"]["spec"]["containers"]
            for p in c.get("ports") or []
            if route.serves(p)
        )
        targets = folder / "gateway-pods.json"
        targets.write_text("[]")
        scrape = {
            "job_name": "gateway-pods",
            "scheme": "https",
            "tls_config": tls,
            "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}],
        }
        return cls(scrape, targets, urlsplit(server).netloc, int(port), prefix)

    def write(self, kube: Kube, route: Route) -> int:
        """The gateway's running pods as targets (atomically replaced); how many."""
        namespace = route.deployment.namespace
        selector = route.service.spec.get("selector") or {}
        platform = NamespaceMap(self.prefix).from_cluster(namespace)
        groups = [
            {
                "targets": [self.server],
                "labels": {
                    "__metrics_path__": f"{PROXY}/{namespace}/pods/{name}:{self.port}/proxy/metrics",
                    "namespace": platform,
                    "pod": name,
                    "service": route.service.name,
                    "endpoint": "metrics",
                },
            }
            for pod in kube.list("v1", "Pod", namespace, labels=selector)
            if (pod.get("status") or {}).get("phase") == "Running" and (name := str(pod["metadata"]["name"]))
        ]
        tmp = self.targets.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(self.targets)
        return len(groups)


def _entry_objects(kube: Kube, route: Route, image: str, upstream: str) -> int:
    """The ingress stand-in (relay pod) and its NodePort Service; the node port."""
    labels = {**route.entry_labels, ENTRY_LABEL: "relay"}
    kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "slo-entry", "namespace": route.entry_namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {ENTRY_LABEL: "relay"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": 0,
                        # Port 80 without a capability: a safe, namespaced sysctl.
                        "securityContext": {
                            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "relay",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "command": ["/twprobe", "relay"],
                                "args": [f"--listen={route.entry_port}", f"--to={upstream}"],
                                "ports": [{"name": route.entry_port_name, "containerPort": route.entry_port}],
                                "readinessProbe": {
                                    "tcpSocket": {"port": route.entry_port},
                                    "periodSeconds": 2,
                                },
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "16Mi", "ephemeral-storage": "16Mi"},
                                    "limits": {"cpu": "1", "memory": "64Mi", "ephemeral-storage": "64Mi"},
                                },
                                "securityContext": restricted_container_context(65532),
                            }
                        ],
                    },
                },
            },
        }
    )
    service = kube.apply(
        {  # the Service as stored: its node port
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "slo-entry", "namespace": route.entry_namespace},
            "spec": {
                "type": "NodePort",
                "selector": {ENTRY_LABEL: "relay"},
                "ports": [{"name": "http", "port": route.entry_port, "targetPort": route.entry_port}],
            },
        }
    )
    return int(service.body["spec"]["ports"][0]["nodePort"])


def _node_address(kube: Kube) -> str:
    for node in kube.list("v1", "Node"):
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return str(address["address"])
    raise InfraError("no node reports an InternalIP address: the loop cannot reach the NodePort")


def _wait_ready(kube: Kube, namespace: str, name: str, replicas: int) -> None:
    def ready() -> Poll[bool]:
        dep = kube.get("apps/v1", "Deployment", name, namespace)
        _image_errors(
            kube, namespace, ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        )
        have = int((dep.get("status") or {}).get("readyReplicas") or 0)
        why = "; ".join(
            f"{t}: {c.get('message', '')}" for t, c in conditions(dep).items() if c.get("status") != "True"
        )
        return Poll(have >= replicas, f"{have}/{replicas} ready{'; ' + why if why else ''}")

    wait_until(ready, what="be ready", objects=[f"Deployment/{namespace}/{name}"], timeout_s=READY_TIMEOUT_S,
               interval_s=1, retry_on=(ApiError,))  # fmt: skip


def _image_errors(kube: Kube, namespace: str, selector: Mapping[str, str]) -> None:
    """ImageNotRunnable as soon as a pod of the selector waits for an image the node cannot get."""
    for pod in kube.list("v1", "Pod", namespace, labels=selector):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in IMAGE_PULL_FAILURES:
                raise ImageNotRunnable(
                    f"the cluster cannot run {cs.get('image')}: {waiting.get('reason')} "
                    f"({str(waiting.get('message', ''))[:160]}); load the suite's images into its nodes "
                    "(a cluster started from the suite's kind node image has them)"
                )


def _wait_metrics(kube: Kube, hpa: K8sObject) -> None:
    def measured() -> Poll[bool]:
        status = kube.get("autoscaling/v2", HPA, hpa.name, hpa.namespace).get("status") or {}
        have = any((m.get("resource") or {}).get("current") for m in status.get("currentMetrics") or [])
        return Poll(have, "no CPU metric in the HPA's status yet")

    try:
        wait_until(
            measured,
            what="report CPU",
            objects=[f"HorizontalPodAutoscaler/{hpa.namespace}/{hpa.name}"],
            timeout_s=METRICS_TIMEOUT_S,
            interval_s=2,
            retry_on=(ApiError,),
        )
    except WaitTimeout as err:
        raise InfraError(f"the loop cannot start: {err}") from None
