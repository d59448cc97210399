"""The pre-merge gate users copy (.github/workflows/conformance.yml), checked statically.

Parsed with the suite's own strict YAML loader (duplicate keys are errors);
every `make` target a job runs must exist in the Makefile (as `make -pq` sees
it), every action is pinned to a version, tool caches and artifact uploads are
in place and survive a failing tier; the kind job runs the behaviour tier on the
upstream node image pinned in tools/kind-node/upstream.env.
"""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.inventory.loader import iter_documents
from conformance.inventory.model import Problem, Source
from conformance.tools import REPO, find

WORKFLOW = REPO / ".github" / "workflows" / "conformance.yml"
TIER_JOBS = ("static", "behaviour", "slo")
KIND_JOB = "behaviour-kind"  # the behaviour tier again, on real pods (provider kind)
UPSTREAM_ENV = REPO / "tools" / "kind-node" / "upstream.env"
PIN_VAR = "KIND_UPSTREAM_NODE_IMAGE"  # the pinned kindest/node image, defined in UPSTREAM_ENV only
TOOL_CACHE = ("~/.cache/tartware-conformance", "~/.cache/go-build", "~/go/pkg/mod", "~/.cache/pip")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    [(source, doc)] = list(iter_documents(WORKFLOW.read_bytes(), Source(str(WORKFLOW), 0)))
    assert not isinstance(doc, Problem), f"{source}: {doc}"
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def make_targets() -> set[str]:
    """Targets in make's own database (-p), without running anything (-q, no rules: -r/-R)."""
    run = subprocess.run(
        ["make", "-C", str(REPO), "-pRrq", ":"], capture_output=True, text=True, timeout=60, check=False
    )
    targets: set[str] = set()
    previous = ""
    for line in run.stdout.splitlines():
        match = re.match(r"^([A-Za-z0-9][\w.-]*):(?!=)", line)
        # make marks files it only knows of (not rules) with "# Not a target:" just above.
        if match and not previous.startswith("# Not a target"):
            targets.add(match.group(1))
        previous = line
    assert "static" in targets, f"could not read make's database: {run.stderr[-500:]}"
    return targets


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def make_calls(job: dict[str, Any]) -> Iterator[list[str]]:
    """The target lists of every `make ...` command in a job's run steps."""
    for step in steps(job):
        for line in str(step.get("run", "")).splitlines():
            words = shlex.split(line, comments=True)
            while "make" in words:
                words = words[words.index("make") + 1 :]
                targets = []
                for word in words:
                    if word in ("&&", "||", ";", "|"):
                        break
                    if not word.startswith("-") and "=" not in word:
                        targets.append(word)
                yield targets


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).split("@")[0] == action]


def test_pull_requests_trigger_it(workflow: dict[Any, Any]) -> None:
    # YAML 1.1 (and kubectl's go-yaml) reads the key `on` as true; the loader keys it as JSON would.
    triggers = workflow.get("on", workflow.get("true"))
    assert triggers is not None, "no `on:` triggers"
    names = set(triggers) if isinstance(triggers, dict | list) else {triggers}
    assert "pull_request" in names


def test_every_job_runs_make_targets_that_exist(workflow: dict[Any, Any], make_targets: set[str]) -> None:
    for name, job in workflow["jobs"].items():
        calls = list(make_calls(job))
        assert calls, f"job {name} runs no make target"
        for targets in calls:
            assert targets, f"job {name}: bare `make` runs the default goal (help)"
            missing = set(targets) - make_targets
            assert not missing, f"job {name} runs make target(s) {sorted(missing)} not in the Makefile"


def test_each_tier_has_its_job(workflow: dict[Any, Any]) -> None:
    ran = {name: {t for call in make_calls(job) for t in call} for name, job in workflow["jobs"].items()}
    for tier in TIER_JOBS:
        assert tier in ran.get(tier, set()), f"no job {tier!r} running `make {tier}`: {ran}"
    # The SLO job runs every scenario (load run, achieved rate, live alerts), not a -k selection.
    slo_calls = [line for s in steps(workflow["jobs"]["slo"]) for line in str(s.get("run", "")).splitlines()]
    assert not [line for line in slo_calls if "make slo" in line and "-k" in line], slo_calls


