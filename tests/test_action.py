"""The composite GitHub Action (action.yml, issue 18 item 5), checked without GitHub.

actionlint validates action metadata only where a workflow uses the action, so a workflow of three
lines (`uses: ./`, `with: path: manifests/`) is linted beside a copy of action.yml: the call passes,
a misspelt input and a broken action fail. The action's own run scripts are executed for real
(the static tier on fixtures, then the verdict step) to show the tier's exit status reaches the job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.inventory.loader import iter_documents
from conformance.inventory.model import Source
from conformance.tools import REPO, TOOLS_BIN, find

ACTION = REPO / "action.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")
CLEAN = REPO / "fixtures" / "corpus" / "plain-clean"
MINOR = REPO / "fixtures" / "gate" / "minor-finding"
USE = """name: use
on: [pull_request]
jobs:
  static:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      security-events: write
    steps:
      - uses: actions/checkout@v4.2.2
      - uses: ./
        with:
          {input}: manifests/
"""


def _load(text: str) -> dict[str, Any]:
    docs = list(iter_documents(text.encode(), Source(str(ACTION), 0)))
    data = docs[0][1]
    assert isinstance(data, dict), docs
    return data


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return _load(ACTION.read_text())


def _step(action: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in action["runs"]["steps"] if s.get("name") == name)


def test_inputs_are_documented_and_path_is_required(action: dict[str, Any]) -> None:
    inputs = action["inputs"]
    assert inputs["path"]["required"] is True
    assert all(spec.get("description") for spec in inputs.values()), inputs
    assert all(spec.get("required") or "default" in spec for spec in inputs.values()), inputs
    assert "exit-code" in action["outputs"]


def test_a_composite_of_bash_steps_and_pinned_actions(action: dict[str, Any]) -> None:
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert step.get("shell") == "bash", step
            syntax = subprocess.run(
                ["bash", "-n"], input=step["run"], text=True, capture_output=True, check=False
            )
            assert syntax.returncode == 0, f"{step.get('name')}: {syntax.stderr}"
        else:
            assert PINNED.match(step["uses"]), f"not pinned to a version: {step['uses']}"
    uses = [s["uses"] for s in steps if "uses" in s]
    assert any(u.startswith("github/codeql-action/upload-sarif@v") for u in uses), uses
    assert any(u.startswith("actions/cache@v") for u in uses), uses


@pytest.mark.parametrize(
    ("input_name", "broken", "error"),
    [
        ("path", False, None),
        ("paht", False, 'input "paht" is not defined'),
        ("path", True, '"runs.using" is missing'),
    ],
    ids=["three-lines", "misspelt-input", "broken-action"],
)
def test_actionlint_checks_a_three_line_use(
    tmp_path: Path, input_name: str, broken: bool, error: str | None
) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "use.yml").write_text(USE.format(input=input_name))
    text = ACTION.read_text()
    (tmp_path / "action.yml").write_text(text.replace("\n  using: composite", "") if broken else text)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint's project root
    lint = [str(find("actionlint")), "-color=false", "-shellcheck=", "-pyflakes="]  # as `make lint`
    run = subprocess.run(lint, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    if error is None:
        assert run.returncode == 0, run.stdout + run.stderr
    else:
        assert run.returncode == 1 and error in run.stdout, run.stdout + run.stderr


@pytest.fixture
def action_path(tmp_path: Path) -> Path:
    """GITHUB_ACTION_PATH as the install step leaves it: .venv/bin/conformance runs this checkout's
    engine (the installed command itself is tests/test_install.py's business)."""
    bin_dir = tmp_path / "action" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    command = bin_dir / "conformance"
    command.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m conformance "$@"\n')
    command.chmod(0o755)
    return tmp_path / "action"


def _run_step(action: dict[str, Any], name: str, env: dict[str, str], cwd: Path) -> int:
    step = _step(action, name)
    full = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    full.update(env, CONFORMANCE_STATIC_CACHE="off", TOOLS_BIN=str(TOOLS_BIN))
    run = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],  # GitHub's `shell: bash`
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return run.returncode


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixture", "fail_on", "status"),
    [(CLEAN, "", 0), (MINOR, "", 1), (MINOR, "normal", 0), (CLEAN, "major", 4)],
    ids=["clean", "finding", "below-fail-on", "usage-error"],
)
def test_the_job_fails_with_the_tiers_exit_status(
    action: dict[str, Any], action_path: Path, tmp_path: Path, *, fixture: Path, fail_on: str, status: int
) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(fixture, workspace / "manifests")
    outputs = tmp_path / "outputs"
    outputs.touch()
    inputs = {"INPUT_PATH": "manifests/", "INPUT_FAIL_ON": fail_on, "INPUT_K8S_VERSION": "", "INPUT_ARGS": ""}
    github = {
        "GITHUB_ACTION_PATH": str(action_path),
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(tmp_path),
    }
    assert _run_step(action, "Static tier", {**inputs, **github}, workspace) == 0  # the status is kept
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert written["exit-code"] == str(status)
    if status in (0, 1):
        assert Path(written["sarif"]).is_file()
    assert _run_step(action, "Verdict", {"RC": written["exit-code"]}, workspace) == status
