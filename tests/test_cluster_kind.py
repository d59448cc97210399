"""The kind provider's generated config, commands, workloads and add-ons; probes; the registry.

These check what the provider runs, exactly, without an engine; the end-to-end run on kind is
tests/test_kind_e2e.py (slow; skipped where no engine answers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from conformance.cluster import create_provider, provider_names
from conformance.cluster.existing import ExistingProvider
from conformance.cluster.kind import (
    KUBELET_PATCH,
    PROBE_IMAGE,
    WORKLOAD_IMAGE,
    ConsumerWorkloads,
    KindCommands,
    KindProvider,
    kind_config,
    metrics_server_stack,
)
from conformance.cluster.kind_addons import (
    REAL_DNS_LABEL,
    contained_coredns,
    corefile_without_forward,
    kube_router_stack,
)
from conformance.cluster.kube import Kube
from conformance.cluster.local import LocalProvider, fake_node, kwokctl_config, node_names
from conformance.cluster.probes import (
    Probe,
    ProbeSite,
    connect_command,
    parse_results,
    plan_json,
    probe_pod,
)
from conformance.errors import InfraError
from conformance.settings import Settings


def settings(**env: str) -> Settings:
    return Settings.from_env({f"CONFORMANCE_{k.upper()}": v for k, v in env.items()})


def test_kind_config_one_node_loopback_api_no_default_cni_cgroup_v1() -> None:
    cfg = kind_config("tw-1")
    assert (
        cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4" and cfg["name"] == "tw-1"
    )
    assert cfg["networking"] == {
        "apiServerAddress": "127.0.0.1",
        "apiServerPort": 0,
        "disableDefaultCNI": True,  # the node's bridge CNI; kube-router enforces NetworkPolicy
        "podSubnet": "10.244.0.0/16",
        "serviceSubnet": "10.96.0.0/16",
    }
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane"]
    assert cfg["nodes"][0]["labels"] == {"topology.kubernetes.io/zone": "zone-a"}
    assert "image" not in cfg["nodes"][0]
    assert cfg["kubeadmConfigPatches"] == [KUBELET_PATCH]
    assert "failCgroupV1: false" in KUBELET_PATCH and "kind: KubeletConfiguration" in KUBELET_PATCH


def test_kind_config_patches_both_kubeadm_api_versions() -> None:
    patches = {p["version"]: p for p in kind_config("x")["kubeadmConfigPatchesJSON6902"]}
    assert set(patches) == {"v1beta3", "v1beta4"}
    assert all(
        p["group"] == "kubeadm.k8s.io" and p["kind"] == "ClusterConfiguration" for p in patches.values()
    )
    v3 = json.loads(patches["v1beta3"]["patch"])
    v4 = json.loads(patches["v1beta4"]["patch"])
    assert v3 == [
        {
            "op": "add",
            "path": "/controllerManager/extraArgs/horizontal-pod-autoscaler-sync-period",
            "value": "5s",
        }
    ]
    assert v4 == [
        {
            "op": "add",
            "path": "/controllerManager/extraArgs/-",
            "value": {"name": "horizontal-pod-autoscaler-sync-period", "value": "5s"},
        }
    ]


def test_kind_node_image_goes_to_the_node() -> None:
    cfg = kind_config("x", "tartware.local/kind-node:v1.36.3-abc")
    assert {n["image"] for n in cfg["nodes"]} == {"tartware.local/kind-node:v1.36.3-abc"}
    upstream = kind_config("x", "kindest/node:v1.36.3", own_image=False)
    assert upstream["networking"]["disableDefaultCNI"] is False  # its only CNI is kindnet


def test_kind_commands_are_exact(tmp_path: Path) -> None:
    cmds = KindCommands("/t/kind", "/usr/bin/docker", "tw-9", tmp_path / "kind.yaml", tmp_path / "kubeconfig")
    assert cmds.create() == [
        "/t/kind",
        "create",
        "cluster",
        "--name",
        "tw-9",
        "--config",
        f"{tmp_path}/kind.yaml",
        "--kubeconfig",
        f"{tmp_path}/kubeconfig",
        "--wait",
        "5m",
    ]
    assert cmds.delete() == [
        "/t/kind",
        "delete",
        "cluster",
        "--name",
        "tw-9",
        "--kubeconfig",
        f"{tmp_path}/kubeconfig",
    ]
    assert cmds.network == "tw-9-net" and cmds.env()["KIND_EXPERIMENTAL_DOCKER_NETWORK"] == "tw-9-net"
    create = cmds.network_create()
    assert create[:3] == ["/usr/bin/docker", "network", "create"] and create[-1] == "tw-9-net"
    assert "com.docker.network.bridge.enable_ip_masquerade=false" in create  # nothing NATed out
    assert cmds.image_load(Path("/c/node.tar")) == ["/usr/bin/docker", "load", "--input", "/c/node.tar"]
    assert cmds.load_archive(Path("/c/p.tar")) == [
        "/t/kind",
        "load",
        "image-archive",
        "/c/p.tar",
        "--name",
        "tw-9",
    ]
    assert not any(
        "pull" in word for cmd in (create, cmds.create(), cmds.image_load(Path("x"))) for word in cmd
    )


def test_kind_provider_needs_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(InfraError, match="needs docker on PATH"):
        KindProvider(settings(provider="kind")).commands(tmp_path)
    with pytest.raises(InfraError, match="make docker"):
        KindProvider(settings(provider="kind")).start()


def test_kind_provider_images_and_capabilities() -> None:
    p = KindProvider(settings(kind_node_image="kindest/node:v1.36.3"))
    assert p.node_image == "kindest/node:v1.36.3"
    assert p.workloads().image == WORKLOAD_IMAGE == "tartware.local/conformance/resource-consumer:v1.36.3"
    assert PROBE_IMAGE == "tartware.local/conformance/probe:v1.36.3"
    assert p.capabilities.data_plane and p.capabilities.metrics == "real" and p.capabilities.can_set_usage
    p.stop()  # never started: a no-op


def platform_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "guests"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "guests"}},
                "spec": {
                    "securityContext": {"runAsNonRoot": True},
                    "containers": [
                        {
                            "name": "guests",
                            "image": "registry.tartware.local/tartware/guests:1.0.0",
                            "ports": [
                                {"name": "http", "containerPort": 8080},
                                {"name": "metrics", "containerPort": 9090},
                            ],
                            "resources": {"requests": {"cpu": "10m"}},
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": "http"},
                                "periodSeconds": 5,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "failureThreshold": 3,
                            },
                            "securityContext": {"readOnlyRootFilesystem": True},
                        }
                    ],
                },
            }
        },
    }


def test_consumer_workloads_replace_only_image_command_and_probes() -> None:
    original = platform_deployment()
    adapted = ConsumerWorkloads().adapt(original)
    container = adapted["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == WORKLOAD_IMAGE and container["imagePullPolicy"] == "Never"
    assert container["command"] == ["/resource-consumer"]
    assert container["args"] == ["--port=8080"]
    assert container["readinessProbe"] == {"tcpSocket": {"port": 8080}, "periodSeconds": 5}
    assert container["livenessProbe"] == {"tcpSocket": {"port": 8080}, "failureThreshold": 3}
    for key in ("ports", "resources", "securityContext", "name"):
        assert container[key] == original["spec"]["template"]["spec"]["containers"][0][key]
    assert adapted["spec"]["template"]["metadata"] == original["spec"]["template"]["metadata"]
    assert original["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "registry.tartware.local"
    )


def test_metrics_server_stack_for_kind() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in metrics_server_stack()}
    container = objs[("Deployment", "metrics-server")]["spec"]["template"]["spec"]["containers"][0]
    assert "--kubelet-insecure-tls" in container["args"] and "--metric-resolution=10s" in container["args"]
    assert container["imagePullPolicy"] == "Never"
    assert objs[("APIService", "v1beta1.metrics.k8s.io")]["spec"]["service"] == {
        "name": "metrics-server",
        "namespace": "kube-system",
    }
    assert ("RoleBinding", "metrics-server-auth-reader") in objs


def test_kube_router_runs_the_firewall_only_and_never_pulls() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in kube_router_stack("img:1")}
    ds = objs[("DaemonSet", "tw-kube-router")]
    pod = ds["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["hostNetwork"] and container["image"] == "img:1" and container["imagePullPolicy"] == "Never"
    assert "--run-firewall=true" in container["args"]
    assert "--run-router=false" in container["args"] and "--run-service-proxy=false" in container["args"]
    rules = objs[("ClusterRole", "tw-kube-router")]["rules"]
    assert any("networkpolicies" in r["resources"] for r in rules)


def test_coredns_forwards_nothing_and_selects_only_the_real_pods() -> None:
    corefile = (
        ".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa {\n       pods insecure\n    }\n"
        "    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n}\n"
    )
    stripped = corefile_without_forward(corefile)
    assert "forward" not in stripped and "kubernetes cluster.local" in stripped and "cache 30" in stripped
    assert corefile_without_forward("forward . 8.8.8.8\nlog\n") == "log\n"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "uid": "u", "resourceVersion": "1"},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}}, "spec": {}},
        },
        "status": {"replicas": 2},
    }
    out = contained_coredns(deployment)
    key, value = REAL_DNS_LABEL
    assert out["spec"]["selector"]["matchLabels"] == {"k8s-app": "kube-dns", key: value}
    assert out["spec"]["template"]["metadata"]["labels"] == {"k8s-app": "kube-dns", key: value}
    assert "uid" not in out["metadata"] and "status" not in out


def test_probe_pod_is_restricted_named_and_answers_with_its_token() -> None:
    pod = probe_pod(
        "probe-alertmanager",
        "ct-1-monitoring",
        {"app.kubernetes.io/name": "alertmanager"},
        [("web", 9093, "TCP"), ("mesh", 9094, "TCP"), ("mesh-udp", 9094, "UDP")],
        "img:1",
        token="monitoring/alertmanager",
    )
    assert pod["metadata"]["namespace"] == "ct-1-monitoring"
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "alertmanager"
    (c,) = pod["spec"]["containers"]
    assert c["imagePullPolicy"] == "Never" and c["command"] == ["/twprobe"]
    assert c["args"] == [
        "serve",
        "--token",
        "monitoring/alertmanager",
        "--listen",
        "tcp:9093",
        "--listen",
        "tcp:9094",
        "--listen",
        "udp:9094",
    ]
    assert c["ports"] == [  # named as the platform declares them: Services' targetPorts resolve
        {"name": "web", "containerPort": 9093, "protocol": "TCP"},
        {"name": "mesh", "containerPort": 9094, "protocol": "TCP"},
        {"name": "mesh-udp", "containerPort": 9094, "protocol": "UDP"},
    ]
    sc = c["securityContext"]
    assert (
        sc["runAsNonRoot"] and sc["capabilities"] == {"drop": ["ALL"]} and not sc["allowPrivilegeEscalation"]
    )
    assert "sysctls" not in pod["spec"]["securityContext"]
    dns = probe_pod(
        "probe-kube-dns", "kube-system", {}, [("dns", 53, "UDP")], "img:1", token="kube-system/kube-dns"
    )
    assert dns["spec"]["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
    ]
    source_only = probe_pod("probe-cleaner", "tartware", {}, [], "img:1", token="tartware/cleaner")
    assert source_only["spec"]["containers"][0]["args"] == ["pause"]


def test_connect_command_plan_and_results() -> None:
    src = ProbeSite("tartware", "probe-api-gateway", "10.244.0.5")
    assert connect_command(Path("/k/kubectl"), Path("/k/cfg"), src) == [
        "/k/kubectl",
        "--kubeconfig",
        "/k/cfg",
        "exec",
        "-i",
        "-n",
        "tartware",
        "probe-api-gateway",
        "-c",
        "probe",
        "--",
        "/twprobe",
        "connect",
    ]
    probes = [Probe(0, "10.96.0.7", 80, "TCP", ("tartware/guests",)), Probe(1, "fd00::5", 53, "UDP", ("k",))]
    plan = json.loads(plan_json(probes, timeout_ms=1500, parallel=4))
    assert plan["timeout_ms"] == 1500 and plan["parallel"] == 4
    assert plan["probes"][0] == {
        "id": 0,
        "ip": "10.96.0.7",
        "port": 80,
        "protocol": "TCP",
        "tokens": ["tartware/guests"],
    }
    out = '{"id": 0, "outcome": "wrong-peer", "detail": "tartware/rooms"}\nnoise\n'
    results = parse_results(out, probes)
    assert results[0].outcome == "wrong-peer" and not results[0].connected  # another pod answered
    assert results[1].outcome == "error" and not results[1].connected  # no answer is never a pass


def test_registry_and_existing_needs_a_kubeconfig(tmp_path: Path) -> None:
    assert provider_names() == ["existing", "kind", "local"]
    assert isinstance(create_provider(settings()), LocalProvider)  # the default
    with pytest.raises(
        InfraError, match=r"choose one of existing, kind, local \(--provider or CONFORMANCE_PROVIDER\)"
    ):
        create_provider(settings(provider="minikube"))
    with pytest.raises(InfraError, match="set --kubeconfig or CONFORMANCE_KUBECONFIG"):
        ExistingProvider(settings(provider="existing")).start()
    with pytest.raises(InfraError, match="does not exist"):
        ExistingProvider(settings(provider="existing", kubeconfig=str(tmp_path / "nope"))).start()
    existing = ExistingProvider(settings())
    assert existing.prefix.startswith("ct-") and not existing.capabilities.owns_cluster


def test_local_config_never_downloads(tmp_path: Path) -> None:
    cfg = kwokctl_config(Path("/repo/.tools/bin"), tmp_path / "ms")
    opts = cfg["options"]
    for field in (
        "kubeApiserverBinary",
        "kubeControllerManagerBinary",
        "kubeSchedulerBinary",
        "kubectlBinary",
        "etcdBinary",
        "etcdctlBinary",
        "kwokControllerBinary",
        "metricsServerBinary",
    ):
        assert opts[field].startswith("/repo/.tools/bin/")
    assert opts["metricsServerManifests"] == [str(tmp_path / "ms")]  # a local kustomize folder, not a URL
    assert opts["bindAddress"] == "127.0.0.1" and opts["runtime"] == "binary"
    patches = {p["name"]: {a["key"]: a["value"] for a in p["extraArgs"]} for p in cfg["componentsPatches"]}
    assert patches["metrics-server"] == {"metric-resolution": "10s", "kubelet-request-timeout": "5s"}
    assert patches["kube-controller-manager"] == {"horizontal-pod-autoscaler-sync-period": "5s"}


def test_fake_nodes_spread_over_zones_without_addresses() -> None:
    names = node_names()
    assert len(names) == 6 and len(set(names)) == 6
    node = fake_node(names[0], "zone-a")
    assert "addresses" not in node["status"]
    assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-a"
    assert node["metadata"]["annotations"]["metrics.k8s.io/resource-metrics-path"].endswith(
        f"/nodes/{names[0]}/metrics/resource"
    )


class FakeKube:
    """Pods and the POSTs made to them (ConsumeCPU through the pod proxy)."""

    def __init__(self) -> None:
        self.posts: list[str] = []

    def list(self, *_args: Any, **_kw: Any) -> list[dict[str, Any]]:
        return [
            {
                "metadata": {"name": "guests-1", "uid": "u1"},
                "status": {"phase": "Running"},
                "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]},
            }
        ]

    def request(self, method: str, path: str) -> None:
        self.posts.append(f"{method} {path}")


def test_consumer_workloads_burn_real_cpu_and_leave_idle_pods_alone() -> None:
    fake = FakeKube()
    kube = cast(Kube, fake)
    driver = ConsumerWorkloads()
    assert driver.set_cpu(kube, "ns", {"app": "guests"}, 28) == 1
    assert fake.posts == [
        "POST /api/v1/namespaces/ns/pods/guests-1:8080/proxy/ConsumeCPU?millicores=28&durationSec=10"
    ]
    assert driver.set_cpu(kube, "ns", {"app": "guests"}, 28) == 0  # still burning: not re-issued yet
    assert driver.set_cpu(kube, "ns", {"app": "guests"}, 1) == 0  # idle: nothing asked for
    assert len(fake.posts) == 1


def test_existing_uses_rendered_images_until_the_consumer_is_detected() -> None:
    from conformance.cluster.existing import UnchangedWorkloads

    existing = ExistingProvider(settings())
    assert isinstance(existing.workloads().inner, UnchangedWorkloads)
    existing._consumer = True  # what start() sets when a pod of the workload image ran
    assert isinstance(existing.workloads().inner, ConsumerWorkloads)


def test_existing_drops_a_priority_class_the_cluster_lacks() -> None:
    """The existing provider creates no cluster-scoped objects: a pod naming a PriorityClass the
    cluster does not have would never be admitted, so that one field goes (and nothing else)."""
    existing = ExistingProvider(settings())
    existing._classes = frozenset({"system-cluster-critical"})
    body: dict[str, Any] = {
        "kind": "Deployment",
        "spec": {
            "template": {"spec": {"priorityClassName": "tartware-standard", "containers": [{"name": "a"}]}}
        },
    }
    adapted = existing.workloads().adapt(body)
    assert "priorityClassName" not in adapted["spec"]["template"]["spec"]
    assert (
        body["spec"]["template"]["spec"]["priorityClassName"] == "tartware-standard"
    )  # the render untouched
    body["spec"]["template"]["spec"]["priorityClassName"] = "system-cluster-critical"
    kept = existing.workloads().adapt(body)["spec"]["template"]["spec"]
    assert kept["priorityClassName"] == "system-cluster-critical"


def test_kind_cleanup_removes_containers_network_images_and_tmp(tmp_path: Path) -> None:
    """The one cleanup both the provider's stop and the reaper run (glue only: a recording docker)."""
    from conformance.cluster.reaper import kind_cleanup

    calls = tmp_path / "calls"
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n[ "$1" = ps ] && echo abc123\nexit 0\n')
    docker.chmod(0o755)
    work = tmp_path / "tartware-kind-x"
    work.mkdir()
    kind_cleanup(work, str(docker), "tw-9", "tw-9-net", ["tartware.local/kind-node:v1"])
    assert calls.read_text().splitlines() == [
        "ps -aq --filter label=io.x-k8s.kind.cluster=tw-9",
        "rm -f -v abc123",
        "network rm tw-9-net",
        "rmi tartware.local/kind-node:v1",
    ]
    assert not work.exists()
