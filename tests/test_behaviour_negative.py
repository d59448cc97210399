"""Negative proofs: the behaviour tier fails, with a clear message, on a broken copy of the platform.

Each case copies manifests/, breaks one thing, and runs the real behaviour test
against it on a real control plane (a pytest subprocess with --manifests, its
own local cluster). The verdict is read from the JUnit XML: the test must be a
FAILURE (a conformance verdict), not an error (BROKEN) or a skip.

  PDB with minAvailable equal to the replicas -> test_pdb_evictions: "allows 0 disruptions"
  HPA maxReplicas below policy.yaml's maximum -> test_hpa_scale_up: "peaked at 2 ... 3 were expected"
  ci HPA drifted to 300 % up / 100 % down     -> test_hpa_scale_up and _down: a step beyond the policy
  a workload no node can hold                 -> test_hpa_scale_up FAILS naming the scheduler's reason
  NetworkPolicy opening a forbidden flow      -> test_data_plane_probe: "expected DENY ... connected"
  NetworkPolicy closing a declared flow       -> test_data_plane_probe: "expected ALLOW ..., actual refused"
  NetworkPolicy that selects no pods          -> test_data_plane_probe: "... podSelector ... selects no pods"
  NetworkPolicy the API server rejects        -> test_policies_as_applied: "rejected"
More, in one run: test_behaviour_negative_proofs.py (its control is test_the_unbroken_copy_passes).
The NetworkPolicy cases run on the real data plane (kube-router, real packets): they need root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cluster.dataplane import unavailable
from conformance.tools import REPO, TOOLS_BIN

pytestmark = pytest.mark.slow
SUITE = "conformance/suites/behaviour"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # passed | failure | error | skipped
    message: str

    @property
    def by_the_check(self) -> bool:
        """A FAILURE the check pronounced (pytest.fail): JUnit records an exception the test did not
        expect (an ApiError, BROKEN in the report) as a <failure> too, with its type first."""
        return self.outcome == "failure" and self.message.startswith("Failed: ")


def run_behaviour(
    manifests: Path,
    tests: list[str],
    tmp_path: Path,
    timeout_s: float = 300,
    extra_args: Sequence[str] = (),
    *,
    suite: str = SUITE,
) -> dict[str, Verdict]:
    """Run a tier's tests (default: the behaviour tier's) against `manifests` in a subprocess; the
    verdict of each test by name. The run's terminal output is kept in tmp_path/output.txt."""
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    env["PYTHONPATH"] = str(REPO)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *(f"{suite}/{t}" for t in tests),
        "--manifests",
        str(manifests),
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={junit}",
        *extra_args,
    ]
    out = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    (tmp_path / "output.txt").write_text(out.stdout + out.stderr)
    if not junit.is_file():
        raise AssertionError(
            f"no JUnit XML from the behaviour run (exit {out.returncode}):\n{out.stdout[-3000:]}"
        )
    verdicts = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome, message = tag, f"{node.get('message', '')}\n{node.text or ''}"
                break
        verdicts[str(case.get("name"))] = Verdict(outcome, message)
    return verdicts


def broken_copy(tmp_path: Path, change: Callable[[Path], None]) -> Path:
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    change(root)
    return root


def edit_ci_values(root: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = root / "helm" / "tartware" / "values-ci.yaml"
    values = yaml.safe_load(path.read_text())
    edit(values)
    path.write_text(yaml.safe_dump(values, sort_keys=False))


FORBIDDEN_FLOW = """\
# api-gateway may use Redis only: this opens PostgreSQL to it directly (bypassing PgBouncer).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: postgresql-from-gateway, namespace: tartware-data}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: postgresql}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: tartware}}
          podSelector: {matchLabels: {app.kubernetes.io/name: api-gateway}}
      ports: [{port: 5432, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: gateway-to-postgresql, namespace: tartware}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: api-gateway}}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: tartware-data}}
          podSelector: {matchLabels: {app.kubernetes.io/name: postgresql}}
      ports: [{port: 5432, protocol: TCP}]
"""


def edit_policy(
    root: Path, file: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]
) -> None:
    """Change one NetworkPolicy of a plain manifest file (comments are lost in the copy)."""
    path = root / "kubernetes" / file
    docs = list(yaml.safe_load_all(path.read_text()))
    hits = [
        d
        for d in docs
        if isinstance(d, dict)
        and d.get("kind") == "NetworkPolicy"
        and d["metadata"].get("name") == name
        and d["metadata"].get("namespace") == namespace
    ]
    assert len(hits) == 1, f"NetworkPolicy {namespace}/{name} not found once in {path}"
    change(hits[0]["spec"])
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


needs_data_plane = pytest.mark.skipif(
    unavailable(TOOLS_BIN) is not None, reason=f"no data plane here: {unavailable(TOOLS_BIN)}"
)


