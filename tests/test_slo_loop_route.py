"""The scaling loop's front door comes from the render (conformance/slo/loop.py), never from names:
the Ingress -> Service -> Deployment an HPA scales, and where the platform's NetworkPolicies let
outside clients in. A render without such an Ingress has no front door: broken, named."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from conformance.cluster.base import RUN_LABEL
from conformance.errors import InfraError
from conformance.inventory import Inventory, K8sObject
from conformance.policy import load_policy
from conformance.settings import Settings
from conformance.slo.loop import Placement, Route, gateway_body, gateway_route, pod_scrape
from conformance.static import render_inventory


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
    # The platform's rules match namespace="tartware": the scrape strips the prefix again.
    scrape = pod_scrape_relabel(route, placement.prefix)
    assert re.fullmatch(scrape["regex"], "ct-ab12cd-tartware").group(1) == "tartware"  # type: ignore[union-attr]
    owned = Placement()
    assert owned.owned and owned.inventory(platform).objects[0].body == platform.objects[0].body


def pod_scrape_relabel(route: Route, prefix: str) -> dict[str, str]:
    """The relabel rule that writes the `namespace` label (kubeconfig credentials are not needed)."""
    import base64
    import tempfile
    from pathlib import Path

    import yaml

    blob = base64.b64encode(b"x").decode()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "clusters": [
                        {"cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": blob}}
                    ],
                    "users": [{"user": {"client-certificate-data": blob, "client-key-data": blob}}],
                }
            )
        )
        config = pod_scrape(kubeconfig, route, Path(tmp) / "tls", prefix)
    return next(r for r in config["relabel_configs"] if r.get("target_label") == "namespace")


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
