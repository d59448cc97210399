"""Render a Helm chart with the helm binary, and split its output into objects."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .. import tools
from ..errors import InfraError
from .loader import DEFAULT_LIMITS, Limits, iter_documents, to_objects
from .model import K8sObject, Problem, Source

_SOURCE_COMMENT = re.compile(r"^# Source: (.+)$", re.MULTILINE)
RENDER_TIMEOUT_S = 120


def values_files(chart: Path, profile: str) -> list[Path]:
    """values-<profile>.yaml beside Chart.yaml, if the chart has one (values.yaml is implicit)."""
    overlay = chart / f"values-{profile}.yaml"
    return [overlay] if overlay.is_file() else []


def helm_template(chart: Path, chart_label: str, profile: str, namespace: str) -> str | Problem:
    """`helm template` output for a profile, or a Problem if the chart does not render.

    A chart that does not render (template error, values rejected by
    values.schema.json) is a problem of the inputs; a missing or crashing
    helm binary is an InfraError.
    """
    helm = tools.find("helm")
    cmd = [str(helm), "template", chart.name, str(chart), "--namespace", namespace]
    for values in values_files(chart, profile):
        cmd += ["--values", str(values)]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InfraError(f"helm template {chart_label} did not finish in {RENDER_TIMEOUT_S}s") from None
    except OSError as err:
        raise InfraError(f"cannot run {helm}: {err}") from None
    if out.returncode != 0:
        message = " ".join(out.stderr.decode(errors="replace").split())
        return Problem(
            Source(chart_label, 0, None, chart_label, profile), f"chart does not render: {message}"
        )
    return out.stdout.decode(errors="replace")


def parse_rendered(
    text: str, chart_label: str, profile: str, namespace: str, limits: Limits = DEFAULT_LIMITS
) -> list[K8sObject | Problem]:
    """Objects of a rendered chart; each keeps its template path and index within that template."""
    results: list[K8sObject | Problem] = []
    chart_source = Source(chart_label, 0, None, chart_label, profile)
    # helm prefixes every document with "# Source: <chart>/templates/x.yaml".
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        match = _SOURCE_COMMENT.search(chunk)
        if match is None:
            if chunk.strip():
                results.append(Problem(chart_source, "rendered output without a `# Source:` line"))
            continue
        template = str(Path(chart_label).parent / match.group(1))
        documents = iter_documents(chunk.encode(), Source(template, 0, None, chart_label, profile), limits)
        results.extend(to_objects(documents, namespace))
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
