"""Build one Inventory per target from a folder of plain YAML and Helm charts.

    inventory = build_inventory(Path("manifests"), profile="ci", namespace="tartware")

Plain `.yaml`/`.yml`/`.json` files are loaded as they are; every folder with a
Chart.yaml is rendered with helm (its own files are not loaded as manifests).
The policy file and chart values files are configuration, not manifests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .loader import Limits, load_bytes
from .model import Inventory, K8sObject, Problem, Source
from .render import render_chart

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Files in a manifests folder that configure the suite rather than the cluster.
NOT_MANIFESTS = frozenset({"policy.yaml", "flows.yaml"})
SKIP_DIRS = frozenset({".git", ".tools", ".venv", "node_modules", "__pycache__"})


def discover(root: Path) -> tuple[list[Path], list[Path]]:
    """(plain manifest files, chart folders) under root, sorted for stable output."""
    if root.is_file():
        return [root], []
    files: list[Path] = []
    charts: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if "Chart.yaml" in filenames:
            charts.append(here)
            dirnames[:] = []  # a chart's templates and subcharts render through helm
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        files.extend(here / f for f in sorted(filenames)
                     if f.endswith(MANIFEST_SUFFIXES) and f not in NOT_MANIFESTS)  # fmt: skip
    return sorted(files), sorted(charts)


def build_inventory(root: Path, profile: str, namespace: str = "default", limits: Limits = Limits(),
                    display_root: Path | None = None) -> Inventory:  # fmt: skip
    """Every object and problem of `root` rendered for `profile`."""
    # Paths are shown from the folder above root, so they start with its name.
    base = (display_root or root.parent).resolve()
    inventory = Inventory(label=profile)
    if not root.exists():
        inventory.problems.append(Problem(Source(str(root), 0), "manifests path does not exist"))
        return inventory
    files, charts = discover(root)
    for item in _load_all(files, charts, profile, namespace, limits, base):
        if isinstance(item, K8sObject):
            inventory.objects.append(item)
        else:
            inventory.problems.append(item)
    return inventory


def _load_all(files: list[Path], charts: list[Path], profile: str, namespace: str, limits: Limits,
              base: Path) -> Iterator[K8sObject | Problem]:  # fmt: skip
    for path in files:
        rel = _display(path, base)
        try:
            if path.stat().st_size > limits.max_file_bytes:
                yield Problem(Source(rel, 0), f"file is {path.stat().st_size:,} bytes, over the "
                              f"{limits.max_file_bytes:,}-byte limit (raise --max-file-bytes if intended)")  # fmt: skip
                continue
            data = path.read_bytes()
        except OSError as err:
            yield Problem(Source(rel, 0), f"cannot read file: {err.strerror}")
            continue
        # Plain files get no namespace default from the profile: an object
        # without metadata.namespace lands in "default", as kubectl would do.
        yield from load_bytes(data, rel, "default", limits)
    for chart in charts:
        yield from render_chart(chart, profile, namespace, base, limits)


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)
