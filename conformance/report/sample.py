"""A small, real results set: one tiny pytest session with every outcome in every tier.

Used by the report self-tests and by `python -m conformance.report sample` to
preview the report without a cluster. The session runs in a subprocess with
the suite's plugins and allure-pytest, so its results are exactly what the
tiers write: passed, failed, skipped and broken (InfraError) tests labelled
with `conformance.report.allure_labels.label` (epics static / behaviour / slo).

Example: ``results = write_sample(Path("/tmp/sample"))`` then
``python -m conformance.report generate --results /tmp/sample/allure-results``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..tools import REPO

# tier -> test module; each test names the category its failure must land in.
MODULES: dict[str, str] = {
    "static": """
import pytest
from conformance.report.allure_labels import label

def test_rule_run_as_non_root():
    label("static", "security", ["billing"], "critical")

def test_rule_requests_set():
    label("static", "capacity", ["rooms", "guests"])
    pytest.fail("2 finding(s) of rule requests-set: container app has no cpu request", pytrace=False)

def test_schema_deployment():
    label("static", "schema", ["rooms"], "critical")
    message = "1 of 3 Deployment object(s) fail the schema:\\n  * spec.replicas: expected integer"
    pytest.fail(message, pytrace=False)

@pytest.mark.skip(reason="no schema for example.com/v1 Widget (2 object(s) not schema-checked)")
def test_schema_widget():
    label("static", "schema")
""",
    "behaviour": """
import pytest
from conformance.errors import InfraError
from conformance.report.allure_labels import label

def test_pdb_blocks_eviction():
    label("behaviour", "disruption", ["reservations"], "critical")

def test_hpa_scales_out():
    label("behaviour", "autoscaling", ["api-gateway"])
    assert 2 == 4, "api-gateway has 2 replicas after 60 s of load but the HPA should reach 4"

def test_cluster_starts():
    label("behaviour", "provider", severity="blocker")
    raise InfraError("kwokctl create cluster exited 1: etcd did not become ready")

def test_network_policy_denies():
    label("behaviour", "networking", ["billing"])
    pytest.skip("NetworkPolicy enforcement not available on the local provider")
""",
    "slo": """
import pytest
from conformance.report.allure_labels import label

def test_smoke_p95():
    label("slo", "smoke", ["p95"], "critical")

def test_smoke_error_rate():
    label("slo", "smoke", ["error_rate"], "critical")
    assert 0.031 <= 0.01, "error rate 3.1 % > 1 % (policy.yaml slo.error_rate)"

def test_load_p99():
    label("slo", "load", ["p99"])
    pytest.skip("load scenario not requested (-k smoke)")
""",
}

# test name -> the category its result must land in (None: passed/skipped).
EXPECTED: dict[str, str | None] = {
    "test_rule_run_as_non_root": None,
    "test_rule_requests_set": "policy violation",
    "test_schema_deployment": "schema invalid",
    "test_schema_widget": None,
    "test_pdb_blocks_eviction": None,
    "test_hpa_scales_out": "behaviour failure",
    "test_cluster_starts": "infra broken",
    "test_network_policy_denies": None,
    "test_smoke_p95": None,
    "test_smoke_error_rate": "SLO breach",
    "test_load_p99": None,
}


@dataclass(frozen=True)
class Sample:
    results: Path  # the --alluredir
    exit_code: int
    output: str


def write_sample(workdir: Path, extra_args: tuple[str, ...] = ()) -> Sample:
    """Run the sample session in workdir (suites/<tier>/test_<tier>.py); results in workdir/allure-results."""
    workdir = workdir.resolve()  # pytest runs inside it
    for tier, source in MODULES.items():
        folder = workdir / "suites" / tier
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"test_{tier}.py").write_text(source.lstrip())
    results = workdir / "allure-results"
    shutil.rmtree(results, ignore_errors=True)  # a fresh run, not a retry of the last one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conformance.plugin",
            "-p",
            "conformance.report.hooks",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(workdir),
            "-c",
            os.devnull,
            f"--alluredir={results}",
            *extra_args,
            "suites",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Sample(results, run.returncode, run.stdout + run.stderr)
