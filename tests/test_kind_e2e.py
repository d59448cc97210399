"""The behaviour tier on the `kind` provider, end to end, offline (issue 17).

One run of the whole tier on a kind cluster made from the project's node image (HPA on real CPU,
PDB evictions and drains, Pod Security, server-side apply, the NetworkPolicy probe matrix with
real pods), then a negative proof: a copy of the platform with one allow-policy removed fails the
probe test on kind. After each run nothing of kind is left: no node container, no network.

Slow (node image build on an empty cache ~10 min, each run a few minutes); skipped with the reason
where no container engine answers (`make docker`) or kind is not built (`make tools`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_behaviour_negative import broken_copy, run_behaviour

from conformance import tools
from conformance.cluster.kind import docker_answers

pytestmark = pytest.mark.slow
TIER_TIMEOUT_S = 1800.0


def _engine() -> str:
    docker = shutil.which("docker")
    why = docker_answers(docker)
    if why is not None:
        pytest.skip(f"the kind provider cannot run here: {why}")
    try:
        tools.find("kind")
    except Exception as err:
        pytest.skip(f"kind is not built: {err} (make tools)")
    assert docker is not None
    return docker


def _leftovers(docker: str) -> list[str]:
    containers = subprocess.run(
        [docker, "ps", "-aq", "--filter", "label=io.x-k8s.kind.cluster"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    networks = [
        n
        for n in subprocess.run(
            [docker, "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True, check=False
        ).stdout.split()
        if n.startswith("tw-") or n == "kind"
    ]
    return [f"container {c}" for c in containers] + [f"network {n}" for n in networks]


def test_the_tier_passes_on_kind_and_leaves_nothing(tmp_path: Path) -> None:
    docker = _engine()
    verdicts = run_behaviour(
        Path(__file__).resolve().parents[1] / "manifests",
        ["."],
        tmp_path,
        timeout_s=TIER_TIMEOUT_S,
        extra_args=["--provider", "kind"],
    )
    bad = {name: v for name, v in verdicts.items() if v.outcome in ("failure", "error")}
    assert not bad, {n: v.message[:500] for n, v in bad.items()}
    lacking = {
        n: v.message for n, v in verdicts.items() if v.outcome == "skipped" and "provider lacks" in v.message
    }
    assert not lacking, lacking
    assert (
        verdicts.get("test_data_plane_probe") is not None
        and verdicts["test_data_plane_probe"].outcome == "passed"
    )
    assert not _leftovers(docker)


def _drop_allow_dns(root: Path) -> None:
    path = root / "kubernetes" / "network-policies.yaml"
    docs: list[Any] = list(yaml.safe_load_all(path.read_text()))
    kept = [
        d
        for d in docs
        if not (
            isinstance(d, dict) and d.get("kind") == "NetworkPolicy" and d["metadata"]["name"] == "allow-dns"
        )
    ]
    assert len(kept) < len(docs)
    path.write_text(yaml.safe_dump_all(kept, sort_keys=False))


def test_one_allow_policy_removed_fails_the_probe_on_kind(tmp_path: Path) -> None:
    docker = _engine()
    root = broken_copy(tmp_path, _drop_allow_dns)
    verdicts = run_behaviour(
        root,
        ["test_network_policy.py::test_data_plane_probe"],
        tmp_path,
        timeout_s=TIER_TIMEOUT_S,
        extra_args=["--provider", "kind"],
    )
    verdict = verdicts["test_data_plane_probe"]
    assert verdict.outcome == "failure", verdict
    assert "kube-dns" in verdict.message and "expected ALLOW" in verdict.message
    assert not _leftovers(docker)
