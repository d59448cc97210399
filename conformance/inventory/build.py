"""Build one Inventory per target from a folder of plain YAML, Helm charts and kustomizations.

    inventory = build_inventory(Path("manifests"), profile="ci", namespace="tartware")

Discovery (`discover_inputs`) walks the folder once:
  * a folder with Chart.yaml is a chart, rendered with helm per profile (its files
    are not loaded as manifests);
  * a folder with kustomization.yaml is a kustomization; only roots (not used as a
    base or component by another one) are built, once, with `kubectl kustomize`;
    files a kustomization reads are not loaded again as plain files;
  * other `.yaml`/`.yml`/`.json` files are plain manifests, except other tools' YAML:
    by name (values files, CI configs, tool configs) here, or by content when loaded
    (no apiVersion and kind; a kind/skaffold/kubeadm... config). Those are left out
    and listed once (`Inventory.left_out`), as are paths matching --exclude globs.
Two steps, so the schema check can start on the files while Python parses them:
prepare (find files, render to files) then `load_inputs`.

Environments (`environments`, `in_environment`): each chart root and each kustomization root is
one environment, what its owners apply together (an overlay dev/staging/prod, one chart). Plain
files outside them are applied beside every environment, so they join each one; an input without
charts or kustomizations is one environment of plain files. Cross-object checks (duplicates, PDB
and Service selectors...) then see one environment at a time, never dev's Deployment beside prod's.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .loader import DEFAULT_LIMITS, Limits, load_bytes
from .model import Inventory, K8sObject, Origin, Problem, Source
from .parsed import ParsedCache
from .render import (
    KUSTOMIZATION_FILES,
    ChartValues,
    RenderJob,
    display,
    is_library_chart,
    kustomization_file,
    kustomize_build,
    kustomize_references,
    parse_rendered,
    render_charts,
)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
SKIP_DIRS = frozenset({".git", ".tools", ".venv", "node_modules", "__pycache__"})
# Files that are other tools' YAML, by name (fnmatch on the file name) -> what they are.
NOT_MANIFESTS: dict[str, str] = {
    "Chart.yaml": "Helm chart metadata",
    "Chart.lock": "Helm chart lock",
    "values.schema.json": "Helm values schema",
    "values*.yaml": "Helm values",
    "values*.yml": "Helm values",
    "*-values.yaml": "Helm values",
    "*.values.yaml": "Helm values",
    "kustomizeconfig.yaml": "kustomize configuration",
    "skaffold*.yaml": "skaffold config",
    "helmfile*.yaml": "helmfile",
    "ct.yaml": "chart-testing config",
    "cr.yaml": "chart-releaser config",
    "lintconf.yaml": "yamllint config",
    "artifacthub-*.yml": "Artifact Hub metadata",
    "artifacthub-*.yaml": "Artifact Hub metadata",
    "docker-compose*.yml": "Docker Compose file",
    "docker-compose*.yaml": "Docker Compose file",
    "compose.yaml": "Docker Compose file",
    "compose.yml": "Docker Compose file",
    "mkdocs.yml": "MkDocs config",
    "codecov.yml": "Codecov config",
    "renovate.json": "Renovate config",
    "package.json": "npm package",
    "package-lock.json": "npm lock",
    "tsconfig.json": "TypeScript config",
    "azure-pipelines.yml": "CI config",
    "bitbucket-pipelines.yml": "CI config",
    "cloudbuild.yaml": "CI config",
    "appveyor.yml": "CI config",
    "Taskfile.yml": "Taskfile",
    "devspace.yaml": "DevSpace config",
    "tilt_config.json": "Tilt config",
    "goreleaser.yaml": "GoReleaser config",
}
FOREIGN = "not a Kubernetes manifest"


@dataclass
class InputFile:
    """One file to load: a plain manifest, or a chart's / kustomization's output written to disk."""

    disk: Path  # what is read (and what kubeconform reads)
    label: str  # the path shown in findings
    chart: str | None = None
    profile: str | None = None
    items: list[K8sObject | Problem] = field(default_factory=list)
    kind: str = "file"  # "file", "chart" or "kustomize"
    folder: Path | None = None  # the chart or kustomization folder
    reads: tuple[Path, ...] = ()  # kustomize: the files the build reads (to locate findings)
    left_out: str | None = None  # set on load: why this file is no manifest (then `items` is empty)


@dataclass
class Discovery:
    """What one walk of the manifests folder found."""

    root: Path
    base: Path  # labels are relative to this (the folder above root)
    files: list[Path] = field(default_factory=list)
    charts: list[Path] = field(default_factory=list)
    kustomizations: list[Path] = field(default_factory=list)  # roots, built once
    reads: dict[Path, tuple[Path, ...]] = field(default_factory=dict)  # root -> files it reads
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (label, what it is)
    excluded: list[str] = field(default_factory=list)  # labels matched by --exclude
    problems: list[Problem] = field(default_factory=list)


def excluded_by(rel: str, globs: Iterable[str]) -> str | None:
    """The glob that excludes `rel` (posix path under root): on the whole path or any one part."""
    parts = rel.split("/")
    for glob in globs:
        pattern = glob.strip().rstrip("/")
        if fnmatch.fnmatchcase(rel, pattern) or (
            "/" not in pattern and any(fnmatch.fnmatchcase(p, pattern) for p in parts)
        ):
            return glob
        if "/" in pattern and any(
            fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts))
        ):
            return glob
    return None


def not_manifest_name(name: str) -> str | None:
    """What a file is when its name says it is another tool's YAML, else None."""
    return next((what for pattern, what in NOT_MANIFESTS.items() if fnmatch.fnmatchcase(name, pattern)), None)


