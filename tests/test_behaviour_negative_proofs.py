"""Negative proofs (issue 19): Pod Security, render, drain and HPA-policy checks of the behaviour tier
fail, with the cause named, on a broken copy of the platform.

One behaviour run (its own local cluster, a pytest subprocess with --manifests) over one copy of
manifests/ broken in several independent places; each test below reads the JUnit verdict of the
check its break must fail (a FAILURE the check pronounces: not broken, an error or a skip). The same
checks pass on an unbroken copy: test_behaviour_negative.py::test_the_unbroken_copy_passes runs
PROOF_TESTS too.

  namespaces.yaml: cert-manager warn lowered to baseline      -> test_labels_as_applied[cert-manager]
  namespaces.yaml: istio-system enforce-version "1.32"        -> the API server rejects the Namespace:
                                                                 labels_as_applied, privileged_pod_rejected
  Namespace ingress-nginx again, as upstream ships it         -> its Pod Security labels are stripped:
                                                                 privileged_pod_rejected, labels_as_applied
  pgbouncer allowPrivilegeEscalation: true                     -> test_workload_admitted[.../pgbouncer]
  namespaces.yaml: tartware enforce lowered to baseline       -> test_enforce_is_strictest[tartware]
  a duplicate key in base-config.yaml                          -> test_render_is_complete
  ci api-gateway PDB minAvailable 100%                         -> test_pdb_drain[api-gateway]
  prod scaleDown 100 % per 15 s (policy: 10 % per 60 s)        -> test_hpa_scale_down_policy[prod-guests]
  ci scaleUp 50 %, scaleDown 5 % per 15 s (stricter)           -> test_hpa_scale_up/down[guests]: drift
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_behaviour_negative import (
    PROOF_TESTS,
    UNJUDGED,
    Verdict,
    broken_copy,
    edit_ci_values,
    run_behaviour,
)

pytestmark = pytest.mark.slow

# The upstream ingress-nginx manifest (deploy.yaml) declares its namespace without Pod Security labels.
UPSTREAM_INGRESS_NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: ingress-nginx
  labels:
    app.kubernetes.io/instance: ingress-nginx
    app.kubernetes.io/name: ingress-nginx
"""
BROKEN = {
    "test_labels_as_applied[cert-manager]",
    "test_labels_as_applied[istio-system]",
    "test_labels_as_applied[ingress-nginx0]",  # pytest numbers the ids of a namespace declared twice
    "test_labels_as_applied[ingress-nginx1]",
    "test_privileged_pod_rejected[istio-system]",
    "test_privileged_pod_rejected[ingress-nginx0]",
    "test_privileged_pod_rejected[ingress-nginx1]",
    "test_workload_admitted[Deployment/tartware-data/pgbouncer]",
    "test_enforce_is_strictest[tartware]",
    "test_render_is_complete",
    "test_pdb_drain[api-gateway]",
    "test_hpa_scale_down_policy[prod-guests]",
    "test_hpa_scale_up[guests]",
    "test_hpa_scale_down[guests]",
}


