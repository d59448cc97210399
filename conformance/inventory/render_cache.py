"""Content-hash cache of `helm template` results, so a re-run renders only charts that changed.

    key = render_key(helm, chart, args)   # args: helm's arguments after the chart, values paths included
    hit = RenderCache.open().get(key)     # (rendered, text): the output, or helm's error message
    cache.put(key, rendered, text)

The key is a hash of every file under the chart folder (names and bytes: templates, values,
vendored charts/, crds/), of each values file given (its bytes, not its path), of the other
arguments (release name, namespace, --kube-version, --set entries, flags) and of the helm build
(resolved path, size, mtime: the install links a version-keyed build). A chart that does not
render is cached too: its error is as much a function of those inputs as its output.

Where: conformance/cache.py's root (with the schema, parsed-objects and positions caches);
never required: off, unreadable or corrupt is a miss. `STATS` counts hits and misses (the
self-tests and the benchmark read it: a hit is observable, not guessed from wall-clock).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from pathlib import Path

from ..cache import cache_root, entry_path, write_entry

FORMAT = "1"  # bump when what is stored, or what the key covers, changes
STATS: Counter[str] = Counter()  # "hit" / "miss" (cache lookups), "helm" (renders run), per process
_STATS_LOCK = threading.Lock()  # charts render in threads


def count(what: str) -> None:
    with _STATS_LOCK:
        STATS[what] += 1


def _stamp(path: Path) -> str:
    real = path.resolve()
    st = real.stat()
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"  # helm reports it; the key still differs from a readable file's


def chart_digest(chart: Path) -> str:
    """Every file under the chart folder, by relative name and bytes (links followed, as helm does)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(chart, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            digest.update(f"{path.relative_to(chart).as_posix()}\0{_file_digest(path)}\n".encode())
    return digest.hexdigest()


def render_key(helm: Path, chart: Path, args: list[str]) -> bytes:
    """What decides a render. `args`: helm's arguments after `template <release> <chart>`; the path
    after each --values/-f is replaced by its content's digest (the same file elsewhere is a hit)."""
    parts = [FORMAT, _stamp(helm), chart.name, chart_digest(chart)]
    after_values = False
    for arg in args:
        parts.append(_file_digest(Path(arg)) if after_values else arg)
        after_values = arg in ("--values", "-f")
    return "\n".join(parts).encode()


class RenderCache:
    """The render entries under the static cache root."""

    def __init__(self, root: Path) -> None:
        self.root = root / "helm-render"

    @classmethod
    def open(cls) -> RenderCache | None:
        root = cache_root()
        return cls(root) if root is not None else None

    def _path(self, key: bytes) -> Path:
        return entry_path(self.root, b"", key, ".json")

    def get(self, key: bytes) -> tuple[bool, str] | None:
        """(rendered, output or error message) stored for `key`, or None."""
        try:
            entry = json.loads(self._path(key).read_text())
            rendered, text = entry["rendered"], entry["text"]
        except (OSError, ValueError, KeyError, TypeError):
            count("miss")
            return None
        if not isinstance(rendered, bool) or not isinstance(text, str):
            count("miss")
            return None
        count("hit")
        return rendered, text

    def put(self, key: bytes, rendered: bool, text: str) -> None:
        write_entry(self._path(key), json.dumps({"rendered": rendered, "text": text}))
