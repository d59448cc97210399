"""The network namespaces, links and addresses of the data plane, made with iproute2.

Layout (nothing of it in the machine's own namespace):

    twdp-<run>-node   lo, br0 = GATEWAY/16 (the pod range's only router), v1..vN (bridge ports);
                      ip_forward and bridge-nf-call-iptables on; kube-router and kube-proxy run here
    twdp-<run>-p001   lo, eth0 = <the pod's IP>/16, default route via GATEWAY (peer of v1)
    ...

Every veth is created with both ends already inside these namespaces (`ip -n NODE
link add vN type veth peer name eth0 netns POD`), so not even a link appears in the
machine's namespace. The node namespace has no link towards the machine at all:
a packet of the pod range has no way out, whatever a rule or route inside says.

Deleting a namespace deletes its links, addresses, routes, iptables rules and
ipsets with it (all per-namespace state); the processes inside are ended first
(a process keeps its namespace alive).

    net = Netns(ip_tool, run="1234-abcdef")
    net.create_node()
    net.add_pod(1, "10.244.0.7")
    net.delete_all()
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ...errors import InfraError
from ..procs import alive, terminate

NETNS_DIR = Path("/run/netns")
PREFIX = "twdp-"  # every namespace this suite creates starts with it
# twdp-<owner pid>-<6 hex>-<role>: the owner pid says whether a leftover is stale.
NAME = re.compile(r"^twdp-(?P<pid>\d+)-(?P<tag>[0-9a-f]{6})-(?P<role>node|p\d{3,})$")
POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
GATEWAY = ipaddress.ip_address("10.244.255.254")  # br0's address; never handed to a pod (see local.py)
BRIDGE = "br0"


def mac_of(ip: str) -> str:
    """A fixed, locally administered MAC per address (02:54 + the four IPv4 bytes)."""
    return "02:54:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(ip).packed)


def run_name(pid: int, tag: str) -> str:
    """The run part of the names: "1234-abcdef"."""
    return f"{pid}-{tag}"


def path_of(name: str) -> Path:
    return NETNS_DIR / name


def ours() -> list[str]:
    """Every network namespace named like this suite's, of any run."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if NAME.match(p.name))


def stale() -> list[str]:
    """Namespaces of runs whose process is gone (killed before it could clean up)."""
    out = []
    for name in ours():
        match = NAME.match(name)
        if match and not alive(int(match["pid"])):
            out.append(name)
    return out


def processes_in(names: Iterable[str]) -> list[int]:
    """Pids of processes living in any of these namespaces (compared by namespace inode)."""
    inodes = set()
    for name in names:
        with contextlib.suppress(OSError):
            inodes.add(path_of(name).stat().st_ino)
    if not inodes:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "ns" / "net").stat().st_ino in inodes:
                    found.append(int(entry.name))
    return sorted(found)