def _edit_namespaces(root: Path) -> None:
    path = root / "kubernetes" / "namespaces.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    labels = {d["metadata"]["name"]: d["metadata"]["labels"] for d in docs}
    psa = "pod-security.kubernetes.io/"
    labels["cert-manager"][psa + "warn"] = "baseline"  # deviations from restricted go unreported
    labels["istio-system"][psa + "enforce-version"] = "1.32"  # not "v1.32": the API server refuses it
    labels["tartware"][psa + "enforce"] = "baseline"  # its workloads all comply with restricted
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _allow_privilege_escalation(root: Path) -> None:
    path = root / "kubernetes" / "data-stores.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    (pgbouncer,) = [
        d for d in docs if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "pgbouncer"
    ]
    container = pgbouncer["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True  # restricted requires false
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def _ci_values(values: dict[str, Any]) -> None:
    values["api-gateway"]["pdb"] = {"budget": "minAvailable", "value": "100%"}  # blocks every eviction
    # Stricter than policy.yaml's ci 100 % up / 10 % down per 15 s, yet over guests' 1 -> 3 -> 1 the
    # same steps at the same times: only the drift itself can fail these.
    behavior = values["global"]["autoscaling"]["behavior"]
    behavior["scaleUp"] = {**behavior["scaleUp"], "percent": 50}
    behavior["scaleDown"] = {**behavior["scaleDown"], "percent": 5}


def _break(root: Path) -> None:
    _edit_namespaces(root)
    (root / "kubernetes" / "zz-ingress-nginx-upstream.yaml").write_text(UPSTREAM_INGRESS_NAMESPACE)
    _allow_privilege_escalation(root)
    base_config = root / "kubernetes" / "base-config.yaml"
    _replace_once(base_config, "  REDIS_MODE: cluster\n", "  REDIS_MODE: cluster\n  REDIS_MODE: standalone\n")
    # prod only (values-ci.yaml sets its own scaleDown): Kubernetes' default, 100 % per 15 s.
    _replace_once(
        root / "helm" / "tartware" / "values.yaml",
        "scaleDown: {stabilizationWindowSeconds: 300, percent: 10, periodSeconds: 60}",
        "scaleDown: {stabilizationWindowSeconds: 300, percent: 100, periodSeconds: 15}",
    )
    edit_ci_values(root, _ci_values)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Verdict]:
    tmp = tmp_path_factory.mktemp("proofs")
    return run_behaviour(broken_copy(tmp, _break), PROOF_TESTS, tmp, timeout_s=900)


def failed(verdicts: dict[str, Verdict], name: str) -> str:
    """The message of `name`, which must have failed with a verdict (not broken, passed nor skipped)."""
    verdict = verdicts[name]
    assert verdict.by_the_check, (name, verdict)
    return verdict.message


def test_only_the_broken_parts_fail(verdicts: dict[str, Verdict]) -> None:
    """Each break fails its own checks, with a verdict, and nothing else: the others still pass."""
    assert {name for name, v in verdicts.items() if v.by_the_check} == BROKEN, verdicts
    assert {name for name, v in verdicts.items() if v.outcome == "skipped"} == UNJUDGED, verdicts
    assert {name for name, v in verdicts.items() if v.outcome == "passed"} == set(
        verdicts
    ) - BROKEN - UNJUDGED


def test_a_weakened_warn_label_fails(verdicts: dict[str, Verdict]) -> None:
    message = failed(verdicts, "test_labels_as_applied[cert-manager]")
    assert "Namespace/cert-manager: warn is 'baseline'; required: restricted" in message


def test_a_namespace_the_api_server_rejects_fails_not_broken(verdicts: dict[str, Verdict]) -> None:
    """An invalid Pod Security label is the platform's fault: FAILED with the server's answer."""
    for test in ("test_labels_as_applied", "test_privileged_pod_rejected"):
        message = failed(verdicts, f"{test}[istio-system]")
        assert "Namespace/istio-system is not on the cluster: 422" in message, test
        assert "pod-security.kubernetes.io/enforce-version" in message and '"1.32"' in message, test


def test_a_namespace_stripped_of_its_labels_admits_a_privileged_pod(verdicts: dict[str, Verdict]) -> None:
    """A second manifest of the namespace, applied after namespaces.yaml, drops its Pod Security labels
    (server-side apply removes what the same manager no longer applies): the cluster's default,
    privileged, applies."""
    for name in ("ingress-nginx0", "ingress-nginx1"):
        message = failed(verdicts, f"test_privileged_pod_rejected[{name}]")
        assert (
            "Namespace/ingress-nginx (enforce restricted) admitted a privileged pod: on the cluster it has "
            "no pod-security.kubernetes.io/enforce label (the cluster's default level applies)"
        ) in message
        message = failed(verdicts, f"test_labels_as_applied[{name}]")
        assert "PodSecurity labels as applied {} differ from the declared" in message


