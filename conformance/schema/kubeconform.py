"""Schema-check objects with the kubeconform binary and map results back to objects.

Each object is written as one JSON file (kubeconform reads JSON as YAML, JSON
parses faster, and one file per object maps results back exactly). Files, not
stdin: kubeconform v0.7.0's stdin reader garbles documents with -n >= 2.

kubeconform judges the objects as the API server reads them, not as the YAML spells them:
  * a file whose YAML merges mappings (`<<: *base`) is judged from its loaded objects (merges
    resolved, as kubectl sends them): kubeconform -strict decodes files with go-yaml's strict
    mode, which refuses a key the merge already set ("key already set in map");
  * a null int-or-string (`port: null`, `maxSurge: null`) is unset for the API server, but matches
    both arms of the schema's oneOf ("oneOf failed, subschemas 0, 1 matched"): such an object is
    judged again without those nulls (rules judge the null itself, e.g. netpol-port-null).
Findings keep the objects' own file:line either way.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .. import tools
from ..errors import InfraError
from ..inventory.build import InputFile
from ..inventory.model import K8sObject
from .crds import identity, is_crd, write_schemas
from .locations import SchemaLocations
from .result_cache import ResultCache

TIMEOUT_S = 600


class Status(Enum):
    VALID = "valid"  # the object matches its schema
    INVALID = "invalid"  # the schema rejects the object
    ERROR = "error"  # kubeconform could not judge this object (e.g. unreadable schema)
    SKIPPED = "skipped"  # no schema exists for this kind/version in any location
    REMOVED = "removed"  # the target Kubernetes version no longer serves this apiVersion


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
    deprecation: str = ""  # "<apiVersion Kind> is deprecated since ...": a warning, not a failure


_STATUS = {
    "statusValid": Status.VALID,
    "statusInvalid": Status.INVALID,
    "statusError": Status.ERROR,
    "statusSkipped": Status.SKIPPED,
    "statusEmpty": Status.SKIPPED,
}
_DETAIL = re.compile(r"- at '([^']*)': (.*?)(?=\s+- at '|$)")


# A YAML merge key as a plain mapping key, block or flow style (`<<: *base`, `{<<: *base}`).
_MERGE_KEY = re.compile(rb"(?:^|[\s{,?])<<[ \t]*:(?=\s|$)", re.MULTILINE)
# What kubeconform says of a null where the schema allows an int or a string (both arms nullable).
_NULL_CHOICE = "oneOf failed, subschemas 0, 1 matched"


def uses_merge_keys(data: bytes) -> bool:
    """Whether YAML text merges mappings (`<<: *base`); a look-alike inside a string only costs
    judging that file from its loaded objects, which is the same verdict."""
    return _MERGE_KEY.search(data) is not None


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _child(node: Any, part: str) -> Any:
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return node.get(part) if isinstance(node, dict) else None


def _null_choices(result: SchemaResult) -> list[list[str]]:
    """JSON pointers (as parts) of nulls kubeconform rejected only as an ambiguous int-or-string."""
    if result.status is not Status.INVALID:
        return []
    found = []
    for pointer, message in _DETAIL.findall(result.message):
        if not message.strip().startswith(_NULL_CHOICE):
            continue
        parts = [_unescape(p) for p in pointer.strip("/").split("/")]
        node: Any = result.obj.body
        for part in parts[:-1]:
            node = _child(node, part)
        if isinstance(node, dict) and parts[-1] in node and node[parts[-1]] is None:
            found.append(parts)
    return found


def _without(body: Mapping[str, Any], paths: Sequence[Sequence[str]]) -> dict[str, Any]:
    """A copy of `body` without the (null) mapping entries at `paths`."""
    out: dict[str, Any] = copy.deepcopy(dict(body))
    for parts in paths:
        node: Any = out
        for part in parts[:-1]:
            node = _child(node, part)
        del node[parts[-1]]
    return out


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


def _finish(proc: subprocess.Popen[str], what: str) -> list[dict[str, Any]]:
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


def _no_schema(obj: K8sObject, locations: SchemaLocations) -> str:
    """Why no schema was found: the kind is unknown, or its CRD does not serve this version."""
    pattern = f"{obj.kind.lower()}_*.json"
    served = sorted(
        {p.stem.rpartition("_")[2] for f in locations.crds for p in (f / obj.group).glob(pattern)}
    )
    what = f"{obj.api_version} {obj.kind}"
    if obj.group and served:
        version = obj.api_version.rpartition("/")[2]
        return f"no schema for {what}: its CRD does not serve {version} (serves: {', '.join(served)})"
    where = f"Kubernetes {locations.core.name} or {len(locations.crds)} CRD schema folder(s)"
    if locations.missing:
        where += f" (not found: {', '.join(map(str, locations.missing))}: check --crd-schemas)"
    return (
        f"no schema for {what} in {where}: "
        "no CRD for it in the input nor in the generated catalogue (tools/go/crds)"
    )


def _result(obj: K8sObject, entry: dict[str, object], locations: SchemaLocations) -> SchemaResult:
    status = _STATUS.get(str(entry.get("status", "")), Status.ERROR)
    msg = " ".join(str(entry.get("msg", "")).split())
    verdict = None
    if locations.lifecycle is not None and locations.k8s_version:
        verdict = locations.lifecycle.verdict(obj.api_version, obj.kind, locations.k8s_version)
    if verdict is not None and verdict.removed:
        return SchemaResult(obj, Status.REMOVED, (), verdict.message)
    if status is Status.SKIPPED and not msg:
        msg = _no_schema(obj, locations)
    errors = _field_errors(msg) if status is Status.INVALID else ()
    return SchemaResult(obj, status, errors, msg, verdict.message if verdict is not None else "")


def validate(
    objects: Sequence[K8sObject],
    locations: SchemaLocations,
    bodies: Sequence[Mapping[str, Any]] | None = None,
) -> list[SchemaResult]:
    """Run kubeconform -strict over objects given in memory; one result per object, in order.

    Each object becomes one JSON file (exact mapping back; JSON parses faster).
    CRDs among `objects` are schemas for the custom resources among them. `bodies`: what
    kubeconform reads instead of each object's body (the same object as the API server reads it).
    A null int-or-string is judged as unset (see the module's docstring).
    """
    if not objects:
        return []
    results = _validate(objects, locations, bodies)
    again = [(r.obj, paths) for r in results if (paths := _null_choices(r))]
    if again:
        bodies = bodies or [o.body for o in objects]
        body_of = {id(o): b for o, b in zip(objects, bodies, strict=True)}
        fixed = _validate(
            [o for o, _ in again], locations, [_without(body_of[id(o)], paths) for o, paths in again]
        )
        by_id = {id(r.obj): r for r in fixed}
        results = [by_id.get(id(r.obj), r) for r in results]
    return results


def _validate(
    objects: Sequence[K8sObject],
    locations: SchemaLocations,
    bodies: Sequence[Mapping[str, Any]] | None = None,
) -> list[SchemaResult]:
    bodies = bodies or [o.body for o in objects]
    crds = [o.body for o in objects if is_crd(o.body)]
    results: dict[int, SchemaResult] = {}
    with (
        crds_first(crds, locations) as where,
        tempfile.TemporaryDirectory(prefix="conformance-schema-") as tmp,
    ):
        for i, body in enumerate(bodies):
            Path(tmp, f"{i:07d}.json").write_text(json.dumps(body, separators=(",", ":"), default=str))
        entries = _finish(_start(_command(where, [Path(tmp)])), f"{len(objects)} objects")
        for entry in entries:
            index = int(Path(str(entry.get("filename", ""))).stem or -1)
            if 0 <= index < len(objects):
                results[index] = _result(objects[index], entry, where)
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
    validated again from memory, so every object gets exactly one result. Files
    with YAML merge keys are validated from memory only (kubectl resolves merges;
    kubeconform -strict refuses a merged key set again), and an object rejected
    only for a null int-or-string is validated again without it.
    """

    def __init__(
        self,
        proc: subprocess.Popen[str] | None,
        locations: SchemaLocations,
        todo: Sequence[Path],
        cached: list[dict[str, Any]] | None = None,
        store: ResultCache | None = None,
        *,
        merged: frozenset[Path] = frozenset(),
    ) -> None:
        self._proc, self._locations, self._todo = proc, locations, list(todo)
        self._merged = merged  # files with YAML merge keys: judged from their loaded objects
        self._cached, self._store = cached or [], store
        self._entries: list[dict[str, Any]] | None = None
        self._by_key: dict[tuple[str, str, str, str], list[dict[str, object]]] | None = None
        # Objects of files every profile shares are judged once, whichever profile asks first.
        self._judged: dict[int, SchemaResult] = {}
        # Objects validated from memory, by (object, CRDs of its kind in the target's inputs).
        self._from_memory: dict[tuple[int, ...], SchemaResult] = {}

    @classmethod
    def start(cls, inputs: Sequence[InputFile], locations: SchemaLocations) -> SchemaCheck:
        """kubeconform on the files the result cache (schema/result_cache.py) has no entries for."""
        store = ResultCache.open(locations)
        todo, cached, merged = [], [], set()
        for item in inputs:
            try:
                data = item.disk.read_bytes()
            except OSError:
                data = b""  # kubeconform reports the unreadable file
            if uses_merge_keys(data):
                merged.add(item.disk)
                continue
            entries = store.get(item.disk) if store is not None else None
            if entries is None:
                todo.append(item.disk)
            else:
                cached += entries
        proc = _start(_command(locations, todo)) if todo else None
        return cls(proc, locations, todo, cached, store, merged=frozenset(merged))

    @property
    def cache_hits(self) -> int:
        return self._store.hits if self._store is not None else 0

    def _all_entries(self) -> list[dict[str, Any]]:
        if self._entries is None:
            fresh = _finish(self._proc, f"{len(self._todo)} files") if self._proc is not None else []
            if self._store is not None:
                per_file: dict[str, list[dict[str, Any]]] = {str(p): [] for p in self._todo}
                for entry in fresh:
                    per_file.setdefault(str(entry.get("filename")), []).append(entry)
                for path in self._todo:
                    self._store.put(path, per_file[str(path)])
            self._entries = self._cached + fresh
        return self._entries

    def _entries_by_key(self) -> dict[tuple[str, str, str, str], list[dict[str, object]]]:
        """kubeconform's entries by (file, apiVersion, kind, name)."""
        if self._by_key is None:
            self._by_key = {}
            for entry in self._all_entries():
                key = (
                    str(entry.get("filename")),
                    str(entry.get("version")),
                    str(entry.get("kind")),
                    str(entry.get("name")),
                )
                self._by_key.setdefault(key, []).append(entry)
        return self._by_key

    def finish(self, inputs: Sequence[InputFile]) -> list[SchemaResult]:
        """Results for the objects of `inputs` (any subset of the started files; callable repeatedly)."""
        by_key = self._entries_by_key()
        results: dict[int, SchemaResult] = {}
        leftovers: list[K8sObject] = []
        bodies: list[dict[str, Any]] = []  # what kubeconform reads for each leftover
        crds = input_crds(inputs)
        defined = {identity(c) for c in crds}
        for item in inputs:
            objects = [o for o in item.items if isinstance(o, K8sObject)]
            counts: dict[tuple[str, str, str], int] = {}
            for obj in objects:
                ident = (obj.api_version, obj.kind, obj.name)
                counts[ident] = counts.get(ident, 0) + 1
            for obj in objects:
                if (obj.group, obj.kind) in defined or item.disk in self._merged:
                    # Judged by the CRD in the input (not the catalogue's), or merges resolved.
                    leftovers.append(obj)
                    bodies.append(obj.body)
                    continue
                found = by_key.get((str(item.disk), obj.api_version, obj.kind, obj.name), [])
                verdicts = {(e.get("status"), e.get("msg")) for e in found}
                # Same identity twice in a file (e.g. one name in two namespaces): kubeconform
                # does not report namespaces, so only identical verdicts can be shared.
                if len(found) == counts[(obj.api_version, obj.kind, obj.name)] and len(verdicts) == 1:
                    judged = self._judged.get(id(obj))
                    if judged is None:
                        judged = self._judged[id(obj)] = _result(obj, found[0], self._locations)
                    nulls = _null_choices(judged)
                    if not nulls:
                        results[id(obj)] = judged
                        continue
                    leftovers.append(obj)  # again, without the nulls the API server reads as unset
                    bodies.append(_without(obj.body, nulls))
                else:
                    leftovers.append(obj)
                    bodies.append(obj.body)
        # A plain file joins every environment's target: each leftover is validated once per CRD
        # of its kind in the input (the same object with the same schema gets the same verdict).
        schema_of: dict[tuple[str, str], list[int]] = {}
        for crd in crds:
            schema_of.setdefault(identity(crd), []).append(id(crd))
        fresh: list[tuple[tuple[int, ...], K8sObject, dict[str, Any]]] = []
        for obj, body in zip(leftovers, bodies, strict=True):
            key = (id(obj), *schema_of.get((obj.group, obj.kind), ()))
            if key in self._from_memory:
                results[id(obj)] = self._from_memory[key]
            else:
                fresh.append((key, obj, body))
        if fresh:
            with crds_first(crds, self._locations) as locations:
                again = validate([o for _, o, _ in fresh], locations, [b for _, _, b in fresh])
            for (key, _, _), result in zip(fresh, again, strict=True):
                results[id(result.obj)] = self._from_memory[key] = result
        return [results[id(o)] for item in inputs for o in item.items if isinstance(o, K8sObject)]


def input_crds(inputs: Sequence[InputFile]) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions among the objects of `inputs`."""
    return [o.body for i in inputs for o in i.items if isinstance(o, K8sObject) and is_crd(o.body)]


@contextmanager
def crds_first(crds: Sequence[Mapping[str, Any]], locations: SchemaLocations) -> Iterator[SchemaLocations]:
    """`locations` with the schemas of `crds` (CRDs of the input) looked up first."""
    if not crds:
        yield locations
        return
    with tempfile.TemporaryDirectory(prefix="conformance-input-crds-") as tmp:
        write_schemas(crds, Path(tmp))
        yield locations.with_crds_first(Path(tmp))
