"""One tool table (conformance.tools.TOOLS): every entry's pin resolves to a version file or the lock."""

from __future__ import annotations

import re

import pytest

from conformance import tools


@pytest.mark.parametrize("tool", tools.TOOLS, ids=lambda t: t.name)
def test_every_tool_names_a_pin_that_exists(tool: tools.Tool) -> None:
    if tool.pin.startswith("machine "):
        return  # the machine's own package: no version is pinned
    if tool.pin.startswith("lock:"):
        assert re.fullmatch(r"\d+\.\d+\.\d+", tools.locked_version(tool.pin.removeprefix("lock:")))
    elif tool.name != "controller-gen":  # pinned by its wrapper module's go.mod (see the doctor)
        assert tool.pin in tools.pinned_versions(), f"{tool.name}: {tool.pin} is in no tools/*versions.env"


def test_an_unknown_package_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"no-such-package is not pinned in .*requirements\.lock"):
        tools.locked_version("no-such-package")


def test_the_pins_come_from_every_versions_file() -> None:
    pins = tools.pinned_versions()
    assert {"HELM_VERSION", "KUBE_VERSION", "KUBE_ROUTER_VERSION"} <= set(pins)  # one key of each file
