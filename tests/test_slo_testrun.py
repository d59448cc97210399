"""The k6-operator TestRun for prod, validated statically (no offline CRD schema for k6.io)."""

from __future__ import annotations

import base64
import copy
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.policy import Policy, load_policy
from conformance.slo.config import plans
from conformance.slo.testrun import PER_RUNNER_RPS, main, render, validate
from conformance.tools import REPO

POLICY = REPO / "manifests" / "policy.yaml"
Objects = list[dict[str, Any]]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY)


@pytest.fixture(scope="module")
def rendered(policy: Policy) -> Objects:
    return render(policy, "load", "prod")


def the_testrun(objects: Objects) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "TestRun")


def configmap(objects: Objects) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "ConfigMap")


def test_prod_load_testrun_is_sound(policy: Policy, rendered: Objects) -> None:
    assert validate(rendered, policy, "load", "prod") == []
    spec = the_testrun(rendered)["spec"]
    assert the_testrun(rendered)["apiVersion"] == "k6.io/v1alpha1"
    assert spec["parallelism"] == 10, "20k req/s at 2k req/s per runner"
    assert spec["parallelism"] * PER_RUNNER_RPS >= policy.require_slo().target_rps
    assert spec["script"]["configMap"] == {
        "name": configmap(rendered)["metadata"]["name"],
        "file": "archive.tar",
    }


@pytest.mark.parametrize(("scenario", "runners"), [("stress", 20), ("spike", 15)])
def test_parallelism_follows_each_scenarios_peak(policy: Policy, scenario: str, runners: int) -> None:
    objects = render(policy, scenario, "prod")
    assert the_testrun(objects)["spec"]["parallelism"] == runners
    assert validate(objects, policy, scenario, "prod") == []


def test_archive_holds_the_scenario_and_the_generated_config(rendered: Objects) -> None:
    blob = base64.b64decode(configmap(rendered)["binaryData"]["archive.tar"])
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        names = tar.getnames()
        data = tar.extractfile("data")
        assert data is not None and data.read() == (REPO / "k6" / "load.js").read_bytes()
    assert any(n.endswith("/k6/lib/users.js") for n in names)
    assert any(n.endswith("k6-config.json") for n in names)


def tamper(objects: Objects, change: Any) -> Objects:
    copied = copy.deepcopy(objects)
    change(copied)
    return copied


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda o: the_testrun(o)["spec"].update(parallelism=2),
            "2 runners x 2000 req/s = 4000 req/s < the scenario's peak",
        ),
        (lambda o: the_testrun(o)["spec"].update(parallelism="10"), "spec.parallelism must be an integer"),
        (
            lambda o: the_testrun(o)["spec"]["runner"].update(image="grafana/k6:latest"),
            "is not pinned to k6 1.1.0",
        ),
        (
            lambda o: the_testrun(o)["spec"]["runner"]["resources"].pop("limits"),
            "resources.limits.cpu is missing",
        ),
        (
            lambda o: the_testrun(o)["spec"]["runner"]["resources"]["requests"].update(cpu="500m"),
            "needs >= 1 CPU",
        ),
        (lambda o: the_testrun(o)["spec"].update(arguments="--quiet"), "lacks --no-usage-report"),
        (
            lambda o: the_testrun(o)["spec"]["script"]["configMap"].update(name="other"),
            "does not name the ConfigMap",
        ),
        (lambda o: the_testrun(o)["metadata"].update(namespace="default"), "different namespaces"),
        (lambda o: the_testrun(o).update(apiVersion="k6.io/v1"), "serves k6.io/v1alpha1"),
        (
            lambda o: configmap(o)["binaryData"].update({"archive.tar": base64.b64encode(b"junk").decode()}),
            "not a k6 archive",
        ),
        (lambda o: o.remove(configmap(o)), "need one TestRun and one ConfigMap"),
    ],
    ids=[
        "too-few-runners",
        "parallelism-string",
        "latest-image",
        "no-limits",
        "starved-cpu",
        "usage-report",
        "wrong-configmap",
        "split-namespaces",
        "wrong-api",
        "junk-archive",
        "no-configmap",
    ],
)
def test_validation_catches(policy: Policy, rendered: Objects, change: Any, problem: str) -> None:
    problems = validate(tamper(rendered, change), policy, "load", "prod")
    assert any(problem in p for p in problems), problems


def test_a_policy_change_is_drift_until_re_rendered(
    policy: Policy, rendered: Objects, tmp_path: Path
) -> None:
    edited = tmp_path / "policy.yaml"
    edited.write_text(POLICY.read_text().replace("latency_p95_ms: 500", "latency_p95_ms: 300", 1))
    stricter = load_policy(edited)
    problems = validate(rendered, stricter, "load", "prod")
    assert any("archive thresholds" in p and "p(95)<300" in p for p in problems), problems
    assert validate(render(stricter, "load", "prod"), stricter, "load", "prod") == []


def test_ci_rate_fits_one_runner(policy: Policy) -> None:
    objects = render(policy, "load", "ci", base_url="http://127.0.0.1:8080")
    assert the_testrun(objects)["spec"]["parallelism"] == 1
    # ci is below the policy's target_rps by design: that check is for `load` at prod only.
    assert [p for p in validate(objects, policy, "load", "ci") if "target_rps" not in p] == []
    assert plans(policy, "ci")["load"].peak_rate is not None


def test_cli_writes_yaml_that_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "testrun.yaml"
    assert main(["--policy", str(POLICY), "-o", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in docs] == ["ConfigMap", "TestRun"]
    assert "&id" not in out.read_text(), "no YAML anchors: every consumer reads the objects as written"
