"""Helm renders cached by content and run several charts at once (issue 18 item 4).

Real helm on copies of fixtures/chart-values' chart (image.tag required); the cache's counters
(`render_cache.STATS`: lookups hit/miss, helm runs) show what was rendered, not wall-clock.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.inventory.model import Problem
from conformance.inventory.render import ChartValues, RenderJob, helm_template, render_charts
from conformance.inventory.render_cache import STATS
from conformance.tools import REPO

CHART = REPO / "fixtures" / "chart-values" / "app" / "charts" / "web"
TAG = ChartValues(sets=("image.tag=1.0",))


@pytest.fixture
def chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the chart, with a fresh cache root for this test."""
    monkeypatch.setenv("CONFORMANCE_STATIC_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "charts" / "web"
    shutil.copytree(CHART, copy)
    yield copy


def _render(chart: Path, extra: ChartValues | None = TAG, **kw: str) -> tuple[str | Problem, dict[str, int]]:
    """The render and what it cost: {"hit": .., "miss": .., "helm": ..} of this call alone."""
    before = dict(STATS)
    profile, namespace = kw.get("profile", "prod"), kw.get("namespace", "apps")
    out = helm_template(
        chart, "charts/web", profile, namespace, kw.get("kube_version", "1.36.0"), extra=extra
    )
    return out, {k: STATS[k] - before.get(k, 0) for k in ("hit", "miss", "helm")}


def test_an_unchanged_chart_is_rendered_once(chart: Path) -> None:
    first, cost = _render(chart)
    assert cost == {"hit": 0, "miss": 1, "helm": 1}
    assert isinstance(first, str) and "ghcr.io/example/web:1.0" in first
    again, cost = _render(chart)
    assert cost == {"hit": 1, "miss": 0, "helm": 0}
    assert again == first


@pytest.mark.parametrize(
    "change",
    [
        "template",
        "values.yaml",
        "profile overlay",
        "new file",
        "set",
        "values file",
        "kube version",
        "namespace",
    ],
)
def test_what_decides_a_render_invalidates_it(chart: Path, tmp_path: Path, change: str) -> None:
    values = tmp_path / "ci-values.yaml"
    values.write_text("image: {repository: one}\n")
    extra = ChartValues((values,), TAG.sets)
    _render(chart, extra)
    kw: dict[str, str] = {}
    template = chart / "templates" / "configmap.yaml"
    if change == "template":
        template.write_text(template.read_text().replace("web-image", "web-image-2"))
    elif change == "values.yaml":
        (chart / "values.yaml").write_text("image: {repository: two}\n")
    elif change == "profile overlay":
        (chart / "values-prod.yaml").write_text("image: {repository: three}\n")
    elif change == "new file":
        (chart / "templates" / "NOTES.txt").write_text("hello\n")
    elif change == "set":
        extra = ChartValues((values,), ("image.tag=2.0",))
    elif change == "values file":
        values.write_text("image: {repository: four}\n")
    elif change == "kube version":
        kw["kube_version"] = "1.35.0"
    else:
        kw["namespace"] = "other"
    _, cost = _render(chart, extra, **kw)
    assert cost == {"hit": 0, "miss": 1, "helm": 1}, change


def test_a_values_file_is_keyed_by_content_not_path(chart: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "a.yaml", tmp_path / "b.yaml"
    one.write_text("image: {tag: '5'}\n")
    two.write_text(one.read_text())
    _render(chart, ChartValues((one,)))
    out, cost = _render(chart, ChartValues((two,)))
    assert cost["hit"] == 1 and isinstance(out, str) and "web:5" in out


def test_a_chart_that_does_not_render_is_cached_with_its_error(chart: Path) -> None:
    first, _ = _render(chart, None)
    again, cost = _render(chart, None)
    assert cost == {"hit": 1, "miss": 0, "helm": 0}
    assert isinstance(again, Problem) and again == first
    assert "chart does not render" in again.message and "image.tag is required" in again.message


def test_a_corrupt_entry_is_a_miss(chart: Path, tmp_path: Path) -> None:
    _render(chart)
    for entry in (tmp_path / "cache" / "helm-render").rglob("*.json"):
        entry.write_text("{not json")
    out, cost = _render(chart)
    assert cost == {"hit": 0, "miss": 1, "helm": 1} and isinstance(out, str)


def test_off_renders_every_time(chart: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFORMANCE_STATIC_CACHE", "off")
    _render(chart)
    _, cost = _render(chart)
    assert cost == {"hit": 0, "miss": 0, "helm": 1}


def test_charts_render_together_and_come_back_in_order(chart: Path) -> None:
    charts = []
    for i in range(5):
        copy = chart.parent / f"web{i}"
        shutil.copytree(chart, copy)
        charts.append(copy)
    jobs = [
        RenderJob(c, f"charts/{c.name}", "prod", "apps", "1.36.0", ChartValues(sets=(f"image.tag={i}",)))
        for i, c in enumerate(charts)
    ]
    jobs.insert(2, RenderJob(chart, "charts/web", "prod", "apps", "1.36.0", None))  # one that fails
    out = render_charts(jobs)
    assert isinstance(out[2], Problem) and out[2].source.path == "charts/web"
    rendered = [o for i, o in enumerate(out) if i != 2]
    for i, text in enumerate(rendered):
        assert isinstance(text, str) and f'image: "ghcr.io/example/web:{i}"' in text, (i, text)
