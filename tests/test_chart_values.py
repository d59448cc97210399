"""Per-chart values for a foreign chart (issue 18 item 4): `--values CHART=FILE`, `--set CHART:k=v`
and the policy's `charts:` section, on fixtures/chart-values (a chart that renders only with
image.tag set). Without them the chart does not render; with them it does, with the values given.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.inventory.model import K8sObject
from conformance.policy import PolicyError, load_policy
from conformance.settings import Settings
from conformance.static import run_static
from conformance.tools import REPO

FIXTURE = REPO / "fixtures" / "chart-values"
APP = FIXTURE / "app"
CI_VALUES = FIXTURE / "ci-values.yaml"
NOT_RENDERED = "chart does not render"


def _settings(**flags: str) -> Settings:
    base = {"manifests": str(APP), "profiles": "prod", "policy": "baseline"}
    env = {"CONFORMANCE_STATIC_CACHE": "off"}
    return Settings.resolve({**base, **flags}.get, env)


def _rendered(settings: Settings) -> tuple[str | None, list[str]]:
    """(the ConfigMap's image, every problem message) of a static run."""
    run = run_static(settings)
    images = [
        o.body["data"]["image"]
        for t in run.targets
        for o in t.inventory.objects
        if isinstance(o, K8sObject) and o.kind == "ConfigMap"
    ]
    problems = [p.message for t in run.targets for p in t.inventory.problems]
    return (images[0] if images else None), problems


def test_without_its_values_the_chart_does_not_render() -> None:
    image, problems = _rendered(_settings())
    assert image is None
    assert any(NOT_RENDERED in p and "image.tag is required" in p for p in problems), problems


@pytest.mark.parametrize(
    ("flags", "image"),
    [
        ({"chart_values": f"charts/web={CI_VALUES}"}, "ghcr.io/example/web:1.2.0"),
        ({"chart_sets": "charts/web:image.tag=1.2"}, "ghcr.io/example/web:1.2"),
        # --set comes after the values files, as in helm.
        (
            {"chart_values": f"charts/web={CI_VALUES}", "chart_sets": "charts/web:image.tag=2"},
            "ghcr.io/example/web:2",
        ),
        ({"policy": str(FIXTURE / "policy.yaml")}, "ghcr.io/example/web-ci:1.2.0"),
        # The flags come after the policy's values.
        (
            {"policy": str(FIXTURE / "policy.yaml"), "chart_sets": "charts/web:image.tag=3"},
            "ghcr.io/example/web-ci:3",
        ),
    ],
    ids=["values", "set", "set-after-values", "policy", "flags-after-policy"],
)
def test_with_its_values_the_chart_renders_them(flags: dict[str, str], image: str) -> None:
    rendered, problems = _rendered(_settings(**flags))
    assert rendered == image
    assert not [p for p in problems if NOT_RENDERED in p], problems


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"chart_values": "charts/web"}, "--values / CONFORMANCE_VALUES 'charts/web': expected CHART=FILE"),
        ({"chart_values": "charts/nope=" + str(CI_VALUES)}, "'charts/nope' is no chart folder under"),
        ({"chart_values": "charts/web=/no/such.yaml"}, "values file /no/such.yaml does not exist"),
        (
            {"chart_sets": "charts/web=image.tag"},
            "--set / CONFORMANCE_SET 'charts/web=image.tag': expected CHART:",
        ),
        ({"chart_sets": "charts/web:image.tag"}, "expected CHART:key=value"),
    ],
    ids=["no-file", "no-chart", "missing-file", "no-chart-prefix", "no-assignment"],
)
def test_a_bad_entry_names_the_flag_and_the_entry(flags: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as err:
        _settings(**flags)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("charts:\n  nope: {values: [ci-values.yaml]}\n", "charts.nope: 'nope' is no chart folder"),
        (
            "charts:\n  app/charts/web: {values: [gone.yaml]}\n",
            "charts.app/charts/web.values[0]: values file",
        ),
        ("charts:\n  app/charts/web: {sett: {}}\n", "unknown key charts.app/charts/web.sett"),
        ("charts:\n  app/charts/web: {set: {image: {tag: 1}}}\n", "charts.app/charts/web.set.image: must be"),
    ],
    ids=["no-chart", "missing-values-file", "unknown-key", "nested-set"],
)
def test_a_bad_policy_charts_section_names_file_and_field(tmp_path: Path, section: str, message: str) -> None:
    (tmp_path / "app").symlink_to(APP)
    (tmp_path / "ci-values.yaml").write_text(CI_VALUES.read_text())
    policy = tmp_path / "policy.yaml"
    policy.write_text(section)
    with pytest.raises(PolicyError) as err:
        load_policy(policy)
    assert str(err.value).startswith(f"{policy}: ") and message in str(err.value), str(err.value)


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    env.update(PYTHONPATH=str(REPO), CONFORMANCE_STATIC_CACHE="off", CONFORMANCE_PROFILE="prod")
    return subprocess.run(
        [sys.executable, "-m", "conformance", "static", str(APP), "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=FIXTURE,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_flags_repeat_on_the_command_line() -> None:
    without = _gate()
    assert NOT_RENDERED in without.stdout, without.stdout[-3000:]
    run = _gate(
        "--values",
        "charts/web=ci-values.yaml",
        "--set",
        "charts/web:image.repository=x",
        "--set",
        "charts/web:image.tag=4",
    )
    assert NOT_RENDERED not in run.stdout, run.stdout[-3000:]
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr
    bad = _gate("--values", "charts/web")
    assert bad.returncode == int(pytest.ExitCode.USAGE_ERROR), bad.stdout + bad.stderr
    assert "--values / CONFORMANCE_VALUES 'charts/web': expected CHART=FILE" in bad.stderr
