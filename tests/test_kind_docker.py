"""The container engine for the kind provider: the capability-trimming runtime wrapper and the
network guard of tools/docker.sh (`make docker`).

The guard self-test runs only where tools/docker.sh started the engine (it checks that engine's
flags and environment); the wrapper's rewriting is checked on files, without an engine.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
WRAPPER = REPO / "tools" / "docker" / "runc-capwrap"
DOCKER_SH = REPO / "tools" / "docker.sh"
STATE = Path("/run/tartware-docker")


def wrapper() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("runc_capwrap", str(WRAPPER))
    spec = importlib.util.spec_from_loader("runc_capwrap", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_wrapper_drops_capabilities_outside_the_bounding_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = wrapper()
    monkeypatch.setattr(w, "bounding", lambda: {"CAP_CHOWN", "CAP_NET_ADMIN"})
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]
    bundle = tmp_path / "config.json"
    bundle.write_text(
        json.dumps(
            {"ociVersion": "1.0.2", "process": {"capabilities": {"bounding": caps, "effective": caps}}}
        )
    )
    w.rewrite(str(bundle), inner=True)
    got = json.loads(bundle.read_text())
    assert got["process"]["capabilities"] == {
        "bounding": ["CAP_CHOWN", "CAP_NET_ADMIN"],
        "effective": ["CAP_CHOWN", "CAP_NET_ADMIN"],
    }
    assert got["ociVersion"] == "1.0.2"  # nothing else changes
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"permitted": caps}}))
    w.rewrite(str(process), inner=False)
    assert json.loads(process.read_text())["capabilities"]["permitted"] == ["CAP_CHOWN", "CAP_NET_ADMIN"]


def test_wrapper_reads_capbnd_and_finds_runc_arguments() -> None:
    w = wrapper()
    assert "CAP_CHOWN" in w.bounding()  # this process's own bounding set
    assert w.NAMES[24] == "CAP_SYS_RESOURCE" and len(w.NAMES) == 41
    args = ["--root", "/run/x", "--log", "/l", "create", "--bundle", "/b", "id"]
    assert w.value_of(args, "--bundle", "-b") == "/b"
    assert w.value_of(["exec", "--process=/p", "id"], "--process", "-p") == "/p"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_engine_scripts_are_shellcheck_clean() -> None:
    files = REPO / "tools" / "kind-node" / "files"
    scripts = [
        DOCKER_SH,
        REPO / "tools" / "build-kind-node.sh",
        REPO / "tools" / "kind-node" / "prune.sh",
        files / "usr" / "local" / "bin" / "tw-node-init",
        files / "usr" / "local" / "sbin" / "tw-xtables",
    ]
    out = subprocess.run(
        ["shellcheck", "-x", *map(str, scripts)], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert out.returncode == 0, out.stdout


def test_guard_holds_while_the_engine_runs() -> None:
    """With the engine make docker started: the drops are in place (first in FORWARD and
    DOCKER-USER, ip6tables too), forwarding is off, dockerd runs with --ip-forward=false and a dead
    proxy. No packet is sent: the state is asserted."""
    if not (STATE / "dockerd.pid").is_file():
        pytest.skip("no engine started by tools/docker.sh (make docker) on this machine")
    out = subprocess.run([str(DOCKER_SH), "selftest"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "guard self-test passed" in out.stdout
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "0"