def discover_inputs(
    root: Path, exclude: Iterable[str] = (), skip: Mapping[Path, str] | None = None
) -> Discovery:
    """Plain files, charts and kustomization roots under root, sorted for stable output.

    `skip`: files that configure the suite (the policy in use), left out with the reason.
    """
    root = root.resolve()
    found = Discovery(root, root.parent)
    skip = {p.resolve(): why for p, why in (skip or {}).items()}
    globs = tuple(exclude)
    if not root.exists():
        found.problems.append(Problem(Source(str(root), 0), "manifests path does not exist"))
        return found
    if root.is_file():
        found.files.append(root)
        return found
    kustomize_dirs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        if rel_dir != "." and excluded_by(rel_dir, globs):
            found.excluded.append(display(here, found.base))
            dirnames[:] = []
            continue
        if "Chart.yaml" in filenames:
            if is_library_chart(here):
                found.left_out.append((display(here, found.base), "Helm library chart (nothing to render)"))
            else:
                found.charts.append(here)
            dirnames[:] = []  # a chart's templates and subcharts render through helm
            continue
        if any(name in filenames for name in KUSTOMIZATION_FILES):
            kustomize_dirs.append(here)
            dirnames[:] = []  # its files are what the build reads
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = here / name
            if not name.endswith(MANIFEST_SUFFIXES) or name.startswith("."):
                continue
            rel = path.relative_to(root).as_posix()
            label = display(path, found.base)
            if excluded_by(rel, globs):
                found.excluded.append(label)
            elif path.resolve() in skip:
                found.left_out.append((label, skip[path.resolve()]))
            elif (what := not_manifest_name(name)) is not None:
                found.left_out.append((label, what))
            else:
                found.files.append(path)
    _kustomize_roots(found, kustomize_dirs)
    found.files.sort()
    found.charts.sort()
    return found


def _kustomize_roots(found: Discovery, folders: list[Path]) -> None:
    """Roots are the kustomizations nobody else uses; what each one reads is not loaded twice."""
    refs = {f.resolve(): kustomize_references(f)[0] for f in folders}
    used = {p for paths in refs.values() for p in paths}
    consumed: set[Path] = set()
    for folder in folders:
        key = folder.resolve()
        if key in used:
            continue
        if _is_component(folder):
            found.left_out.append(
                (display(folder, found.base), "kustomize component (built by the kustomizations using it)")
            )
            continue
        reads = _closure(key, refs)
        consumed.update(reads)
        found.kustomizations.append(folder)
        found.reads[folder] = tuple(sorted(reads))
    found.kustomizations.sort()
    found.files = [f for f in found.files if f.resolve() not in consumed]


