"""The report opens from file:// in headless Chromium and shows every tier and category.

A small real results set (conformance.report.sample: one pytest session with
passed, failed, skipped and broken tests in the static, behaviour and SLO
tiers) goes through `prepare` + `generate` with the pinned Allure CLI; Debian's
chromium loads the single index.html from file:// and dumps the DOM after a
virtual time budget. Skips when chromium or the Allure CLI is missing
(tools/install-report.sh installs both on CI).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.errors import ToolMissing
from conformance.report.allure_html import HISTORY_FILE, Paths, generate, label_tiers, load_results, prepare
from conformance.report.categories import CATEGORIES, TIERS, classify, tier_of
from conformance.report.sample import EXPECTED, Sample, write_sample
from conformance.tools import find

pytestmark = pytest.mark.slow

# The flags that work on this machine kind (no GPU, closed network, root).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIRTUAL_TIME_MS = 15000


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """The sample session's results (its failures make pytest exit 1)."""
    return write_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def allure() -> Path:
    try:
        return find("allure")
    except ToolMissing:
        pytest.skip("the Allure CLI is not installed: run tools/install-report.sh (make test does)")


@pytest.fixture(scope="module")
def report(sample: Sample, allure: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """index.html of the sample's report."""
    paths = Paths(sample.results, tmp_path_factory.mktemp("report") / "allure-report")
    prepare(paths)
    return generate(paths, allure)


def chromium_dom(url: str, profile: Path, attempts: int = 3) -> str:
    """The DOM after load (scripts removed: the single file inlines its data, names included).

    On a loaded machine the report may not have rendered when chromium dumps the DOM (seen once
    in CI: an empty title): dumped again, a bounded number of times, with twice the budget."""
    for attempt in range(attempts):
        dom = _dump_dom(url, profile, VIRTUAL_TIME_MS * 2**attempt)
        if texts(dom, "report-title"):
            break
    return dom


def _dump_dom(url: str, profile: Path, budget_ms: int) -> str:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium (CI: tools/install-report.sh)")
    budget = f"--virtual-time-budget={budget_ms}"
    run = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", budget, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"chromium exited {run.returncode}: {run.stderr[-2000:]}"
    return re.sub(r"<script\b.*?</script>", "", run.stdout, flags=re.DOTALL)


def texts(dom: str, testid: str) -> list[str]:
    """Text of the elements carrying data-testid=<testid> (the report's own test hooks)."""
    pattern = rf'data-testid="{re.escape(testid)}"[^>]*>([^<]*)<'
    return [m.strip() for m in re.findall(pattern, dom)]


def test_sample_has_every_outcome_in_every_tier(sample: Sample) -> None:
    assert sample.exit_code == 2, sample.output[-3000:]  # a BROKEN test beside the failures: 2 wins over 1
    label_tiers(sample.results)  # the mark-skipped static test never ran label(): prepare fills its epic
    seen = {(tier_of(r), r["status"]) for r in load_results(sample.results)}
    for tier in TIERS:
        assert {s for t, s in seen if t == tier} >= {"passed", "failed", "skipped"}, (tier, seen)
    assert ("behaviour", "broken") in seen


def test_every_failure_lands_in_its_category(sample: Sample) -> None:
    got = {r["name"]: classify(r) for r in load_results(sample.results)}
    assert got == EXPECTED


def test_report_opens_from_file_and_lists_every_tier(report: Path, tmp_path: Path) -> None:
    dom = chromium_dom(report.as_uri(), tmp_path / "profile")
    assert texts(dom, "report-title") == ["Tartware conformance"], "the report did not render"
    sections = texts(dom, "tree-section-title")
    for tier in TIERS:
        assert tier in sections, f"epic {tier!r} missing from the report tree: {sections}"
    leaves = set(texts(dom, "tree-leaf-title"))
    failed = {name for name, category in EXPECTED.items() if category}
    assert failed <= leaves, f"failed tests not listed: {sorted(failed - leaves)}"
    keys = texts(dom, "metadata-item-key")
    assert "git.revision" in keys and "kubernetes.version" in keys, keys


def test_categories_view_names_each_category(report: Path, tmp_path: Path) -> None:
    dom = chromium_dom(report.as_uri() + "#categories", tmp_path / "profile")
    visible = re.sub(r"<[^>]+>", "\n", dom)
    shown = {line.strip() for line in visible.splitlines()}
    expected = {c.name for c in CATEGORIES if c.name in set(EXPECTED.values())}
    assert expected <= shown, f"categories missing from the view: {sorted(expected - shown)}"


def test_history_carries_over_once_per_results_set(sample: Sample, allure: Path, tmp_path: Path) -> None:
    paths = Paths(sample.results, tmp_path / "allure-report")
    prepare(paths)
    generate(paths, allure)
    generate(paths, allure)  # same results again: no second point in the trend
    assert len((paths.report / HISTORY_FILE).read_text().splitlines()) == 1
    second = write_sample(tmp_path / "second")
    generate(Paths(second.results, paths.report), allure)
    runs = [json.loads(line) for line in (paths.report / HISTORY_FILE).read_text().splitlines()]
    assert len(runs) == 2 and runs[0]["uuid"] != runs[1]["uuid"]
