"""Input discovery: other tools' YAML is left out (and said once), --exclude, kustomize roots,
library charts, remote bases refused offline, chart namespace from flag, policy or helm's default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance.inventory import build_inventory, discover_inputs
from conformance.inventory.build import excluded_by, not_manifest_name
from conformance.settings import Settings
from conformance.static import render_namespace, run_static
from conformance.tools import REPO

CORPUS = REPO / "fixtures" / "corpus"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("values.yaml", "Helm values"),
        ("values-production.yaml", "Helm values"),
        ("Chart.yaml", "Helm chart metadata"),
        ("skaffold.yaml", "skaffold config"),
        ("docker-compose.override.yml", "Docker Compose file"),
        ("ct.yaml", "chart-testing config"),
        ("deployment.yaml", None),
        ("values-ingress.yaml.example", None),
    ],
)
def test_tool_files_are_known_by_name(name: str, what: str | None) -> None:
    assert not_manifest_name(name) == what


@pytest.mark.parametrize(
    ("rel", "globs", "hit"),
    [
        ("test/a.yaml", ["test"], "test"),
        ("deploy/test/a.yaml", ["test"], "test"),
        ("deploy/a.tmpl.yaml", ["*.tmpl.yaml"], "*.tmpl.yaml"),
        ("deploy/dev/a.yaml", ["deploy/dev"], "deploy/dev"),
        ("deploy/dev/a.yaml", ["deploy/*/a.yaml"], "deploy/*/a.yaml"),
        ("deploy/a.yaml", ["dev", "*.json"], None),
    ],
)
def test_exclude_globs_match_paths_or_any_part(rel: str, globs: list[str], hit: str | None) -> None:
    assert excluded_by(rel, globs) == hit


def test_exclude_leaves_paths_out_and_the_summary_says_so(tmp_path: Path) -> None:
    (tmp_path / "prod").mkdir()
    (tmp_path / "examples").mkdir()
    (tmp_path / "prod" / "a.yaml").write_text(CM % "a")
    (tmp_path / "examples" / "b.yaml").write_text(CM % "b")
    (tmp_path / "c.tmpl.yaml").write_text("{{ not yaml }")
    run = run_static(
        Settings.resolve({"manifests": str(tmp_path)}.get, {"CONFORMANCE_EXCLUDE": "examples, *.tmpl.yaml"})
    )
    assert [o.name for o in run.targets[0].inventory.objects] == ["a"]
    assert not run.targets[0].inventory.problems, "the template file is excluded, not a broken manifest"
    assert sorted(run.excluded) == [f"{tmp_path.name}/c.tmpl.yaml", f"{tmp_path.name}/examples"]


def test_non_manifest_yaml_is_left_out_by_content_once(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(CM % "a")
    (tmp_path / "settings.yaml").write_text("server: {port: 8080}\n")
    (tmp_path / "kubeconfig.yaml").write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    (tmp_path / "broken.yaml").write_text(CM % "b" + "---\nfoo: bar\n")  # a stray document in a manifest
    run = run_static(Settings.resolve({"manifests": str(tmp_path)}.get, {}))
    assert dict(run.left_out) == {
        f"{tmp_path.name}/settings.yaml": "not a Kubernetes manifest (no apiVersion, no kind)",
        f"{tmp_path.name}/kubeconfig.yaml": "kubeconfig (v1 Config)",
    }
    (problem,) = run.targets[0].inventory.problems
    assert "broken.yaml document 2" in str(problem), "inside a manifest file it is still a problem"


def test_a_library_chart_is_left_out_not_rendered(tmp_path: Path) -> None:
    lib = tmp_path / "common"
    (lib / "templates").mkdir(parents=True)
    (lib / "Chart.yaml").write_text("apiVersion: v2\nname: common\nversion: 1.0.0\ntype: library\n")
    (tmp_path / "app.yaml").write_text(CM % "a")
    found = discover_inputs(tmp_path)
    assert found.charts == []
    assert found.left_out == [(f"{tmp_path.name}/common", "Helm library chart (nothing to render)")]


def test_only_kustomize_roots_are_built(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "kustomize-overlay", tmp_path / "k")
    found = discover_inputs(tmp_path / "k")
    assert [p.relative_to(tmp_path / "k").as_posix() for p in found.kustomizations] == [
        "overlays/prod",
        "overlays/staging",
    ]
    assert found.files == []


def test_a_remote_kustomize_base_is_refused_offline(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "resources:\n  - https://github.com/example/app//deploy?ref=v1.0.0\n  - cm.yaml\n"
    )
    (tmp_path / "cm.yaml").write_text(CM % "a")
    inventory = build_inventory(tmp_path, "prod")
    (problem,) = inventory.problems
    assert "references remote resources (https://github.com/example/app//deploy?ref=v1.0.0)" in str(problem)
    assert "the suite renders offline" in str(problem)


def test_a_broken_kustomization_names_its_folder(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    (problem,) = build_inventory(tmp_path, "prod").problems
    assert str(problem).startswith(f"{tmp_path.name} document 1: kustomization does not build:")
    assert "missing.yaml" in str(problem)


def test_charts_render_into_the_flag_then_the_policy_then_helms_default() -> None:
    foreign = Settings.resolve({"manifests": str(CORPUS / "chart-vendored-dep")}.get, {})
    run = run_static(foreign)
    assert run.namespace is None
    assert {o.namespace for o in run.targets[0].inventory.objects} == {"default"}, "no `tartware` for others"
    flagged = Settings.resolve({"manifests": str(CORPUS / "chart-vendored-dep"), "namespace": "shop"}.get, {})
    assert {o.namespace for o in run_static(flagged).targets[0].inventory.objects} == {"shop"}
    platform = Settings.resolve(lambda _n: None, {})
    assert render_namespace(platform, run_static(platform).policy) == "tartware"
