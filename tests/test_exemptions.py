"""Exemptions: an exempted finding is skipped with owner and reason; an expired one fails."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

from conformance.inventory import Inventory, K8sObject, load_bytes
from conformance.policy import Exemption, load_policy
from conformance.rules import Context, Rule, Severity, Violation, evaluate
from conformance.tools import REPO

OBJECTS = b"""\
apiVersion: v1
kind: ConfigMap
metadata: {name: exempted, namespace: tartware}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-exempted, namespace: tartware}
"""


def _every_configmap(ctx: Context) -> Iterator[Violation]:
    for obj in ctx.inventory.of_kind("ConfigMap"):
        yield Violation(obj, "data", None, "some data", "configmap has no data")


# A rule local to this test (not registered): the subject here is the exemption glue.
RULE = Rule("test-rule", "test", Severity.MINOR, "d", "r", ("ConfigMap",), "inventory", _every_configmap)


def _context(today: dt.date) -> Context:
    policy = load_policy(REPO / "manifests" / "policy.yaml")
    exemption = Exemption(
        "test-rule", "ConfigMap/tartware/exempted", "owner@x", "because", dt.date(2027, 1, 31)
    )
    policy = dataclasses.replace(policy, exemptions=(exemption,))
    objects = [o for o in load_bytes(OBJECTS, "x.yaml") if isinstance(o, K8sObject)]
    return Context(Inventory("t", objects), policy, "prod", today)


def test_exemption_before_expiry_moves_the_finding_aside() -> None:
    (outcome,) = evaluate(_context(dt.date(2027, 1, 31)), [RULE])
    assert [f.obj.name for f in outcome.findings] == ["not-exempted"]
    assert [(f.obj.name, e.owner) for f, e in outcome.exempted] == [("exempted", "owner@x")]
    assert not outcome.expired


def test_expired_exemption_fails() -> None:
    (outcome,) = evaluate(_context(dt.date(2027, 2, 1)), [RULE])
    assert [f.obj.name for f, _ in outcome.expired] == ["exempted"]
    assert not outcome.exempted


def test_a_crashing_rule_is_reported_as_an_error_not_a_pass() -> None:
    def boom(ctx: Context) -> Iterator[Violation]:
        yield from ()
        raise KeyError("spec")

    broken = dataclasses.replace(RULE, check=boom)
    (outcome,) = evaluate(_context(dt.date(2026, 1, 1)), [broken])
    assert outcome.error == "KeyError: 'spec'"
