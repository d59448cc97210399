"""Render charts and kustomizations as their owners do, and split the output into objects.

Helm: `helm template` with `--kube-version` (the target Kubernetes version, so charts
with a `kubeVersion` constraint render), `--include-crds` (a chart's crds/ folder)
and the chart's vendored charts/ dependencies. Missing dependencies are one clear
problem naming the chart and the command that vendors them: nothing is downloaded.
Kustomize: `kubectl kustomize` with the pinned kubectl; remote bases are refused
up front (offline). Rendered objects keep where their text lives on disk (`Origin`).
Renders are cached by content (render_cache.py) and run several charts at once (render_charts).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import tools
from ..errors import InfraError
from .loader import DEFAULT_LIMITS, Limits, iter_documents, to_objects
from .model import K8sObject, Origin, Problem, Source
from .render_cache import RenderCache, count, render_key

_SOURCE_COMMENT = re.compile(r"^# Source: (.+)$", re.MULTILINE)
RENDER_TIMEOUT_S = 120
# Charts rendered at once: bounded so that a 100-chart repo does not start 100 helm processes.
RENDER_WORKERS = max(2, min(8, os.cpu_count() or 2))
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)", re.I)


@dataclass(frozen=True)
class ChartValues:
    """What a user adds to one chart's render: values files, then `--set` entries (helm's order, after
    values.yaml and values-<profile>.yaml). Example: ``ChartValues((Path("ci.yaml"),), ("image.tag=1.2",))``
    """

    files: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()

    def __add__(self, later: ChartValues) -> ChartValues:
        return ChartValues(self.files + later.files, self.sets + later.sets)


def chart_folder(text: str, root: Path, where: str) -> Path:
    """The chart folder `text` names (relative to `root`, or absolute). Raises ValueError naming `where`."""
    folder = (root / text).resolve()
    if not (folder / "Chart.yaml").is_file():
        raise ValueError(f"{where}: {text!r} is no chart folder under {root} (no Chart.yaml)")
    return folder


def parse_chart_values(
    values: list[str], sets: list[str], root: Path
) -> tuple[tuple[Path, ChartValues], ...]:
    """`--values CHART=FILE` and `--set CHART:key=value` entries, per chart folder (CHART relative to
    --manifests `root`; FILE relative to the working folder, as helm reads it). Raises ValueError
    naming the flag and the entry. Example: ``parse_chart_values(["charts/foo=ci.yaml"], [], root)``
    """
    out: dict[Path, ChartValues] = {}
    for entry in values:
        chart, sep, file = entry.partition("=")
        where = f"--values / CONFORMANCE_VALUES {entry!r}"
        if not sep or not chart or not file:
            raise ValueError(f"{where}: expected CHART=FILE (e.g. charts/foo=ci-values.yaml)")
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"{where}: values file {path} does not exist")
        folder = chart_folder(chart, root, where)
        out[folder] = out.get(folder, ChartValues()) + ChartValues(files=(path,))
    for entry in sets:
        chart, sep, assignment = entry.partition(":")
        where = f"--set / CONFORMANCE_SET {entry!r}"
        if not sep or not chart or "=" not in assignment.lstrip("="):
            raise ValueError(f"{where}: expected CHART:key=value (e.g. charts/foo:image.tag=1.2)")
        folder = chart_folder(chart, root, where)
        out[folder] = out.get(folder, ChartValues()) + ChartValues(sets=(assignment,))
    return tuple(sorted(out.items()))


def merge_values(*layers: tuple[tuple[Path, ChartValues], ...]) -> dict[Path, ChartValues]:
    """Per chart folder, every layer's values in order (the policy's, then the flags': later wins)."""
    out: dict[Path, ChartValues] = {}
    for layer in layers:
        for folder, values in layer:
            out[folder] = out.get(folder, ChartValues()) + values
    return out


def values_files(chart: Path, profile: str) -> list[Path]:
    """values-<profile>.yaml beside Chart.yaml, if the chart has one (values.yaml is implicit)."""
    overlay = chart / f"values-{profile}.yaml"
    return [overlay] if overlay.is_file() else []


@functools.cache
def chart_meta(chart: Path) -> dict[str, Any]:
    """Chart.yaml as a mapping (empty if unreadable: helm itself then reports the problem)."""
    try:
        docs = list(iter_documents((chart / "Chart.yaml").read_bytes(), Source(str(chart), 0)))
    except OSError:
        return {}
    data = docs[0][1] if docs else None
    meta = data if isinstance(data, dict) else {}
    if not isinstance(meta.get("dependencies"), list):
        # apiVersion v1 charts list their dependencies in requirements.yaml.
        try:
            req = list(iter_documents((chart / "requirements.yaml").read_bytes(), Source(str(chart), 0)))
        except OSError:
            req = []
        deps = req[0][1].get("dependencies") if req and isinstance(req[0][1], dict) else None
        meta = {**meta, "dependencies": deps if isinstance(deps, list) else []}
    return meta


