"""Verdicts of behaviour tests: the message alone, without a traceback through fixtures.

require(allowed >= 1, "PodDisruptionBudget/api-gateway allows 0 disruptions ...")
"""

from __future__ import annotations

import pytest


def require(condition: bool, message: str) -> None:
    """Fail the current test with `message` when `condition` is false (pytest.fail, no traceback)."""
    __tracebackhide__ = True
    if not condition:
        pytest.fail(message, pytrace=False)