def _is_component(folder: Path) -> bool:
    path = kustomization_file(folder)
    return (
        path is not None
        and re.search(r"^kind:\s*Component\s*$", path.read_text(errors="replace"), re.M) is not None
    )


def _closure(folder: Path, refs: dict[Path, list[Path]]) -> set[Path]:
    """Every YAML file a kustomization may read: its folders' files and referenced files."""
    out: set[Path] = set()
    todo, seen = [folder], set()
    while todo:
        here = todo.pop()
        if here in seen:
            continue
        seen.add(here)
        if here.is_file():
            out.add(here)
            continue
        for dirpath, _, filenames in os.walk(here):
            out.update(Path(dirpath, n).resolve() for n in filenames if n.endswith(MANIFEST_SUFFIXES))
        todo.extend(refs.get(here, kustomize_references(here)[0]))
    return out


def environments(found: Discovery) -> list[Path | None]:
    """The chart and kustomization roots, sorted; [None] (the plain files alone) when there is none."""
    roots: list[Path | None] = [*sorted(found.charts + found.kustomizations)]
    return roots or [None]


def environment_label(found: Discovery, env: Path | None) -> str:
    """An environment as target names show it: its folder relative to the input ("." for the root)."""
    return "." if env is None else env.relative_to(found.root).as_posix()


def in_environment(found: Discovery, env: Path | None, item: InputFile | Problem) -> bool:
    """Whether an input or problem belongs to `env`: plain files (and problems of no chart or
    kustomization, such as discovery's) belong to every environment; a render or build and its
    problems to their own chart or kustomization only."""
    if isinstance(item, InputFile):
        return item.folder is None or item.folder == env
    owners = [r for r in environments(found) if r is not None and _names(found, r, item)]
    return not owners or env in owners


def _names(found: Discovery, folder: Path, problem: Problem) -> bool:
    """A render/build problem names its folder (helm, kustomize) or a file in it."""
    label = display(folder, found.base)
    return any(
        p == label or p.startswith(label + "/") for p in (problem.source.path, problem.source.chart or "")
    )


def discover(root: Path) -> tuple[list[Path], list[Path]]:
    """(plain manifest files, chart folders) under root."""
    found = discover_inputs(root)
    return found.files, found.charts


def shared_inputs(found: Discovery, workdir: Path) -> tuple[list[InputFile], list[Problem]]:
    """The inputs every profile shares: plain files, and kustomizations built once."""
    inputs = [InputFile(path, display(path, found.base)) for path in found.files]
    problems: list[Problem] = []
    for folder in found.kustomizations:
        label = display(folder, found.base)
        built = kustomize_build(folder, label)
        if isinstance(built, Problem):
            problems.append(built)
            continue
        disk = workdir / (re.sub(r"[^\w.-]+", "_", label) + ".kustomize.yaml")
        disk.write_text(built)
        kfile = kustomization_file(folder)
        shown = display(kfile, found.base) if kfile is not None else label
        inputs.append(
            InputFile(disk, shown, kind="kustomize", folder=folder, reads=found.reads.get(folder, ()))
        )
    return inputs, problems


def chart_inputs(
    found: Discovery,
    profile: str,
    namespace: str | None,
    workdir: Path,
    kube_version: str | None = None,
    *,
    values: Mapping[Path, ChartValues] | None = None,
) -> tuple[list[InputFile], list[Problem]]:
    """Each chart rendered for `profile` into workdir (`values`: the user's, per chart folder)."""
    inputs: list[InputFile] = []
    problems: list[Problem] = []
    jobs = [
        RenderJob(
            c, display(c, found.base), profile, namespace, kube_version, (values or {}).get(c.resolve())
        )
        for c in found.charts
    ]
    for job, rendered in zip(jobs, render_charts(jobs), strict=True):  # several charts at once
        chart, label = job.chart, job.label
        if isinstance(rendered, Problem):
            problems.append(rendered)
            continue
        disk = workdir / (re.sub(r"[^\w.-]+", "_", label) + f".{profile}.yaml")
        disk.write_text(rendered)
        inputs.append(InputFile(disk, label, label, profile, kind="chart", folder=chart))
    return inputs, problems