# The checks test_behaviour_negative_proofs.py breaks (in one run); the control runs them too.
PROOF_TESTS = [
    "test_autoscaling.py::test_hpa_scale_up",
    "test_autoscaling.py::test_hpa_scale_down",
    "test_autoscaling.py::test_hpa_scale_down_policy",
    "test_disruption.py::test_pdb_drain",
    "test_platform_apply.py::test_render_is_complete",
    "test_pod_security.py::test_labels_as_applied",
    "test_pod_security.py::test_workload_admitted",
    "test_pod_security.py::test_enforce_is_strictest",
    "test_pod_security.py::test_privileged_pod_rejected",
]
# Nothing to judge: monitoring enforces privileged for workloads these manifests do not hold.
UNJUDGED = {"test_enforce_is_strictest[monitoring]", "test_privileged_pod_rejected[monitoring]"}


def test_the_unbroken_copy_passes(tmp_path: Path) -> None:
    """Control: the same tests pass on an unchanged copy, so the failures below (and those of
    test_behaviour_negative_proofs.py) come from the change."""
    root = broken_copy(tmp_path, lambda _root: None)
    tests = [
        "test_disruption.py::test_pdb_evictions",
        "test_network_policy.py::test_policies_as_applied",
        *PROOF_TESTS,
    ]
    if unavailable(TOOLS_BIN) is None:
        tests.append("test_network_policy.py::test_data_plane_probe")
    verdicts = run_behaviour(root, tests, tmp_path, timeout_s=900)
    assert {name.split("[")[0] for name in verdicts} == {t.split("::")[1] for t in tests}, verdicts
    not_passed = {name: v for name, v in verdicts.items() if v.outcome != "passed"}
    assert {name: v.outcome for name, v in not_passed.items()} == dict.fromkeys(UNJUDGED, "skipped"), (
        not_passed
    )


def test_pdb_with_min_available_equal_to_replicas_fails(tmp_path: Path) -> None:
    def block_evictions(values: dict[str, Any]) -> None:
        gateway = values["api-gateway"]
        gateway["pdb"] = {"budget": "minAvailable", "value": gateway["autoscaling"]["minReplicas"]}

    root = broken_copy(tmp_path, lambda r: edit_ci_values(r, block_evictions))
    verdict = run_behaviour(root, ["test_disruption.py::test_pdb_evictions"], tmp_path)[
        "test_pdb_evictions[api-gateway]"
    ]
    assert verdict.by_the_check, verdict
    assert "allows 0 disruptions with 2 of 2 pods healthy (the HPA minimum)" in verdict.message
    assert "{'minAvailable': 2}" in verdict.message


def test_hpa_max_below_the_policy_fails(tmp_path: Path) -> None:
    def cap(values: dict[str, Any]) -> None:
        values["guests"]["autoscaling"]["maxReplicas"] = 2  # policy.yaml: guests ci max 3

    root = broken_copy(tmp_path, lambda r: edit_ci_values(r, cap))
    verdict = run_behaviour(root, ["test_autoscaling.py::test_hpa_scale_up"], tmp_path)[
        "test_hpa_scale_up[guests]"
    ]
    assert verdict.by_the_check, verdict
    assert "replicas peaked at 2 under load but 3 were expected" in verdict.message
    assert "bounds: the HPA says 1-2, the policy 1-3" in verdict.message


def test_hpa_drifted_from_its_policy_fails_both_ways(tmp_path: Path) -> None:
    """The HPA obeys its own (drifted) spec, and that is exactly what must fail: policy.yaml says
    100 % per 15 s up and 10 % per 15 s down for ci."""

    def drift(values: dict[str, Any]) -> None:
        behavior = values["global"]["autoscaling"]["behavior"]
        behavior["scaleUp"] = {**behavior["scaleUp"], "percent": 300}
        behavior["scaleDown"] = {**behavior["scaleDown"], "percent": 100}

    root = broken_copy(tmp_path, lambda r: edit_ci_values(r, drift))
    verdicts = run_behaviour(
        root,
        ["test_autoscaling.py::test_hpa_scale_up", "test_autoscaling.py::test_hpa_scale_down"],
        tmp_path,
        timeout_s=420,
    )
    up, down = verdicts["test_hpa_scale_up[guests]"], verdicts["test_hpa_scale_down[guests]"]
    assert up.by_the_check, up
    assert "replicas went 1 -> 3, but scaleUp allows at most 2" in up.message
    assert "judged against policy.yaml org.hpa (profile ci)" in up.message
    assert "scaleUp: the HPA says +300 % per 15 s" in up.message
    assert down.by_the_check, down
    assert "replicas went 3 -> 1, but scaleDown allows no fewer than 2" in down.message


