"""docs/guide-adding.md works when followed literally.

Every `<!-- guide: file PATH -->` block of the guide is written into a copy of the
repository, every `<!-- guide: run make X -->` / `<!-- guide: run pytest ARGS -->` step is
run there, in order, exactly as a newcomer would; the example rule must then be registered,
in the generated catalogue, and proven by its fixtures.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.tools import REPO

pytestmark = pytest.mark.slow
GUIDE = REPO / "docs" / "guide-adding.md"
STEP = re.compile(r"<!-- guide: (file|run) (.+?) -->\n(?:```\w*\n(.*?)```)?", re.DOTALL)
NOT_COPIED = (
    ".git",
    ".venv",
    ".tools",
    "build",
    "node_modules",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
)


def steps(text: str) -> list[tuple[str, str, str]]:
    """(verb, argument, block) for each marked step, in the guide's order."""
    return [(m.group(1), m.group(2).strip(), m.group(3) or "") for m in STEP.finditer(text)]


def test_the_guide_has_steps() -> None:
    found = steps(GUIDE.read_text())
    assert [v for v, _, _ in found].count("file") >= 3, found
    assert any(v == "run" for v, _, _ in found), found


def test_adding_a_rule_as_the_guide_says(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(*NOT_COPIED, "__pycache__"), symlinks=True)
    for shared in (".venv", ".tools"):  # the newcomer's own setup, already made
        (copy / shared).symlink_to(REPO / shared)
    env = {**os.environ, "PYTHONPATH": str(copy)}
    for verb, argument, block in steps(GUIDE.read_text()):
        if verb == "file":
            path = copy / argument
            assert not path.exists(), f"the guide's example {argument} already exists in the repository"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block)
            continue
        words = shlex.split(argument)
        cmd = (
            ["make", "--no-print-directory", *words[1:]]
            if words[0] == "make"
            else [sys.executable, "-m", *words]
        )
        out = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert out.returncode == 0, (
            f"guide step `{argument}` failed:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}"
        )
    catalogue = (copy / "docs" / "rules.md").read_text()
    assert "`revision-history-bounded`" in catalogue
    # The copy shares the newcomer's .tools: its `make` steps must leave no link pointing into it.
    links = [t for t in (REPO / ".tools" / "bin").iterdir() if t.is_symlink()]
    through_copy = [t.name for t in links if str(copy) in str(t.readlink())]
    assert not through_copy, f"tools linked through the scratch copy: {through_copy}"
