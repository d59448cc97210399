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


def kube_router_stack(image: str) -> list[dict[str, Any]]:
    """ServiceAccount, RBAC and the DaemonSet of kube-router (firewall only). imagePullPolicy Never."""
    labels = {"k8s-app": KUBE_ROUTER}
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": KUBE_ROUTER, "namespace": NAMESPACE},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": KUBE_ROUTER},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["networking.k8s.io"],
                "resources": ["networkpolicies"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "update"],
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": KUBE_ROUTER},
        "subjects": [{"kind": "ServiceAccount", "name": KUBE_ROUTER, "namespace": NAMESPACE}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": KUBE_ROUTER},
    }
    container = {
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
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": KUBE_ROUTER, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": KUBE_ROUTER,
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": [
                        {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
                        {
                            "name": "xtables-lock",
                            "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
                        },
                    ],
                },
            },
        },
    }
    return [sa, role, binding, daemonset]


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
