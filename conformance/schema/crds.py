"""CustomResourceDefinitions as kubeconform JSON schemas, and the catalogue of generated CRDs.

Two kinds of CRDs feed the schema check and the behaviour cluster:
- the catalogue `make tools` generates from pinned upstream sources (tools/build-crds.sh;
  one folder per source under .tools/crds/, holding `crds/*.yaml`, `schemas/` and
  `source.json`);
- CRDs found in the input itself (an install.yaml with its CRDs), which win over the
  catalogue for the kinds they define.

A CRD version's openAPIV3Schema becomes `<group>/<kind>_<version>.json` (the layout
kubeconform reads), made strict the way the API server is: objects that neither keep
unknown fields nor declare additionalProperties reject unknown fields.

    schemas = json_schemas(crd)      # {"monitoring.coreos.com/servicemonitor_v1.json": {...}}
    write_schemas([crd], Path("out"))
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

# Keys that document or that only the API server evaluates (CEL, list/map semantics):
# kubeconform ignores them, so they are left out to keep the files small.
_DROP = frozenset(
    {
        "description",
        "example",
        "externalDocs",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    }
)
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
# ObjectMeta's fields, implicit in every embedded resource (x-kubernetes-embedded-resource).
_EMBEDDED = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def is_crd(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("kind") == "CustomResourceDefinition"
        and str(body.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    )


def identity(crd: Mapping[str, Any]) -> tuple[str, str]:
    """(group, kind) a CRD defines, e.g. ("monitoring.coreos.com", "ServiceMonitor")."""
    return str(_get(crd, "spec", "group") or ""), str(_get(crd, "spec", "names", "kind") or "")


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def served_versions(crd: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(version, openAPIV3Schema) of every served version (apiextensions v1 and v1beta1 shapes)."""
    shared = _get(crd, "spec", "validation", "openAPIV3Schema")  # v1beta1: one schema for all versions
    single = _get(crd, "spec", "version")  # v1beta1's one-version form
    versions = _get(crd, "spec", "versions") or ([{"name": single}] if single else [])
    for version in versions if isinstance(versions, list) else []:
        if not isinstance(version, dict) or version.get("served", True) is False:
            continue
        schema = _get(version, "schema", "openAPIV3Schema") or shared
        if isinstance(schema, dict):
            yield str(version.get("name", "")), schema


def json_schema(node: Any, *, in_junctor: bool = False) -> Any:
    """A structural CRD schema node as JSON schema for kubeconform (see module docstring).

    - nullable: true -> the type also admits null (and so does an enum);
    - x-kubernetes-int-or-string -> integer or string (when no anyOf says so already);
    - x-kubernetes-embedded-resource -> apiVersion, kind and metadata are implicit fields;
    - x-kubernetes-preserve-unknown-fields -> unknown fields stay allowed at that node;
    - inside allOf/anyOf/oneOf/not, nothing is made strict: a branch lists only some fields.
    """
    if isinstance(node, list):
        return [json_schema(n, in_junctor=in_junctor) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema(sub, in_junctor=in_junctor) for name, sub in value.items()}
        elif key in _JUNCTORS:
            out[key] = json_schema(value, in_junctor=True)
        elif key in ("items", "additionalProperties"):
            out[key] = json_schema(value, in_junctor=in_junctor)
        elif key in ("default", "enum", "required"):
            out[key] = value  # data, not schema
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue  # handled below
        else:
            out[key] = json_schema(value, in_junctor=in_junctor)
    if node.get("x-kubernetes-int-or-string") and not any(k in out for k in ("anyOf", "oneOf")):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-embedded-resource"):
        out["properties"] = {**_EMBEDDED, **(out.get("properties") or {})}
        out.setdefault("type", "object")
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    strict = (
        not in_junctor
        and out.get("type") in ("object", ["object", "null"])
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    )
    if strict:
        out["additionalProperties"] = False
    return out


