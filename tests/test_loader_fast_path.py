"""The loader's fast construction gives exactly what the full constructor gives.

Every YAML/JSON file of the repository's fixtures and manifests, plus hand-written edge
cases, is loaded twice: as usual (fast path, falling back where it must) and with the fast
path switched off. Objects, problems and their wording must be identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.inventory import loader
from conformance.inventory.loader import load_bytes
from conformance.inventory.model import K8sObject

REPO = Path(__file__).resolve().parent.parent
FILES = sorted(
    p
    for folder in ("fixtures", "manifests")
    for p in (REPO / folder).rglob("*")
    if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
)
EDGES = [
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: 1, a: 2}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: a}\np: *m\nq: *m\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nbase: &b {k: v}\ndata: {<<: *b, j: w}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {1: x, true: y, 1.5: z}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: .nan, b: !!int 0x1F, c: !!bool yes}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: y, b: off, c: 1e3, d: 0o17, e: ~}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {f: =, g: 1:20, h: -0}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: !!set {a, b}\n",
    b"a: &a [*a]\n",
    b"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {t: 2001-12-14, b: !!binary aGVsbG8=}\n",
]


def _shape(items: list[Any]) -> list[Any]:
    return [
        ("object", i.body, i.source, i.namespace) if isinstance(i, K8sObject) else ("problem", i)
        for i in items
    ]


def _both(data: bytes, path: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    fast = _shape(load_bytes(data, path))

    def off(_node: Any) -> Any:
        raise loader._Fallback

    with monkeypatch.context() as m:
        m.setattr(loader, "_fast_document", off)
        full = _shape(load_bytes(data, path))
    return fast, full


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_repository_files_load_identically(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, full = _both(path.read_bytes(), str(path), monkeypatch)
    assert fast == full


@pytest.mark.parametrize("data", EDGES, ids=range(len(EDGES)))
def test_edge_cases_load_identically(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, full = _both(data, "edge.yaml", monkeypatch)
    assert fast == full
    assert repr(fast) == repr(full)  # also float vs int, True vs 1


def test_aliases_share_one_object() -> None:
    (obj,) = load_bytes(EDGES[1], "alias.yaml")
    assert isinstance(obj, K8sObject)
    assert obj.body["p"] is obj.body["q"] is obj.body["metadata"]
