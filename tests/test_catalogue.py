"""docs/rules.md is generated from the registry and must match it."""

from __future__ import annotations

import contextlib
import io

from conformance.__main__ import catalogue
from conformance.tools import REPO


def test_rule_catalogue_is_up_to_date() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        catalogue()
    on_disk = (REPO / "docs" / "rules.md").read_text()
    assert on_disk == out.getvalue(), "docs/rules.md is stale: run `make catalogue`"
