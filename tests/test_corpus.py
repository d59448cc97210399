"""A held-out-style corpus of real-world-shaped inputs (fixtures/corpus/), each with its verdict.

Written like the repos other teams keep: plain manifests next to tool configs, a chart with a
vendored (aliased) dependency and a kubeVersion constraint, a chart whose dependencies were
never vendored, a chart with crds/, a kustomize base with two overlays and a component, an
operator's install.yaml (CRD + operator + custom resource), removed APIs, and a folder of
only non-manifest YAML. All run against the built-in baseline policy (no policy file).

Each case states the exit status of the static tier, the findings (rule -> objects), the
input problems, the files left out as not manifests, and the kinds not schema-checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.settings import Settings
from conformance.static import (
    StaticRun,
    failing_schema,
    input_problems,
    rule_verdicts,
    run_static,
    schema_groups,
)
from conformance.tools import REPO

CORPUS = REPO / "fixtures" / "corpus"


@dataclass(frozen=True)
class Expected:
    exit: int
    objects: int  # per profile, over its environments (prod and ci render the same here)
    findings: dict[str, set[str]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # regexes, one per problem
    left_out: frozenset[str] = frozenset()
    unchecked_kinds: frozenset[str] = frozenset()  # no schema: skipped
    schema_failures: dict[str, str] = field(default_factory=dict)  # apiVersion Kind -> message regex
    at: dict[str, str] = field(default_factory=dict)  # rule -> file:line:col of its first finding


EXPECTED: dict[str, Expected] = {
    "plain-clean": Expected(
        exit=0,
        objects=7,
        left_out=frozenset(
            {
                "plain-clean/docker-compose.yml",
                "plain-clean/renovate.json",
                "plain-clean/skaffold.yaml",
                "plain-clean/kind-config.yaml",
                "plain-clean/ansible/site.yml",
            }
        ),
    ),
    "plain-findings": Expected(
        exit=1,
        objects=5,
        findings={
            "duplicate-objects": {"Service/shop/web"},
            "service-selector-matches": {"Service/shop/web"},
            "image-pinned": {"Deployment/shop/web"},
            "probes-distinct": {"Deployment/shop/web"},
            **{
                rule: {"Deployment/shop/worker"}
                for rule in (
                    "run-as-non-root",
                    "no-privilege-escalation",
                    "capabilities-drop-all",
                    "seccomp-runtime-default",
                    "read-only-root-filesystem",
                    "no-host-namespaces-or-paths",
                    "probes-set",
                )
            },
        },
        at={
            "duplicate-objects": "plain-findings/legacy/web-copy.yaml:5:3",
            "image-pinned": "plain-findings/app/web.yaml:18:11",
            "no-privilege-escalation": "plain-findings/app/worker.yaml:21:13",
            "no-host-namespaces-or-paths": "plain-findings/app/worker.yaml:20:13",
            "service-selector-matches": "plain-findings/app/web.yaml:52:3",
        },
    ),
    "chart-vendored-dep": Expected(exit=0, objects=5),
    "chart-missing-dep": Expected(
        exit=1,
        objects=0,
        problems=(
            r"chart-missing-dep/blog .*not vendored in chart-missing-dep/blog/charts/: postgresql 15\.5\.x "
            r"\(from oci://.*\), common 2\.x\.x .*`helm dependency build chart-missing-dep/blog`",
        ),
    ),
    # The Widget is checked against the CRD in the chart's own crds/ folder.
    "chart-crds": Expected(exit=0, objects=3),
    "kustomize-overlay": Expected(exit=0, objects=7),
    # The Backup custom resource is checked against the CRD beside it in install.yaml.
    "install-crd-cr": Expected(exit=0, objects=7),
    "removed-api": Expected(
        exit=1,
        objects=3,
        findings={"ingress-backend-exists": {"Ingress/legacy/legacy"}},
        schema_failures={
            "batch/v1beta1 CronJob": r"removed in Kubernetes 1\.25 \(target 1\.36\): use batch/v1 CronJob",
            "extensions/v1beta1 Ingress": r"removed in Kubernetes 1\.22 .*use networking\.k8s\.io/v1 Ingress",
            "policy/v1beta1 PodSecurityPolicy": r"removed in Kubernetes 1\.25 .*no replacement API",
        },
        at={"ingress-backend-exists": "removed-api/legacy.yaml:13:23"},
    ),
    "non-manifest-only": Expected(
        exit=1,
        objects=0,
        left_out=frozenset(
            {
                "non-manifest-only/mkdocs.yml",
                "non-manifest-only/values.yaml",
                "non-manifest-only/values-production.yaml",
                "non-manifest-only/config/kind.yaml",
                "non-manifest-only/config/app-settings.yaml",
            }
        ),
    ),
}


def _run(manifests: Path) -> StaticRun:
    return run_static(Settings.resolve({"manifests": str(manifests)}.get, {}))


def test_every_corpus_case_has_an_expectation() -> None:
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == set(EXPECTED)


@pytest.fixture(scope="module")
def runs() -> dict[str, StaticRun]:
    return {name: _run(CORPUS / name) for name in EXPECTED}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_corpus_case_verdict(case: str, runs: dict[str, StaticRun]) -> None:
    run, want = runs[case], EXPECTED[case]
    assert run.settings.policy is None, "the corpus is judged by the built-in baseline alone"
    for profile in run.settings.profiles:  # over the environments (chart, kustomize roots) of each
        mine = [t for t in run.targets if t.profile == profile]
        assert sum(1 for t in mine for o in t.inventory.objects if not o.provided) == want.objects, profile
    found = {v.rule.id: {m.item.obj.ref for m in v.findings} for v in rule_verdicts(run) if v.findings}
    assert found == want.findings
    problems = [str(m.item) for m in input_problems(run)]
    assert len(problems) == len(want.problems), problems
    for text, pattern in zip(problems, want.problems, strict=True):
        assert re.search(pattern, text), (text, pattern)
    assert {path for path, _ in run.left_out} == want.left_out
    unchecked = {
        kind
        for kind, group in schema_groups(run).items()
        if all(m.item.status.value == "skipped" for m in group)
    }
    assert unchecked == want.unchecked_kinds
    failing = {kind: group for kind, group in schema_groups(run).items() if failing_schema(run, group)}
    assert set(failing) == set(want.schema_failures)
    for kind, pattern in want.schema_failures.items():
        assert all(re.search(pattern, m.item.message) for m in failing[kind]), kind
    for rule, where in want.at.items():
        verdict = next(v for v in rule_verdicts(run) if v.rule.id == rule)
        assert str(verdict.findings[0].item.location) == where, rule


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_corpus_case_exit_status(case: str, tmp_path: Path) -> None:
    """The tier as a user runs it: exit status, and an input without objects fails once."""
    sarif = tmp_path / "static.sarif"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:hypothesispytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "conformance.plugin",  # as `make static` runs it
            str(REPO / "conformance" / "suites" / "static"),
            "--manifests",
            str(CORPUS / case),
            "--sarif",
            str(sarif),
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == EXPECTED[case].exit, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert sarif.is_file(), "--sarif writes the report whatever the verdict"
    if EXPECTED[case].objects == 0:
        # One failure naming the path; nothing else pretends to have checked something.
        # (other static modules may skip their checks, with the reason; none passes on nothing)
        assert re.search(r"\n1 failed, 1 passed(, \d+ skipped)?, \d+ deselected", out), out[-2000:]
        assert str(CORPUS / case) in out


def _copy(case: str, dest: Path) -> Path:
    shutil.copytree(CORPUS / case, dest / case)
    return dest / case


def test_a_chart_finding_points_at_the_template_behind_the_alias(tmp_path: Path) -> None:
    """helm renders the subchart as charts/cache/...: the finding names charts/redis-lite/ on disk."""
    root = _copy("chart-vendored-dep", tmp_path)
    template = root / "shop" / "charts" / "redis-lite" / "templates" / "statefulset.yaml"
    template.write_text(
        template.read_text().replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    )
    (verdict,) = [v for v in rule_verdicts(_run(root)) if v.findings]
    assert verdict.rule.id == "read-only-root-filesystem"
    (merged,) = verdict.findings
    assert merged.profiles == ["prod", "ci"], "the same template finding is reported once"
    location = merged.item.location
    lines = template.read_text().split("\n")
    assert location.path == "chart-vendored-dep/shop/charts/redis-lite/templates/statefulset.yaml"
    assert location.line is not None and "readOnlyRootFilesystem" in lines[location.line - 1]


def test_a_kustomize_finding_points_at_the_base_file(tmp_path: Path) -> None:
    root = _copy("kustomize-overlay", tmp_path)
    base = root / "base" / "deployment.yaml"
    base.write_text(base.read_text().replace("registry.example.com/guestbook:1.0.3", "guestbook"))
    (verdict,) = [v for v in rule_verdicts(_run(root)) if v.findings]
    assert verdict.rule.id == "image-pinned"
    refs = {m.item.obj.ref for m in verdict.findings}
    assert refs == {"Deployment/guestbook-staging/guestbook", "Deployment/guestbook-prod/prod-guestbook"}
    for merged in verdict.findings:
        location = merged.item.location
        assert location.path == "kustomize-overlay/base/deployment.yaml"
        assert (
            location.line is not None
            and "image: guestbook" in base.read_text().split("\n")[location.line - 1]
        )


def test_a_kustomize_build_reads_no_file_twice(runs: dict[str, StaticRun]) -> None:
    run = runs["kustomize-overlay"]
    assert [t.name for t in run.targets] == [
        f"{p} · overlays/{o}" for p in ("prod", "ci") for o in ("prod", "staging")
    ], "each overlay is its own target"
    sources = {o.source.path for t in run.targets for o in t.inventory.objects if not o.provided}
    assert sources == {
        "kustomize-overlay/overlays/prod/kustomization.yaml",
        "kustomize-overlay/overlays/staging/kustomization.yaml",
    }, "base/ and components/ are built through the overlays, never loaded on their own"


def test_charts_render_for_the_target_kubernetes_version(tmp_path: Path) -> None:
    """The shop chart says kubeVersion >=1.30: helm's default (1.20) would refuse it."""
    root = _copy("chart-vendored-dep", tmp_path)
    old = run_static(Settings.resolve({"manifests": str(root), "k8s_version": "1.35.0"}.get, {}))
    assert not input_problems(old)
    chart = root / "shop" / "Chart.yaml"
    chart.write_text(chart.read_text().replace(">=1.30.0-0", ">=1.40.0-0"))
    (problem,) = input_problems(_run(root))
    assert "chart requires kubeVersion: >=1.40.0-0 which is incompatible with Kubernetes v1.36.0" in str(
        problem.item
    )


