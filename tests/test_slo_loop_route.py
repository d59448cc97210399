"""The scaling loop's front door comes from the render (conformance/slo/loop.py), never from names:
the Ingress -> Service -> Deployment an HPA scales, and where the platform's NetworkPolicies let
outside clients in. A render without such an Ingress has no front door: broken, named."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml

from conformance.cluster.base import RUN_LABEL
from conformance.cluster.kube import Kube
from conformance.errors import InfraError
from conformance.inventory import Inventory, K8sObject
from conformance.policy import load_policy
from conformance.settings import Settings
from conformance.slo.evaluate import ScenarioRun
from conformance.slo.live_alerts import LiveAlerts
from conformance.slo.loop import (
    ImageNotRunnable,
    Placement,
    PodScrape,
    _image_errors,
    gateway_body,
    gateway_route,
)
from conformance.static import render_inventory
from conformance.suites.slo.test_slo_scaling import _alerts


@pytest.fixture(scope="module")
def platform() -> Inventory:
    settings = Settings.from_env()
    return render_inventory(settings, load_policy(settings.policy), "ci")


def test_the_platforms_front_door_is_found_from_its_objects(platform: Inventory) -> None:
    route = gateway_route(platform, "tartware")
    assert (route.ingress.name, route.service.name, route.deployment.name, route.hpa.name) == (
        "api-gateway",
        "api-gateway",
        "api-gateway",
        "api-gateway",
    )
    assert route.service_port.get("port") == 80
    # The peer the gateway's policy admits, completed by the policy admitting the outside.
    assert route.entry_namespace == "ingress-nginx"
    assert dict(route.entry_labels) == {
        "app.kubernetes.io/name": "ingress-nginx",
        "app.kubernetes.io/component": "controller",
    }
    assert route.entry_port == 80


def test_a_render_without_an_ingress_to_a_scaled_workload_has_no_front_door(platform: Inventory) -> None:
    without = Inventory("no ingress", [o for o in platform.objects if o.kind != "Ingress"])
    with pytest.raises(InfraError, match="no Ingress of the render routes to a Deployment an HPA scales"):
        gateway_route(without, "tartware")


def test_on_a_shared_cluster_the_loop_lives_in_the_runs_prefixed_namespaces(platform: Inventory) -> None:
    """`existing`: the same front door under prefixed names (NetworkPolicy namespace selectors
    follow, so the platform's own policies still decide the path), namespaces labelled with the
    run (the provider deletes them at stop), a PriorityClass the cluster lacks dropped and said."""
    placement = Placement("ct-ab12cd-", "ab12cd")
    route = gateway_route(placement.inventory(platform), "ct-ab12cd-tartware")
    assert (route.deployment.namespace, route.entry_namespace) == (
        "ct-ab12cd-tartware",
        "ct-ab12cd-ingress-nginx",
    )
    assert route.entry_port == 80 and "app.kubernetes.io/name" in route.entry_labels
    namespace = placement.namespace(route.entry_namespace, None)
    assert namespace["metadata"]["labels"][RUN_LABEL] == "ab12cd"
    assert namespace["metadata"]["labels"]["kubernetes.io/metadata.name"] == "ct-ab12cd-ingress-nginx"
    notes: list[str] = []
    wanted = route.deployment.spec["template"]["spec"].get("priorityClassName")
    assert wanted, "the platform's gateway names a PriorityClass"
    body = gateway_body(route, "target:v1", notes, None, frozenset())
    assert "priorityClassName" not in body["spec"]["template"]["spec"]
    assert any(wanted in n and "dropped" in n for n in notes), notes
    kept = gateway_body(route, "target:v1", [], None, frozenset({wanted}))
    assert kept["spec"]["template"]["spec"]["priorityClassName"] == wanted
    owned = Placement()
    assert owned.owned and owned.inventory(platform).objects[0].body == platform.objects[0].body


class _Pods:
    """The one Kube call PodScrape.write makes, answered from a list (unit test of the glue)."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.asked: list[tuple[str, str, str, dict[str, str]]] = []

    def list(
        self, api_version: str, kind: str, namespace: str = "", labels: Any = None
    ) -> list[dict[str, Any]]:
        self.asked.append((api_version, kind, namespace, dict(labels or {})))
        return self.pods


def test_prometheus_scrapes_the_running_gateway_pods_through_the_api_server(
    platform: Inventory, tmp_path: Path
) -> None:
    """Targets from the pod list: only Running pods, each through the API server's pod proxy on the
    serving port, labelled with the platform's namespace (the run's prefix stripped: its rules
    match namespace="tartware"); the kubeconfig's credentials go to files Prometheus reads."""
    placement = Placement("ct-ab12cd-", "ab12cd")
    route = gateway_route(placement.inventory(platform), "ct-ab12cd-tartware")
    blob = base64.b64encode(b"pem").decode()
    kubeconfig = tmp_path / "kubeconfig"
    cluster = {"server": "https://127.0.0.1:40123", "certificate-authority-data": blob}
    user = {"client-certificate-data": blob, "client-key-data": blob}
    kubeconfig.write_text(yaml.safe_dump({"clusters": [{"cluster": cluster}], "users": [{"user": user}]}))
    scrape = PodScrape.through_api_server(kubeconfig, route, tmp_path / "sd", placement.prefix)
    assert scrape.config["scheme"] == "https"
    assert Path(scrape.config["tls_config"]["key_file"]).read_bytes() == b"pem"
    assert scrape.config["file_sd_configs"] == [{"files": [str(scrape.targets)], "refresh_interval": "1s"}]
    pods = [
        {"metadata": {"name": "api-gateway-a"}, "status": {"phase": "Running"}},
        {"metadata": {"name": "api-gateway-b"}, "status": {"phase": "Pending"}},
    ]
    pod_list = _Pods(pods)
    kube = cast("Kube", pod_list)
    assert scrape.write(kube, route) == 1
    assert pod_list.asked == [("v1", "Pod", "ct-ab12cd-tartware", dict(route.service.spec["selector"]))]
    (group,) = json.loads(scrape.targets.read_text())
    assert group["targets"] == ["127.0.0.1:40123"]
    assert group["labels"]["__metrics_path__"] == (
        f"/api/v1/namespaces/ct-ab12cd-tartware/pods/api-gateway-a:{scrape.port}/proxy/metrics"
    )
    assert (group["labels"]["namespace"], group["labels"]["pod"]) == ("tartware", "api-gateway-a")
    pod_list.pods = []
    assert scrape.write(kube, route) == 0 and json.loads(scrape.targets.read_text()) == []
    broken = tmp_path / "no-key"
    del user["client-key-data"]
    broken.write_text(yaml.safe_dump({"clusters": [{"cluster": cluster}], "users": [{"user": user}]}))
    with pytest.raises(InfraError, match="no key_file data"):
        PodScrape.through_api_server(broken, route, tmp_path / "sd2")


def _with_controller_ingress(platform: Inventory, rules: list[dict[str, Any]]) -> Inventory:
    """The platform with the ingress controller's policy admitting as `rules` say."""
    objects = []
    for obj in platform.objects:
        if obj.kind == "NetworkPolicy" and obj.name == "ingress-nginx-controller":
            body = copy.deepcopy(obj.body)
            body["spec"]["ingress"] = rules
            objects.append(K8sObject(body, obj.source, obj.default_namespace))
        else:
            objects.append(obj)
    return Inventory("edited", objects)


ANY_V4 = {"ipBlock": {"cidr": "0.0.0.0/0"}}


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"from": [{"ipBlock": {"cidr": "::/0"}}], "ports": [{"port": 8080}]}], (8080, "http")),
        ([{"ports": [{"port": 443, "protocol": "TCP"}]}], (443, "http")),  # no `from`: every source
        ([{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": "web"}]}], (80, "web")),
        ([{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}], (80, "http")),  # every port
        (
            [
                {
                    "from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 81}],
                }
            ],
            (81, "http"),
        ),
    ],
    ids=["ipv6-anywhere", "no-from", "named-port", "no-ports", "udp-skipped"],
)
def test_the_stand_in_follows_how_the_controllers_policy_admits_outside_clients(
    platform: Inventory, rules: list[dict[str, Any]], expected: tuple[int, str]
) -> None:
    route = gateway_route(_with_controller_ingress(platform, rules), "tartware")
    assert (route.entry_port, route.entry_port_name) == expected
    assert route.entry_labels.get("app.kubernetes.io/component") == "controller"


def test_a_controller_admitting_only_an_inner_range_gives_no_outside_labels(platform: Inventory) -> None:
    """Only 10.20.0.0/16 admitted: no rule lets outside clients in, so nothing is taken from it."""
    rules = [{"from": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 8443}]}]
    route = gateway_route(_with_controller_ingress(platform, rules), "tartware")
    assert "app.kubernetes.io/component" not in route.entry_labels
    assert (route.entry_port, route.entry_port_name) == (80, "http")


