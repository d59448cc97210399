"""Rules on RBAC: who is bound to what, and which grants hand over the cluster.

A Role/ClusterRole grants `verbs` on `resources` of `apiGroups`; a (Cluster)RoleBinding hands a
role to subjects. A ClusterRole bound by a RoleBinding grants only inside that namespace, so
cluster-wide reach is a property of ClusterRoleBindings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..inventory.model import K8sObject
from ..k8s import as_dict, as_list, subjects
from .registry import Context, Severity, Violation, inventory_rule, object_rule

ROLES = ("Role", "ClusterRole")
BINDINGS = ("RoleBinding", "ClusterRoleBinding")
CLUSTER_ADMIN = "cluster-admin"
# Built-in aggregated ClusterRoles that read Secrets (cluster-admin has its own rule).
BUILTIN_SECRET_READERS = frozenset({"admin", "edit"})
READ = frozenset({"get", "list", "watch", "*"})
ESCALATING_VERBS = ("escalate", "bind", "impersonate")
EXEC_RESOURCES = frozenset({"pods/exec", "pods/attach", "pods/*"})


@dataclass(frozen=True)
class Grant:
    """One entry of a role's rules, its lists reduced to the strings in them."""

    index: int
    verbs: frozenset[str]
    resources: frozenset[str]
    groups: frozenset[str]
    names: tuple[Any, ...]  # resourceNames: a grant limited to named objects

    @property
    def field(self) -> str:
        return f"rules[{self.index}]"

    def covers(self, group: str, resource: str, verbs: frozenset[str]) -> bool:
        """Does this grant give any of `verbs` on every object of group/resource?"""
        return (
            not self.names
            and bool(self.verbs & verbs or "*" in self.verbs)
            and (resource in self.resources or "*" in self.resources)
            and (group in self.groups or "*" in self.groups)
        )


def grants(role: K8sObject) -> list[Grant]:
    """The rules a role's manifest states. An aggregated ClusterRole's rules are filled in by the
    controller from other roles (which are checked themselves), so none are read from it."""
    if role.body.get("aggregationRule") is not None:
        return []
    out = []
    for i, item in enumerate(as_list(role.body.get("rules"))):
        rule = as_dict(item)

        def strings(key: str, rule: dict[str, Any] = rule) -> frozenset[str]:
            return frozenset(v for v in as_list(rule.get(key)) if isinstance(v, str))

        names = tuple(as_list(rule.get("resourceNames")))
        out.append(Grant(i, strings("verbs"), strings("resources"), strings("apiGroups"), names))
    return out


def _subjects(binding: K8sObject) -> str:
    names = []
    for item in as_list(binding.body.get("subjects")):
        subject = as_dict(item)
        ns = subject.get("namespace")
        names.append(f"{subject.get('kind')} {ns + '/' if isinstance(ns, str) else ''}{subject.get('name')}")
    return ", ".join(names) or "no subjects"


def _role_ref(binding: K8sObject) -> tuple[str, str]:
    ref = as_dict(binding.body.get("roleRef"))
    return str(ref.get("kind", "")), str(ref.get("name", ""))


