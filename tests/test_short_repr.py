"""short_repr: the exact repr when short, None when long, without building a long one."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.report.allure_labels import short_repr


class Colour(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class Pair:
    a: int
    b: tuple[Any, ...] = ()
    hidden: str = field(default="x", repr=False)


@pytest.mark.parametrize(
    "value",
    [1, 1.5, None, "x", (1,), (1, "a"), [], [1, [2, {3: "4"}]], {}, {"a": (1, 2)},
     Pair(1, (Path("/x"), Colour.RED)), (Pair(2), "s"), "x" * 130, ["y" * 60] * 3],
)  # fmt: skip
def test_short_repr_matches_repr_or_says_long(value: Any) -> None:
    expected = repr(value) if len(repr(value)) <= 120 else None
    assert short_repr(value, 120) == expected


def test_long_container_is_not_walked() -> None:
    class Boom:
        def __repr__(self) -> str:
            raise AssertionError("repr of an item past the budget")

    assert short_repr(["z" * 200, Boom()], 120) is None
    assert short_repr(Pair(1, ("z" * 200, Boom())), 120) is None
