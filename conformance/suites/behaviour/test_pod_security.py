"""Pod Security admission as the cluster enforces it on the platform's namespaces.

test_labels_as_applied[<ns>]        the PodSecurity labels read back equal the declared ones;
                                    audit and warn stay `restricted` (namespaces.yaml's rule)
                                    (a Namespace the API server rejected fails with its answer)
test_workload_admitted[<workload>]  a pod from each workload's template is admitted in its
                                    namespace (server-side dry-run create: admission runs)
test_enforce_is_strictest[<ns>]     a namespace below `restricted` holds workloads that need it
test_privileged_pod_rejected[<ns>]  a privileged pod gets 403 with the PodSecurity message
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.behaviour.platform import WORKLOAD_KINDS, pod_from_workload
from conformance.behaviour.resources import PSA_PREFIX, TestNamespaces
from conformance.behaviour.verdict import require
from conformance.cluster import ApiError, Kube
from conformance.inventory import Inventory, K8sObject
from conformance.k8s import of_kinds
from conformance.report.allure_labels import attach_text, label

from .conftest import TIER, BehaviourEnv

LEVELS = ("restricted", "baseline", "privileged")  # strictest first
ENFORCE = PSA_PREFIX + "enforce"


def _declared(inventory: Inventory, name: str) -> K8sObject:
    ns = inventory.get("Namespace", "", name)
    assert ns is not None, name
    return ns


def _require_pod_security_labels(inventory: Inventory) -> None:
    """Skip, with the reason, for an input that labels none of its namespaces for Pod Security: the
    cluster's own default applies there, and there is no declared level to hold it to."""
    if not any(k.startswith(PSA_PREFIX) for ns in inventory.of_kind("Namespace") for k in ns.labels):
        pytest.skip(
            "no namespace of the input sets pod-security.kubernetes.io/* labels: the cluster's default "
            "admission level applies, so there is no declared level to check"
        )


def _live_labels(env: BehaviourEnv, name: str) -> dict[str, str]:
    """The PodSecurity labels of the namespace as the cluster holds it. A platform Namespace the API
    server rejected (e.g. an invalid level or version label) FAILS with the server's answer: the
    platform's fault, not the suite's."""
    __tracebackhide__ = True
    live = env.kube.get_or_none("v1", "Namespace", env.nsmap.to_cluster(name))
    if live is None:
        result = env.platform.results.get(f"Namespace/{name}")
        pytest.fail(
            f"Namespace/{name} is not on the cluster: {result.message if result else 'it was never applied'}",
            pytrace=False,
        )
    labels = (live.get("metadata") or {}).get("labels") or {}
    return {k: v for k, v in labels.items() if k.startswith(PSA_PREFIX)}


def _workloads_in(inventory: Inventory, namespace: str) -> list[K8sObject]:
    return [o for o in of_kinds(inventory, WORKLOAD_KINDS) if o.namespace == namespace]


def _privileged_pod(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-privileged-probe", "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "probe",
                    "image": "registry.k8s.io/pause:3.10",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }


def test_labels_as_applied(platform_namespace: str, behaviour_env: BehaviourEnv) -> None:
    label(TIER, "pod security", [platform_namespace], "critical")
    inventory = behaviour_env.inventory
    _require_pod_security_labels(inventory)
    declared = {
        k: v for k, v in _declared(inventory, platform_namespace).labels.items() if k.startswith(PSA_PREFIX)
    }
    applied = _live_labels(behaviour_env, platform_namespace)
    attach_text("labels", f"declared: {declared}\napplied:  {applied}")
    problems = []
    if applied != declared:
        problems.append(f"PodSecurity labels as applied {applied} differ from the declared {declared}")
    if applied.get(ENFORCE) not in LEVELS:
        problems.append(f"enforce level is {applied.get(ENFORCE)!r}; required: one of {', '.join(LEVELS)}")
    for mode in ("audit", "warn"):
        if applied.get(PSA_PREFIX + mode) != "restricted":
            problems.append(
                f"{mode} is {applied.get(PSA_PREFIX + mode)!r}; required: restricted (every deviation "
                "from restricted must still be reported)"
            )
    require(not problems, f"Namespace/{platform_namespace}: " + "; ".join(problems))


