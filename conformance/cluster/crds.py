"""CustomResourceDefinitions generated from offline JSON schemas, so custom resources get real
API validation (structural schema, required fields, enums, patterns, CEL rules, unknown fields).

The schema folder is laid out ``<group>/<kind>_<version>.json`` (settings.crd_schemas).
A schema there is the openAPIV3Schema of a real CRD, extracted; turning it back
into a CRD needs the names (derived from the kind as the API server would) and
the removal of what apiextensions.k8s.io/v1 rejects in a structural schema.

    crd = build_crd("monitoring.coreos.com", "ServiceMonitor", {"v1": schema}, namespaced=True)
    crd["metadata"]["name"]   # "servicemonitors.monitoring.coreos.com"
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Documentation only, or JSON-schema keywords apiextensions does not accept.
_DROP = frozenset(
    {
        "description",
        "$schema",
        "$id",
        "id",
        "example",
        "examples",
        "title",
        "readOnly",
        "writeOnly",
        "deprecated",
        "definitions",
        "$defs",
        "externalDocs",
        "const",
    }
)
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")


def plural_of(kind: str) -> str:
    """The resource name the API server guesses for a kind (ServiceMonitor -> servicemonitors)."""
    lower = kind.lower()
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def schema_path(root: Path, group: str, kind: str, version: str) -> Path:
    """<root>/<group>/<kind>_<version>.json, e.g. monitoring.coreos.com/servicemonitor_v1.json."""
    return root / group / f"{kind.lower()}_{version}.json"


def sanitize(node: Any, *, in_junctor: bool = False) -> Any:
    """A copy of a JSON schema that apiextensions.k8s.io/v1 accepts as structural.

    - documentation keys go (they cost etcd space and OpenAPI publishing time);
    - `$ref` is not allowed: the node becomes x-kubernetes-preserve-unknown-fields;
    - `additionalProperties: false` goes (strictness comes from fieldValidation=Strict
      and pruning instead); additionalProperties next to properties goes too;
    - nodes without a type keep unknown fields (structural schemas need a type);
    - inside allOf/anyOf/oneOf/not only value validations may remain.
    """
    if isinstance(node, list):
        return [sanitize(n, in_junctor=in_junctor) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {} if in_junctor else {"x-kubernetes-preserve-unknown-fields": True}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: sanitize(sub) for name, sub in value.items()}
        elif key == "additionalProperties":
            if isinstance(value, dict) and "properties" not in node:
                out[key] = sanitize(value)
        elif key == "items":
            out[key] = sanitize(value[0] if isinstance(value, list) and value else value)
        elif key in _JUNCTORS:
            out[key] = sanitize(value, in_junctor=True)
        elif key in ("default", "enum", "required", "x-kubernetes-validations", "x-kubernetes-list-map-keys"):
            out[key] = value  # data, not schema: keep as is
        else:
            out[key] = sanitize(value, in_junctor=in_junctor)
    if isinstance(out.get("type"), list):  # ["string", "null"] -> string + nullable
        types = [t for t in out["type"] if t != "null"]
        out["nullable"] = len(types) != len(out["type"]) or out.get("nullable", False)
        out["type"] = types[0] if len(types) == 1 else None
        if out["type"] is None:
            del out["type"]
            out["x-kubernetes-preserve-unknown-fields"] = True
    if in_junctor:
        for key in (
            "type",
            "description",
            "default",
            "nullable",
            "additionalProperties",
            "x-kubernetes-preserve-unknown-fields",
            "x-kubernetes-int-or-string",
            "x-kubernetes-embedded-resource",
            "x-kubernetes-list-type",
            "x-kubernetes-list-map-keys",
            "x-kubernetes-map-type",
            "x-kubernetes-validations",
        ):
            out.pop(key, None)
        return out
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    elif "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        if "properties" in out:
            out["type"] = "object"
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _root_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = sanitize(dict(schema))
    root["type"] = "object"
    props = root.setdefault("properties", {})
    # apiextensions owns metadata, apiVersion and kind: only these minimal forms are allowed.
    props["metadata"] = {"type": "object"}
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    root.pop("x-kubernetes-preserve-unknown-fields", None)
    root.pop("additionalProperties", None)
    return root


def strip_validations(node: Any) -> Any:
    """The same schema without CEL rules (fallback when a rule does not compile here)."""
    if isinstance(node, list):
        return [strip_validations(n) for n in node]
    if isinstance(node, dict):
        return {k: strip_validations(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    return node


def build_crd(
    group: str,
    kind: str,
    schemas: Mapping[str, Mapping[str, Any]],
    *,
    namespaced: bool,
    storage: str | None = None,
    cel: bool = True,
) -> dict[str, Any]:
    """One CRD serving every version in `schemas` (storage: `storage`, else the first)."""
    plural = plural_of(kind)
    versions = sorted(schemas)
    store = storage if storage in schemas else versions[0]
    out_versions = []
    for version in versions:
        schema = _root_schema(schemas[version])
        if not cel:
            schema = strip_validations(schema)
        out_versions.append(
            {
                "name": version,
                "served": True,
                "storage": version == store,
                "schema": {"openAPIV3Schema": schema},
            }
        )
    metadata: dict[str, Any] = {
        "name": f"{plural}.{group}",
        "labels": {"app.kubernetes.io/managed-by": "tartware-conformance"},
    }
    if group.endswith((".k8s.io", ".kubernetes.io")) or group in ("k8s.io", "kubernetes.io"):
        # Protected groups need this annotation; "unapproved, ..." is the accepted
        # form for CRDs that are not the upstream-approved ones.
        metadata["annotations"] = {
            "api-approved.kubernetes.io": "unapproved, generated from an offline schema"
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": group,
            "scope": "Namespaced" if namespaced else "Cluster",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "versions": out_versions,
        },
    }


def load_schemas(root: Path, group: str, kind: str, versions: list[str]) -> dict[str, dict[str, Any]]:
    """Schemas found for the wanted versions ({} when the folder has none)."""
    found = {}
    for version in versions:
        path = schema_path(root, group, kind, version)
        if path.is_file():
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                found[version] = data
    return found
