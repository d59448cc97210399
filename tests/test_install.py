"""`pip install .` (issue 18 item 5): the wheel gives a `conformance` command and a pytest11 entry
point that run the same static engine, from a folder outside the checkout.

The wheel is built offline with the venv's own backend (setuptools + wheel, `--no-build-isolation`)
from a copy of the sources, installed into a throwaway venv that borrows the project venv's
site-packages for the dependencies (a `.pth` line), never the checkout (PYTHONPATH is dropped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.tools import REPO, TOOLS_BIN

pytestmark = pytest.mark.slow

CLEAN = REPO / "fixtures" / "corpus" / "plain-clean"
MINOR = REPO / "fixtures" / "gate" / "minor-finding"  # one minor finding: exit 1 by default


def _run(cmd: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("CONFORMANCE_")}
    env.update(CONFORMANCE_STATIC_CACHE="off", TOOLS_BIN=str(TOOLS_BIN))
    env["CONFORMANCE_SCHEMAS"] = str(REPO / ".tools" / "schemas")
    env.update(extra)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throwaway venv with the built wheel installed; yields its bin/ folder."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    shutil.copy2(REPO / "pyproject.toml", src)
    shutil.copytree(REPO / "conformance", src / "conformance", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = _run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", "dist", "."], src
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((src / "dist").glob("tartware_conformance-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = _run([*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    yield venv / "bin"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the checkout holding copies of the fixtures (paths as a user gives them)."""
    for fixture in (CLEAN, MINOR):
        shutil.copytree(fixture, tmp_path / fixture.name)
    return tmp_path


def test_the_wheel_holds_what_the_static_tier_reads_at_run_time(installed: Path) -> None:
    where = _run(
        [str(installed / "python"), "-c", "import conformance; print(conformance.__file__)"], Path("/")
    )
    package = Path(where.stdout.strip()).parent
    assert REPO not in package.parents, f"imported from the checkout, not the wheel: {package}"
    assert (package / "baseline-policy.yaml").is_file()
    assert (package / "suites" / "static" / "conftest.py").is_file()


@pytest.mark.parametrize(("fixture", "status"), [(CLEAN, 0), (MINOR, 1)], ids=["clean", "finding"])
def test_the_conformance_command_gives_the_gate_exit_status(
    installed: Path, outside: Path, fixture: Path, status: int
) -> None:
    run = _run([str(installed / "conformance"), "static", fixture.name], outside)
    assert run.returncode == status, (run.stdout + run.stderr)[-3000:]
    assert f"manifests={outside / fixture.name} " in run.stdout


def test_the_pytest_entry_point_runs_the_tier_with_pyargs(installed: Path, outside: Path) -> None:
    cmd = [str(installed / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    run = _run(
        [*cmd, "--pyargs", "conformance.suites.static", "--manifests", MINOR.name],
        outside,
        PATH=f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    assert run.returncode == 1, (run.stdout + run.stderr)[-3000:]
    assert "1 failed" in run.stdout


def test_missing_tools_are_one_line_and_exit_2(installed: Path, outside: Path) -> None:
    empty = outside / "no-tools"
    empty.mkdir()
    run = _run([str(installed / "conformance"), "static", CLEAN.name], outside, TOOLS_BIN=str(empty))
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        f"conformance: helm, kubeconform not found in {empty} (TOOLS_BIN): install the pinned tools with "
        "`TOOLS_TIER=static tools/install.sh` in a checkout of this suite, then set "
        "TOOLS_BIN=<checkout>/.tools/bin and CONFORMANCE_SCHEMAS=<checkout>/.tools/schemas"
    ]
