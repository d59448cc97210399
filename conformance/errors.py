"""The two kinds of trouble the suite distinguishes.

A *conformance failure* is a fact about the inputs (a rule fired, a schema
rejected an object, an SLO was missed). An *infrastructure fault* means the
suite could not judge at all (a tool is missing, a cluster did not start, k6
crashed); it is reported as broken/error, never as a conformance failure.
"""

from __future__ import annotations


class InfraError(RuntimeError):
    """The suite could not run a check: a tool, process or cluster failed."""


class ToolMissing(InfraError):
    """A pinned tool is not installed; the message says how to install it."""

    def __init__(self, tool: str, hint: str = "run `make tools`") -> None:
        super().__init__(f"{tool} not found: {hint}")
        self.tool = tool
