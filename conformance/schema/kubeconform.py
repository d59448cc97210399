"""Schema-check objects with the kubeconform binary and map results back to objects.

Each object is written as one JSON file (kubeconform reads JSON as YAML, JSON
parses faster, and one file per object maps results back exactly). Files, not
stdin: kubeconform v0.7.0's stdin reader garbles documents with -n >= 2.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .. import tools
from ..errors import InfraError
from ..inventory.build import InputFile
from ..inventory.model import K8sObject

TIMEOUT_S = 600


class Status(Enum):
    VALID = "valid"  # the object matches its schema
    INVALID = "invalid"  # the schema rejects the object
    ERROR = "error"  # kubeconform could not judge this object (e.g. unreadable schema)
    SKIPPED = "skipped"  # no schema exists for this kind/version in any location


@dataclass(frozen=True)
class FieldError:
    path: str  # JSON pointer made dotted, e.g. spec.template.spec.containers[0]
    message: str


@dataclass(frozen=True)
class SchemaResult:
    obj: K8sObject
    status: Status
    errors: tuple[FieldError, ...]
    message: str


@dataclass(frozen=True)
class SchemaLocations:
    core: Path  # converted Kubernetes schemas for one version
    crds: Path | None  # <group>/<kind>_<version>.json, when the folder exists
    crds_configured: Path | None = None  # what was asked for (named when it is missing)

    @classmethod
    def for_version(cls, schemas: Path, version: str, crds: Path | None) -> SchemaLocations:
        core = schemas / f"v{version}"
        if not (core / "_definitions.json").is_file():
            available = sorted(p.name for p in schemas.glob("v*")) if schemas.is_dir() else []
            raise InfraError(
                f"no offline schemas for Kubernetes {version} in {schemas} "
                f"(have: {', '.join(available) or 'none'}); "
                "run `make tools`, or add the version to KUBERNETES_SCHEMA_VERSIONS in tools/versions.env"
            )
        return cls(core, crds if crds is not None and crds.is_dir() else None, crds)

    def args(self) -> list[str]:
        args = ["-schema-location", f"{self.core}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"]
        if self.crds is not None:
            args += [
                "-schema-location",
                f"{self.crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            ]
        return args


_STATUS = {
    "statusValid": Status.VALID,
    "statusInvalid": Status.INVALID,
    "statusError": Status.ERROR,
    "statusSkipped": Status.SKIPPED,
    "statusEmpty": Status.SKIPPED,
}
_DETAIL = re.compile(r"- at '([^']*)': (.*?)(?=\s+- at '|$)")


def _dotted(pointer: str) -> str:
    out = ""
    for part in pointer.strip("/").split("/"):
        if not part:
            continue
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "(object)"


def _field_errors(msg: str) -> tuple[FieldError, ...]:
    details = [FieldError(_dotted(p), m.strip()) for p, m in _DETAIL.findall(msg)]
    # Drop the "validation failed" wrappers of parents when a child says why.
    specific = [d for d in details if d.message != "validation failed"]
    return tuple(specific or details)


def _command(locations: SchemaLocations, paths: Sequence[Path]) -> list[str]:
    return [
        str(tools.find("kubeconform")),
        "-strict",
        "-ignore-missing-schemas",
        "-output",
        "json",
        "-verbose",
        "-n",
        str(max(1, os.cpu_count() or 1)),
        *locations.args(),
        *map(str, paths),
    ]


def _finish(proc: subprocess.Popen[str], what: str) -> list[dict[str, object]]:
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise InfraError(f"kubeconform did not finish within {TIMEOUT_S}s on {what}") from None
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        raise InfraError(
            f"kubeconform exited {proc.returncode} without a JSON report on {what}: "
            f"{(stderr or stdout).strip()[:500]}"
        ) from None
    resources = report.get("resources") or []
    return list(resources)


def _start(cmd: list[str]) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as err:
        raise InfraError(f"cannot run {cmd[0]}: {err}") from None


def _result(obj: K8sObject, entry: dict[str, object], locations: SchemaLocations) -> SchemaResult:
    status = _STATUS.get(str(entry.get("status", "")), Status.ERROR)
    msg = " ".join(str(entry.get("msg", "")).split())
    if status is Status.SKIPPED and not msg:
        if locations.crds is not None:
            where = f" or {locations.crds}"
        elif locations.crds_configured is not None:
            where = f" (CRD schema folder {locations.crds_configured} not found: set --crd-schemas)"
        else:
            where = " (no CRD schema folder configured)"
        msg = f"no schema for {obj.api_version} {obj.kind} in {locations.core.name}{where}"
    return SchemaResult(obj, status, _field_errors(msg) if status is Status.INVALID else (), msg)


def validate(objects: Sequence[K8sObject], locations: SchemaLocations) -> list[SchemaResult]:
    """Run kubeconform -strict over objects given in memory; one result per object, in order.

    Each object becomes one JSON file (exact mapping back; JSON parses faster).
    """
    if not objects:
        return []
    with tempfile.TemporaryDirectory(prefix="conformance-schema-") as tmp:
        for i, obj in enumerate(objects):
            Path(tmp, f"{i:07d}.json").write_text(json.dumps(obj.body, separators=(",", ":"), default=str))
        entries = _finish(_start(_command(locations, [Path(tmp)])), f"{len(objects)} objects")
    results: dict[int, SchemaResult] = {}
    for entry in entries:
        index = int(Path(str(entry.get("filename", ""))).stem or -1)
        if 0 <= index < len(objects):
            results[index] = _result(objects[index], entry, locations)
    missing = [i for i in range(len(objects)) if i not in results]
    if missing:
        raise InfraError(
            f"kubeconform reported on {len(results)} of {len(objects)} objects; "
            f"none for {objects[missing[0]].ref}"
        )
    return [results[i] for i in range(len(objects))]


class SchemaCheck:
    """kubeconform over the input files themselves, running while Python parses them.

        check = SchemaCheck.start(inputs, locations)   # subprocess starts now
        ...                                             # load, evaluate rules
        results = check.finish(inputs)                  # map results back to objects

    Results map back by (file, apiVersion, kind, name). Objects that cannot be
    mapped unambiguously (the same identity twice in one file, List items) are
    validated again from memory, so every object gets exactly one result.
    """

    def __init__(self, proc: subprocess.Popen[str] | None, locations: SchemaLocations, count: int) -> None:
        self._proc, self._locations, self._count = proc, locations, count
        self._entries: list[dict[str, object]] | None = None

    @classmethod
    def start(cls, inputs: Sequence[InputFile], locations: SchemaLocations) -> SchemaCheck:
        paths = [i.disk for i in inputs]
        proc = _start(_command(locations, paths)) if paths else None
        return cls(proc, locations, len(paths))

    def finish(self, inputs: Sequence[InputFile]) -> list[SchemaResult]:
        """Results for the objects of `inputs` (any subset of the started files; callable repeatedly)."""
        if self._entries is None:
            self._entries = _finish(self._proc, f"{self._count} files") if self._proc is not None else []
        entries = self._entries
        by_key: dict[tuple[str, str, str, str], list[dict[str, object]]] = {}
        for entry in entries:
            key = (
                str(entry.get("filename")),
                str(entry.get("version")),
                str(entry.get("kind")),
                str(entry.get("name")),
            )
            by_key.setdefault(key, []).append(entry)
        results: dict[int, SchemaResult] = {}
        leftovers: list[K8sObject] = []
        for item in inputs:
            objects = [o for o in item.items if isinstance(o, K8sObject)]
            counts: dict[tuple[str, str, str], int] = {}
            for obj in objects:
                ident = (obj.api_version, obj.kind, obj.name)
                counts[ident] = counts.get(ident, 0) + 1
            for obj in objects:
                found = by_key.get((str(item.disk), obj.api_version, obj.kind, obj.name), [])
                verdicts = {(e.get("status"), e.get("msg")) for e in found}
                # Same identity twice in a file (e.g. one name in two namespaces): kubeconform
                # does not report namespaces, so only identical verdicts can be shared.
                if len(found) == counts[(obj.api_version, obj.kind, obj.name)] and len(verdicts) == 1:
                    results[id(obj)] = _result(obj, found[0], self._locations)
                else:
                    leftovers.append(obj)
        for result in validate(leftovers, self._locations):
            results[id(result.obj)] = result
        return [results[id(o)] for item in inputs for o in item.items if isinstance(o, K8sObject)]
