"""Peer parity: for every check of kube-score, kube-linter and Polaris, the rule that covers it, the
part of the suite that does, or why not. Gaps stay visible: docs/rules.md prints this table
(`make catalogue`) and tests/test_parity.py fails when a peer check has no row or a row names a
rule that does not exist.

The check ids are the peers' documented lists at the versions named in PEERS (ids only: they are
the names users know the checks by).
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    tool: str
    version: str
    source: str  # where the list of check ids comes from
    checks: tuple[str, ...]


PEERS = (
    Peer(
        "kube-score",
        "v1.20.0",
        "`kube-score list`",
        (
            "deployment-strategy", "deployment-replicas", "ingress-targets-service", "cronjob-has-deadline",
            "cronjob-restartpolicy", "container-resources", "container-resource-requests-equal-limits",
            "container-cpu-requests-equal-limits", "container-memory-requests-equal-limits",
            "container-image-tag", "container-image-pull-policy",
            "container-ephemeral-storage-request-and-limit",
            "container-ephemeral-storage-request-equals-limit", "container-ports-check",
            "environment-variable-key-duplication", "statefulset-has-poddisruptionbudget",
            "deployment-has-poddisruptionbudget", "poddisruptionbudget-has-policy", "pod-networkpolicy",
            "networkpolicy-targets-pod", "pod-probes", "pod-probes-identical",
            "container-security-context-user-group-id", "container-security-context-privileged",
            "container-security-context-readonlyrootfilesystem", "container-seccomp-profile",
            "service-targets-pod", "service-type", "stable-version", "deployment-has-host-podantiaffinity",
            "statefulset-has-host-podantiaffinity",
            "deployment-targeted-by-hpa-does-not-have-replicas-configured", "statefulset-has-servicename",
            "deployment-pod-selector-labels-match-template-metadata-labels",
            "statefulset-pod-selector-labels-match-template-metadata-labels", "label-values",
            "horizontalpodautoscaler-has-target", "horizontalpodautoscaler-replicas",
            "pod-topology-spread-constraints",
        ),
    ),
    Peer(
        "kube-linter",
        "0.7.x",
        "docs/generated/checks.md, before 0.8.0 added sorted-keys",
        (
            "access-to-create-pods", "access-to-secrets", "cluster-admin-role-binding",
            "dangling-horizontalpodautoscaler", "dangling-ingress", "dangling-networkpolicy",
            "dangling-networkpolicypeer-podselector", "dangling-service", "dangling-servicemonitor",
            "default-service-account", "deprecated-service-account-field", "dnsconfig-options",
            "docker-sock", "drop-net-raw-capability", "duplicate-env-var", "env-var-secret",
            "exposed-services", "host-ipc", "host-network", "host-pid", "hpa-minimum-three-replicas",
            "invalid-target-ports", "latest-tag", "liveness-port", "minimum-three-replicas",
            "mismatching-selector", "no-anti-affinity", "no-extensions-v1beta", "no-liveness-probe",
            "no-node-affinity", "no-read-only-root-fs", "no-readiness-probe", "no-rolling-update-strategy",
            "non-existent-service-account", "non-isolated-pod", "pdb-max-unavailable", "pdb-min-available",
            "pdb-unhealthy-pod-eviction-policy", "privilege-escalation-container", "privileged-container",
            "privileged-ports", "read-secret-from-env-var", "readiness-port", "required-annotation-email",
            "required-label-owner", "run-as-non-root", "scc-deny-privileged-container",
            "sensitive-host-mounts", "ssh-port", "startup-port", "unsafe-proc-mount", "unsafe-sysctls",
            "unset-cpu-requirements", "unset-memory-requirements", "use-namespace", "wildcard-in-rules",
            "writable-host-mount",
        ),
    ),
    Peer(
        "Polaris",
        "main",
        "checks enabled in pkg/config/default.yaml",
        (
            "deploymentMissingReplicas", "priorityClassNotSet", "tagNotSpecified", "pullPolicyNotAlways",
            "readinessProbeMissing", "livenessProbeMissing", "metadataAndInstanceMismatched",
            "pdbDisruptionsIsZero", "missingPodDisruptionBudget", "topologySpreadConstraint",
            "hpaMaxAvailability", "hpaMinAvailability", "pdbMinAvailableGreaterThanOrEqualToHPAMinReplicas",
            "cpuRequestsMissing", "cpuLimitsMissing", "memoryRequestsMissing", "memoryLimitsMissing",
            "automountServiceAccountToken", "hostIPCSet", "hostPathSet", "hostProcess", "hostPIDSet",
            "linuxHardening", "missingNetworkPolicy", "notReadOnlyRootFilesystem",
            "privilegeEscalationAllowed", "procMount", "runAsRootAllowed", "runAsPrivileged",
            "dangerousCapabilities", "insecureCapabilities", "hostNetworkSet", "hostPortSet",
            "tlsSettingsMissing", "sensitiveContainerEnvVar", "sensitiveConfigmapContent",
            "clusterrolePodExecAttach", "rolePodExecAttach", "clusterrolebindingPodExecAttach",
            "rolebindingClusterRolePodExecAttach", "rolebindingRolePodExecAttach",
            "clusterrolebindingClusterAdmin", "rolebindingClusterAdminClusterRole",
            "rolebindingClusterAdminRole",
        ),
    ),
)  # fmt: skip


class Status(enum.Enum):
    RULE = "covered"  # by the rules named
    SUITE = (
        "covered by the suite"  # by another part of the suite (schema or behaviour tier), named in the note
    )
    NOT = "deliberately not"  # the note says why
    OPEN = "open"  # a gap: the note says what is missing


@dataclass(frozen=True)
class Parity:
    tool: str
    check: str
    status: Status
    rules: tuple[str, ...] = ()
    note: str = ""


def _rows(tool: str, *rows: tuple[str, Status, tuple[str, ...], str]) -> list[Parity]:
    return [Parity(tool, check, status, rules, note) for check, status, rules, note in rows]


RULE, SUITE, NOT, OPEN = Status.RULE, Status.SUITE, Status.NOT, Status.OPEN
_DRY_RUN = "behaviour tier: the API server rejects it on the server-side dry-run apply"
_PSA = "behaviour tier: PodSecurity admission (baseline and restricted) rejects it"
_SCHEMA = "schema tier: kubeconform against the target Kubernetes version rejects removed APIs"
_PULL_POLICY = (
    "with every image pinned to a tag or digest (image-pinned), Always adds a registry round-trip per start "
    "and no safety"
)
_QOS = "Guaranteed QoS is a per-service trade-off; requests-within-limits keeps requests <= limits"
_NODE_PORT = (
    "exposing a NodePort or LoadBalancer is a design decision, not a defect; Ingress rules cover HTTP"
)

TABLE: tuple[Parity, ...] = tuple(
    _rows(
        "kube-score",
        ("deployment-strategy", OPEN, (), "no rule checks the Deployment update strategy yet"),
        ("deployment-replicas", RULE, ("replicas-ha",), ""),
        ("ingress-targets-service", RULE, ("ingress-backend-exists",), ""),
        ("cronjob-has-deadline", OPEN, (), "startingDeadlineSeconds is not checked yet"),
        ("cronjob-restartpolicy", SUITE, (), _DRY_RUN),
        ("container-resources", RULE, ("resources-set",), ""),
        ("container-resource-requests-equal-limits", NOT, (), _QOS),
        ("container-cpu-requests-equal-limits", NOT, (), _QOS),
        ("container-memory-requests-equal-limits", NOT, (), _QOS),
        ("container-image-tag", RULE, ("image-pinned",), ""),
        ("container-image-pull-policy", NOT, (), _PULL_POLICY),
        ("container-ephemeral-storage-request-and-limit", RULE, ("ephemeral-storage-set",), ""),
        ("container-ephemeral-storage-request-equals-limit", NOT, (), _QOS),
        ("container-ports-check", SUITE, (), _DRY_RUN + " (port names and numbers are validated there)"),
        ("environment-variable-key-duplication", RULE, ("env-names-unique",), ""),
        ("statefulset-has-poddisruptionbudget", RULE, ("pdb-per-workload",), "replicated or autoscaled ones"),
        ("deployment-has-poddisruptionbudget", RULE, ("pdb-per-workload",), "replicated or autoscaled ones"),
        ("poddisruptionbudget-has-policy", OPEN, (), "a PDB with neither minAvailable nor maxUnavailable "
         "passes"),
        ("pod-networkpolicy", RULE, ("workload-netpol-coverage",), ""),
        ("networkpolicy-targets-pod", RULE, ("netpol-selects-pods",), ""),
        ("pod-probes", RULE, ("probes-set",), ""),
        ("pod-probes-identical", RULE, ("probes-distinct",), ""),
        ("container-security-context-user-group-id", RULE, ("run-as-non-root",), "uid >= 10000 is not "
         "demanded"),
        ("container-security-context-privileged", RULE, ("no-host-namespaces-or-paths",), ""),
        ("container-security-context-readonlyrootfilesystem", RULE, ("read-only-root-filesystem",), ""),
        ("container-seccomp-profile", RULE, ("seccomp-runtime-default",), ""),
        ("service-targets-pod", RULE, ("service-selector-matches",), ""),
        ("service-type", NOT, (), _NODE_PORT),
        ("stable-version", SUITE, (), _SCHEMA),
        ("deployment-has-host-podantiaffinity", RULE, ("anti-affinity-critical",), "critical services"),
        ("statefulset-has-host-podantiaffinity", RULE, ("anti-affinity-critical",), "critical services"),
        ("deployment-targeted-by-hpa-does-not-have-replicas-configured", RULE, ("hpa-replicas-unset",), ""),
        ("statefulset-has-servicename", OPEN, (), "spec.serviceName naming a headless Service is not checked "
         "yet"),
        ("deployment-pod-selector-labels-match-template-metadata-labels", SUITE, (), _DRY_RUN),
        ("statefulset-pod-selector-labels-match-template-metadata-labels", SUITE, (), _DRY_RUN),
        ("label-values", SUITE, (), _DRY_RUN),
        ("horizontalpodautoscaler-has-target", RULE, ("hpa-target-exists",), ""),
        ("horizontalpodautoscaler-replicas", RULE, ("hpa-min-replicas-ha",), ""),
        ("pod-topology-spread-constraints", RULE, ("topology-spread-critical",), "critical services"),
    )
    + _rows(
        "kube-linter",
        ("access-to-create-pods", NOT, (), "controllers and CI deployers create pods by design; the "
         "escalation paths (exec, bind, escalate, cluster-admin) have rules"),
        ("access-to-secrets", RULE, ("rbac-secrets-cluster-wide",), "cluster-wide reach; namespaced access "
         "passes"),
        ("cluster-admin-role-binding", RULE, ("rbac-cluster-admin-binding",), ""),
        ("dangling-horizontalpodautoscaler", RULE, ("hpa-target-exists",), ""),
        ("dangling-ingress", RULE, ("ingress-backend-exists",), ""),
        ("dangling-networkpolicy", RULE, ("netpol-selects-pods",), ""),
        ("dangling-networkpolicypeer-podselector", OPEN, (), "peer podSelectors that select no pods are not "
         "checked yet"),
        ("dangling-service", RULE, ("service-selector-matches",), ""),
        ("dangling-servicemonitor", RULE, ("servicemonitor-matches",), ""),
        ("default-service-account", OPEN, (), "pods on the default ServiceAccount pass (the token rule still "
         "applies)"),
        ("deprecated-service-account-field", OPEN, (), "spec.serviceAccount (deprecated) is not flagged yet"),
        ("dnsconfig-options", NOT, (), "ndots tuning depends on the cluster's DNS set-up, not on the "
         "manifests"),
        ("docker-sock", RULE, ("no-host-namespaces-or-paths",), "no hostPath at all"),
        ("drop-net-raw-capability", RULE, ("capabilities-drop-all",), ""),
        ("duplicate-env-var", RULE, ("env-names-unique",), ""),
        ("env-var-secret", RULE, ("no-literal-credentials-in-env",), ""),
        ("exposed-services", NOT, (), _NODE_PORT),
        ("host-ipc", RULE, ("no-host-namespaces-or-paths",), ""),
        ("host-network", RULE, ("no-host-namespaces-or-paths",), ""),
        ("host-pid", RULE, ("no-host-namespaces-or-paths",), ""),
        ("hpa-minimum-three-replicas", RULE, ("hpa-min-replicas-ha",), "at least 2"),
        ("invalid-target-ports", SUITE, (), _DRY_RUN + " (port names must be IANA service names)"),
        ("latest-tag", RULE, ("image-pinned",), ""),
        ("liveness-port", RULE, ("probe-port-exposed",), ""),
        ("minimum-three-replicas", RULE, ("replicas-ha",), "at least 2"),
        ("mismatching-selector", SUITE, (), _DRY_RUN),
        ("no-anti-affinity", RULE, ("anti-affinity-critical",), "critical services"),
        ("no-extensions-v1beta", SUITE, (), _SCHEMA),
        ("no-liveness-probe", RULE, ("probes-set",), ""),
        ("no-node-affinity", NOT, (), "placement is the scheduler's unless a workload needs special nodes"),
        ("no-read-only-root-fs", RULE, ("read-only-root-filesystem",), ""),
        ("no-readiness-probe", RULE, ("probes-set",), ""),
        ("no-rolling-update-strategy", OPEN, (), "no rule checks the Deployment update strategy yet"),
        ("non-existent-service-account", OPEN, (), "serviceAccountName is not checked against the input yet"),
        ("non-isolated-pod", RULE, ("workload-netpol-coverage",), ""),
        ("pdb-max-unavailable", RULE, ("pdb-allows-eviction",), ""),
        ("pdb-min-available", RULE, ("pdb-allows-eviction",), ""),
        ("pdb-unhealthy-pod-eviction-policy", OPEN, (), "unhealthyPodEvictionPolicy is not checked yet"),
        ("privilege-escalation-container", RULE, ("no-privilege-escalation", "capabilities-drop-all"), ""),
        ("privileged-container", RULE, ("no-host-namespaces-or-paths",), ""),
        ("privileged-ports", NOT, (), "ports below 1024 are allowed with NET_BIND_SERVICE, the one "
         "capability capabilities-drop-all lets a container add"),
        ("read-secret-from-env-var", NOT, (), "secretKeyRef env vars are the remediation "
         "no-literal-credentials-in-env asks for"),
        ("readiness-port", RULE, ("probe-port-exposed",), ""),
        ("required-annotation-email", NOT, (), "ownership metadata is organisation policy: required-labels "
         "takes the labels from the policy file"),
        ("required-label-owner", RULE, ("required-labels",), "the labels the policy file lists"),
        ("run-as-non-root", RULE, ("run-as-non-root",), ""),
        ("scc-deny-privileged-container", NOT, (), "OpenShift SecurityContextConstraints are outside the "
         "inputs this suite targets"),
        ("sensitive-host-mounts", RULE, ("no-host-namespaces-or-paths",), "no hostPath at all"),
        ("ssh-port", NOT, (), "a port number says nothing about what listens on it"),
        ("startup-port", RULE, ("probe-port-exposed",), ""),
        ("unsafe-proc-mount", SUITE, (), _PSA),
        ("unsafe-sysctls", SUITE, (), _PSA),
        ("unset-cpu-requirements", RULE, ("resources-set",), ""),
        ("unset-memory-requirements", RULE, ("resources-set",), ""),
        ("use-namespace", OPEN, (), "objects in the default namespace are not flagged yet"),
        ("wildcard-in-rules", RULE, ("rbac-no-wildcards",), ""),
        ("writable-host-mount", RULE, ("no-host-namespaces-or-paths",), "no hostPath at all"),
    )
    + _rows(
        "Polaris",
        ("deploymentMissingReplicas", RULE, ("replicas-ha",), ""),
        ("priorityClassNotSet", RULE, ("priority-class-critical", "priority-class-defined"), "critical "
         "services get the policy's class; every named class exists"),
        ("tagNotSpecified", RULE, ("image-pinned",), ""),
        ("pullPolicyNotAlways", NOT, (), _PULL_POLICY),
        ("readinessProbeMissing", RULE, ("probes-set",), ""),
        ("livenessProbeMissing", RULE, ("probes-set",), ""),
        ("metadataAndInstanceMismatched", NOT, (), "label conventions are organisation policy "
         "(required-labels)"),
        ("pdbDisruptionsIsZero", RULE, ("pdb-allows-eviction",), ""),
        ("missingPodDisruptionBudget", RULE, ("pdb-per-workload",), ""),
        ("topologySpreadConstraint", RULE, ("topology-spread-critical",), "critical services"),
        ("hpaMaxAvailability", RULE, ("hpa-bounds",), "minReplicas <= maxReplicas, and the policy's bounds"),
        ("hpaMinAvailability", RULE, ("hpa-min-replicas-ha",), ""),
        ("pdbMinAvailableGreaterThanOrEqualToHPAMinReplicas", RULE, ("pdb-allows-eviction",), ""),
        ("cpuRequestsMissing", RULE, ("resources-set",), ""),
        ("cpuLimitsMissing", RULE, ("resources-set",), ""),
        ("memoryRequestsMissing", RULE, ("resources-set",), ""),
        ("memoryLimitsMissing", RULE, ("resources-set",), ""),
        ("automountServiceAccountToken", RULE, ("service-account-token-opt-in",), "an explicit true passes"),
        ("hostIPCSet", RULE, ("no-host-namespaces-or-paths",), ""),
        ("hostPathSet", RULE, ("no-host-namespaces-or-paths",), ""),
        ("hostProcess", SUITE, (), _PSA),
        ("hostPIDSet", RULE, ("no-host-namespaces-or-paths",), ""),
        ("linuxHardening", RULE, ("seccomp-runtime-default", "capabilities-drop-all"), ""),
        ("missingNetworkPolicy", RULE, ("workload-netpol-coverage",), ""),
        ("notReadOnlyRootFilesystem", RULE, ("read-only-root-filesystem",), ""),
        ("privilegeEscalationAllowed", RULE, ("no-privilege-escalation",), ""),
        ("procMount", SUITE, (), _PSA),
        ("runAsRootAllowed", RULE, ("run-as-non-root",), ""),
        ("runAsPrivileged", RULE, ("no-host-namespaces-or-paths",), ""),
        ("dangerousCapabilities", RULE, ("capabilities-drop-all",), ""),
        ("insecureCapabilities", RULE, ("capabilities-drop-all",), ""),
        ("hostNetworkSet", RULE, ("no-host-namespaces-or-paths",), ""),
        ("hostPortSet", RULE, ("no-host-namespaces-or-paths",), ""),
        ("tlsSettingsMissing", RULE, ("ingress-tls",), ""),
        ("sensitiveContainerEnvVar", RULE, ("no-literal-credentials-in-env",), ""),
        ("sensitiveConfigmapContent", RULE, ("no-credentials-in-configmap",), ""),
        ("clusterrolePodExecAttach", RULE, ("rbac-pod-exec",), ""),
        ("rolePodExecAttach", RULE, ("rbac-pod-exec",), ""),
        ("clusterrolebindingPodExecAttach", RULE, ("rbac-pod-exec",), "the role that grants it is flagged"),
        ("rolebindingClusterRolePodExecAttach", RULE, ("rbac-pod-exec",), "the role that grants it is flagged"
         "the role that grants it is flagged"),
        ("rolebindingRolePodExecAttach", RULE, ("rbac-pod-exec",), "the role that grants it is flagged"),
        ("clusterrolebindingClusterAdmin", RULE, ("rbac-cluster-admin-binding",), ""),
        ("rolebindingClusterAdminClusterRole", RULE, ("rbac-cluster-admin-binding",), ""),
        ("rolebindingClusterAdminRole", RULE, ("rbac-cluster-admin-binding",), ""),
    )
)  # fmt: skip


def summary() -> Counter[str]:
    """Rows per status: "covered" counts rules and the rest of the suite together."""
    return Counter("covered" if row.status in (RULE, SUITE) else row.status.value for row in TABLE)


def markdown() -> str:
    """The parity section of docs/rules.md."""
    counts = summary()
    lines = [
        "## Peer parity",
        "",
        "Every check of the peer linters, and what covers it here (generated from "
        "`conformance/rules/parity.py`; `tests/test_parity.py` keeps it complete). "
        f"{len(TABLE)} peer checks: {counts['covered']} covered, {counts[NOT.value]} deliberately not, "
        f"{counts[OPEN.value]} open.",
        "",
        "Lists: "
        + "; ".join(f"{p.tool} {p.version} ({p.source}, {len(p.checks)} checks)" for p in PEERS)
        + ".",
        "",
        "| tool | check | status | covered by | note |",
        "|---|---|---|---|---|",
    ]
    for row in TABLE:
        rules = ", ".join(f"`{r}`" for r in row.rules)
        lines.append(f"| {row.tool} | `{row.check}` | {row.status.value} | {rules} | {row.note} |")
    return "\n".join(lines) + "\n"
