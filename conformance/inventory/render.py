"""Render a Helm chart with the helm binary into objects (or problems)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .. import tools
from ..errors import InfraError
from .loader import Limits, iter_documents, to_objects
from .model import K8sObject, Problem, Source

_SOURCE_COMMENT = re.compile(r"^# Source: (.+)$", re.MULTILINE)
RENDER_TIMEOUT_S = 120


def values_files(chart: Path, profile: str) -> list[Path]:
    """values-<profile>.yaml beside Chart.yaml, if the chart has one (values.yaml is implicit)."""
    overlay = chart / f"values-{profile}.yaml"
    return [overlay] if overlay.is_file() else []


def render_chart(chart: Path, profile: str, namespace: str, root: Path, limits: Limits = Limits()
                 ) -> list[K8sObject | Problem]:  # fmt: skip
    """`helm template` the chart for a profile; each document keeps its template path.

    A chart that does not render (template error, values rejected by
    values.schema.json) is a Problem about the inputs; a missing or crashing
    helm binary is an InfraError.
    """
    helm = tools.find("helm")
    rel_chart = _rel(chart, root)
    cmd = [str(helm), "template", "tartware" if chart.name == "tartware" else chart.name, str(chart),
           "--namespace", namespace]  # fmt: skip
    for values in values_files(chart, profile):
        cmd += ["--values", str(values)]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InfraError(f"helm template {rel_chart} did not finish in {RENDER_TIMEOUT_S}s") from None
    except OSError as err:
        raise InfraError(f"cannot run {helm}: {err}") from None
    chart_source = Source(rel_chart, 0, None, rel_chart, profile)
    if out.returncode != 0:
        message = " ".join(out.stderr.decode(errors="replace").split())
        return [Problem(chart_source, f"chart does not render: {message}")]
    results: list[K8sObject | Problem] = []
    # helm prefixes every document with "# Source: <chart>/templates/x.yaml";
    # split on document markers to keep each document's own template path.
    text = out.stdout.decode(errors="replace")
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        match = _SOURCE_COMMENT.search(chunk)
        if match is None:
            if chunk.strip():
                results.append(Problem(chart_source, "rendered output without a `# Source:` line"))
            continue
        template = str(Path(rel_chart).parent / match.group(1))
        documents = iter_documents(chunk.encode(), Source(template, 0, None, rel_chart, profile), limits)
        results.extend(to_objects(documents, namespace))
    # Index documents per template in render order, so "document N" means the
    # Nth object that template produced (e.g. a range over services).
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


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
