"""Build the HTML report: `prepare` the results directory, then `generate` one index.html.

prepare   writes environment.properties (merged with what the tier sessions
          recorded) and categories.json into the results directory and prints
          what the results hold, per tier and category.
generate  runs the pinned Allure 3 CLI (.tools/bin/allure, from
          tools/install-report.sh) with the awesome plugin in single-file mode,
          so the report opens from file://; carries the previous report's
          history over so trends show; replaces the old report only on success.

Example: ``prepare(Paths(Path("build/allure-results"), Path("build/allure-report")))``
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InfraError, ToolMissing
from ..settings import Settings
from ..tools import find
from . import environment
from .categories import TIERS, allure_rules, classify, tier_of

CATEGORIES_FILE = "categories.json"
HISTORY_FILE = "history.jsonl"  # Allure 3's history: one line per generated report
SOURCE_FILE = "source.json"  # which results the report in this folder was made from
REPORT_NAME = "Tartware conformance"
HISTORY_LIMIT = 30
GENERATE_TIMEOUT_S = 600
# The report's tree: tier, then rule family (or scenario), then service (or SLO).
GROUP_BY = ("epic", "feature", "story")


@dataclass(frozen=True)
class Paths:
    results: Path  # allure-pytest's --alluredir (build/allure-results)
    report: Path  # the report folder (build/allure-report), holds index.html + history


class ReportError(InfraError):
    """The report could not be built; the message says what to do."""


def result_files(results: Path) -> list[Path]:
    return sorted(results.glob("*-result.json")) if results.is_dir() else []


def load_results(results: Path) -> list[dict[str, Any]]:
    """The parsed *-result.json files (unreadable ones are named on stderr and left out)."""
    loaded: list[dict[str, Any]] = []
    for path in result_files(results):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            print(f"report: unreadable result {path.name}: {err}", file=sys.stderr)
            continue
        if isinstance(data, dict):
            loaded.append(data)
    return loaded


def _require_results(results: Path) -> None:
    if not result_files(results):
        raise ReportError(
            f"no test results in {results}: run `make static`, `make behaviour`, `make slo` "
            "or `make conformance` first (they write --alluredir=build/allure-results)"
        )


def summary_lines(results: list[dict[str, Any]]) -> list[str]:
    """Per tier: counts by status; then counts per category; then a warning on reruns."""
    by_tier: dict[str, Counter[str]] = {}
    categories: Counter[str] = Counter()
    for result in results:
        by_tier.setdefault(tier_of(result), Counter())[str(result.get("status", "unknown"))] += 1
        if result.get("status") in ("failed", "broken"):
            categories[classify(result) or "uncategorised (Allure default)"] += 1
    lines = []
    for tier in sorted(by_tier):
        counts = by_tier[tier]
        lines.append(f"  {tier}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if categories:
        lines.append("  categories: " + ", ".join(f"{n} {name}" for name, n in categories.most_common()))
    repeats = len(results) - len({r.get("historyId") or r.get("uuid") for r in results})
    if repeats:
        lines.append(
            f"  note: {repeats} result(s) repeat a test already in {len(results) - repeats}: the results "
            "directory holds several runs (Allure shows them as retries); `make conformance` "
            "starts from an empty one"
        )
    return lines


_TIER_PACKAGE = re.compile(r"(?:^|\.)suites\.(" + "|".join(TIERS) + r")(?:\.|#|$)")


def label_tiers(results: Path) -> int:
    """Give an epic (tier) to results that have none, from their module path; returns how many.

    A test skipped by a mark never runs its body, so `label()` never sets its
    epic and it would sit outside every tier in the report.
    """
    fixed = 0
    for path in result_files(results):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        labels = data.get("labels") if isinstance(data, dict) else None
        if not isinstance(labels, list) or any(lb.get("name") == "epic" for lb in labels):
            continue
        match = _TIER_PACKAGE.search(str(data.get("fullName", "")))
        if match is None:
            continue
        labels.insert(0, {"name": "epic", "value": match.group(1)})
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
        fixed += 1
    return fixed


def prepare(paths: Paths, settings: Settings | None = None) -> list[str]:
    """Write environment.properties and categories.json into the results; return the summary."""
    _require_results(paths.results)
    label_tiers(paths.results)
    if settings is None:
        try:
            settings = Settings.from_env()
        except (ValueError, OSError) as err:
            raise ReportError(f"bad CONFORMANCE_* settings in the environment: {err}") from None
    env_path = paths.results / environment.FILE
    recorded = environment.read_properties(env_path)
    fallback = environment.settings_properties(settings)
    merged = {**fallback, **recorded, **environment.run_properties(settings)}
    environment.write_properties(env_path, merged)
    (paths.results / CATEGORIES_FILE).write_text(json.dumps(allure_rules(), indent=2) + "\n")
    return summary_lines(load_results(paths.results))


def merge_parts(parts: list[Path], into: Path) -> int:
    """Copy several results dirs (e.g. one CI artifact per tier) into one; returns files copied.

    Result files are uuid-named and never collide; environment.properties is
    merged key by key (differing values are all kept); categories.json is
    rewritten by `prepare` anyway.
    """
    into.mkdir(parents=True, exist_ok=True)
    env = environment.read_properties(into / environment.FILE)
    copied = 0
    for part in parts:
        if not part.is_dir():
            raise ReportError(f"results part {part} is not a directory")
        for path in sorted(part.iterdir()):
            if path.name == environment.FILE:
                env = environment.merge(env, environment.read_properties(path))
            elif path.is_file() and path.name != CATEGORIES_FILE:
                shutil.copy2(path, into / path.name)
                copied += 1
    if env:
        environment.write_properties(into / environment.FILE, env)
    return copied


def fingerprint(results: Path) -> str:
    """Identity of a results set (names and sizes of its result files)."""
    digest = hashlib.sha256()
    for path in result_files(results):
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def previous_history(paths: Paths, current: str) -> list[str]:
    """History lines to start from: the last report's, minus its own run if it came from these results.

    Regenerating the same results must not add a second point to the trend.
    """
    history = paths.report / HISTORY_FILE
    if not history.is_file():
        return []
    lines = [line for line in history.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        source = json.loads((paths.report / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return lines
    if isinstance(source, dict) and source.get("results") == current:
        return lines[: int(source.get("history_before", len(lines)))]
    return lines


def allure_config(output: Path, history: Path, categories: list[dict[str, Any]]) -> dict[str, Any]:
    """Allure 3 config: single-file awesome report, our categories, history file."""
    return {
        "name": REPORT_NAME,
        "output": str(output),
        "historyPath": str(history),
        "historyLimit": HISTORY_LIMIT,
        "categories": {"rules": categories},
        "plugins": {
            "awesome": {
                "options": {
                    "singleFile": True,
                    "reportName": REPORT_NAME,
                    "groupBy": list(GROUP_BY),
                }
            }
        },
    }


def _categories(results: Path) -> list[dict[str, Any]]:
    path = results / CATEGORIES_FILE
    if not path.is_file():
        return allure_rules()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ReportError(f"{path} is not JSON ({err}): rerun `make report`") from None
    if not isinstance(data, list):
        raise ReportError(f"{path} must be a JSON list of category rules")
    return data


def generate(paths: Paths, allure: Path | None = None) -> Path:
    """Run the Allure CLI; returns the report's index.html. The old report stays if this fails."""
    # Absolute: the CLI runs in a temp dir (its config lives there).
    paths = Paths(paths.results.resolve(), paths.report.resolve())
    _require_results(paths.results)
    if allure is None:
        try:
            allure = find("allure")
        except ToolMissing:
            raise ReportError(
                "the Allure CLI is not installed: run `tools/install-report.sh` (or `make report`)"
            ) from None
    current = fingerprint(paths.results)
    history_lines = previous_history(paths, current)
    paths.report.parent.mkdir(parents=True, exist_ok=True)
    staging = paths.report.with_name(f".{paths.report.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    history = staging / HISTORY_FILE
    if history_lines:
        history.write_text("\n".join(history_lines) + "\n", encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="allurerc-") as tmp:
        config = Path(tmp) / "allurerc.json"
        config.write_text(json.dumps(allure_config(staging, history, _categories(paths.results)), indent=2))
        started = time.monotonic()
        try:
            run = subprocess.run(
                [str(allure), "generate", "--config", str(config), str(paths.results)],
                capture_output=True,
                text=True,
                timeout=GENERATE_TIMEOUT_S,
                check=False,
                cwd=tmp,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise ReportError(f"allure generate did not run: {err}") from None
    index = staging / "index.html"
    if run.returncode != 0 or not index.is_file():
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-20:])
        raise ReportError(f"allure generate failed (exit {run.returncode}), the old report is kept:\n{tail}")
    (staging / SOURCE_FILE).write_text(
        json.dumps(
            {
                "results": current,
                "history_before": len(history_lines),
                "generate_s": round(time.monotonic() - started, 2),
            }
        )
        + "\n"
    )
    old = paths.report.with_name(f".{paths.report.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if paths.report.exists():
        paths.report.rename(old)
    staging.rename(paths.report)
    shutil.rmtree(old, ignore_errors=True)
    return paths.report / "index.html"
