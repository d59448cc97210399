"""Build one Inventory per target from a folder of plain YAML and Helm charts.

    inventory = build_inventory(Path("manifests"), profile="ci", namespace="tartware")

Plain `.yaml`/`.yml`/`.json` files are loaded as they are; every folder with a
Chart.yaml is rendered with helm (its own files are not loaded as manifests).
The policy file and the declared flows are configuration, not manifests.
Two steps, so the schema check can start on the files while Python parses them:
`prepare_inputs` (find files, render charts to files) then `load_inputs`.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .loader import DEFAULT_LIMITS, Limits, load_bytes
from .model import Inventory, K8sObject, Problem, Source
from .render import helm_template, parse_rendered

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Files in a manifests folder that configure the suite rather than the cluster.
NOT_MANIFESTS = frozenset({"policy.yaml", "flows.yaml"})
SKIP_DIRS = frozenset({".git", ".tools", ".venv", "node_modules", "__pycache__"})


@dataclass
class InputFile:
    """One file to load: a plain manifest, or a chart's rendered output written to disk."""

    disk: Path  # what is read (and what kubeconform reads)
    label: str  # the path shown in findings
    chart: str | None = None
    profile: str | None = None
    items: list[K8sObject | Problem] = field(default_factory=list)


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
        files.extend(
            here / f for f in sorted(filenames) if f.endswith(MANIFEST_SUFFIXES) and f not in NOT_MANIFESTS
        )
    return sorted(files), sorted(charts)


def prepare_inputs(
    root: Path, profile: str, namespace: str, workdir: Path, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[InputFile], list[Problem]]:
    """Plain files as they are, plus each chart rendered into workdir; problems so far."""
    base = root.resolve().parent  # paths are shown from the folder above root
    if not root.exists():
        return [], [Problem(Source(str(root), 0), "manifests path does not exist")]
    files, charts = discover(root)
    inputs = [InputFile(path, _display(path, base)) for path in files]
    problems: list[Problem] = []
    for chart in charts:
        label = _display(chart, base)
        rendered = helm_template(chart, label, profile, namespace)
        if isinstance(rendered, Problem):
            problems.append(rendered)
            continue
        disk = workdir / (re.sub(r"[^\w.-]+", "_", label) + f".{profile}.yaml")
        disk.write_text(rendered)
        inputs.append(InputFile(disk, label, label, profile))
    return inputs, problems


def load_inputs(inputs: list[InputFile], namespace: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Parse every input into its `items` (objects and problems), never raising on bad input."""
    for item in inputs:
        if item.chart is not None:
            item.items = list(
                parse_rendered(item.disk.read_text(), item.chart, item.profile or "", namespace, limits)
            )
            continue
        try:
            size = item.disk.stat().st_size
            if size > limits.max_file_bytes:
                item.items = [
                    Problem(
                        Source(item.label, 0),
                        f"file is {size:,} bytes, over the "
                        f"{limits.max_file_bytes:,}-byte limit (raise --max-file-bytes if intended)",
                    )
                ]
                continue
            data = item.disk.read_bytes()
        except OSError as err:
            item.items = [Problem(Source(item.label, 0), f"cannot read file: {err.strerror}")]
            continue
        # Plain files get no namespace from the profile: an object without
        # metadata.namespace lands in "default", as `kubectl apply` would put it.
        item.items = load_bytes(data, item.label, "default", limits=limits)


def to_inventory(label: str, inputs: list[InputFile], problems: list[Problem]) -> Inventory:
    inventory = Inventory(label=label, problems=list(problems))
    for item in inputs:
        for obj in item.items:
            if isinstance(obj, K8sObject):
                inventory.objects.append(obj)
            else:
                inventory.problems.append(obj)
    return inventory


def build_inventory(
    root: Path, profile: str, namespace: str = "default", limits: Limits = DEFAULT_LIMITS
) -> Inventory:
    """Every object and problem of `root` rendered for `profile` (no schema step)."""
    with tempfile.TemporaryDirectory(prefix="conformance-render-") as tmp:
        inputs, problems = prepare_inputs(root, profile, namespace, Path(tmp), limits)
        load_inputs(inputs, namespace, limits)
    return to_inventory(profile, inputs, problems)


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)
