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
    crds: Path | None  # <group>/<kind>_<version>.json

    @classmethod
    def for_version(cls, schemas: Path, version: str, crds: Path | None) -> SchemaLocations:
        core = schemas / f"v{version}"
        if not (core / "_definitions.json").is_file():
            available = sorted(p.name for p in schemas.glob("v*")) if schemas.is_dir() else []
            raise InfraError(
                f"no offline schemas for Kubernetes {version} in {schemas} (have: {', '.join(available) or 'none'}); "
                "run `make tools`, or add the version to KUBERNETES_SCHEMA_VERSIONS in tools/versions.env"
            )
        return cls(core, crds if crds is not None and crds.is_dir() else None)

    def args(self) -> list[str]:
        args = ["-schema-location", f"{self.core}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"]
        if self.crds is not None:
            args += ["-schema-location",
                     f"{self.crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"]  # fmt: skip
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


def validate(objects: Sequence[K8sObject], locations: SchemaLocations) -> list[SchemaResult]:
    """Run kubeconform -strict over the objects; one result per object, in order."""
    if not objects:
        return []
    binary = tools.find("kubeconform")
    with tempfile.TemporaryDirectory(prefix="conformance-schema-") as tmp:
        for i, obj in enumerate(objects):
            Path(tmp, f"{i:07d}.json").write_text(json.dumps(obj.body, separators=(",", ":"), default=str))
        cmd = [str(binary), "-strict", "-ignore-missing-schemas", "-output", "json", "-verbose",
               "-n", str(max(1, os.cpu_count() or 1)), *locations.args(), tmp]  # fmt: skip
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise InfraError(f"kubeconform did not finish within {TIMEOUT_S}s on {len(objects)} objects") from None
        except OSError as err:
            raise InfraError(f"cannot run {binary}: {err}") from None
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise InfraError(f"kubeconform exited {out.returncode} without a JSON report: "
                         f"{(out.stderr or out.stdout).strip()[:500]}") from None  # fmt: skip
    results: dict[int, SchemaResult] = {}
    for entry in report.get("resources") or []:
        index = int(Path(entry.get("filename", "")).stem or -1)
        status = _STATUS.get(entry.get("status", ""), Status.ERROR)
        msg = " ".join(str(entry.get("msg", "")).split())
        if status is Status.SKIPPED and not msg:
            msg = f"no schema for {objects[index].api_version} {objects[index].kind} in {locations.core.name}" + (
                f" or {locations.crds}" if locations.crds else " (no CRD schema folder configured)")
        errors = _field_errors(msg) if status is Status.INVALID else ()
        results[index] = SchemaResult(objects[index], status, errors, msg)
    missing = [i for i in range(len(objects)) if i not in results]
    if missing:
        raise InfraError(f"kubeconform reported on {len(results)} of {len(objects)} objects "
                         f"(exit {out.returncode}): {out.stderr.strip()[:300]}")  # fmt: skip
    return [results[i] for i in range(len(objects))]