def test_a_node_that_cannot_get_an_image_ends_the_wait_at_once() -> None:
    """ErrImageNeverPull on a gateway pod: ImageNotRunnable naming the image (BROKEN on kind, a
    skip with the reason on existing), instead of waiting out the readiness budget."""
    waiting = {"reason": "ErrImageNeverPull", "message": "image not present with pull policy Never"}
    status = {"containerStatuses": [{"image": "target:v1", "state": {"waiting": waiting}}]}
    kube = cast("Kube", _Pods([{"metadata": {"name": "api-gateway-a"}, "status": status}]))
    with pytest.raises(ImageNotRunnable, match="cannot run target:v1: ErrImageNeverPull"):
        _image_errors(kube, "tartware", {"app": "x"})
    creating = {
        "containerStatuses": [{"image": "target:v1", "state": {"waiting": {"reason": "ContainerCreating"}}}]
    }
    _image_errors(cast("Kube", _Pods([{"metadata": {"name": "a"}, "status": creating}])), "tartware", {})


class _Seen:
    """What LiveAlerts reports of a ramp (unit test of the alerts verdict's glue)."""

    def __init__(self, counted: float, active: dict[str, set[str]]) -> None:
        self.counted, self.active = counted, active

    def requests_between(self, start: float, end: float) -> float:
        return self.counted

    def active_between(self, start: float, end: float) -> dict[str, set[str]]:
        return self.active


def test_the_alerts_verdict_needs_prometheus_to_have_seen_the_run() -> None:
    """Under half of k6's requests counted: broken (a quiet check over a run Prometheus did not see
    proves nothing); seen and quiet: no alert; seen with an alert pending: named."""
    run = cast("ScenarioRun", SimpleNamespace(summary=SimpleNamespace(value=lambda metric, stat: 1000.0)))
    with pytest.raises(InfraError, match="Prometheus counted 400 of the 1000 requests"):
        _alerts(cast("LiveAlerts", _Seen(400, {})), run, 0.0, "")
    quiet = _alerts(cast("LiveAlerts", _Seen(990, {})), run, 0.0, "")
    assert quiet.active == [] and quiet.text.startswith("quiet (Prometheus counted 990 of 1000")
    firing = _alerts(cast("LiveAlerts", _Seen(990, {"TartwareHighLatencyP95": {"pending"}})), run, 0.0, "")
    assert firing.active == ["TartwareHighLatencyP95 (pending)"]
    assert _alerts(None, run, 0.0, "no metrics declared").text == "not evaluated: no metrics declared"