class Netns:
    """The namespaces of one run. Every command names the namespace it acts in (`ip -n`)."""

    def __init__(self, ip_tool: Path, run: str) -> None:
        self.ip_tool = ip_tool
        self.run = run
        self.node = f"{PREFIX}{run}-node"
        self.pods: dict[int, str] = {}  # index -> namespace name

    def pod_name(self, index: int) -> str:
        return f"{PREFIX}{self.run}-p{index:03d}"

    def names(self) -> list[str]:
        """This run's namespaces that exist now."""
        return [n for n in ours() if n.startswith(f"{PREFIX}{self.run}-")]

    def ip(self, *args: str, netns: str | None = None, batch: str | None = None) -> str:
        """`ip [-n netns] args...`, or with `batch`: `ip [-n netns] -batch -` reading those lines."""
        cmd = [str(self.ip_tool)] + (["-n", netns] if netns else [])
        cmd += ["-batch", "-"] if batch is not None else list(args)
        try:
            out = subprocess.run(cmd, input=batch, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise InfraError(f"data plane: `{' '.join(cmd)}` could not run: {err}") from None
        if out.returncode != 0:
            raise InfraError(f"data plane: `{' '.join(cmd)}` failed: {(out.stderr or out.stdout).strip()}")
        return out.stdout

    def create_node(self) -> None:
        """The node namespace: loopback and the bridge holding the gateway address.

        nf_call_iptables on the bridge: bridged pod-to-pod packets cross the iptables
        FORWARD chain, where kube-router's rules are. addrgenmode none: no IPv6
        link-local addresses, so no IPv6 chatter at all. IPv4 forwarding (for Service
        traffic, routed after kube-proxy's DNAT) is a sysctl: see Agent "sysctl".
        """
        self.ip("netns", "add", self.node)
        self.ip(
            netns=self.node,
            batch=(
                "link set lo up\n"
                f"link add {BRIDGE} address {mac_of(str(GATEWAY))} type bridge nf_call_iptables 1\n"
                f"link set {BRIDGE} addrgenmode none\n"
                f"addr add {GATEWAY}/{POD_CIDR.prefixlen} dev {BRIDGE}\n"
                f"link set {BRIDGE} up\n"
            ),
        )

    def add_pod(self, index: int, pod_ip: str) -> str:
        """A pod's namespace with exactly its IP, wired to the bridge; returns the namespace name."""
        address = ipaddress.ip_address(pod_ip)
        if address not in POD_CIDR or address == GATEWAY:
            raise InfraError(f"data plane: pod IP {pod_ip} is outside {POD_CIDR} or is the gateway {GATEWAY}")
        name = self.pod_name(index)
        self.ip("netns", "add", name)
        self.pods[index] = name
        port = f"v{index}"
        self.ip(
            netns=self.node,
            batch=(
                f"link add {port} type veth peer name eth0 address {mac_of(pod_ip)} netns {name}\n"
                f"link set {port} addrgenmode none\n"
                f"link set {port} master {BRIDGE}\n"
                f"link set {port} up\n"
            ),
        )
        self.ip(
            netns=name,
            batch=(
                "link set lo up\n"
                "link set eth0 addrgenmode none\n"
                f"addr add {pod_ip}/{POD_CIDR.prefixlen} dev eth0\n"
                "link set eth0 up\n"
                f"route add default via {GATEWAY} dev eth0\n"
            ),
        )
        return name

    def pin_neighbours(self, pods: dict[str, str]) -> None:
        """Permanent neighbour entries for every pod and the gateway, in every namespace.

        ARP is no part of what is probed, and a burst of hundreds of first connections
        made the kernel leave some ARP requests unanswered (seen here: connections that
        never left their pod). With every address known in advance there is no ARP at all.
        `pods`: namespace name -> pod IP.
        """
        everyone = {**{ip: mac_of(ip) for ip in pods.values()}, str(GATEWAY): mac_of(str(GATEWAY))}
        for name, own in pods.items():
            lines = [
                f"neigh replace {ip} lladdr {mac} dev eth0 nud permanent\n"
                for ip, mac in everyone.items()
                if ip != own
            ]
            self.ip(netns=name, batch="".join(lines))
        node = [
            f"neigh replace {ip} lladdr {mac_of(ip)} dev {BRIDGE} nud permanent\n" for ip in pods.values()
        ]
        if node:
            self.ip(netns=self.node, batch="".join(node))

    def links(self, netns: str) -> list[str]:
        data = json.loads(self.ip("-j", "link", "show", netns=netns) or "[]")
        return sorted(str(link.get("ifname")) for link in data)

    def delete_all(self) -> list[str]:
        """End every process inside this run's namespaces, then delete them. Returns errors."""
        return delete(self.ip_tool, self.names())


def delete(ip_tool: Path, names: list[str]) -> list[str]:
    """End the processes inside `names` (a process keeps a namespace alive), then delete them."""
    errors = []
    terminate(processes_in(names), grace_s=3)
    for name in names:
        out = subprocess.run(
            [str(ip_tool), "netns", "delete", name], capture_output=True, text=True, timeout=30, check=False
        )
        if out.returncode != 0 and path_of(name).exists():
            errors.append(f"ip netns delete {name}: {out.stderr.strip()}")
    return errors
