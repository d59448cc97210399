"""The static tier as a gate: the platform passes, and breaking it fails with the rule id and object.

The platform is copied to a temp folder with its chart rendered (prod) into a
plain YAML file, so each test can mutate exactly one object.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.inventory.render import helm_template
from conformance.settings import Settings
from conformance.static import StaticRun, run_static
from conformance.tools import REPO

pytest_plugins = ["pytester"]
PLATFORM = REPO / "manifests"
Mutation = Callable[[list[dict[str, Any]]], None]


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc.get("kind") == kind and doc.get("metadata", {}).get("name") == name:
            return doc
    raise AssertionError(f"{kind}/{name} not in the rendered platform")


def _drop_pdb(docs: list[dict[str, Any]]) -> None:
    docs.remove(_find(docs, "PodDisruptionBudget", "reservations"))


def _max_below_min(docs: list[dict[str, Any]]) -> None:
    _find(docs, "HorizontalPodAutoscaler", "core-service")["spec"]["maxReplicas"] = 3


def _latest_image(docs: list[dict[str, Any]]) -> None:
    container = _find(docs, "Deployment", "api-gateway")["spec"]["template"]["spec"]["containers"][0]
    container["image"] = container["image"].rsplit(":", 1)[0] + ":latest"


def _no_resources(docs: list[dict[str, Any]]) -> None:
    del _find(docs, "Deployment", "billing")["spec"]["template"]["spec"]["containers"][0]["resources"]


def _broken_selector(docs: list[dict[str, Any]]) -> None:
    _find(docs, "Service", "guests")["spec"]["selector"]["app.kubernetes.io/name"] = "guest"


def _policy(name: str, app: str, direction: str, peer: str) -> dict[str, Any]:
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "tartware"},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "policyTypes": [direction],
            key: [{peers: [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": peer}}}],
                   "ports": [{"port": 8080}]}],
        },
    }  # fmt: skip


def _forbidden_flow(docs: list[dict[str, Any]]) -> None:
    # billing -> guests is not in flows.yaml: open both ends of it.
    docs.append(_policy("billing-to-guests", "billing", "Egress", "guests"))
    docs.append(_policy("guests-from-billing", "guests", "Ingress", "billing"))


MUTATIONS: dict[str, tuple[Mutation, str, str]] = {
    # name: (mutation, rule id expected to fire, object ref it must name)
    "drop-a-pdb": (_drop_pdb, "pdb-per-workload", "Deployment/tartware/reservations"),
    "max-below-min": (_max_below_min, "hpa-bounds", "HorizontalPodAutoscaler/tartware/core-service"),
    "latest-image": (_latest_image, "image-pinned", "Deployment/tartware/api-gateway"),
    "no-resources": (_no_resources, "resources-set", "Deployment/tartware/billing"),
    "broken-service-selector": (_broken_selector, "service-selector-matches", "Service/tartware/guests"),
    "forbidden-flow": (
        _forbidden_flow,
        "network-flows-match-intent",
        "NetworkPolicy/tartware/guests-from-billing",
    ),
}


def _platform_copy(dest: Path, mutate: Mutation | None = None) -> Path:
    shutil.copytree(PLATFORM, dest, ignore=shutil.ignore_patterns("helm"))
    rendered = helm_template(PLATFORM / "helm" / "tartware", "tartware", "prod", "tartware")
    assert isinstance(rendered, str), rendered
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    if mutate is not None:
        mutate(docs)
    # JSON documents are YAML: one per line, separated by document markers.
    (dest / "rendered-chart.yaml").write_text("\n---\n".join(json.dumps(d) for d in docs))
    return dest


def _run(manifests: Path) -> StaticRun:
    settings = Settings.resolve(
        {"manifests": str(manifests), "profiles": "prod", "today": "2026-11-26"}.get, {}
    )
    return run_static(dataclasses.replace(settings, policy=PLATFORM / "policy.yaml"))


def _failing(run: StaticRun) -> dict[str, list[str]]:
    (target,) = run.targets
    assert not target.inventory.problems, target.inventory.problems
    return {o.rule.id: [f.obj.ref for f in o.findings] for o in target.outcomes if o.findings or o.error}


def test_the_unmutated_copy_passes(tmp_path: Path) -> None:
    assert _failing(_run(_platform_copy(tmp_path / "m"))) == {}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_breaking_the_platform_fires_the_rule_naming_the_object(tmp_path: Path, name: str) -> None:
    mutate, rule_id, ref = MUTATIONS[name]
    failing = _failing(_run(_platform_copy(tmp_path / "m", mutate)))
    assert rule_id in failing, f"{rule_id} did not fire; failing rules: {failing}"
    assert ref in failing[rule_id], f"{rule_id} fired on {failing[rule_id]}, not on {ref}"


def test_the_pytest_gate_fails_with_rule_id_and_object_name(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    manifests = _platform_copy(tmp_path / "m", _latest_image)
    pytester.makeconftest('pytest_plugins = ["conformance.plugin"]')
    result = pytester.runpytest_subprocess(
        str(REPO / "conformance" / "suites" / "static"),
        "--manifests",
        str(manifests),
        "--profile",
        "prod",
        "--policy",
        str(PLATFORM / "policy.yaml"),
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(REPO),
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(  # the finding block comes before the summary line
        ["*[[]image-pinned[]] Deployment/tartware/api-gateway*", "*FAILED*test_rule?image-pinned*"]
    )
