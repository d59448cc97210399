"""Where the static tier's content-hash caches live, and how an entry is written.

Four caches share the root: helm's renders (inventory/render_cache.py), kubeconform's per-file
results (schema/result_cache.py), the parsed objects of each plain file (inventory/parsed.py) and
the positions of findings in each plain file (inventory/locate.py). Each is keyed by a hash of the
content and of everything that renders, judges, parses or locates it, and none is ever required:
an unreadable or corrupt entry is a miss, a failed write is ignored.

Root: $CONFORMANCE_STATIC_CACHE, else ~/.cache/tartware-conformance/static-cache;
CONFORMANCE_STATIC_CACHE=off switches them all off.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CACHE_ENV = "CONFORMANCE_STATIC_CACHE"


def cache_root() -> Path | None:
    raw = os.environ.get(CACHE_ENV)
    if raw is not None and raw.strip().lower() in ("", "0", "off", "no", "false"):
        return None
    return Path(raw) if raw else Path.home() / ".cache" / "tartware-conformance" / "static-cache"


def entry_path(root: Path, context: bytes, data: bytes, suffix: str) -> Path:
    """Where the entry for `data` lives, judged in `context` (what else decides its content)."""
    digest = hashlib.sha256(context + b"\0" + data).hexdigest()
    return root / digest[:2] / f"{digest}{suffix}"


def write_entry(where: Path, text: str) -> None:
    """Write atomically (readers never see half an entry); a failure only costs a miss later."""
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(text)
        Path(tmp).replace(where)
    except OSError:
        pass
