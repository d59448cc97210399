"""Whose fault is it? A behaviour scenario that cannot proceed is the platform's fault (FAILED) when
the cause lies in what the platform specifies; only the suite's own infrastructure is BROKEN.

The platform's fault:
  - the API server rejects one of its objects (4xx: invalid, forbidden by admission, quota);
  - its pods cannot be created (ReplicaFailure: PodSecurity, quota, missing ServiceAccount) or
    scheduled (affinity, node selector, resources, topology spread — not the suite's own cordons);
  - its HPA cannot scale (target missing, no CPU request to compute utilization from, a selector
    the controller rejects, metrics the run profile asks for but the cluster does not serve).
Anything else (API server down, metrics-server unavailable, a wait the cluster never answered)
stays an InfraError.

    fault = platform_fault(kube, namespace, error)   # str when the platform is at fault, else None
"""

from __future__ import annotations

from conformance.cluster.kube import ApiError, Kube
from conformance.k8s import conditions

# Scheduler messages that only mean "the suite cordoned the nodes" (the PDB tests do that).
_SUITE_MADE = ("were unschedulable",)
# HPA condition reasons that follow from the HPA or workload spec.
_HPA_SPEC_REASONS = {
    "FailedGetScale": "the HPA's scaleTargetRef does not resolve",
    "InvalidSelector": "the scale target's selector is invalid for the HPA",
    "FailedGetObjectMetric": "the HPA asks for an object metric this cluster does not serve",
    "FailedGetPodsMetric": "the HPA asks for a pods metric this cluster does not serve",
    "FailedGetExternalMetric": "the HPA asks for an external metric this cluster does not serve",
}


def rejected(err: ApiError) -> bool:
    """A 4xx verdict on an object (invalid, forbidden, quota) rather than a transient answer."""
    return 400 <= err.status < 500 and err.status not in (404, 408, 409, 429)


def workload_faults(kube: Kube, namespace: str) -> list[str]:
    """Reasons in `namespace` why pods of the platform's workloads cannot be created or scheduled."""
    out = []
    for kind in ("Deployment", "ReplicaSet"):
        for obj in kube.list("apps/v1", kind, namespace):
            for cond in conditions(obj).values():
                if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                    name = (obj.get("metadata") or {}).get("name")
                    out.append(f"{kind}/{name}: pods cannot be created: {cond.get('message', '')}")
    for pod in kube.list("v1", "Pod", namespace):
        for cond in conditions(pod).values():
            message = str(cond.get("message", ""))
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
                and not all(part in message for part in _SUITE_MADE)
            ):
                name = (pod.get("metadata") or {}).get("name")
                out.append(f"Pod/{name} cannot be scheduled: {message}")
                break
    return sorted(set(out))[:5]


def hpa_faults(kube: Kube, namespace: str, name: str) -> list[str]:
    """Reasons the platform's HPA cannot scale that follow from its own spec or its workload's."""
    hpa = kube.get_or_none("autoscaling/v2", "HorizontalPodAutoscaler", name, namespace)
    out = []
    for cond in conditions(hpa).values():
        if cond.get("status") != "False":
            continue
        reason, message = str(cond.get("reason", "")), str(cond.get("message", ""))
        if reason in _HPA_SPEC_REASONS:
            out.append(f"HorizontalPodAutoscaler/{name}: {_HPA_SPEC_REASONS[reason]} ({reason}: {message})")
        elif reason == "FailedGetResourceMetric" and "missing request for" in message:
            out.append(
                f"HorizontalPodAutoscaler/{name}: utilization needs a resource request on every "
                f"container ({message})"
            )
    return out


def platform_fault(kube: Kube, namespace: str, error: BaseException, hpa: str | None = None) -> str | None:
    """Why `error` is the platform's fault, or None when it is the suite's infrastructure."""
    if isinstance(error, ApiError):
        return f"the API server rejected an object of the platform: {error}" if rejected(error) else None
    try:
        reasons = workload_faults(kube, namespace) + (hpa_faults(kube, namespace, hpa) if hpa else [])
    except ApiError:
        return None  # the cluster cannot even be asked: infrastructure
    if not reasons:
        return None
    return f"{error}\nthe cause lies in the platform's spec:\n  - " + "\n  - ".join(reasons)
