"""docs/rules.md and README.md's generated blocks come from the code and must match it."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from conformance.__main__ import catalogue
from conformance.readme import README, sync
from conformance.tools import REPO


def test_rule_catalogue_is_up_to_date() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        catalogue()
    on_disk = (REPO / "docs" / "rules.md").read_text()
    assert on_disk == out.getvalue(), "docs/rules.md is stale: run `make catalogue`"


def test_readme_blocks_are_up_to_date() -> None:
    """The option table (settings.OPTIONS), the rule count (the registry) and the CRD sources
    (tools/go/crds) in README.md."""
    text = README.read_text()
    assert sync(text) == text, "README.md's generated blocks are stale: run `make catalogue`"


def test_a_stale_block_is_caught() -> None:
    text = README.read_text()
    stale = text.replace("| `--data-plane` |", "| `--data-plane-old` |")
    assert stale != text and sync(stale) == text
    with pytest.raises(ValueError, match="no block <!-- generated: options -->"):
        sync(text.replace("<!-- end: options -->", ""))


def test_a_stale_crd_source_list_is_caught() -> None:
    """The CRD source table is read from tools/go/crds: a renamed or dropped row is restored."""
    text = README.read_text()
    renamed = text.replace("| `flux` |", "| `fluxcd` |")
    dropped = re.sub(r"\| `gateway-api` \|[^\n]*\n", "", text)
    for stale in (renamed, dropped):
        assert stale != text and sync(stale) == text
