"""What the `kind` provider adds to a fresh cluster: the NetworkPolicy enforcer and a contained DNS.

    for obj in kube_router_stack(image):        # kube-router as a DaemonSet, firewall only
        kube.apply(obj)
    contain_coredns(kube)                       # CoreDNS forwards nowhere; its selectors exclude probes

kube-router enforces NetworkPolicy here (kindnet's enforcement needs the kernel's nft queue,
which some kernels lack, this machine's included; the node image ships no kindnet at all):
`--run-firewall` only, no routing, no service proxy (kube-proxy does Services), host network,
iptables through the node's own backend.

CoreDNS, as kubeadm deploys it, (1) forwards names outside the cluster to the node's resolver,
and (2) is selected by `k8s-app=kube-dns` alone, the very labels the platform's policies name,
so a probe pod modelled on kube-dns would join the DNS Service and the Deployment. The suite
owns the cluster, so it removes the `forward` line and re-creates the Deployment and the Service
selector with one more label (REAL_DNS_LABEL) that probe pods never carry.
"""

from __future__ import annotations

import re
from typing import Any

from .kube import Kube

NAMESPACE = "kube-system"
KUBE_ROUTER = "tw-kube-router"
REAL_DNS_LABEL = ("conformance.tartware.io/real-dns", "true")


# -- the objects every add-on is made of (all in kube-system) -------------------------------------


def service_account(name: str) -> dict[str, Any]:
    """A ServiceAccount in kube-system."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NAMESPACE}}


def cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A ClusterRole granting `rules`."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def binding(
    name: str, account: str, role: str, *, role_kind: str = "ClusterRole", namespaced: bool = False
) -> dict[str, Any]:
    """A ClusterRoleBinding (or, `namespaced`, a RoleBinding in kube-system) of `role` to the
    ServiceAccount `account`. Example: ``binding("x", "metrics-server", "system:auth-delegator")``"""
    metadata = {"name": name, "namespace": NAMESPACE} if namespaced else {"name": name}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding" if namespaced else "ClusterRoleBinding",
        "metadata": metadata,
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
    }


def system_workload(kind: str, name: str, labels: dict[str, str], pod_spec: dict[str, Any]) -> dict[str, Any]:
    """A Deployment or DaemonSet in kube-system whose pods carry `labels` (its selector too)."""
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


# -- kube-router ------------------------------------------------------------------------------------


def _grant(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def _kube_router_rules() -> list[dict[str, Any]]:
    """What kube-router's firewall watches (policies and the pods, namespaces and endpoints they
    select), and where it reports (events) and elects its leader (leases). Fresh lists per call."""
    read = ["get", "list", "watch"]
    return [
        _grant("", ["namespaces", "pods", "services", "nodes", "endpoints"], read),
        _grant("networking.k8s.io", ["networkpolicies"], [*read]),
        _grant("discovery.k8s.io", ["endpointslices"], [*read]),
        _grant("", ["events"], ["create", "patch"]),
        _grant("coordination.k8s.io", ["leases"], ["get", "create", "update"]),
    ]


def _kube_router_container(image: str) -> dict[str, Any]:
    """kube-router with the firewall on and routing and the service proxy off (kube-proxy does those)."""
    return {
        "name": "kube-router",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["/usr/local/bin/kube-router"],
        "args": [
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--bgp-graceful-restart=false",
            "--metrics-port=0",
            "--health-port=20244",
            "--iptables-sync-period=5s",
            "--hostname-override=$(NODE_NAME)",
        ],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": {"privileged": True},
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": 20244, "host": "127.0.0.1"},
            "periodSeconds": 2,
        },
        "volumeMounts": [
            {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
            {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
        ],
    }


def kube_router_stack(image: str) -> list[dict[str, Any]]:
    """ServiceAccount, RBAC and the DaemonSet of kube-router (firewall only). imagePullPolicy Never."""
    pod_spec = {
        "serviceAccountName": KUBE_ROUTER,
        "hostNetwork": True,  # it programs the node's own iptables
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
        "containers": [_kube_router_container(image)],
        "volumes": [
            {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
            {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
        ],
    }
    return [
        service_account(KUBE_ROUTER),
        cluster_role(KUBE_ROUTER, _kube_router_rules()),
        binding(KUBE_ROUTER, KUBE_ROUTER, KUBE_ROUTER),
        system_workload("DaemonSet", KUBE_ROUTER, {"k8s-app": KUBE_ROUTER}, pod_spec),
    ]


def corefile_without_forward(corefile: str) -> str:
    """The Corefile with every `forward` block or line removed (no name leaves the cluster).

    Example: ``corefile_without_forward(".:53 {\\n forward . /etc/resolv.conf {\\n x 1\\n }\\n}")``
    -> ``".:53 {\\n}"``
    """
    out = re.sub(r"^[ \t]*forward\b[^\n{]*\{[^}]*\}[ \t]*\n?", "", corefile, flags=re.MULTILINE)
    return re.sub(r"^[ \t]*forward\b[^\n]*\n?", "", out, flags=re.MULTILINE)


def _fresh(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    keep = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    keep.get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
    return {
        "apiVersion": obj.get("apiVersion", "apps/v1"),
        "kind": obj["kind"],
        "metadata": keep,
        "spec": obj["spec"],
    }


def contained_coredns(deployment: dict[str, Any]) -> dict[str, Any]:
    """kubeadm's CoreDNS Deployment, selecting (and labelling its pods) with REAL_DNS_LABEL too."""
    out = _fresh(deployment)
    key, value = REAL_DNS_LABEL
    spec = out["spec"]
    spec["selector"] = {"matchLabels": {**(spec.get("selector") or {}).get("matchLabels", {}), key: value}}
    template_meta = spec["template"].setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), key: value}
    return out


def contain_coredns(kube: Kube) -> None:
    """Remove CoreDNS's forwarding and give its Deployment and Service a selector probes never match."""
    key, value = REAL_DNS_LABEL
    config = kube.get("v1", "ConfigMap", "coredns", NAMESPACE)
    corefile = str((config.get("data") or {}).get("Corefile", ""))
    stripped = corefile_without_forward(corefile)
    if stripped != corefile:
        kube.patch("v1", "ConfigMap", "coredns", {"data": {"Corefile": stripped}}, namespace=NAMESPACE)
    deployment = kube.get("apps/v1", "Deployment", "coredns", NAMESPACE)
    selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if selector.get(key) != value:
        # A Deployment's selector cannot change: re-create it (its old pods go with the old one).
        kube.delete("apps/v1", "Deployment", "coredns", NAMESPACE)
        kube.create(contained_coredns(deployment))
    kube.patch(
        "v1",
        "Service",
        "kube-dns",
        {"spec": {"selector": {"k8s-app": "kube-dns", key: value}}},
        namespace=NAMESPACE,
    )
