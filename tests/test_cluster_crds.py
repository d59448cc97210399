"""Which CRD a cluster the suite owns gets for a kind, and in what form.

(The behaviour tier applies them to a real API server: tests/test_behaviour_negative.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.cluster.base import MANAGED_BY
from conformance.cluster.crd_install import choose, for_cluster
from conformance.schema.crds import Catalogue
from conformance.settings import Settings

CATALOGUE = Catalogue.load(Settings.from_env({}).schemas / "crds")


def _crd(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com", "resourceVersion": "7", "uid": "u"},
        "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, **spec},
        "status": {"acceptedNames": {}},
    }


def test_for_cluster_drops_server_fields_and_the_conversion_webhook() -> None:
    webhook = {"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "op"}}}}
    out = for_cluster(_crd(conversion=webhook))
    assert out["spec"]["conversion"] == {"strategy": "None"}
    assert "status" not in out
    assert set(out["metadata"]) == {"name", "labels"}
    assert out["metadata"]["labels"] == MANAGED_BY


def test_for_cluster_keeps_annotations_the_server_needs() -> None:
    crd = _crd()
    crd["metadata"]["annotations"] = {"api-approved.kubernetes.io": "https://example.com/pr/1"}
    assert for_cluster(crd)["metadata"]["annotations"] == crd["metadata"]["annotations"]


def test_the_input_crd_wins_over_the_catalogue() -> None:
    mine = _crd()
    mine["spec"]["group"] = "monitoring.coreos.com"
    mine["spec"]["names"]["kind"] = "ServiceMonitor"
    inputs = {("monitoring.coreos.com", "ServiceMonitor"): (mine, "install.yaml#0")}
    choice = choose("monitoring.coreos.com", "ServiceMonitor", inputs, CATALOGUE)
    assert choice is not None and choice.from_input
    assert choice.origin == "the input (install.yaml#0)"
    assert choice.crd["metadata"]["name"] == "widgets.example.com"


def test_the_catalogue_names_its_source() -> None:
    choice = choose("monitoring.coreos.com", "ServiceMonitor", {}, CATALOGUE)
    assert choice is not None and not choice.from_input
    assert "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@v" in choice.origin
    assert choice.crd["metadata"]["name"] == "servicemonitors.monitoring.coreos.com"


def test_no_crd_anywhere_is_none() -> None:
    assert choose("example.com", "Gadget", {}, CATALOGUE) is None
    assert choose("monitoring.coreos.com", "ServiceMonitor", {}, Catalogue(Path("/nonexistent"))) is None