def root_schema(openapi: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a whole custom resource: apiVersion, kind and metadata are always allowed.

    metadata stays an open object: the API server checks it as ObjectMeta itself.
    """
    schema: dict[str, Any] = json_schema(dict(openapi))
    schema["type"] = "object"
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props["metadata"] = {"type": "object"}
    return schema


def schema_name(group: str, kind: str, version: str) -> str:
    """`<group>/<kind>_<version>.json` as kubeconform's {{ .Group }}/{{ .ResourceKind }} spells it."""
    return f"{group}/{kind.lower()}_{version}.json"


def json_schemas(crd: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every served version of a CRD, by relative file name."""
    group, kind = identity(crd)
    return {schema_name(group, kind, v): root_schema(s) for v, s in served_versions(crd) if v}


def write_schemas(crds: Iterable[Mapping[str, Any]], root: Path) -> int:
    """Write the schemas of `crds` under `root`; returns how many files were written."""
    count = 0
    for crd in crds:
        for name, schema in json_schemas(crd).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, separators=(",", ":")))
            count += 1
    return count


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that reads a bare `=` as the string it is (YAML 1.1's value tag),
    as in prometheus-operator's CRDs (an enum of relabelling actions)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def read_crds(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The CRDs in YAML or JSON files (other documents are ignored)."""
    out = []
    for path in paths:
        text = path.read_text()
        docs = [json.loads(text)] if path.suffix == ".json" else yaml.load_all(text, Loader=_Loader)
        out += [doc for doc in docs if is_crd(doc)]
    return out


@dataclass(frozen=True)
class CrdSource:
    """One generated source: where its CRDs came from and where they are."""

    name: str  # e.g. prometheus-operator
    module: str  # e.g. github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
    version: str
    generator: str  # e.g. controller-gen v0.23.0
    path: Path  # .tools/crds/<name>

    @property
    def schemas(self) -> Path:
        return self.path / "schemas"

    def describe(self) -> str:
        return f"{self.module}@{self.version} ({self.generator})"


@dataclass(frozen=True)
class Catalogue:
    """The CRDs `make tools` generated, one folder per source (empty when none were built)."""

    root: Path
    sources: tuple[CrdSource, ...] = field(default_factory=tuple)

    @classmethod
    def load(cls, root: Path) -> Catalogue:
        sources = []
        for meta in sorted(root.glob("*/source.json")) if root.is_dir() else []:
            data = json.loads(meta.read_text())
            sources.append(
                CrdSource(
                    meta.parent.name,
                    str(data["module"]),
                    str(data["version"]),
                    str(data["generator"]),
                    meta.parent,
                )
            )
        return cls(root, tuple(sources))

    @cached_property
    def _crds(self) -> dict[tuple[str, str], tuple[dict[str, Any], CrdSource]]:
        found: dict[tuple[str, str], tuple[dict[str, Any], CrdSource]] = {}
        for source in self.sources:
            for crd in read_crds(sorted((source.path / "crds").glob("*.json"))):
                found.setdefault(identity(crd), (crd, source))
        return found

    def crd_for(self, group: str, kind: str) -> tuple[dict[str, Any], CrdSource] | None:
        """The generated CRD of a kind, with its source; None when no source defines it."""
        return self._crds.get((group, kind))


def _replace_dir(out: Path, fill: Any) -> None:
    """Fill a fresh temp folder beside `out`, then swap it in (never a half-written `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    tmp.chmod(0o755)
    try:
        fill(tmp)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_crds(crds: list[dict[str, Any]], folder: Path) -> None:
    for crd in crds:
        name = str((crd.get("metadata") or {}).get("name") or "/".join(identity(crd)))
        (folder / f"{name}.json").write_text(json.dumps(crd, separators=(",", ":")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert CRD YAML files into kubeconform JSON schemas.")
    parser.add_argument("--out", type=Path, required=True, help="schema folder to create (replaced)")
    parser.add_argument("--crds-out", type=Path, help="also write each CRD as <name>.json here")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    crds = read_crds(args.files)
    if not crds:
        print(f"crds: no CustomResourceDefinition in {len(args.files)} file(s)", file=sys.stderr)
        return 1
    counts = []
    _replace_dir(args.out, lambda tmp: counts.append(write_schemas(crds, tmp)))
    if args.crds_out is not None:
        _replace_dir(args.crds_out, lambda tmp: _write_crds(crds, tmp))
    print(f"crds: {len(crds)} CRDs -> {counts[0]} schemas", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
