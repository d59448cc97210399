"""Pure parts of the behaviour tier: namespace mapping, pods from workloads, budgets, truth-table fixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.behaviour.eviction import (
    PDB_REFUSAL,
    Eviction,
    allowed_disruptions,
    desired_healthy,
)
from conformance.behaviour.platform import NamespaceMap, pod_from_workload
from conformance.inventory import Inventory, K8sObject, Source
from conformance.netpol import compare, load_flows, modelled_from_flows, truth_table


def obj(body: dict[str, Any]) -> K8sObject:
    return K8sObject(body, Source("test.yaml", 0))


POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "redis", "namespace": "tartware-data"},
    "spec": {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "tartware"},
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/metadata.name",
                                    "operator": "In",
                                    "values": ["tartware"],
                                }
                            ],
                        }
                    }
                ]
            }
        ],
    },
}


def test_namespace_map_round_trips_policy_selectors() -> None:
    m = NamespaceMap("ct-ab12-")
    out = m.object_to_cluster(POLICY)
    assert out["metadata"]["namespace"] == "ct-ab12-tartware-data"
    sel = out["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
    assert sel["matchLabels"] == {"kubernetes.io/metadata.name": "ct-ab12-tartware"}
    assert sel["matchExpressions"][0]["values"] == ["ct-ab12-tartware"]
    assert m.object_from_cluster(out) == POLICY
    ns = m.object_to_cluster({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tartware"}})
    assert ns["metadata"] == {
        "name": "ct-ab12-tartware",
        "labels": {"kubernetes.io/metadata.name": "ct-ab12-tartware"},
    }
    assert NamespaceMap("").object_to_cluster(POLICY) == POLICY


def test_pod_from_statefulset_has_its_claims_and_no_admission_dependencies() -> None:
    sts = obj(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "kafka", "namespace": "d"},
            "spec": {
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "serviceAccountName": "kafka",
                        "priorityClassName": "p",
                        "containers": [
                            {"name": "k", "image": "i", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}
                        ],
                    },
                },
            },
        }
    )
    pod = pod_from_workload(sts, "ns1")
    assert pod is not None
    assert pod["metadata"] == {"name": "psa-statefulset-kafka", "namespace": "ns1", "labels": {"a": "b"}}
    assert pod["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-psa-statefulset-kafka"}}
    ]
    assert "serviceAccountName" not in pod["spec"] and "priorityClassName" not in pod["spec"]


@pytest.mark.parametrize(
    ("spec", "replicas", "healthy", "allowed"),
    [
        ({"minAvailable": 1}, 2, 1, 1),
        ({"minAvailable": 2}, 2, 2, 0),
        ({"maxUnavailable": 1}, 1, 0, 1),
        ({"minAvailable": "50%"}, 3, 2, 1),
        ({"maxUnavailable": "10%"}, 5, 4, 1),
        ({}, 3, 0, 3),
    ],
)
def test_budget_arithmetic(spec: dict[str, Any], replicas: int, healthy: int, allowed: int) -> None:
    assert desired_healthy(spec, replicas) == healthy
    assert allowed_disruptions(spec, replicas) == allowed


def test_only_the_pdb_message_is_a_refusal() -> None:
    assert Eviction("p", 429, f"{PDB_REFUSAL}.", 0).refused_by_pdb
    assert not Eviction("p", 429, "Too many requests, please try again later.", 0).refused_by_pdb
    assert not Eviction("p", 403, PDB_REFUSAL, 0).refused_by_pdb


# -- truth-table fixes -----------------------------------------------------------------------------


def deployment(ns: str, app: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": app}},
                "spec": {"containers": [{"name": app, "image": "i", "ports": [{"containerPort": port}]}]},
            }
        },
    }


def netpol(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def write_flows(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "flows.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


DENY = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_replicas_of_one_workload_talking_to_each_other_are_cells(tmp_path: Path) -> None:
    redis_bus = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}]}],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}]}],
    }
    inv = Inventory(
        "t",
        [
            obj(deployment("d", "redis", 6379)),
            obj(netpol("d", "deny", DENY)),
            obj(netpol("d", "redis", redis_bus)),
        ],
    )
    flows = load_flows(
        write_flows(
            tmp_path,
            ["- {from: {namespace: d, app: redis}, to: {namespace: d, app: redis}, port: 6379}"],
        )
    )
    result = compare(truth_table(inv, modelled_from_flows(flows, inv)), flows)
    assert (result.wrong, result.correct) == (0, 1)


def test_an_ip_block_excepting_private_ranges_does_not_reach_pods() -> None:
    egress_internet: dict[str, Any] = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}],
    }
    inv = Inventory(
        "t",
        [
            obj(deployment("a", "client", 1)),
            obj(deployment("b", "server", 443)),
            obj(netpol("a", "internet", egress_internet)),
        ],
    )
    table = truth_table(inv)
    assert not any(f.destination == "b/server" for f in table.allowed if f.source == "a/client")
    egress_internet["egress"][0]["to"][0]["ipBlock"].pop("except")
    assert any(f.destination == "b/server" for f in truth_table(inv).allowed if f.source == "a/client")


def test_cells_no_manifest_governs_are_not_judged_but_declared_namespaces_are() -> None:
    inv = Inventory("t", [obj(deployment("x", "a", 1)), obj(deployment("y", "b", 2))])
    assert truth_table(inv).cells == []  # neither namespace declared nor policed
    declared = Inventory(
        "t", [*inv.objects, obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})]
    )
    # x/a -> x/a, x/a -> y/b, y/b -> x/a; y/b -> y/b stays unjudged (y is not governed)
    assert len(truth_table(declared).cells) == 3


def test_modelled_endpoints_take_the_labels_their_policy_selects_on(tmp_path: Path) -> None:
    controller = {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
            }
        },
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "api"}},
                    }
                ]
            }
        ],
    }
    admission = {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "admission-webhook",
            }
        },
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}],
    }
    inv = Inventory(
        "t",
        [
            obj(deployment("t", "api", 8080)),
            obj(netpol("ingress-nginx", "deny", DENY)),
            obj(netpol("ingress-nginx", "controller", controller)),
            obj(netpol("ingress-nginx", "admission", admission)),
        ],
    )
    flows = load_flows(
        write_flows(
            tmp_path,
            [
                "- {from: {namespace: ingress-nginx, app: ingress-nginx},"
                " to: {namespace: t, app: api}, port: 8080}"
            ],
        )
    )
    modelled = modelled_from_flows(flows, inv)
    assert modelled[0].label_map()["app.kubernetes.io/component"] == "controller"
    assert compare(truth_table(inv, modelled), flows).wrong == 0
