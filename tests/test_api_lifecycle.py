"""Removed and deprecated APIs per target version, on real-shaped old manifests (fixtures/apis).

The table comes from `make tools` (k8s.io/api's prerelease-lifecycle functions, several
k8s.io/api versions merged); these tests pin what it must say and that the static gate
fails a removed API naming its replacement, and only warns about a deprecated one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from conformance.inventory import build_inventory
from conformance.schema.api_lifecycle import LifecycleTable
from conformance.schema.kubeconform import Status, validate
from conformance.schema.locations import SchemaLocations
from conformance.settings import Settings
from conformance.tools import REPO

pytest_plugins = ["pytester"]
FIXTURES = REPO / "fixtures" / "apis"
SETTINGS = Settings.from_env({})
TABLE = LifecycleTable.load(SETTINGS.schemas / "api-lifecycle")

# fixture file -> what the message says for any target {t} from 1.35 to 1.37
REMOVED = {
    "ingress-extensions-v1beta1.yaml": "in Kubernetes 1.22 (target {t}): use networking.k8s.io/v1 Ingress",
    "ingress-networking-v1beta1.yaml": "in Kubernetes 1.22 (target {t}): use networking.k8s.io/v1 Ingress",
    "podsecuritypolicy-policy-v1beta1.yaml": "in Kubernetes 1.25 (target {t}): it has no replacement API",
    "cronjob-batch-v1beta1.yaml": "in Kubernetes 1.25 (target {t}): use batch/v1 CronJob instead",
    "hpa-autoscaling-v2beta2.yaml": "in Kubernetes 1.26 (target {t}): use autoscaling/v2 Horizontal",
    "flowschema-flowcontrol-v1beta2.yaml": "in Kubernetes 1.29 (target {t}): use flowcontrol.apiserver"
    ".k8s.io/v1 FlowSchema instead",
    "prioritylevel-flowcontrol-v1beta3.yaml": "in Kubernetes 1.32 (target {t}): use flowcontrol.apiserver"
    ".k8s.io/v1 PriorityLevelConfiguration instead",
    "crd-apiextensions-v1beta1.yaml": "in Kubernetes 1.22 (target {t}): use apiextensions.k8s.io/v1",
    "deployment-apps-v1beta2.yaml": "in Kubernetes 1.16 (target {t}): use apps/v1 Deployment instead",
}
TARGETS = ("1.35", "1.36", "1.37")


def _locations(target: str) -> SchemaLocations:
    return dataclasses.replace(SchemaLocations.from_settings(SETTINGS), k8s_version=target)


def test_the_table_merges_several_k8s_api_versions() -> None:
    assert len(TABLE.sources) >= 3, TABLE.sources
    assert all(s.startswith("k8s.io/api@v0.") for s in TABLE.sources)
    # Types that newer k8s.io/api versions no longer carry come from the older ones.
    assert TABLE.apis[("policy/v1beta1", "PodSecurityPolicy")].source == "k8s.io/api@v0.24.17"
    assert TABLE.apis[("autoscaling/v2beta2", "HorizontalPodAutoscaler")].source != TABLE.sources[0]
    assert len(TABLE.apis) >= 100


def test_a_replacement_that_is_itself_removed_is_followed() -> None:
    verdict = TABLE.verdict("flowcontrol.apiserver.k8s.io/v1alpha1", "FlowSchema", "1.36")
    assert verdict is not None and verdict.removed
    assert "use flowcontrol.apiserver.k8s.io/v1 FlowSchema instead" in verdict.message


def test_a_served_api_has_no_verdict() -> None:
    assert TABLE.verdict("apps/v1", "Deployment", "1.36") is None
    assert TABLE.verdict("networking.k8s.io/v1", "Ingress", "1.37") is None


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(REMOVED))
def test_a_removed_api_fails_naming_the_replacement(name: str, target: str) -> None:
    objects = build_inventory(FIXTURES / "removed" / name, "prod").objects
    (result,) = validate(objects, _locations(target))
    assert result.status is Status.REMOVED, f"{name}: {result.status} {result.message}"
    assert "was removed " + REMOVED[name].format(t=target) in result.message


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        (
            "1.35",
            Status.VALID,
            "deprecated since Kubernetes 1.34, removal planned for 1.37: use storage.k8s.io/v1",
        ),
        (
            "1.36",
            Status.VALID,
            "deprecated since Kubernetes 1.34, removal planned for 1.37: use storage.k8s.io/v1",
        ),
        ("1.37", Status.REMOVED, "was removed in Kubernetes 1.37 (target 1.37): use storage.k8s.io/v1"),
    ],
)
def test_deprecated_warns_until_the_release_that_removes_it(
    target: str, status: Status, message: str
) -> None:
    objects = build_inventory(
        FIXTURES / "deprecated" / "volumeattributesclass-storage-v1beta1.yaml", "prod"
    ).objects
    (result,) = validate(objects, _locations(target))
    assert result.status is status, result.message
    assert message in (result.deprecation if status is Status.VALID else result.message)


def _gate(pytester: pytest.Pytester, folder: Path, target: str) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["conformance.plugin"]')
    return pytester.runpytest_subprocess(
        str(REPO / "conformance" / "suites" / "static"),
        "-k",
        "test_schema",
        "--manifests",
        str(folder),
        "--profile",
        "prod",
        "--k8s-version",
        target,
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(REPO),
    )


def test_the_static_gate_fails_removed_apis(pytester: pytest.Pytester) -> None:
    result = _gate(pytester, FIXTURES / "removed", "1.36")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=len(REMOVED))
    out = result.stdout.str()
    assert (
        "extensions/v1beta1 Ingress was removed in Kubernetes 1.22 (target 1.36): use networking.k8s.io/v1"
        in out
    )
    assert "policy/v1beta1 PodSecurityPolicy was removed in Kubernetes 1.25" in out


@pytest.mark.parametrize(("target", "failed"), [("1.36", 0), ("1.37", 1)])
def test_the_static_gate_warns_about_deprecated_apis(
    pytester: pytest.Pytester, target: str, failed: int
) -> None:
    result = _gate(pytester, FIXTURES / "deprecated", target)
    result.assert_outcomes(passed=2 - failed, failed=failed, warnings=2 - failed)
    result.stdout.fnmatch_lines(["*DeprecatedApiWarning*v1 Endpoints is deprecated since Kubernetes 1.33*"])


def test_the_ci_gate_runs_the_static_tier_for_each_target_version() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "conformance.yml").read_text())
    static = workflow["jobs"]["static"]
    assert static["strategy"]["matrix"]["k8s"] == list(TARGETS)
    assert static["env"]["CONFORMANCE_K8S_VERSION"] == "${{ matrix.k8s }}"