def test_the_behaviour_job_runs_the_data_plane_as_root(workflow: dict[Any, Any]) -> None:
    """The NetworkPolicy probe needs root and iptables/ipset; without them it would be NOT RUN."""
    runs = "\n".join(str(s.get("run", "")) for s in steps(workflow["jobs"]["behaviour"]))
    assert "apt-get install" in runs and all(p in runs for p in ("iproute2", "iptables", "ipset")), runs
    assert "modprobe br_netfilter" in runs, runs
    assert re.search(r"^sudo\b.*\bmake behaviour\b", runs, re.MULTILINE), runs
    assert "--data-plane off" not in runs, "the shipped gate must not opt out of the probe"


def test_actionlint_accepts_the_workflow_and_rejects_a_broken_copy(tmp_path: Path) -> None:
    """`make lint` runs the pinned actionlint on the workflow; it must be able to fail: a job that
    needs a job that does not exist, and an expression on an unknown context."""
    actionlint = find("actionlint")
    lint = [str(actionlint), "-color=false", "-shellcheck=", "-pyflakes="]  # as `make lint` runs it
    good = subprocess.run([*lint, str(WORKFLOW)], capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    broken = tmp_path / "conformance.yml"
    text = WORKFLOW.read_text()
    text = text.replace("needs: [static, behaviour, slo]", "needs: [static, behaviour, slo, lint]")
    text = text.replace("${{ matrix.k8s }}", "${{ matrix.k8z }}", 1)
    broken.write_text(text)
    bad = subprocess.run([*lint, str(broken)], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert 'job "report" needs job "lint" which does not exist' in bad.stdout, bad.stdout
    assert "k8z" in bad.stdout, bad.stdout


def test_actions_are_pinned_to_a_version(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        for step in steps(job):
            if "uses" in step:
                assert PINNED.match(step["uses"]), (
                    f"job {name}: {step['uses']} is not pinned to vX.Y.Z or a SHA"
                )


def test_tier_jobs_cache_the_tools(workflow: dict[Any, Any]) -> None:
    keys = []
    for tier in (*TIER_JOBS, KIND_JOB):
        [cache] = uses(workflow["jobs"][tier], "actions/cache")
        paths = set(str(cache["with"]["path"]).split())
        assert set(TOOL_CACHE) <= paths, f"job {tier} caches {paths}"
        keys.append(str(cache["with"]["key"]).split("${{")[0])
    # One key prefix per job: a job that builds less must not claim the others' cache key.
    assert len(set(keys)) == len(keys), keys


def test_tier_jobs_upload_junit_and_allure_results_even_when_failing(workflow: dict[Any, Any]) -> None:
    names = []
    for tier in (*TIER_JOBS, KIND_JOB):
        uploads = uses(workflow["jobs"][tier], "actions/upload-artifact")
        paths = {str(u["with"]["path"]) for u in uploads}
        assert "build/junit/*.xml" in paths and "build/allure-results" in paths, (tier, paths)
        for upload in uploads:
            assert re.search(r"always\(\)|!cancelled\(\)", str(upload.get("if", ""))), (tier, upload)
        names += [str(u["with"]["name"]) for u in uploads]
    assert len(set(names)) == len(names), f"artifact names must be unique per run: {names}"


def test_report_job_merges_every_tier_and_uploads_one_report(workflow: dict[Any, Any]) -> None:
    report = workflow["jobs"]["report"]
    assert set(report["needs"]) == set(TIER_JOBS)
    assert re.search(r"always\(\)|!cancelled\(\)", str(report.get("if", ""))), (
        "report must run after a failure"
    )
    [download] = uses(report, "actions/download-artifact")
    assert download["with"]["pattern"] == "allure-results-*"
    uploads = uses(report, "actions/upload-artifact")
    assert any("build/allure-report" in str(u["with"]["path"]) for u in uploads)
    caches = {str(c["with"]["path"]) for c in uses(report, "actions/cache")}
    assert any("history" in path for path in caches), "no history cache: trends would restart every run"


def test_every_job_has_a_timeout(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        assert int(job.get("timeout-minutes", 0)) > 0, f"job {name} has no timeout-minutes"


def test_the_static_job_uploads_its_sarif_for_code_scanning(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["static"]
    [upload] = uses(job, "github/codeql-action/upload-sarif")
    assert upload["with"]["sarif_file"] == "build/static.sarif"
    assert "!cancelled()" in str(upload.get("if", ""))
    assert job["permissions"]["security-events"] == "write"


def kind_job_problems(job: dict[str, Any]) -> list[str]:
    """Why `job` would not run the behaviour tier on kind with the pinned upstream node image
    (empty: it does). The pin comes from UPSTREAM_ENV through $GITHUB_ENV, never a literal."""
    problems = []
    if (job.get("env") or {}).get("CONFORMANCE_PROVIDER") != "kind":
        problems.append("the job's env does not set CONFORMANCE_PROVIDER: kind")
    runs = [(i, str(s.get("run", ""))) for i, s in enumerate(steps(job))]
    rel = UPSTREAM_ENV.relative_to(REPO)
    pin = [i for i, run in runs if f"^{PIN_VAR}=" in run and str(rel) in run and '>>"$GITHUB_ENV"' in run]
    if not pin:
        problems.append(f"no step puts {PIN_VAR} from {rel} into $GITHUB_ENV")
    tier = [i for i, run in runs if re.search(r"^sudo\b.*\bmake behaviour\b", run, re.MULTILINE)]
    if len(tier) != 1:
        return [*problems, f"not one `sudo ... make behaviour` step: {len(tier)}"]
    step = steps(job)[tier[0]]
    if (step.get("env") or {}).get("CONFORMANCE_KIND_NODE_IMAGE") != f"${{{{ env.{PIN_VAR} }}}}":
        problems.append(f"the tier's CONFORMANCE_KIND_NODE_IMAGE is not ${{{{ env.{PIN_VAR} }}}}")
    kept = re.search(r"--preserve-env=(\S+)", str(step["run"]))
    for var in ("CONFORMANCE_PROVIDER", "CONFORMANCE_KIND_NODE_IMAGE"):
        if not kept or var not in kept.group(1).split(","):
            problems.append(f"sudo drops {var}")
    if pin and pin[0] > tier[0]:
        problems.append(f"{PIN_VAR} is set after the tier ran")
    if "kindest/node" in repr(job):
        problems.append(f"a literal kindest/node image: the pin lives in {rel}")
    return problems


def test_the_kind_job_runs_the_tier_on_the_pinned_upstream_node_image(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"][KIND_JOB]
    assert kind_job_problems(job) == []
    assert re.search(rf"^{PIN_VAR}=kindest/node:v\d+\.\d+\.\d+", UPSTREAM_ENV.read_text(), re.MULTILINE)
    assert [name for name, j in workflow["jobs"].items() if not kind_job_problems(j)] == [KIND_JOB]


def test_the_kind_job_check_fails_on_broken_copies(workflow: dict[Any, Any]) -> None:
    """Each way the kind job could drift from the pin or the provider is caught."""
    job = workflow["jobs"][KIND_JOB]
    tier = next(s for s in steps(job) if "make behaviour" in str(s.get("run", "")))

    def broken(change: Any) -> list[str]:
        copied = copy.deepcopy(job)
        change(copied, next(s for s in steps(copied) if s.get("name") == tier.get("name")))
        return kind_job_problems(copied)

    assert "the job's env does not set CONFORMANCE_PROVIDER: kind" in broken(
        lambda j, _s: j["env"].update(CONFORMANCE_PROVIDER="local")
    )
    assert any("literal kindest/node" in p for p in broken(
        lambda _j, s: s["env"].update(CONFORMANCE_KIND_NODE_IMAGE="kindest/node:v1.36.3")
    ))  # fmt: skip
    assert "sudo drops CONFORMANCE_KIND_NODE_IMAGE" in broken(
        lambda _j, s: s.update(run=s["run"].replace(",CONFORMANCE_KIND_NODE_IMAGE", ""))
    )
    assert any(f"no step puts {PIN_VAR}" in p for p in broken(
        lambda j, _s: j.update(steps=[s for s in steps(j) if "upstream.env" not in str(s.get("run", ""))])
    ))  # fmt: skip
    assert any("set after the tier ran" in p for p in broken(
        lambda j, _s: j.update(steps=sorted(steps(j), key=lambda s: "upstream.env" in str(s.get("run", ""))))
    ))  # fmt: skip
