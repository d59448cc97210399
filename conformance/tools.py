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
class ToolInfo:
    name: str
    path: str
    version: str
    pinned: str


_VERSION_ARGS: dict[str, tuple[list[str], str]] = {
    # tool: (arguments, regex whose group 1 is the version)
    "helm": (["version", "--short"], r"(v\d+\.\d+\.\d+)"),
    "kubeconform": (["-v"], r"(v?\d+\.\d+\.\d+)"),
    "kubectl": (["version", "--client"], r"Client Version: (v\S+)"),
    "k6": (["version"], r"k6 (v\S+)"),
    "kube-apiserver": (["--version"], r"Kubernetes (v\S+)"),
    "kube-controller-manager": (["--version"], r"Kubernetes (v\S+)"),
    "kube-scheduler": (["--version"], r"Kubernetes (v\S+)"),
    "etcd": (["--version"], r"etcd Version: (\S+)"),
    "kwokctl": (["--version"], r"version (v?\S+)"),
    "kind": (["version"], r"kind (v\S+)"),
    "actionlint": (["-version"], r"^(v\d+\.\d+\.\d+)"),
    "kwok": (["--version"], r"version (v?\S+)"),
    "metrics-server": (["--version"], r"(v\d+\.\d+\.\d+\S*)"),
    "controller-gen": (["--version"], r"Version: (\S+)"),
    "kube-router": (["--version"], r"version (v[^,\s]+)"),
    "kube-proxy": (["--version"], r"Kubernetes (v\S+)"),
    "ip": (["-V"], r"iproute2-([^,\s]+)"),
    "iptables": (["--version"], r"(v\d\S*(?: \(\w+\))?)"),
    "ipset": (["--version"], r"(v\d[^,\s]*)"),
    "promtool": (["--version"], r"version (\d+\.\d+\.\d+)"),
    "prometheus": (["--version"], r"version (\d+\.\d+\.\d+)"),
    "promql-inspect": (["--version"], r"prometheus (v\S+)\)"),
}


def version_of(tool: str) -> str:
    """The version a tool reports about itself ("missing" if not installed)."""
    try:
        path = find(tool)
    except ToolMissing:
        return "missing"
    args, pattern = _VERSION_ARGS.get(tool, (["--version"], r"(\S+)"))
    try:
        out = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"broken ({err})"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else f"unknown ({(out.stdout + out.stderr).strip()[:60]})"
