"""Every rule fires on its bad fixtures, stays quiet on its good ones, and has both."""

from __future__ import annotations

import pytest

from conformance.fixtures import FIXTURES, FixtureCase, cases, run_case
from conformance.rules import load_all

ALL_CASES = cases()


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_fixture(case: FixtureCase) -> None:
    findings, fired, expected = run_case(case)
    detail = "\n".join(f.render() for f in findings)
    if case.kind == "good":
        assert not findings, f"rule {case.rule_id} fired on a good fixture:\n{detail}"
    else:
        assert expected, f"{case.path}: a bad fixture must annotate the objects expected to fire"
        assert fired == expected, (
            f"rule {case.rule_id} fired on {sorted(fired)}, expected exactly {sorted(expected)}\n{detail}"
        )


@pytest.mark.parametrize("rule_id", sorted(load_all()))
def test_every_rule_has_good_and_bad_fixtures(rule_id: str) -> None:
    for kind in ("good", "bad"):
        found = list((FIXTURES / rule_id / kind).glob("*.yaml"))
        assert found, f"rule {rule_id} has no {kind} fixture: add fixtures/rules/{rule_id}/{kind}/<case>.yaml"


def test_no_fixture_folder_without_a_rule() -> None:
    orphans = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name not in load_all())
    assert not orphans, f"fixture folders name no registered rule: {orphans}"