def prepare_inputs(
    root: Path,
    profile: str,
    namespace: str | None,
    workdir: Path,
    limits: Limits = DEFAULT_LIMITS,
    *,
    exclude: Iterable[str] = (),
    kube_version: str | None = None,
) -> tuple[list[InputFile], list[Problem]]:
    """Plain files as they are, plus each chart and kustomization rendered into workdir."""
    found = discover_inputs(root, exclude)
    shared, problems = shared_inputs(found, workdir)
    charts, chart_problems = chart_inputs(found, profile, namespace, workdir, kube_version)
    return shared + charts, found.problems + problems + chart_problems


def load_inputs(
    inputs: list[InputFile],
    namespace: str | None,
    limits: Limits = DEFAULT_LIMITS,
    *,
    base: Path | None = None,
) -> None:
    """Parse every input into its `items` (objects and problems), never raising on bad input.

    `base` (the folder labels are relative to) lets chart objects point at their template file.
    Plain files come from the parsed-objects cache when their bytes were parsed before.
    """
    store = ParsedCache.open(limits)
    for item in inputs:
        if item.kind == "chart":
            item.items = list(
                parse_rendered(
                    item.disk.read_text(),
                    item.chart or item.label,
                    item.profile or "",
                    namespace or "default",
                    limits,
                    chart=item.folder,
                    base=base,
                )
            )
            continue
        if item.kind == "kustomize":
            origin = Origin("kustomize", item.folder or item.disk, item.label, item.reads, base)
            item.items = load_bytes(item.disk.read_bytes(), item.label, "default", limits=limits)
            for obj in item.items:
                if isinstance(obj, K8sObject):
                    obj.origin = origin
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
        items = store.load(data, item.label) if store else load_bytes(data, item.label, limits=limits)
        _classify(item, items)


def _classify(item: InputFile, items: list[K8sObject | Problem]) -> None:
    """Keep a plain file's objects; a file that is only other tools' YAML is left out, with why."""
    if items and all(isinstance(i, Problem) and i.foreign for i in items):
        reasons = {i.message for i in items if isinstance(i, Problem)}
        item.left_out = reasons.pop() if len(reasons) == 1 else FOREIGN
        return
    origin = Origin("file", item.disk, item.label)
    for obj in items:
        if isinstance(obj, K8sObject):
            obj.origin = origin
    item.items = items


def to_inventory(
    label: str, inputs: list[InputFile], problems: list[Problem], left_out: Iterable[tuple[str, str]] = ()
) -> Inventory:
    inventory = Inventory(label=label, problems=list(problems), left_out=list(left_out))
    for item in inputs:
        if item.left_out is not None:
            inventory.left_out.append((item.label, item.left_out))
        for obj in item.items:
            if isinstance(obj, K8sObject):
                inventory.objects.append(obj)
            else:
                inventory.problems.append(obj)
    return inventory


def build_inventory(
    root: Path,
    profile: str,
    namespace: str | None = "default",
    limits: Limits = DEFAULT_LIMITS,
    *,
    exclude: Iterable[str] = (),
    kube_version: str | None = None,
) -> Inventory:
    """Every object and problem of `root` rendered for `profile` (no schema step)."""
    found = discover_inputs(root, exclude)
    with tempfile.TemporaryDirectory(prefix="conformance-render-") as tmp:
        shared, problems = shared_inputs(found, Path(tmp))
        charts, chart_problems = chart_inputs(found, profile, namespace, Path(tmp), kube_version)
        inputs = shared + charts
        load_inputs(inputs, namespace, limits, base=found.base)
    return to_inventory(profile, inputs, found.problems + problems + chart_problems, found.left_out)
