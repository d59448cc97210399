"""The peer-parity table is complete and names only rules that exist; rules cite their anchors."""

from __future__ import annotations

from collections import Counter, defaultdict

from conformance.rules import load_all
from conformance.rules.parity import PEERS, TABLE, Status


def test_every_documented_peer_check_has_exactly_one_row() -> None:
    rows = Counter((row.tool, row.check) for row in TABLE)
    listed = {(peer.tool, check) for peer in PEERS for check in peer.checks}
    missing = sorted(listed - set(rows))
    unknown = sorted(set(rows) - listed)
    twice = sorted(key for key, n in rows.items() if n > 1)
    assert not missing, f"peer checks with no row in conformance/rules/parity.py TABLE: {missing}"
    assert not unknown, f"rows for checks the peers' lists do not have: {unknown}"
    assert not twice, f"peer checks with more than one row: {twice}"


def test_peer_lists_have_no_duplicates() -> None:
    for peer in PEERS:
        assert len(set(peer.checks)) == len(peer.checks), f"{peer.tool}: a check id is listed twice"


def test_rows_name_existing_rules_or_say_why_not() -> None:
    rules = load_all()
    for row in TABLE:
        where = f"{row.tool} {row.check}"
        if row.status is Status.RULE:
            assert row.rules, f"{where}: covered, but names no rule"
            unknown = [r for r in row.rules if r not in rules]
            assert not unknown, f"{where}: names rules that do not exist: {unknown}"
        else:
            assert not row.rules, f"{where}: {row.status.value} rows name no rule"
            assert row.note, f"{where}: {row.status.value} needs a note saying why (or what is missing)"


def test_each_covering_rule_cites_a_peer_check_in_its_description() -> None:
    cited: dict[str, set[str]] = defaultdict(set)
    for row in TABLE:
        for rule in row.rules:
            cited[rule].add(row.check)
    rules = load_all()
    silent = sorted(r for r, checks in cited.items() if not any(c in rules[r].description for c in checks))
    assert not silent, f"rules whose description names none of the peer checks they cover: {silent}"