def test_workload_admitted(workload_ref: str, behaviour_env: BehaviourEnv) -> None:
    inventory = behaviour_env.inventory
    obj = next(o for o in inventory.objects if o.ref == workload_ref)
    label(TIER, "pod security", [obj.name], "critical")
    pod = pod_from_workload(obj, behaviour_env.nsmap.to_cluster(obj.namespace))
    assert pod is not None
    level = (
        _declared(inventory, obj.namespace).labels.get(ENFORCE, "(none)")
        if inventory.get("Namespace", "", obj.namespace)
        else "(namespace not declared)"
    )
    try:
        resp = behaviour_env.kube.create(pod, dry_run=True)
    except ApiError as err:
        pytest.fail(
            f"{workload_ref}: its pods are not admitted in namespace {obj.namespace} (enforce {level}):\n"
            f"{err}",
            pytrace=False,
        )
    if resp.warnings:
        attach_text("PodSecurity warnings", "\n".join(resp.warnings))


def _rejected_at(
    kube: Kube, spaces: TestNamespaces, level: str, version: str, pods: list[K8sObject]
) -> list[str]:
    """Refs of the workloads whose pods a namespace enforcing `level` rejects."""
    ns = spaces.create(labels={ENFORCE: level, ENFORCE + "-version": version}, suffix=level)
    rejected = []
    for obj in pods:
        pod = pod_from_workload(obj, ns)
        if pod is None:
            continue
        try:
            kube.create(pod, dry_run=True)
        except ApiError as err:
            if err.status != 403:
                raise
            rejected.append(f"{obj.ref}: {err.message}")
    return rejected


def test_enforce_is_strictest(
    platform_namespace: str, behaviour_env: BehaviourEnv, spaces: TestNamespaces
) -> None:
    """`restricted` wherever the workloads comply; otherwise the strictest level they pass."""
    label(TIER, "pod security", [platform_namespace], "critical")
    inventory = behaviour_env.inventory
    _require_pod_security_labels(inventory)
    labels = _declared(inventory, platform_namespace).labels
    enforce = labels.get(ENFORCE, "privileged")
    if enforce == "restricted":
        return
    workloads = _workloads_in(inventory, platform_namespace)
    if not workloads:
        pytest.skip(
            f"enforces {enforce}, for workloads that are not in these manifests (see the namespace's "
            "comment): the suite cannot judge the level"
        )
    version = labels.get(ENFORCE + "-version", "latest")
    for level in LEVELS[: LEVELS.index(enforce) if enforce in LEVELS else 0]:
        rejected = _rejected_at(behaviour_env.kube, spaces, level, version, workloads)
        if not rejected:
            pytest.fail(
                f"Namespace/{platform_namespace} enforces {enforce}, but all its {len(workloads)} "
                f"workload(s) are admitted under {level}: enforce {level}",
                pytrace=False,
            )
        attach_text(f"rejected under {level}", "\n".join(rejected))


def test_privileged_pod_rejected(platform_namespace: str, behaviour_env: BehaviourEnv) -> None:
    label(TIER, "pod security", [platform_namespace], "critical")
    labels = _declared(behaviour_env.inventory, platform_namespace).labels
    if ENFORCE not in labels:
        pytest.skip(
            f"Namespace/{platform_namespace} sets no {ENFORCE} label: the cluster's default level "
            "(privileged) admits a privileged pod, there is no declared level to check"
        )
    enforce = labels[ENFORCE]
    if enforce == "privileged":
        pytest.skip(
            f"Namespace/{platform_namespace} declares {ENFORCE}=privileged: a privileged pod is admitted "
            "there by its own declaration"
        )
    live = _live_labels(behaviour_env, platform_namespace).get(ENFORCE)
    cluster_namespace = behaviour_env.nsmap.to_cluster(platform_namespace)
    try:
        behaviour_env.kube.create(_privileged_pod(cluster_namespace), dry_run=True)
    except ApiError as err:
        attach_text("API answer", str(err))
        require(err.status == 403, f"expected 403 Forbidden from PodSecurity, got {err}")
        require("violates PodSecurity" in err.message, f"403 without the PodSecurity message: {err.message}")
        require(f'"{enforce}:' in err.message, f"rejected, but not by the {enforce} level: {err.message}")
        return
    # Name what the cluster enforced: e.g. a second manifest of the namespace stripped the labels.
    actual = f"enforces {live}" if live else f"has no {ENFORCE} label (the cluster's default level applies)"
    pytest.fail(
        f"Namespace/{platform_namespace} (enforce {enforce}) admitted a privileged pod: on the cluster it "
        f"{actual}",
        pytrace=False,
    )
