"""Loads the conformance pytest plugin for every suite and self-test in the checkout."""

pytest_plugins = ["conformance.plugin"]
