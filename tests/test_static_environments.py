"""One static target per environment (issue 18): each chart root and each kustomization root is
checked on its own, with the plain files beside it; the platform's single chart keeps its names.

fixtures/real-world/kustomize-environments is a multi-environment kustomize repo: a base
(Namespace, Deployment, Service, PDB), overlays dev/staging/prod applied to their own clusters (the
same namespace and names, replicas 2/3/5, prod's PDB minAvailable 3) and a plain PriorityClass
beside them. Judged as one set it gave 8 false duplicate-objects and prod's PDB paired with dev's
and staging's Deployments (pdb-allows-eviction twice).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.inventory import discover_inputs, environment_label, environments, in_environment
from conformance.inventory.build import InputFile
from conformance.inventory.model import Problem, Source
from conformance.schema import kubeconform
from conformance.settings import Settings
from conformance.static import Merged, StaticRun, rule_verdicts, run_static
from conformance.tools import REPO

REPO_SHAPE = REPO / "fixtures" / "real-world" / "kustomize-environments"
OVERLAYS = ("overlays/dev", "overlays/prod", "overlays/staging")
NAMES = [f"{p} · {o}" for p in ("prod", "ci") for o in OVERLAYS]
CHART = "apiVersion: v2\nname: {0}\nversion: 0.1.0\n"
SETTINGS_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  chart: {0}\n"


def _run(manifests: Path) -> StaticRun:
    return run_static(Settings.resolve({"manifests": str(manifests)}.get, {}))


def _findings(run: StaticRun, rule_id: str) -> list[Merged[Any]]:
    return next((v.findings for v in rule_verdicts(run) if v.rule.id == rule_id), [])


def _copy(dest: Path) -> Path:
    return Path(shutil.copytree(REPO_SHAPE, dest / REPO_SHAPE.name))


def test_each_overlay_is_its_own_target() -> None:
    run = _run(REPO_SHAPE)
    assert [t.name for t in run.targets] == NAMES
    for target in run.targets:
        kinds = sorted(o.kind for o in target.inventory.objects if not o.provided)
        # Its own overlay's four objects, and the plain PriorityClass applied beside every overlay.
        assert kinds == ["Deployment", "Namespace", "PodDisruptionBudget", "PriorityClass", "Service"]
        assert target.inventory.label == target.name
    assert _findings(run, "duplicate-objects") == []
    assert _findings(run, "pdb-allows-eviction") == []  # prod's minAvailable 3 vs prod's 5 replicas
    assert _findings(run, "pdb-per-workload") == []
    assert _findings(run, "priority-class-defined") == []  # the plain file joined every target
    # A finding of one overlay names its targets; one of the plain file (in every target) none.
    capabilities = _findings(run, "capabilities-drop-all")
    every = [t.name for t in run.targets]
    assert sorted(m.where(every) for m in capabilities) == [
        f" [targets prod · {o}, ci · {o}]" for o in OVERLAYS
    ]


def test_true_positives_stay_within_their_overlay(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    dev = repo / "overlays" / "dev"
    # A real duplicate inside one overlay: a legacy autoscaling/v1 HPA left beside the v2 one
    # (kustomize accepts both; the second apply overwrites the first).
    hpa = "apiVersion: autoscaling/{0}\nkind: HorizontalPodAutoscaler\nmetadata: {{name: api}}\nspec:\n"
    hpa += "  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: api}}\n  minReplicas: 2\n"
    hpa += "  maxReplicas: 4\n"
    (dev / "hpa.yaml").write_text(hpa.format("v2") + "---\n" + hpa.format("v1"))
    text = (dev / "kustomization.yaml").read_text()
    (dev / "kustomization.yaml").write_text(
        text.replace("  - ../../base\n", "  - ../../base\n  - hpa.yaml\n")
    )
    # prod's PDB selects nothing in prod, though dev's and staging's PDBs match the same labels there.
    prod = repo / "overlays" / "prod" / "kustomization.yaml"
    prod.write_text(
        prod.read_text()
        + "      - op: replace\n        path: /spec/selector/matchLabels/app\n        value: api-v2\n"
    )
    run = _run(repo)
    every = [t.name for t in run.targets]
    [duplicate] = _findings(run, "duplicate-objects")
    assert duplicate.item.violation.obj.ref == "HorizontalPodAutoscaler/shop/api"
    assert duplicate.profiles == ["prod · overlays/dev", "ci · overlays/dev"]
    assert duplicate.where(every) == " [targets prod · overlays/dev, ci · overlays/dev]"
    [unpaired] = _findings(run, "pdb-per-workload")
    assert unpaired.item.violation.obj.ref == "Deployment/shop/api"
    assert unpaired.item.violation.obj.source.path.endswith("overlays/prod/kustomization.yaml")
    assert unpaired.profiles == ["prod · overlays/prod", "ci · overlays/prod"]
    assert unpaired.item.violation.message.startswith("no PodDisruptionBudget in namespace shop selects")


def test_plain_files_are_schema_checked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain file joins all six targets, yet kubeconform reads it once: on disk, or (YAML merge
    keys, judged from the loaded objects) from memory."""
    repo = _copy(tmp_path)
    (repo / "cluster" / "limits.yaml").write_text(
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: shop, namespace: shop}\n"
        "spec:\n  limits:\n    - &cpu {type: Container, default: {cpu: 500m}}\n"
        "    - <<: *cpu\n      type: Pod\n"
    )
    started: list[str] = []
    validated: list[str] = []
    start, validate = kubeconform.SchemaCheck.start.__func__, kubeconform.validate  # type: ignore[attr-defined]

    def spy_start(cls: type, inputs: Sequence[InputFile], locations: Any) -> Any:
        started.extend(i.label for i in inputs)
        return start(cls, inputs, locations)

    def spy_validate(objects: Sequence[Any], *args: Any) -> Any:
        validated.extend(o.ref for o in objects)
        return validate(objects, *args)

    monkeypatch.setattr(kubeconform.SchemaCheck, "start", classmethod(spy_start))
    monkeypatch.setattr(kubeconform, "validate", spy_validate)
    run = _run(repo)
    assert len(run.targets) == 6
    plain = [label for label in started if "/cluster/" in label]
    assert sorted(plain) == [f"{repo.name}/cluster/limits.yaml", f"{repo.name}/cluster/priorityclass.yaml"]
    assert validated.count("LimitRange/shop/shop") == 1
    for target in run.targets:
        [limits] = [r for r in target.schema if r.obj.kind == "LimitRange"]
        assert limits.status is kubeconform.Status.VALID, limits.message