def _dependencies(chart: Path) -> list[dict[str, Any]]:
    return [d for d in chart_meta(chart).get("dependencies", []) if isinstance(d, dict) and d.get("name")]


def _vendored(chart: Path, name: str) -> Path | None:
    """The folder or archive under charts/ holding dependency `name`, if vendored."""
    folder = chart / "charts" / name
    if (folder / "Chart.yaml").is_file():
        return folder
    charts = chart / "charts"
    if not charts.is_dir():
        return None
    for entry in sorted(charts.iterdir()):
        if entry.is_dir() and chart_meta(entry).get("name") == name:
            return entry
        if entry.name.endswith(".tgz") and re.fullmatch(re.escape(name) + r"-v?\d[^/]*\.tgz", entry.name):
            return entry
    return None


def missing_dependencies(chart: Path, label: str, profile: str | None = None) -> Problem | None:
    """One problem naming every dependency Chart.yaml lists that charts/ does not hold."""
    missing = [d for d in _dependencies(chart) if _vendored(chart, str(d["name"])) is None]
    if not missing:
        return None
    listed = ", ".join(
        f"{d['name']} {d.get('version', '')}".strip()
        + (f" (from {d['repository']})" if d.get("repository") else "")
        for d in missing
    )
    return Problem(
        Source(label, 0, None, label, profile),
        f"chart dependencies are not vendored in {label}/charts/: {listed}. Vendor them once with "
        f"`helm dependency build {label}` (or `helm dependency update {label}` without a Chart.lock) "
        "and commit charts/ or run it before the suite: the suite renders offline and never downloads",
    )


def is_library_chart(chart: Path) -> bool:
    return chart_meta(chart).get("type") == "library"


def helm_template(
    chart: Path,
    chart_label: str,
    profile: str,
    namespace: str | None,
    kube_version: str | None = None,
    *,
    extra: ChartValues | None = None,
) -> str | Problem:
    """`helm template` output for a profile, or a Problem if the chart does not render.

    `extra`: the user's values for this chart (--values / --set, the policy's `charts:`).

    A chart that does not render (template error, values rejected by
    values.schema.json, dependencies not vendored) is a problem of the inputs;
    a missing or crashing helm binary is an InfraError.
    """
    missing = missing_dependencies(chart, chart_label)  # the same in every profile: reported once
    if missing is not None:
        return missing
    helm = tools.find("helm")
    # Without --namespace helm asks the kubeconfig; "default" is what it renders for a clean machine.
    args = ["--include-crds", "--namespace", namespace or "default"]
    if kube_version:
        args += ["--kube-version", kube_version]
    for values in values_files(chart, profile):
        args += ["--values", str(values)]
    for values in extra.files if extra else ():
        args += ["--values", str(values)]
    for assignment in extra.sets if extra else ():
        args += ["--set", assignment]
    store = RenderCache.open()
    key = render_key(helm, chart, args) if store is not None else b""
    cached = store.get(key) if store is not None else None
    rendered, text = cached if cached is not None else _run_helm(helm, chart, args, chart_label)
    if store is not None and cached is None:
        store.put(key, rendered, text)
    if not rendered:
        return Problem(Source(chart_label, 0, None, chart_label, profile), f"chart does not render: {text}")
    return text


def _run_helm(helm: Path, chart: Path, args: list[str], chart_label: str) -> tuple[bool, str]:
    """(rendered, output or helm's error on one line) of `helm template`; InfraError if helm cannot run."""
    count("helm")
    cmd = [str(helm), "template", chart.name, str(chart), *args]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False, env=_helm_env())
    except subprocess.TimeoutExpired:
        raise InfraError(f"helm template {chart_label} did not finish in {RENDER_TIMEOUT_S}s") from None
    except OSError as err:
        raise InfraError(f"cannot run {helm}: {err}") from None
    if out.returncode != 0:
        return False, " ".join(out.stderr.decode(errors="replace").split())
    return True, out.stdout.decode(errors="replace")


@dataclass(frozen=True)
class RenderJob:
    """One chart to render for one profile (helm_template's arguments)."""

    chart: Path
    label: str
    profile: str
    namespace: str | None
    kube_version: str | None = None
    extra: ChartValues | None = None


