"""A real data plane for the `local` provider: pods as network namespaces, kube-router enforcing.

    reason = unavailable(tools_bin)        # None, or why not ("needs root ...", "ipset missing ...")
    plane = DataPlane(workdir, kubeconfig, node, run)   # plane.py: start / attach / enforce / probe / stop

Modules: netns.py (namespaces, links, addresses), agent.py (servers and the API relay
inside the namespaces), prober.py (connections from inside pods), plane.py (the
orchestration), watch.py (the uplink capture that proves nothing leaves the machine).
"""

from __future__ import annotations

import os
from pathlib import Path

from .netns import GATEWAY, POD_CIDR
from .plane import DataPlane, PodPlan, ProbeOutcome, ProbeSpec

# Tools the data plane runs from the machine (linked into .tools/bin by tools/install.sh),
# and the Debian package each comes from.
SYSTEM_TOOLS = {
    "ip": "iproute2",
    "iptables": "iptables",
    "iptables-save": "iptables",
    "iptables-restore": "iptables",
    "ipset": "ipset",
}


def unavailable(tools_bin: Path) -> str | None:
    """Why the data plane cannot run here, or None. Checked before anything is created."""
    if os.geteuid() != 0:
        return "the data plane needs root (it creates network namespaces and iptables rules): run as root"
    for tool, package in SYSTEM_TOOLS.items():
        path = tools_bin / tool
        if not (path.exists() and os.access(path, os.X_OK)):
            return f"{tool} is missing from {tools_bin}: apt-get install {package}, then make tools"
    if not Path("/proc/sys/net/bridge").is_dir():
        return (
            "the kernel's br_netfilter is not loaded (modprobe br_netfilter): "
            "bridged pod traffic would bypass iptables"
        )
    return None


__all__ = [
    "GATEWAY",
    "POD_CIDR",
    "SYSTEM_TOOLS",
    "DataPlane",
    "PodPlan",
    "ProbeOutcome",
    "ProbeSpec",
    "unavailable",
]
