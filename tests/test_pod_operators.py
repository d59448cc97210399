"""policy `pod_operators`: custom kinds whose operator creates pods count as selector targets.

The rule fixtures (fixtures/rules/service-selector-matches, netpol-selects-pods: good and bad
`operator-*.yaml`) show the baseline's table at work; here: the table itself, its errors, and
that a team's own table replaces it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from conformance.inventory import Inventory, K8sObject, load_bytes
from conformance.policy import PolicyError, load_policy
from conformance.rules import REGISTRY, Context, load_all

# A Service selecting the pods an operator makes from a Widget (app=<name>).
WIDGET = b"""
apiVersion: example.com/v1
kind: Widget
metadata: {name: blue, namespace: shop}
spec: {size: small}
---
apiVersion: v1
kind: Service
metadata: {name: blue, namespace: shop}
spec:
  selector: {app: blue}
  ports: [{name: http, port: 80, targetPort: http}]
"""
WIDGET_OPERATOR = """pod_operators:
  - {group: example.com, kind: Widget, labels: {app: "{name}"}}
"""


def _service_findings(policy_path: Path | None) -> list[str]:
    load_all()
    objects = [i for i in load_bytes(WIDGET, "widget.yaml") if isinstance(i, K8sObject)]
    ctx = Context(Inventory("widget", objects), load_policy(policy_path), "prod", dt.date(2026, 1, 1))
    return [f.obj.ref for f in REGISTRY["service-selector-matches"].run(ctx)]


def test_the_baseline_declares_the_common_operators() -> None:
    table = {(op.group, op.kind) for op in load_policy(None).pod_operators}
    assert table == {
        ("argoproj.io", "Rollout"),
        ("monitoring.coreos.com", "Prometheus"),
        ("monitoring.coreos.com", "Alertmanager"),
    }


def test_a_team_table_makes_its_operators_pods_selector_targets(tmp_path: Path) -> None:
    assert _service_findings(None) == ["Service/shop/blue"], "the baseline knows no Widget operator"
    path = tmp_path / "policy.yaml"
    path.write_text(WIDGET_OPERATOR)
    assert _service_findings(path) == []
    # The team's list replaces the baseline's whole (a layer states a section completely).
    assert [op.kind for op in load_policy(path).pod_operators] == ["Widget"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pod_operators: {kind: Widget}\n", r"pod_operators: must be a list"),
        (
            "pod_operators:\n  - {kind: Widget, labels: {app: x}}\n",
            r"pod_operators\[0\]: needs group and kind",
        ),
        ("pod_operators:\n  - {group: example.com, kind: Widget}\n", r"pod_operators\[0\]: needs labels or"),
        (
            "pod_operators:\n  - {group: example.com, kind: Widget, label: {app: x}}\n",
            r"unknown key pod_operators\[0\]\.label ",
        ),
        (
            "pod_operators:\n  - {group: example.com, kind: Widget, labels: {app: 3}}\n",
            r"pod_operators\[0\]\.labels\.app: must be a non-empty string",
        ),
        (
            "pod_operators:\n  - {group: example.com, kind: Widget, labels_from: spec.labels}\n",
            r"pod_operators\[0\]\.labels_from: must be a list of strings",
        ),
    ],
)
def test_pod_operator_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as err:
        load_policy(path)
    assert str(path) in str(err.value)