@object_rule(
    "rbac-cluster-admin-binding",
    family="rbac",
    severity=Severity.BLOCKER,
    kinds=BINDINGS,
    description="No RoleBinding or ClusterRoleBinding grants the cluster-admin role: it allows every verb on "
    "every resource, so one stolen token owns the cluster. Same concern as kube-linter "
    "cluster-admin-role-binding and Polaris clusterrolebindingClusterAdmin / "
    "rolebindingClusterAdminClusterRole / rolebindingClusterAdminRole.",
    remediation="Bind a role that grants only the resources and verbs the subject needs; if a product "
    "truly requires cluster-admin, record an owned, expiring exemption in the policy file.",
)
def rbac_cluster_admin_binding(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    kind, name = _role_ref(obj)
    if name == CLUSTER_ADMIN:
        yield Violation(
            obj,
            "roleRef.name",
            name,
            "a role narrower than cluster-admin",
            f"the binding grants {kind} cluster-admin to {_subjects(obj)}",
        )


@object_rule(
    "rbac-no-wildcards",
    family="rbac",
    severity=Severity.CRITICAL,
    kinds=ROLES,
    description="No Role or ClusterRole rule grants `*` verbs or `*` resources: a wildcard also grants "
    "whatever resources and verbs the API gains later (CRDs included). Same concern as kube-linter "
    "wildcard-in-rules.",
    remediation="List the verbs (get, list, watch, ...) and resources the subject needs instead of `*`.",
)
def rbac_no_wildcards(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for grant in grants(obj):
        for key, values in (("verbs", grant.verbs), ("resources", grant.resources)):
            if "*" in values:
                yield Violation(
                    obj,
                    f"{grant.field}.{key}",
                    sorted(values),
                    f"explicit {key}",
                    f"rule {grant.index} grants every {key[:-1]} (`*`)",
                )


@object_rule(
    "rbac-escalation-verbs",
    family="rbac",
    severity=Severity.BLOCKER,
    kinds=ROLES,
    description="No Role or ClusterRole grants the escalate, bind or impersonate verbs: each lets the "
    "holder act with permissions it was not given (CIS Kubernetes 5.1.8). No peer check: the concern comes "
    "from the Kubernetes RBAC good-practices guide.",
    remediation="Remove escalate/bind/impersonate; an operator that manages RBAC should be given exactly "
    "the roles it binds (bind with resourceNames) rather than these verbs on everything.",
)
def rbac_escalation_verbs(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for grant in grants(obj):
        found = [verb for verb in ESCALATING_VERBS if verb in grant.verbs]
        if found and not grant.names:
            yield Violation(
                obj,
                f"{grant.field}.verbs",
                sorted(grant.verbs),
                f"none of {', '.join(ESCALATING_VERBS)}",
                f"rule {grant.index} grants {', '.join(found)} on {', '.join(sorted(grant.resources))}: the "
                "holder can gain permissions it was not given",
            )


@object_rule(
    "rbac-pod-exec",
    family="rbac",
    severity=Severity.CRITICAL,
    kinds=ROLES,
    description="No Role or ClusterRole grants pods/exec or pods/attach (a shell in any pod it reaches, "
    "with that pod's secrets and token). Same concern as Polaris clusterrolePodExecAttach, "
    "rolePodExecAttach and their binding variants.",
    remediation="Drop pods/exec and pods/attach from the role; grant them to people through a separate, "
    "audited break-glass role rather than to workloads.",
)
def rbac_pod_exec(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for grant in grants(obj):
        resources = sorted(grant.resources & EXEC_RESOURCES)
        if resources and grant.verbs & {"create", "get", "*"} and (grant.groups & {"", "*"}):
            yield Violation(
                obj,
                f"{grant.field}.resources",
                sorted(grant.resources),
                "no pods/exec or pods/attach",
                f"rule {grant.index} grants {', '.join(sorted(grant.verbs))} on {', '.join(resources)}",
            )


@inventory_rule(
    "rbac-secrets-cluster-wide",
    family="rbac",
    severity=Severity.CRITICAL,
    kinds=("ClusterRoleBinding", "ClusterRole"),
    description="No ClusterRoleBinding grants reading Secrets in every namespace (get/list/watch on secrets "
    "through its ClusterRole, or the built-in admin/edit roles): one token would read every credential of "
    "the cluster. Same concern as kube-linter access-to-secrets, limited to cluster-wide reach.",
    remediation="Bind the role with a RoleBinding in the namespaces whose Secrets the subject needs, or "
    "limit the rule to resourceNames.",
)
def rbac_secrets_cluster_wide(ctx: Context) -> Iterator[Violation]:
    for binding in subjects(ctx.inventory, "ClusterRoleBinding"):
        kind, name = _role_ref(binding)
        if kind != "ClusterRole" or name == CLUSTER_ADMIN:
            continue  # cluster-admin has its own rule
        role = ctx.inventory.get("ClusterRole", "", name)
        if role is None:
            if name not in BUILTIN_SECRET_READERS:
                continue
            how = f"the built-in ClusterRole {name} reads Secrets"
        else:
            grant = next((g for g in grants(role) if g.covers("", "secrets", READ)), None)
            if grant is None:
                continue
            verbs = ", ".join(sorted(grant.verbs & READ))
            how = f"its ClusterRole {name} grants {verbs} on secrets ({grant.field})"
        yield Violation(
            binding,
            "roleRef.name",
            name,
            "no read access to Secrets in every namespace",
            f"{how}, and this ClusterRoleBinding gives it to {_subjects(binding)} in every namespace",
        )