def test_a_workload_violating_restricted_is_not_admitted(verdicts: dict[str, Verdict]) -> None:
    message = failed(verdicts, "test_workload_admitted[Deployment/tartware-data/pgbouncer]")
    assert "its pods are not admitted in namespace tartware-data (enforce restricted)" in message
    assert 'violates PodSecurity "restricted:v1.32": allowPrivilegeEscalation != false' in message


def test_enforce_weaker_than_the_workloads_need_fails(verdicts: dict[str, Verdict]) -> None:
    message = failed(verdicts, "test_enforce_is_strictest[tartware]")
    assert "Namespace/tartware enforces baseline, but all its" in message
    assert "workload(s) are admitted under restricted: enforce restricted" in message


def test_an_input_problem_fails_the_render(verdicts: dict[str, Verdict]) -> None:
    message = failed(verdicts, "test_render_is_complete")
    assert "1 input problem(s): these objects could not be judged" in message
    assert "base-config.yaml" in message and "duplicate key 'REDIS_MODE'" in message


def test_a_pdb_that_blocks_every_eviction_fails_the_drain(verdicts: dict[str, Verdict]) -> None:
    message = failed(verdicts, "test_pdb_drain[api-gateway]")
    assert (
        "PodDisruptionBudget/api-gateway {'minAvailable': '100%'} allows 0 disruptions with 2 of 2 pods "
        "healthy (the HPA minimum): no eviction can proceed, so a node drain or upgrade would block forever"
    ) in message


def test_a_prod_scale_down_faster_than_its_policy_fails(verdicts: dict[str, Verdict]) -> None:
    """The real controller follows prod's drifted 100 % per 15 s and test_hpa_scale_down_policy's
    judgement (_judge_policy_down: check_scale_down against policy.yaml's prod 10 % per 60 s, and the
    ScaleDownLimit check) fails it. test_hpa_scale_down_policy_long (`-m long`, ~7 min, not run here)
    calls the same _judge_policy_down on a run that differs only in keeping the rendered stabilization
    window and a longer timeout: a window delays the first step, it cannot make a 3 -> 1 step legal,
    so this proves its judgement too."""
    message = failed(verdicts, "test_hpa_scale_down_policy[prod-guests]")
    assert "judged against policy.yaml org.hpa (profile prod)" in message
    # 3 -> 1 at once, or 3 -> 2 -> 1 seconds apart (the controller counts a pod whose metrics are still
    # missing as at its target): either way within the policy's 60 s period.
    assert (
        "-> 1, but scaleDown allows no fewer than 2 (-10 % per 60 s (selectPolicy Max, window 0 s))"
        in message
    )
    assert "the controller never reported ScaleDownLimit: the policy never held it back" in message
    assert "scaleDown: the HPA says -100 % per 15 s" in message


def test_an_hpa_stricter_than_its_policy_fails(verdicts: dict[str, Verdict]) -> None:
    """Scaling more cautiously than policy.yaml promises fails too, each direction in its own test
    (the looser side: test_behaviour_negative.py::test_hpa_drifted_from_its_policy_fails_both_ways)."""
    up = failed(verdicts, "test_hpa_scale_up[guests]")
    assert (
        "the rendered HPA drifts from its policy: scaleUp: the HPA says +50 % per 15 s (selectPolicy Max, "
        "window 0 s), the policy +100 % per 15 s (selectPolicy Max, window 0 s)"
    ) in up
    assert "the rendered HPA drifts from its policy: scaleDown" not in up
    down = failed(verdicts, "test_hpa_scale_down[guests]")
    assert (
        "the rendered HPA drifts from its policy: scaleDown: the HPA says -5 % per 15 s (selectPolicy Max, "
        "window 15 s), the policy -10 % per 15 s (selectPolicy Max, window 15 s)"
    ) in down
    assert "the rendered HPA drifts from its policy: scaleUp" not in down
