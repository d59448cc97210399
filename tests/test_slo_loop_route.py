"""The scaling loop's front door comes from the render (conformance/slo/loop.py), never from names:
the Ingress -> Service -> Deployment an HPA scales, and where the platform's NetworkPolicies let
outside clients in. A render without such an Ingress has no front door: broken, named."""

from __future__ import annotations

import pytest

from conformance.errors import InfraError
from conformance.inventory import Inventory
from conformance.policy import load_policy
from conformance.settings import Settings
from conformance.slo.loop import gateway_route
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
