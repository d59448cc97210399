"""Convert the kubernetes-validate wheel's schemas into a folder kubeconform reads offline.

The wheel's files carry `"$id": "https://kubernetes.io/..."` and refs like
`/api/_definitions.json#/$defs/...`, so kubeconform would resolve them over
the network. Dropping `$id` and pointing refs at the sibling `_definitions.json`
makes them fully local. Output: <cache>/schemas/kubernetes-v<version>-strict/,
linked from .tools/schemas/v<version>.

    python -m conformance.schema.prepare --cache ~/.cache/x --link .tools/schemas 1.36.0
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REF_PREFIX = "/api/_definitions.json#"


def _localise(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                "_definitions.json#" + v[len(REF_PREFIX) :]
                if k == "$ref" and isinstance(v, str) and v.startswith(REF_PREFIX)
                else _localise(v)
            )
            for k, v in node.items()
            if k != "$id"
        }
    if isinstance(node, list):
        return [_localise(v) for v in node]
    return node


def wheel_schema_dir(version: str) -> Path:
    import kubernetes_validate  # type: ignore[import-untyped]

    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"


def prepare(version: str, cache: Path) -> Path:
    """Converted schema folder for `version`, building it once (atomically) into the cache."""
    out = cache / "schemas" / f"kubernetes-v{version}-strict"
    if (out / "_definitions.json").is_file():
        return out
    src = wheel_schema_dir(version)
    if not src.is_dir():
        raise SystemExit(
            f"schemas: no schemas for Kubernetes {version} in the kubernetes-validate wheel ({src})"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=out.parent))
    try:
        for path in src.glob("*.json"):
            data = _localise(json.loads(path.read_text()))
            (tmp / path.name).write_text(json.dumps(data, separators=(",", ":")))
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--link", type=Path, required=True, help="folder to hold v<version> links")
    parser.add_argument("versions", nargs="+")
    args = parser.parse_args(argv)
    args.link.mkdir(parents=True, exist_ok=True)
    for version in args.versions:
        out = prepare(version, args.cache)
        link = args.link / f"v{version}"
        # A new link renamed over the old: a tier running meanwhile never finds the schemas missing.
        fresh = link.with_name(f"{link.name}.new.{os.getpid()}")
        fresh.unlink(missing_ok=True)
        fresh.symlink_to(out)
        fresh.replace(link)
        print(f"tools: schemas Kubernetes {version} -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