def _chart(folder: Path, name: str) -> None:
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(CHART.format(name))
    (folder / "templates" / "settings.yaml").write_text(SETTINGS_CM.format(name))


def test_two_charts_side_by_side_are_two_targets(tmp_path: Path) -> None:
    repo = tmp_path / "charts"
    _chart(repo / "billing", "billing")
    _chart(repo / "search", "search")
    run = _run(repo)
    assert [t.name for t in run.targets] == ["prod · billing", "prod · search", "ci · billing", "ci · search"]
    assert _findings(run, "duplicate-objects") == []  # each chart's ConfigMap/default/settings
    assert [len(t.schema) for t in run.targets] == [1, 1, 1, 1]


@pytest.mark.parametrize("case", ["plain-clean", "chart-crds"])  # plain files only; one chart
def test_one_environment_keeps_the_profile_names(case: str) -> None:
    run = _run(REPO / "fixtures" / "corpus" / case)
    assert [(t.name, t.environment, t.inventory.label) for t in run.targets] == [
        ("prod", None, "prod"),
        ("ci", None, "ci"),
    ]


def test_the_platform_is_one_environment() -> None:
    """manifests/: one umbrella chart (its service-template is a subchart) and plain files."""
    found = discover_inputs(REPO / "manifests")
    assert [environment_label(found, e) for e in environments(found)] == ["helm/tartware"]


def test_render_problems_stay_with_their_environment(tmp_path: Path) -> None:
    """discover_inputs + in_environment alone: a chart's render problem is its own target's; plain
    files and discovery problems belong to every environment."""
    repo = tmp_path / "repo"
    _chart(repo / "billing", "billing")
    _chart(repo / "search", "search")
    (repo / "cluster.yaml").write_text(SETTINGS_CM.format("plain"))
    found = discover_inputs(repo)
    billing, search = environments(found)
    assert [environment_label(found, e) for e in (billing, search)] == ["billing", "search"]
    broken = Problem(Source("repo/search", 0, None, "repo/search", "ci"), "chart does not render: boom")
    anywhere = Problem(Source("repo/cluster.yaml", 0), "does not load")
    plain = InputFile(repo / "cluster.yaml", "repo/cluster.yaml")
    render = InputFile(repo / "x.yaml", "repo/billing", "repo/billing", "ci", kind="chart", folder=billing)

    def check(item: InputFile | Problem) -> list[bool]:
        return [in_environment(found, e, item) for e in (billing, search)]

    assert check(broken) == [False, True]
    assert check(anywhere) == [True, True]
    assert check(plain) == [True, True]
    assert check(render) == [True, False]


def test_findings_name_their_targets() -> None:
    """The wording every report shares: profiles alone with one environment, targets with several."""
    one = Merged("finding", ["ci"])
    assert (one.where(["prod", "ci"]), one.listed(["prod", "ci"])) == (" [profile ci]", "profiles:    ci")
    every = [f"{p} · {e}" for p in ("prod", "ci") for e in ("a", "b")]
    some = Merged("finding", ["prod · a", "ci · a"])
    assert some.where(every) == " [targets prod · a, ci · a]"
    assert some.listed(every) == "targets:     prod · a, ci · a"
    assert Merged("finding", every).where(every) == ""
