"""A declared check the run cannot perform is never a pass: the NetworkPolicy probe without a data plane.

The platform declares its traffic (manifests/flows.yaml). A real behaviour run (its own local
cluster) on a machine whose data plane cannot start — here: `ipset` missing from the tools
folder, as on a newcomer's machine before `make tools` installed it — must report the probe
BROKEN, saying NOT RUN, why, and how to opt out; with `--data-plane off` it is skipped by
request and the summary says so. The passing counterpart, with a data plane, is the tier itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_behaviour_negative import broken_copy, run_behaviour

from conformance.cluster.dataplane import SYSTEM_TOOLS
from conformance.tools import TOOLS_BIN

pytestmark = pytest.mark.slow
PROBE = "test_network_policy.py::test_data_plane_probe"


def tools_without_ipset(tmp_path: Path) -> Path:
    """A tools folder like the project's, less the one machine tool a fresh machine lacks."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS_BIN.iterdir():
        if tool.name != "ipset":
            (folder / tool.name).symlink_to(tool.resolve())
    assert "ipset" in SYSTEM_TOOLS
    return folder


@pytest.fixture
def no_ipset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLS_BIN", str(tools_without_ipset(tmp_path)))


@pytest.mark.usefixtures("no_ipset")
def test_declared_flows_without_a_data_plane_are_broken_not_passed(tmp_path: Path) -> None:
    root = broken_copy(tmp_path, lambda _root: None)  # the platform as it is: flows.yaml declared
    verdict = run_behaviour(root, [PROBE], tmp_path)["test_data_plane_probe"]
    # JUnit has no "broken": an InfraError in the test body is a <failure> the plugin marks BROKEN (Allure
    # files it as broken); a conformance verdict never carries that prefix.
    assert verdict.outcome == "failure", verdict
    assert verdict.message.startswith("BROKEN (infrastructure, not a conformance verdict): NOT RUN: ")
    assert "flows.yaml declares the intended traffic" in verdict.message
    assert "ipset is missing" in verdict.message
    assert "--data-plane off" in verdict.message


@pytest.mark.usefixtures("no_ipset")
def test_data_plane_off_skips_the_probe_and_says_so(tmp_path: Path) -> None:
    root = broken_copy(tmp_path, lambda _root: None)
    probe = run_behaviour(root, [PROBE], tmp_path, extra_args=["--data-plane", "off"])[
        "test_data_plane_probe"
    ]
    assert probe.outcome == "skipped", probe
    assert "NOT RUN by request (--data-plane off)" in probe.message
    assert "NOT RUN: turned off with --data-plane off" in (tmp_path / "output.txt").read_text()


def test_without_flows_there_is_nothing_declared_to_probe(tmp_path: Path) -> None:
    root = broken_copy(tmp_path, lambda r: (r / "flows.yaml").unlink())
    probe = run_behaviour(root, [PROBE], tmp_path)["test_data_plane_probe"]
    assert probe.outcome == "skipped", probe
    assert "no flows.yaml beside the manifests declares the intended traffic" in probe.message