def render_charts(jobs: list[RenderJob]) -> list[str | Problem]:
    """helm_template for each job, in order, up to RENDER_WORKERS charts at once: helm is a process of
    its own (threads suffice) and a chart repo's renders are independent of each other."""

    def render(job: RenderJob) -> str | Problem:
        return helm_template(
            job.chart, job.label, job.profile, job.namespace, job.kube_version, extra=job.extra
        )

    if len(jobs) <= 1:
        return [render(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=min(len(jobs), RENDER_WORKERS)) as pool:
        return list(pool.map(render, jobs))


def _helm_env() -> dict[str, str]:
    """The caller's environment without a kubeconfig context: renders do not depend on the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env["KUBECONFIG"] = os.devnull
    return env


def template_path(chart: Path, source: str) -> Path:
    """The file on disk behind helm's `# Source: <chart>/charts/<alias>/templates/x.yaml`.

    helm names subcharts by alias (the platform's service-template renders as
    api-gateway, guests, ...); each level's Chart.yaml maps alias -> dependency ->
    the folder (or .tgz archive) under charts/.
    """
    parts = source.strip().split("/")[1:]  # the first part is the chart's name, not its folder
    here = chart
    while len(parts) >= 2 and parts[0] == "charts":
        name = parts[1]
        for dep in _dependencies(here):
            if dep.get("alias") == name:
                name = str(dep["name"])
                break
        vendored = _vendored(here, name)
        if vendored is None:
            break
        if not vendored.is_dir():
            return vendored  # inside an archive: the archive is the file on disk
        here, parts = vendored, parts[2:]
    return here.joinpath(*parts)


def parse_rendered(
    text: str,
    chart_label: str,
    profile: str,
    namespace: str,
    limits: Limits = DEFAULT_LIMITS,
    *,
    chart: Path | None = None,
    base: Path | None = None,
) -> list[K8sObject | Problem]:
    """Objects of a rendered chart; each keeps its template path and index within that template.

    With `chart` (its folder) and `base` (what labels are relative to), objects carry the
    template file on disk as their Origin and their source names that file.
    """
    results: list[K8sObject | Problem] = []
    chart_source = Source(chart_label, 0, None, chart_label, profile)
    origins: dict[str, Origin] = {}
    # helm prefixes every template document with "# Source: <chart>/templates/x.yaml", but prints a
    # crds/ file once, as written: its own `---` lines (controller-gen starts every file with one)
    # leave documents after the `# Source:` line without it. They belong to the last source seen.
    key: str | None = None
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        match = _SOURCE_COMMENT.search(chunk)
        if match is not None:
            key = match.group(1)
        elif not chunk.strip():
            continue
        if key is None:
            results.append(Problem(chart_source, "rendered output without a `# Source:` line"))
            continue
        origin = None
        if chart is not None and base is not None:
            origin = origins.get(key)
            if origin is None:
                disk = template_path(chart, key)
                origin = origins[key] = Origin("template", disk, display(disk, base))
            template = origin.label
        else:
            template = str(Path(chart_label).parent / key)
        documents = iter_documents(chunk.encode(), Source(template, 0, None, chart_label, profile), limits)
        for item in to_objects(documents, namespace):
            if isinstance(item, K8sObject):
                item.origin = origin
            results.append(item)
    # "document N" = the Nth object that template produced (e.g. a range over services).
    counts: dict[str, int] = {}
    for i, item in enumerate(results):
        src = item.source
        n = counts.get(src.path, 0)
        counts[src.path] = n + 1
        new = Source(src.path, n, src.line, src.chart, src.profile)
        if isinstance(item, K8sObject):
            item.source = new
        else:
            results[i] = Problem(new, item.message, item.field, item.object_ref)
    return results


def kustomization_file(folder: Path) -> Path | None:
    return next((folder / n for n in KUSTOMIZATION_FILES if (folder / n).is_file()), None)


def kustomize_references(folder: Path) -> tuple[list[Path], list[str]]:
    """(local paths a kustomization reads: resources, bases, components; remote references)."""
    path = kustomization_file(folder)
    if path is None:
        return [], []
    try:
        docs = list(iter_documents(path.read_bytes(), Source(str(path), 0)))
    except OSError:
        return [], []
    data = docs[0][1] if docs and isinstance(docs[0][1], dict) else {}
    local, remote = [], []
    for key in ("resources", "bases", "components", "crds"):
        entries = data.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, str):
                continue
            if _REMOTE.match(entry) or "?ref=" in entry:
                remote.append(entry)
            else:
                local.append((folder / entry).resolve())
    return local, remote


def kustomize_build(folder: Path, label: str) -> str | Problem:
    """`kubectl kustomize <folder>` with the pinned kubectl, or a Problem naming the folder."""
    _, remote = kustomize_references(folder)
    if remote:
        return Problem(
            Source(label, 0),
            f"kustomization references remote resources ({', '.join(remote)}): the suite renders "
            "offline; vendor them into the repo and reference the local copy",
        )
    kubectl = tools.find("kubectl")
    try:
        out = subprocess.run(
            [str(kubectl), "kustomize", str(folder)],
            capture_output=True,
            timeout=RENDER_TIMEOUT_S,
            check=False,
            env={**os.environ, "KUBECONFIG": os.devnull},
        )
    except subprocess.TimeoutExpired:
        raise InfraError(f"kubectl kustomize {label} did not finish in {RENDER_TIMEOUT_S}s") from None
    except OSError as err:
        raise InfraError(f"cannot run {kubectl}: {err}") from None
    if out.returncode != 0:
        message = " ".join(out.stderr.decode(errors="replace").split())
        return Problem(Source(label, 0), f"kustomization does not build: {message}")
    return out.stdout.decode(errors="replace")


def display(path: Path, base: Path) -> str:
    """`path` relative to `base` (the folder above --manifests), as findings show it."""
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)
