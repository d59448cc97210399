"""tools/build-crds.sh's module-files generator, run for real on one source in a scratch repo:
the CRD files upstream ships in the pinned module's zip become kubeconform schemas; a glob that
matches nothing and a go.sum that does not pin the zip each fail the build, by name.

Offline (GOPROXY=off): the module is already in the Go module cache from `make tools`. The scratch
repo has its own tools cache (controller-gen and the API tables linked from the real one), so the
shared catalogue is never rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.tools import REPO

SOURCE = "gateway-api"
CACHE = Path(os.environ.get("TARTWARE_TOOLS_CACHE", Path.home() / ".cache" / "tartware-conformance"))


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A repo with build-crds.sh, the converter and only the gateway-api source."""
    if shutil.which("go") is None or not list(CACHE.glob("controller-gen-*/controller-gen")):
        pytest.skip("needs go and a built controller-gen (`make tools`)")
    repo = tmp_path / "repo"
    (repo / "tools" / "go" / "crds").mkdir(parents=True)
    for name in ("build-crds.sh", "progress.sh"):
        shutil.copy2(REPO / "tools" / name, repo / "tools" / name)
    for name in ("controller-gen", "api-lifecycle"):
        shutil.copytree(REPO / "tools" / "go" / name, repo / "tools" / "go" / name)
    shutil.copytree(REPO / "tools" / "go" / "crds" / SOURCE, repo / "tools" / "go" / "crds" / SOURCE)
    (repo / "conformance" / "schema").mkdir(parents=True)
    shutil.copy2(REPO / "conformance" / "schema" / "crds.py", repo / "conformance" / "schema" / "crds.py")
    (repo / "conformance" / "__init__.py").touch()
    (repo / "conformance" / "schema" / "__init__.py").touch()
    cache = tmp_path / "cache"
    cache.mkdir()
    for built in [*CACHE.glob("controller-gen-*"), CACHE / "api-lifecycle"]:
        (cache / built.name).symlink_to(built)
    return repo


def _build(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GOPROXY": "off",
        "TARTWARE_TOOLS_CACHE": str(repo.parent / "cache"),
        "SCHEMAS_DIR": str(repo.parent / "schemas"),
        "TOOLS_BIN": str(repo.parent / "bin"),
        "PYTHON": str(REPO / ".venv" / "bin" / "python"),
    }
    script = str(repo / "tools" / "build-crds.sh")
    return subprocess.run(["bash", script], check=False, cwd=repo, env=env, text=True, capture_output=True)


def test_module_files_become_schemas(scratch: Path) -> None:
    done = _build(scratch)
    assert done.returncode == 0, done.stderr
    source = scratch.parent / "schemas" / "crds" / SOURCE
    assert (source / "schemas" / "gateway.networking.k8s.io" / "httproute_v1.json").is_file()
    meta = json.loads((source / "source.json").read_text())
    assert meta["module"] == "sigs.k8s.io/gateway-api" and meta["version"].startswith("v1.")
    assert meta["generator"] == "upstream's files config/crd/standard/*.yaml"


def test_a_glob_matching_nothing_fails_the_build(scratch: Path) -> None:
    env = scratch / "tools" / "go" / "crds" / SOURCE / "generate.env"
    env.write_text(env.read_text().replace("config/crd/standard/", "config/crd/stable/"))
    done = _build(scratch)
    assert done.returncode != 0
    assert "CRD_FILES 'config/crd/stable/*.yaml' matches nothing in sigs.k8s.io/gateway-api" in done.stderr
    assert f"crds/{SOURCE}/generate.env" in done.stderr


def test_a_zip_go_sum_does_not_pin_fails_the_build(scratch: Path) -> None:
    go_sum = scratch / "tools" / "go" / "crds" / SOURCE / "go.sum"
    lines = go_sum.read_text().splitlines()
    zip_line = next(i for i, line in enumerate(lines) if "/go.mod " not in line)
    module, version, _ = lines[zip_line].split()
    lines[zip_line] = f"{module} {version} h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    go_sum.write_text("\n".join(lines) + "\n")
    done = _build(scratch)
    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr, done.stderr
