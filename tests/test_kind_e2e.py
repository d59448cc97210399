"""The behaviour tier on the `kind` provider, end to end, offline (issue 17).

1. The whole tier on a kind cluster made from the project's node image (HPA on real CPU, PDB
   evictions and drains, Pod Security, server-side apply, the NetworkPolicy probe matrix with
   real pods): every test passes, none skipped for a missing capability.
2. Negative proofs on real pods, one copy broken four ways (a declared flow closed, a forbidden
   one opened, an HPA capped below policy.yaml, a PDB blocking every eviction): each check FAILS.
3. `--provider existing` pointed at a kind cluster the test made: HPA, PDB and the probe matrix
   run there too, and the run leaves the cluster's namespaces as they were.
4. Interrupted in the middle of an HPA scenario: Ctrl-C (beside a CPU hog) ends the run within
   lifecycle.INTERRUPT_BUDGET_S; after SIGKILL the provider's reaper removes the cluster.
After each run nothing of kind is left: no node container, no network, no temp dir.

Slow (node image build on an empty cache ~10 min, each run a few minutes); skipped with the reason
where no container engine answers (`make docker`) or kind is not built (`make tools`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from interrupting import cpu_hog
from test_behaviour_negative import FORBIDDEN_FLOW, broken_copy, edit_ci_values, run_behaviour
from test_cluster_leaks import IN_TEST, MARGIN_S, Run

from conformance import tools
from conformance.cluster.kind import KindProvider, docker_answers
from conformance.cluster.kube import Kube
from conformance.cluster.lifecycle import INTERRUPT_BUDGET_S
from conformance.settings import Settings
from conformance.tools import REPO

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
        REPO / "manifests",
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
    output = (tmp_path / "output.txt").read_text()
    assert re.search(r"NetworkPolicy probes: 0 wrong, [1-9]\d* correct", output), output[-2000:]
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


def _break_four_ways(root: Path) -> None:
    """One copy, four independent faults, each judged by a different check (one cluster for all)."""
    _drop_allow_dns(root)  # declared DNS flows closed
    (root / "kubernetes" / "zz-forbidden-flow.yaml").write_text(FORBIDDEN_FLOW)  # a forbidden flow opened

    def values(v: dict[str, Any]) -> None:
        v["guests"]["autoscaling"]["maxReplicas"] = 2  # policy.yaml: guests ci max 3
        gateway = v["api-gateway"]
        gateway["pdb"] = {"budget": "minAvailable", "value": gateway["autoscaling"]["minReplicas"]}

    edit_ci_values(root, values)


def test_mutations_fail_on_kind_as_on_local(tmp_path: Path) -> None:
    """The mutation proofs of test_behaviour_negative.py, on real pods: NetworkPolicy (a declared
    flow closed, a forbidden one opened), an HPA capped below policy.yaml, a PDB blocking every
    eviction. Each is a FAILURE pronounced by its check, with the same words as on `local`."""
    docker = _engine()
    root = broken_copy(tmp_path, _break_four_ways)
    verdicts = run_behaviour(
        root,
        [
            "test_network_policy.py::test_data_plane_probe",
            "test_autoscaling.py::test_hpa_scale_up",
            "test_disruption.py::test_pdb_evictions",
        ],
        tmp_path,
        timeout_s=TIER_TIMEOUT_S,
        extra_args=["--provider", "kind"],
    )
    probe = verdicts["test_data_plane_probe"]
    assert probe.by_the_check, probe
    assert "kube-dns" in probe.message and "expected ALLOW" in probe.message
    assert (
        "tartware/api-gateway -> tartware-data/postgresql-primary:5432/TCP: "
        "expected DENY (not in flows.yaml), actual connected" in probe.message
    )
    hpa = verdicts["test_hpa_scale_up[guests]"]
    assert hpa.by_the_check, hpa
    assert "replicas peaked at 2 under load but 3 were expected" in hpa.message
    pdb = verdicts["test_pdb_evictions[api-gateway]"]
    assert pdb.by_the_check, pdb
    assert "allows 0 disruptions with 2 of 2 pods healthy (the HPA minimum)" in pdb.message
    assert not _leftovers(docker)


def test_existing_provider_on_a_kind_cluster(tmp_path: Path) -> None:
    """`--provider existing` against a kind cluster the test made: the HPA runs on real CPU (the
    workload image detected as runnable), PDB evictions run (no node cordoned), the probe matrix
    passes with prefixed namespaces; only the drain (it cordons a node) is skipped with its reason.
    Afterwards none of the run's namespaces is left in the cluster, and the cluster itself is
    untouched."""
    docker = _engine()
    provider = KindProvider(Settings.from_env())
    try:
        cluster = provider.start()
        before = _namespaces(cluster.kubeconfig)
        verdicts = run_behaviour(
            REPO / "manifests",
            [
                "test_autoscaling.py::test_hpa_scale_up",
                "test_disruption.py",
                "test_network_policy.py",
            ],
            tmp_path,
            timeout_s=TIER_TIMEOUT_S,
            extra_args=["--provider", "existing", "--kubeconfig", str(cluster.kubeconfig)],
        )
        output = (tmp_path / "output.txt").read_text()
        assert "workload image tartware.local/conformance/resource-consumer" in output, output[-2000:]
        not_passed = {n: (v.outcome, v.message[:300]) for n, v in verdicts.items() if v.outcome != "passed"}
        assert set(not_passed) == {"test_pdb_drain[api-gateway]"}, not_passed
        assert all("owns_cluster=True" in m for _o, m in not_passed.values()), not_passed
        assert "test_hpa_scale_up[guests]" in verdicts and "test_pdb_evictions[api-gateway]" in verdicts
        assert re.search(r"NetworkPolicy probes: 0 wrong, [1-9]\d* correct", output), output[-2000:]
        # The provider deletes its namespaces at stop; Kubernetes finishes that asynchronously.
        deadline = time.monotonic() + 180
        while (left := _namespaces(cluster.kubeconfig) - before) and time.monotonic() < deadline:
            time.sleep(1)
        assert not left and _namespaces(cluster.kubeconfig) == before, left
    finally:
        provider.stop()
    assert not _leftovers(docker)


def _namespaces(kubeconfig: Path) -> set[str]:
    kube = Kube(kubeconfig)
    try:
        return {str(ns["metadata"]["name"]) for ns in kube.list("v1", "Namespace")}
    finally:
        kube.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_interrupted_kind_run_leaves_nothing(tmp_path: Path, signum: int) -> None:
    docker = _engine()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # SIGINT's claim is the exit bound on a busy machine; SIGKILL's is the reaper's cleanup.
    hog = cpu_hog() if signum == signal.SIGINT else contextlib.nullcontext()
    exit_s: float | None = None
    with hog:
        run = Run(tmp, "conformance/suites/behaviour/test_autoscaling.py", "--provider", "kind")
        try:
            run.wait_for(lambda: any(IN_TEST in line for line in run.lines), "an HPA scenario on kind", 900)
            assert _leftovers(docker), "no kind node container while the run is in a test"
            sent = time.monotonic()
            os.killpg(run.proc.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.proc.wait(timeout=INTERRUPT_BUDGET_S + MARGIN_S)
                exit_s = time.monotonic() - sent
        finally:
            run.kill()
    # The reaper (SIGKILL) works after the run is gone: bounded wait for its cleanup.
    deadline = time.monotonic() + 180
    while (_leftovers(docker) or _kind_dirs(tmp)) and time.monotonic() < deadline:
        time.sleep(0.5)
    report = (
        f"exit {run.proc.returncode}; left {_leftovers(docker)} {_kind_dirs(tmp)}\n{run.output()[-2500:]}"
    )
    assert exit_s is not None, f"not exited within {INTERRUPT_BUDGET_S + MARGIN_S:g} s: {report}"
    if signum == signal.SIGINT:
        assert run.proc.returncode == pytest.ExitCode.INTERRUPTED, report
        bound = INTERRUPT_BUDGET_S + MARGIN_S
        print(f"sigint on kind: exited {exit_s:.1f} s after the signal (bound {bound:g} s)")
    assert not _leftovers(docker) and not _kind_dirs(tmp), report


def _kind_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("tartware-kind-"))
