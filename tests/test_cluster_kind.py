"""The kind provider's generated config, commands and agnhost workloads; probes; the registry.

kind itself cannot run on this machine (no registry for node images), so these
check what the provider would run, exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.cluster import create_provider, provider_names
from conformance.cluster.existing import ExistingProvider
from conformance.cluster.kind import (
    AGNHOST_IMAGE,
    AgnhostWorkloads,
    KindCommands,
    KindProvider,
    kind_config,
    metrics_server_stack,
)
from conformance.cluster.local import LocalProvider, fake_node, kwokctl_config, node_names
from conformance.cluster.probes import ProbeSite, connect_command, plan, probe_pod
from conformance.errors import InfraError
from conformance.netpol import Endpoint, Flow
from conformance.settings import Settings


def settings(**env: str) -> Settings:
    return Settings.from_env({f"CONFORMANCE_{k.upper()}": v for k, v in env.items()})


def test_kind_config_has_loopback_api_zones_and_fast_hpa() -> None:
    cfg = kind_config("tw-1")
    assert (
        cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4" and cfg["name"] == "tw-1"
    )
    assert cfg["networking"] == {"apiServerAddress": "127.0.0.1", "apiServerPort": 0}
    assert "disableDefaultCNI" not in cfg["networking"]  # kindnet enforces NetworkPolicy (kind >= 0.24)
    roles = [n["role"] for n in cfg["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker"]
    zones = [n["labels"]["topology.kubernetes.io/zone"] for n in cfg["nodes"][1:]]
    assert zones == ["zone-a", "zone-b", "zone-c"]
    assert all("image" not in n for n in cfg["nodes"])  # kind's own default node image


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


def test_kind_node_image_goes_to_every_node() -> None:
    cfg = kind_config("x", "kindest/node:v1.36.3")
    assert {n["image"] for n in cfg["nodes"]} == {"kindest/node:v1.36.3"}


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
    assert cmds.load(AGNHOST_IMAGE) == ["/t/kind", "load", "docker-image", AGNHOST_IMAGE, "--name", "tw-9"]
    assert cmds.pull("img:1") == ["/usr/bin/docker", "pull", "img:1"]
    assert cmds.image_present("img:1") == [
        "/usr/bin/docker",
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "img:1",
    ]


def test_kind_provider_needs_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(InfraError, match="needs docker on PATH"):
        KindProvider(settings(provider="kind")).commands(tmp_path)


def test_kind_provider_reads_its_images_from_settings() -> None:
    p = KindProvider(settings(kind_node_image="kindest/node:v1.36.3", agnhost_image="mirror/agnhost:2.53"))
    assert p.node_image == "kindest/node:v1.36.3"
    assert p.workloads().image == "mirror/agnhost:2.53"
    assert p.capabilities.data_plane and p.capabilities.metrics == "real" and p.capabilities.can_set_usage


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


def test_agnhost_workloads_replace_only_image_command_and_probes() -> None:
    original = platform_deployment()
    adapted = AgnhostWorkloads("mirror/agnhost:2.53").adapt(original)
    container = adapted["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "mirror/agnhost:2.53"
    assert container["command"] == ["/agnhost"]
    assert container["args"] == ["resource-consumer", "--port=8080"]
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
    args = objs[("Deployment", "metrics-server")]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--kubelet-insecure-tls" in args and "--metric-resolution=10s" in args
    assert objs[("APIService", "v1beta1.metrics.k8s.io")]["spec"]["service"] == {
        "name": "metrics-server",
        "namespace": "kube-system",
    }
    assert ("RoleBinding", "metrics-server-auth-reader") in objs


def test_probe_pod_is_restricted_and_answers_on_every_port() -> None:
    ep = Endpoint(
        "monitoring",
        "alertmanager",
        (("app.kubernetes.io/name", "alertmanager"),),
        (("", 9093, "TCP"), ("", 9094, "TCP"), ("", 9094, "UDP")),
    )
    pod = probe_pod(ep, "ct-1-monitoring", "agnhost:x")
    assert pod["metadata"]["namespace"] == "ct-1-monitoring"
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "alertmanager"
    args = [c["args"] for c in pod["spec"]["containers"]]
    assert args == [
        ["serve-hostname", "--tcp", "--http=false", "--port=9093"],
        ["serve-hostname", "--tcp", "--http=false", "--port=9094"],
        ["serve-hostname", "--udp", "--http=false", "--port=9094"],
    ]
    for c in pod["spec"]["containers"]:
        sc = c["securityContext"]
        assert (
            sc["runAsNonRoot"]
            and sc["capabilities"] == {"drop": ["ALL"]}
            and not sc["allowPrivilegeEscalation"]
        )
    assert "sysctls" not in pod["spec"]["securityContext"]
    dns = probe_pod(Endpoint("kube-system", "kube-dns", (), (("", 53, "UDP"),)), "kube-system", "agnhost:x")
    assert dns["spec"]["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
    ]
    source_only = probe_pod(Endpoint("tartware", "cleaner", (), ()), "tartware", "agnhost:x")
    assert source_only["spec"]["containers"][0]["args"] == ["pause"]


def test_connect_command_and_plan() -> None:
    src = ProbeSite("tartware", "probe-api-gateway", "serve-tcp-8080", "10.244.1.5", ours=True)
    dns = ProbeSite("kube-system", "coredns-abc", "", "10.244.0.3", ours=False)
    cmd = connect_command(
        Path("/k/kubectl"), Path("/k/cfg"), src, target_ip="fd00::5", port=53, protocol="UDP"
    )
    assert cmd == [
        "/k/kubectl",
        "--kubeconfig",
        "/k/cfg",
        "exec",
        "-n",
        "tartware",
        "probe-api-gateway",
        "-c",
        "serve-tcp-8080",
        "--",
        "/agnhost",
        "connect",
        "[fd00::5]:53",
        "--timeout=1s",
        "--protocol=udp",
    ]
    cells = [
        Flow("tartware/api-gateway", "kube-system/kube-dns", 53, "UDP"),
        Flow("kube-system/kube-dns", "tartware/api-gateway", 8080, "TCP"),
        Flow("tartware/api-gateway", "nowhere/x", 1, "TCP"),
    ]
    sites = {"tartware/api-gateway": src, "kube-system/kube-dns": dns}
    assert [c for c, _, _ in plan(cells, sites)] == cells[:1]  # never exec into pods that are not ours


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
