"""The object model every tier shares: objects with their source, and problems.

Data flows one way: files/charts -> Document -> K8sObject or Problem -> Inventory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

# Kinds that live outside namespaces (so no namespace is defaulted for them).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "ClusterIssuer",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "RuntimeClass",
        "ClusterResourceUsage",
        "ClusterRoleTemplateBinding",
        "GlobalRole",
        "GlobalRoleBinding",
        "RoleTemplate",
        "VolumeSnapshotClass",
        "CSIDriver",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)


@dataclass(frozen=True)
class Source:
    """Where a document came from: a file (or a chart template) and its index."""

    path: str
    document: int
    line: int | None = None
    chart: str | None = None
    profile: str | None = None

    def __str__(self) -> str:
        where = f"{self.path} document {self.document + 1}"
        if self.line is not None:
            where += f" (line {self.line})"
        if self.chart is not None:
            where += f" [chart {self.chart}" + (f", profile {self.profile}]" if self.profile else "]")
        return where


@dataclass(frozen=True)
class Problem:
    """An input that could not become an object: names file, document and field."""

    source: Source
    message: str
    field: str | None = None
    object_ref: str | None = None
    # The document is no Kubernetes object at all (no apiVersion, no kind): a file made only
    # of such documents is another tool's YAML (values, CI config), left out, not an error.
    foreign: bool = False

    def __str__(self) -> str:
        parts = [str(self.source)]
        if self.object_ref:
            parts.append(f"object {self.object_ref}")
        if self.field:
            parts.append(f"field {self.field}")
        return ": ".join([", ".join(parts), self.message])


@dataclass(frozen=True)
class Origin:
    """Where an object's text lives on disk, to point findings at a file, line and column.

    kind: "file" (a plain manifest: `disk` is parsed again, lazily, for the field's position),
    "template" (a chart template: `disk` is the template file; the position is a best guess),
    "kustomize" (a kustomize build: `disk` is the kustomization folder; `files` are its inputs).
    """

    kind: str
    disk: Path
    label: str  # `disk` as shown in findings
    files: tuple[Path, ...] = ()
    base: Path | None = None  # what labels are relative to (for files found later)


@dataclass
class K8sObject:
    """One Kubernetes object as written, with its source.

    Objects are never changed after loading, so what is derived from the body (kind, names,
    the pod template) is computed once: every rule reads it, for every object.
    """

    body: dict[str, Any]
    source: Source
    default_namespace: str = "default"
    # Declared in policy.yaml `provided`: created at run time by an operator,
    # visible to cross-object lookups but not itself checked.
    provided: bool = False
    origin: Origin | None = None
    # Facts rules derive from the body, by their module (e.g. the pod template): computed once.
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @cached_property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @cached_property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @cached_property
    def metadata(self) -> dict[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @cached_property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.metadata.get("generateName") or "")

    @cached_property
    def namespace(self) -> str:
        if self.kind in CLUSTER_SCOPED:
            return ""
        return str(self.metadata.get("namespace") or self.default_namespace)

    @cached_property
    def labels(self) -> dict[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @cached_property
    def ref(self) -> str:
        """`Kind/namespace/name` (or `Kind/name` when cluster-scoped)."""
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)

    @cached_property
    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}


@dataclass
class Inventory:
    """Every object and problem of one target (a profile or a manifests folder)."""

    label: str
    objects: list[K8sObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (path, what it is): not manifests

    def of_kind(self, *kinds: str) -> Iterator[K8sObject]:
        return (o for o in self.objects if o.kind in kinds)

    def get(self, kind: str, namespace: str, name: str) -> K8sObject | None:
        """The object with that identity, or None (indexed: cross-object rules call this a lot)."""
        if self._index_size != len(self.objects):
            self._index = {(o.kind, o.namespace, o.name): o for o in reversed(self.objects)}
            self._index_size = len(self.objects)
        return self._index.get((kind, namespace, name))

    _index: dict[tuple[str, str, str], K8sObject] = field(default_factory=dict, repr=False)
    _index_size: int = field(default=-1, repr=False)
