"""Content-hash cache of kubeconform's per-file results, so a re-run re-checks only changed files.

    store = ResultCache.open(locations)        # None when switched off
    entries = store.get(path)                  # kubeconform's JSON entries for the file, or None
    store.put(path, entries)

The key of a file is a hash of its bytes, the kubeconform binary (resolved path, size,
mtime: the install links a version-keyed build) and the schema locations (resolved
folders and every file in them: name, size, mtime). kubeconform judges each file on its
own, so a file's entries depend on nothing else; chart renders are keyed by their rendered
bytes. Parsing is cached per file too (inventory/parsed.py); rules always run on the whole
inventory (cross-object rules need it).

Where: conformance/cache.py (shared with the parsed-objects cache); never required.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import tools
from ..cache import cache_root, entry_path, write_entry
from .locations import SchemaLocations

FORMAT = "1"  # bump when the stored entries change shape


def _stamp(path: Path) -> str:
    real = path.resolve()
    try:
        st = real.stat()
    except OSError:
        return f"{real}:missing"
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def tool_identity() -> str:
    """What identifies the kubeconform build in use (a new version is a new build, a new key)."""
    return _stamp(tools.find("kubeconform"))


def _tree_stamp(folder: Path) -> str:
    """A folder's identity from every file under it (name, size, mtime; links followed): a schema
    rewritten in place changes it, which the folder's own mtime would not show (~30 ms for the
    ~900 core and CRD schemas)."""
    digest = hashlib.sha256()
    real = folder.resolve()
    for root, dirs, files in os.walk(real, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            try:
                st = path.stat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(real)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return f"{real}:{digest.hexdigest()}"


def locations_identity(locations: SchemaLocations) -> str:
    folders: Sequence[Path] = (locations.core, *locations.crds)
    return "|".join([*locations.args(), *(_tree_stamp(f) for f in folders)])


class ResultCache:
    def __init__(self, root: Path, context: str) -> None:
        self.root, self._context = root, context
        self.hits = self.misses = 0

    @classmethod
    def open(cls, locations: SchemaLocations) -> ResultCache | None:
        root = cache_root()
        if root is None:
            return None
        return cls(root, "\n".join([FORMAT, tool_identity(), locations_identity(locations)]))

    def _file(self, path: Path) -> Path | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return entry_path(self.root, self._context.encode(), data, ".json")

    def get(self, path: Path) -> list[dict[str, Any]] | None:
        """kubeconform's entries for `path` (filename set to it), or None on a miss."""
        where = self._file(path)
        try:
            stored = json.loads(where.read_text()) if where is not None else None
        except (OSError, ValueError):
            stored = None
        if not isinstance(stored, list) or not all(isinstance(e, dict) for e in stored):
            self.misses += 1
            return None
        self.hits += 1
        return [{**e, "filename": str(path)} for e in stored]

    def put(self, path: Path, entries: Sequence[dict[str, Any]]) -> None:
        where = self._file(path)
        if where is None:
            return
        stored = [{k: v for k, v in e.items() if k != "filename"} for e in entries]
        write_entry(where, json.dumps(stored))