def test_a_workload_no_node_can_hold_fails_not_broken(tmp_path: Path) -> None:
    """Pods the scheduler cannot place because of the platform's own requests are the platform's
    fault: FAILED with the scheduler's reason, not BROKEN (infrastructure)."""

    def oversize(values: dict[str, Any]) -> None:
        # A new mapping: values-ci.yaml shares one `resources` mapping between services (an alias).
        values["guests"]["resources"] = {
            "requests": {"cpu": "64", "memory": "32Mi"},
            "limits": {"cpu": "64", "memory": "64Mi"},
        }

    root = broken_copy(tmp_path, lambda r: edit_ci_values(r, oversize))
    verdict = run_behaviour(root, ["test_autoscaling.py::test_hpa_scale_up"], tmp_path)[
        "test_hpa_scale_up[guests]"
    ]
    assert verdict.by_the_check, verdict
    assert "the cause lies in the platform's spec" in verdict.message
    assert "cannot be scheduled" in verdict.message and "Insufficient cpu" in verdict.message


def probe(root: Path, tmp_path: Path) -> Verdict:
    verdict = run_behaviour(root, ["test_network_policy.py::test_data_plane_probe"], tmp_path)
    return verdict["test_data_plane_probe"]


@needs_data_plane
def test_network_policy_opening_a_forbidden_flow_fails(tmp_path: Path) -> None:
    def add_policy(root: Path) -> None:
        (root / "kubernetes" / "zz-forbidden-flow.yaml").write_text(FORBIDDEN_FLOW)

    verdict = probe(broken_copy(tmp_path, add_policy), tmp_path)
    assert verdict.by_the_check, verdict
    # Both PostgreSQL workloads (primary, read replicas), each to its pod IP and through its Service.
    assert "4 wrong, " in verdict.message
    assert (
        "tartware/api-gateway -> tartware-data/postgresql-primary:5432/TCP: "
        "expected DENY (not in flows.yaml), actual connected" in verdict.message
    )
    assert (
        "egress of tartware/api-gateway admitted by NetworkPolicy tartware/gateway-to-postgresql"
        in verdict.message
    )
    assert (
        "ingress of tartware-data/postgresql-primary admitted by "
        "NetworkPolicy tartware-data/postgresql-from-gateway" in verdict.message
    )


@needs_data_plane
def test_network_policy_closing_a_declared_flow_fails(tmp_path: Path) -> None:
    def drop_guests(spec: dict[str, Any]) -> None:
        spec["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"].remove("guests")

    root = broken_copy(
        tmp_path, lambda r: edit_policy(r, "data-stores.yaml", "tartware-data", "pgbouncer", drop_guests)
    )
    verdict = probe(root, tmp_path)
    assert verdict.by_the_check, verdict
    assert "2 wrong, " in verdict.message  # to the pod IP and through the Service
    assert (
        "tartware/guests -> tartware-data/pgbouncer:6432/TCP: "
        "expected ALLOW (declared in flows.yaml), actual refused" in verdict.message
    )
    assert (
        "ingress of tartware-data/pgbouncer is isolated by NetworkPolicy tartware-data/default-deny-all"
        in verdict.message
    )
    assert "NetworkPolicy tartware-data/pgbouncer (manifests" in verdict.message
    assert "none admits tartware/guests" in verdict.message


@needs_data_plane
def test_network_policy_selecting_no_pods_fails(tmp_path: Path) -> None:
    def typo(spec: dict[str, Any]) -> None:
        spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] = "grafana-typo"

    root = broken_copy(
        tmp_path, lambda r: edit_policy(r, "network-policies.yaml", "monitoring", "grafana", typo)
    )
    verdict = probe(root, tmp_path)
    assert verdict.by_the_check, verdict
    for flow in (
        "monitoring/prometheus -> monitoring/grafana:3000/TCP",
        "ingress-nginx/ingress-nginx -> monitoring/grafana:3000/TCP",
        "monitoring/grafana -> monitoring/prometheus:9090/TCP",
    ):
        wanted = f"{flow}: expected ALLOW (declared in flows.yaml), actual refused"
        assert wanted in verdict.message, flow
    assert (
        "NetworkPolicy monitoring/grafana (manifests/kubernetes/network-policies.yaml "
        "document 17 (line 503)) would admit it, "
        "but its podSelector {app.kubernetes.io/name=grafana-typo} selects no pods"
    ) in verdict.message


def test_network_policy_the_api_rejects_fails(tmp_path: Path) -> None:
    def bad_port(root: Path) -> None:
        (root / "kubernetes" / "zz-bad-port.yaml").write_text(BAD_PORT)

    root = broken_copy(tmp_path, bad_port)
    verdict = run_behaviour(root, ["test_network_policy.py::test_policies_as_applied"], tmp_path)
    result = verdict["test_policies_as_applied"]
    assert result.by_the_check, result
    assert "1 NetworkPolicy object(s) rejected" in result.message
    assert "NetworkPolicy/tartware/bad-port" in result.message and "endPort" in result.message


BAD_PORT = """\
# endPort below port: valid YAML, refused by the API server's validation.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad-port, namespace: tartware}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: guests}}
  policyTypes: [Ingress]
  ingress:
    - ports: [{port: 9000, endPort: 8000, protocol: TCP}]
"""
