"""CRDs generated from offline JSON schemas: names, and what a structural schema may not contain.

(The behaviour tier applies them to a real API server; these pin the conversion rules.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.cluster.crds import build_crd, load_schemas, plural_of, sanitize, strip_validations

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "crds"


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("ServiceMonitor", "servicemonitors"),
        ("NetworkPolicy", "networkpolicies"),
        ("Ingress", "ingresses"),
        ("Gateway", "gateways"),
        ("Proxy", "proxies"),
        ("Mesh", "meshes"),
        ("Box", "boxes"),
        ("Key", "keys"),
    ],
)
def test_plural_as_the_api_server_guesses(kind: str, plural: str) -> None:
    assert plural_of(kind) == plural


def test_sanitize_removes_what_apiextensions_rejects() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "description": "docs",
        "additionalProperties": False,
        "properties": {
            "ref": {"$ref": "#/definitions/x"},
            "untyped": {"description": "anything"},
            "maybe": {"type": ["string", "null"]},
            "port": {
                "x-kubernetes-int-or-string": True,
                "type": "string",
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string", "description": "v"}},
            "rules": {
                "type": "array",
                "items": {"type": "string"},
                "x-kubernetes-validations": [{"rule": "self.size() > 0", "message": "m"}],
            },
        },
    }
    out = sanitize(schema)
    props = out["properties"]
    assert "description" not in out and "additionalProperties" not in out
    assert props["ref"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["untyped"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["maybe"] == {"type": "string", "nullable": True}
    assert props["port"] == {"x-kubernetes-int-or-string": True, "anyOf": [{}, {}]}
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    # CEL rules are data: kept verbatim, not treated as schemas.
    assert props["rules"]["x-kubernetes-validations"] == [{"rule": "self.size() > 0", "message": "m"}]
    assert "x-kubernetes-validations" not in str(strip_validations(out))
    assert schema["properties"]["ref"] == {"$ref": "#/definitions/x"}  # input untouched


def test_build_crd_names_scope_and_versions() -> None:
    crd = build_crd(
        "monitoring.coreos.com",
        "ServiceMonitor",
        {"v1": {"type": "object", "properties": {}}},
        namespaced=True,
    )
    assert crd["metadata"]["name"] == "servicemonitors.monitoring.coreos.com"
    assert "annotations" not in crd["metadata"]
    spec = crd["spec"]
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "ServiceMonitor",
        "listKind": "ServiceMonitorList",
        "plural": "servicemonitors",
        "singular": "servicemonitor",
    }
    root = spec["versions"][0]["schema"]["openAPIV3Schema"]
    assert root["properties"]["metadata"] == {"type": "object"}
    assert spec["versions"][0]["storage"] and spec["versions"][0]["served"]


def test_protected_groups_get_the_approval_annotation() -> None:
    crd = build_crd(
        "autoscaling.k8s.io", "VerticalPodAutoscaler", {"v1": {"type": "object"}}, namespaced=True
    )
    assert crd["metadata"]["annotations"]["api-approved.kubernetes.io"].startswith("unapproved")
    cluster = build_crd("cert-manager.io", "ClusterIssuer", {"v1": {"type": "object"}}, namespaced=False)
    assert cluster["spec"]["scope"] == "Cluster"


@pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"no offline CRD schemas at {SCHEMAS}")
def test_every_platform_schema_converts() -> None:
    for group, kind, version in [
        ("monitoring.coreos.com", "PrometheusRule", "v1"),
        ("jaegertracing.io", "Jaeger", "v1"),
        ("opentelemetry.io", "OpenTelemetryCollector", "v1beta1"),
    ]:
        schemas = load_schemas(SCHEMAS, group, kind, [version])
        assert set(schemas) == {version}
        crd = build_crd(group, kind, schemas, namespaced=True)
        text = str(crd)
        assert "'description'" not in text and "$ref" not in text
    assert load_schemas(SCHEMAS, "rke-machine-config.cattle.io", "VmwarevsphereConfig", ["v1"]) == {}