def test_chart_crds_are_rendered(runs: dict[str, StaticRun]) -> None:
    objects = runs["chart-crds"].targets[0].inventory.objects
    (crd,) = [o for o in objects if o.kind == "CustomResourceDefinition"]
    assert crd.source.path == "chart-crds/widgets-operator/crds/widgets.yaml"


def test_a_custom_resource_is_judged_by_the_crd_beside_it(tmp_path: Path) -> None:
    root = _copy("install-crd-cr", tmp_path)
    install = root / "install.yaml"
    install.write_text(install.read_text().replace("  keep: 7\n", "  keep: 0\n"))
    run = _run(root)
    group = schema_groups(run)["stash.example.io/v1alpha1 Backup"]
    (bad,) = failing_schema(run, group)
    assert bad.profiles == ["prod", "ci"], "reported once"
    assert bad.item.errors and bad.item.errors[0].path == "spec.keep"


@pytest.mark.slow
def test_a_repo_with_its_own_conftest_is_not_imported(tmp_path: Path) -> None:
    """`make static ARGS="--manifests ../their-repo"`: their conftest.py is never imported."""
    repo = tmp_path / "their-repo"
    repo.mkdir()
    (repo / "conftest.py").write_text("raise ImportError('their test dependencies are not installed here')\n")
    (repo / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n")

    def run(*early: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pytest", "-p", "no:hypothesispytest", *early]
        cmd += [str(REPO / "conformance" / "suites" / "static"), "--manifests", str(repo), "-q"]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)

    assert run("-p", "conformance.plugin").returncode == 0
    # Without the early plugin (as `make static` loads it) pytest takes the path for a test path.
    plain = run()
    assert "their test dependencies" in plain.stdout + plain.stderr
