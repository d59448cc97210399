"""Content-hash cache of what each plain file parses into, so a re-run parses only changed files.

    store = ParsedCache.open(limits)                 # None when switched off
    items = store.load(data, "apps/web.yaml")         # objects and problems, as load_bytes gives

Parsing is the largest share of a cold static run on a big repo (YAML composed in C, the
nodes walked in Python). An entry is the file's objects and problems as JSON (the objects
are JSON by construction: the loader types every scalar as kubectl does), keyed by a hash
of the file's bytes, its label, the limits and the loader's own code and PyYAML build: a
change to any of them is a miss. Entries are JSON, not pickle, so a cache folder shared
with others can at worst make a run wrong, never run code. Root: conformance/cache.py.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from ..cache import cache_root, entry_path, write_entry
from .loader import DEFAULT_LIMITS, Limits, load_bytes
from .model import K8sObject, Problem, Source

FORMAT = "1"  # bump when an entry changes shape
SUFFIX = ".objects"


@functools.cache
def loader_identity() -> str:
    """The parsing code in use: a changed loader or model, or another PyYAML, is a new key."""
    here = Path(__file__).parent
    digest = hashlib.sha256(f"{yaml.__version__}:{yaml.__with_libyaml__}".encode())
    for name in ("loader.py", "model.py", "parsed.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _source(s: Source) -> list[Any]:
    return [s.path, s.document, s.line, s.chart, s.profile]


def _encode(items: list[K8sObject | Problem]) -> str:
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, K8sObject):
            out.append({"o": item.body, "s": _source(item.source), "ns": item.default_namespace})
        else:
            out.append(
                {
                    "p": item.message,
                    "s": _source(item.source),
                    "f": item.field,
                    "r": item.object_ref,
                    "x": item.foreign,
                }
            )
    return json.dumps(out, allow_nan=False)


def _decode(text: str) -> list[K8sObject | Problem]:
    items: list[K8sObject | Problem] = []
    for entry in json.loads(text):
        source = Source(*entry["s"])
        if "o" in entry:
            items.append(K8sObject(entry["o"], source, entry["ns"]))
        else:
            items.append(Problem(source, entry["p"], entry["f"], entry["r"], entry["x"]))
    return items


class ParsedCache:
    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self._context = f"{FORMAT}\n{loader_identity()}\n{limits}".encode()
        self.limits = limits
        self.hits = self.misses = 0

    @classmethod
    def open(cls, limits: Limits = DEFAULT_LIMITS) -> ParsedCache | None:
        root = cache_root()
        return cls(root, limits) if root is not None else None

    def load(self, data: bytes, label: str) -> list[K8sObject | Problem]:
        """What load_bytes gives for a plain file's bytes (default namespace "default")."""
        where = entry_path(self.root, self._context + b"\0" + label.encode(), data, SUFFIX)
        try:
            items = _decode(where.read_text())
            self.hits += 1
            return items
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # a miss: absent, unreadable or not an entry of this format
        self.misses += 1
        items = load_bytes(data, label, "default", limits=self.limits)
        with contextlib.suppress(ValueError):  # not JSON after all (never, by construction): not cached
            write_entry(where, _encode(items))
        return items
