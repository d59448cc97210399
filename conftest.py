"""Loads the conformance pytest plugin for every suite and self-test in the checkout."""

import os

import pytest

pytest_plugins = ["conformance.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    """Under CI=true the self-tests' hypothesis replays a fixed example sequence (derandomize, no
    example database): the pre-merge gate must not turn red on an example nobody has seen before.
    Exploration stays random on developers' machines, where a new failure is a finding. Tier runs
    disable hypothesis's plugin and never import it."""
    if os.environ.get("CI") == "true" and config.pluginmanager.has_plugin("hypothesispytest"):
        from hypothesis import settings

        settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
        settings.load_profile("ci")
