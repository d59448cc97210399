"""The data plane's own pieces: capture filter, names, availability, the probe matrix, real namespaces.

Without root only the pure parts run; the namespace tests (marked slow) need root, like the data
plane itself, and clean up after themselves (checked).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.behaviour.probe_matrix import (
    Cell,
    Observation,
    build_matrix,
    explain,
    judge,
    render,
)
from conformance.cluster.base import Capabilities
from conformance.cluster.dataplane import SYSTEM_TOOLS, netns, unavailable
from conformance.cluster.dataplane.watch import UplinkWatch, bpf_program, default_interface, describe
from conformance.cluster.local import SERVICE_CIDR, LocalProvider
from conformance.inventory import Inventory, K8sObject, Source
from conformance.k8s import policy_types
from conformance.netpol import load_flows
from conformance.settings import Settings
from conformance.suites.behaviour.test_network_policy import stored_differences
from conformance.tools import REPO, TOOLS_BIN

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not ROOT or unavailable(TOOLS_BIN) is not None, reason="needs root and the data plane tools"
)
NETS = [ipaddress.IPv4Network("10.244.0.0/16"), ipaddress.IPv4Network(SERVICE_CIDR)]


# -- the capture filter (our BPF program, run by a small interpreter of the four opcodes it uses) --


def run_bpf(prog: list[tuple[int, int, int, int]], frame: bytes) -> int:
    acc: int | None = 0
    pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code in (0x28, 0x20):  # ldh / ld absolute
            size = 2 if code == 0x28 else 4
            acc = int.from_bytes(frame[k : k + size], "big") if k + size <= len(frame) else None
            if acc is None:
                return 0  # the kernel drops a frame read out of bounds
        elif code == 0x54:
            assert acc is not None
            acc &= k
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def ipv4(src: str, dst: str) -> bytes:
    header = b"\x45" + b"\0" * 8 + b"\x06" + b"\0" * 2
    return (
        b"\0" * 12
        + b"\x08\x00"
        + header
        + ipaddress.IPv4Address(src).packed
        + ipaddress.IPv4Address(dst).packed
    )


def arp(sender: str, target: str) -> bytes:
    body = (
        b"\0" * 8
        + b"\0" * 6
        + ipaddress.IPv4Address(sender).packed
        + b"\0" * 6
        + ipaddress.IPv4Address(target).packed
    )
    return b"\0" * 12 + b"\x08\x06" + body


@pytest.mark.parametrize(
    ("frame", "kept"),
    [
        (ipv4("10.244.0.7", "192.0.2.1"), True),  # a pod's packet leaving
        (ipv4("192.0.2.2", "10.96.0.10"), True),  # towards a cluster IP
        (ipv4("192.0.2.2", "192.0.2.1"), False),  # the machine's own traffic
        (ipv4("10.245.0.1", "10.97.0.1"), False),  # next to the ranges, not in them
        (arp("192.0.2.2", "10.244.255.254"), True),  # asking for the gateway: a route into the range
        (arp("10.244.0.3", "192.0.2.1"), True),
        (arp("192.0.2.2", "192.0.2.1"), False),
        (b"\0" * 12 + b"\x86\xdd" + b"\0" * 40, False),  # IPv6: the data plane has none
        (b"\0" * 10, False),  # runt
    ],
)
def test_capture_filter_keeps_exactly_the_data_plane_ranges(frame: bytes, kept: bool) -> None:
    assert bool(run_bpf(bpf_program(NETS), frame)) is kept


def test_describe_names_addresses() -> None:
    assert describe(ipv4("10.244.0.7", "192.0.2.1")) == "IPv4 10.244.0.7 -> 192.0.2.1 proto 6"
    assert describe(arp("192.0.2.2", "10.244.0.9")) == "ARP 192.0.2.2 asks/tells about 10.244.0.9"


def test_default_interface_from_the_route_table(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text("Iface\tDestination\tGateway\n eth9\t0002000A\t0\n uplink0\t00000000\t010200C0\n")
    assert default_interface(table) == "uplink0"
    table.write_text("Iface\tDestination\tGateway\n")
    with pytest.raises(OSError, match="no IPv4 default route"):
        default_interface(table)


# -- names, availability ---------------------------------------------------------------------


def test_names_say_whose_namespace_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(netns, "NETNS_DIR", tmp_path)
    dead = 2**22 + 12345  # above pid_max's default: no such process
    for name in (
        f"twdp-{dead}-abcdef-node",
        f"twdp-{dead}-abcdef-p012",
        f"twdp-{os.getpid()}-123456-node",
        "other",
    ):
        (tmp_path / name).touch()
    assert netns.ours() == sorted(
        [f"twdp-{dead}-abcdef-node", f"twdp-{dead}-abcdef-p012", f"twdp-{os.getpid()}-123456-node"]
    )
    assert netns.stale() == [f"twdp-{dead}-abcdef-node", f"twdp-{dead}-abcdef-p012"]


def test_mac_is_fixed_per_address() -> None:
    assert netns.mac_of("10.244.0.7") == "02:54:0a:f4:00:07"
    assert netns.mac_of("10.244.255.254") == "02:54:0a:f4:ff:fe"


def test_without_root_the_data_plane_is_absent_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = unavailable(TOOLS_BIN)
    assert reason is not None and "needs root" in reason
    provider = LocalProvider(Settings.from_env({}))
    assert provider.capabilities.data_plane is False
    lacks = provider.capabilities.lacks(data_plane=True)
    assert lacks is not None and "needs root" in lacks


def test_a_missing_machine_tool_names_its_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    for tool in SYSTEM_TOOLS:
        if tool != "ipset":
            (tmp_path / tool).symlink_to("/bin/true")
    assert (
        unavailable(tmp_path) == f"ipset is missing from {tmp_path}: apt-get install ipset, then make tools"
    )


def test_turned_off_by_the_option() -> None:
    provider = LocalProvider(Settings.from_env({"CONFORMANCE_DATA_PLANE": "off"}))
    assert provider.capabilities.lacks(data_plane=True) == (
        "provider lacks data_plane=True (it has data_plane=False: turned off (--data-plane off))"
    )
    assert Capabilities(True, "real", True, True).lacks(data_plane=True) is None


# -- the probe matrix ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform() -> Inventory:
    from conformance.inventory import build_inventory
    from conformance.policy import load_policy

    settings = Settings.from_env({})
    return build_inventory(settings.manifests, "ci", load_policy(settings.policy).namespace, settings.limits)


def test_the_platform_matrix_covers_every_declared_flow(platform: Inventory) -> None:
    flows = load_flows(REPO / "manifests" / "flows.yaml")
    matrix = build_matrix(platform, flows)
    assert len(matrix.cells) > 2000 and not matrix.undeclared
    declared = {
        (f"{f.source[0]}/{f.source[1]}", f"{f.destination[0]}/{f.destination[1]}", f.port) for f in flows
    }
    covered = {
        (matrix.targets[c.source].endpoint.key, matrix.targets[c.destination].endpoint.key, c.port)
        for c in matrix.expected
    }
    assert declared <= covered, sorted(declared - covered)[:5]
    # DNS for everyone, the default-deny probes only receive, every Service port is routed somewhere.
    assert any(c.destination == "kube-system/kube-dns" and c.protocol == "UDP" for c in matrix.expected)
    deny = [t for t in matrix.targets.values() if t.origin == "default-deny probe"]
    assert deny and not any(t.source for t in deny)
    assert not any(c.destination.endswith("(default-deny)") for c in matrix.expected)
    assert {s.ref for s in matrix.services} >= {
        "tartware/guests:http",
        "tartware-data/pgbouncer:tcp-pgbouncer",
    }


def test_judge_counts_a_missing_observation_as_wrong(platform: Inventory) -> None:
    matrix = build_matrix(platform, load_flows(REPO / "manifests" / "flows.yaml"))
    observed = {
        c: Observation(c in matrix.expected, "connected" if c in matrix.expected else "refused")
        for c in matrix.cells
    }
    assert not judge(matrix, observed).wrong
    gone = matrix.cells[0]
    del observed[gone]
    flipped = next(iter(matrix.expected))
    observed[flipped] = Observation(False, "refused", "Connection refused")
    verdict = judge(matrix, observed)
    assert set(verdict.wrong) == {gone, flipped}
    text = render(matrix, verdict)
    assert text.startswith(f"2 wrong, {len(matrix.cells) - 2} correct")
    assert "?" in text  # refused but declared


def _policy(namespace: str, name: str, spec: dict[str, Any], line: int) -> K8sObject:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return K8sObject(body, Source("policies.yaml", line))


def test_explanations_name_the_policy_at_fault(tmp_path: Path) -> None:
    """A typo in a podSelector: the declared flow is refused, and the policy that would admit it is named."""
    text = web_to_api_refused(
        tmp_path,
        _policy("shop", "default-deny-all", {"podSelector": {}, "policyTypes": ["Ingress"]}, 0),
        _policy(
            "shop",
            "api",
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "apii"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}],
                        "ports": [{"port": 8080}],
                    }
                ],
            },
            1,
        ),
    )
    assert "shop/web -> shop/api:8080/TCP: expected ALLOW (declared in flows.yaml), actual refused" in text
    assert "ingress of shop/api is isolated by NetworkPolicy shop/default-deny-all (policies.yaml" in text
    assert "none admits shop/web" in text
    assert "its podSelector {app.kubernetes.io/name=apii} selects no pods" in text


def test_a_policy_without_policy_types_is_read_one_way(tmp_path: Path) -> None:
    """No policyTypes but egress rules: the API reads Ingress + Egress. The static rules, the truth
    table and the probe explanations share that reading (conformance.k8s.policy_types): here an egress
    policy with a podSelector typo and no policyTypes is named as the one that would admit the flow."""
    web_out = _policy(
        "shop",
        "web-out",
        {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "webb"}},
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "api"}}}],
                    "ports": [{"port": 8080}],
                }
            ],
        },
        1,
    )
    assert policy_types(web_out) == {"Ingress", "Egress"}
    deny = _policy("shop", "deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}, 0)
    text = web_to_api_refused(tmp_path, deny, web_out)
    assert "egress of shop/web is isolated by NetworkPolicy shop/deny-egress" in text, text
    assert "NetworkPolicy shop/web-out (policies.yaml" in text and "would admit it" in text, text


def web_to_api_refused(tmp_path: Path, *policies: K8sObject) -> str:
    """The explanation of a refused, declared shop/web -> shop/api:8080 flow under `policies`."""
    apps = [
        K8sObject(_deployment(n, "shop", 8080), Source("apps.yaml", i)) for i, n in enumerate(("api", "web"))
    ]
    inventory = Inventory("test", [*apps, *policies])
    flows_file = tmp_path / "flows.yaml"
    flows_file.write_text(
        "- {from: {namespace: shop, app: web}, to: {namespace: shop, app: api}, port: 8080, protocol: TCP}\n"
    )
    matrix = build_matrix(inventory, load_flows(flows_file))
    cell = Cell("shop/web", "shop/api", 8080, "TCP")
    assert cell in matrix.expected
    return explain(cell, matrix, Observation(False, "refused", "Connection refused"), inventory, inventory)


def _deployment(name: str, namespace: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
            }
        },
    }


def test_stored_differences_tell_defaults_from_changes() -> None:
    rendered = {"podSelector": {}, "ingress": [], "egress": [{"ports": [{"port": 53}]}]}
    stored = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}],
    }
    changed, added = stored_differences(rendered, stored)
    assert changed == []
    assert added == ["spec.egress[0].ports[0].protocol='UDP'", "spec.policyTypes=['Egress']"]
    changed, _ = stored_differences(
        {"egress": [{"ports": [{"port": 53}]}]}, {"egress": [{"ports": [{"port": 54}]}]}
    )
    assert changed == ["spec.egress[0].ports[0].port: rendered 53, stored 54"]


# -- real namespaces (root) ------------------------------------------------------------------------


@contextlib.contextmanager
def agent() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cluster.dataplane.agent"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def call(proc: subprocess.Popen[str], **command: Any) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(command) + "\n")
    proc.stdin.flush()
    answer: dict[str, Any] = json.loads(proc.stdout.readline())
    return answer


def prober(probes: list[dict[str, Any]], timeout_s: float = 1.5) -> dict[int, str]:
    out = subprocess.run(
        [sys.executable, "-m", "conformance.cluster.dataplane.prober"],
        input=json.dumps({"timeout_s": timeout_s, "probes": probes}),
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    return {r["id"]: r["outcome"] for r in json.loads(out.stdout)}


@pytest.fixture
def net() -> Iterator[netns.Netns]:
    plane = netns.Netns(TOOLS_BIN / "ip", netns.run_name(os.getpid(), os.urandom(3).hex()))
    try:
        yield plane
    finally:
        assert plane.delete_all() == []
        deadline = time.monotonic() + 10
        while plane.names() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert plane.names() == [], "namespaces left behind"


def iptables(net: netns.Netns, *args: str) -> None:
    subprocess.run(
        [str(TOOLS_BIN / "ip"), "netns", "exec", net.node, str(TOOLS_BIN / "iptables"), *args], check=True
    )


@pytest.mark.slow
@needs_root
def test_probes_from_inside_pods_with_nothing_on_the_uplink(net: netns.Netns) -> None:
    """Connected, refused by a REJECT rule, wrong peer, unroutable, UDP: while the uplink sees nothing."""
    net.create_node()
    pods = {"a": "10.244.0.1", "b": "10.244.0.2", "c": "10.244.0.3"}
    names = {key: net.add_pod(i, ip) for i, (key, ip) in enumerate(pods.items(), 1)}
    net.pin_neighbours({names[k]: ip for k, ip in pods.items()})
    # A REJECT in the node's FORWARD chain, as kube-router's are: c may not reach b:8080.
    iptables(
        net, "-A", "FORWARD", "-s", pods["c"], "-d", pods["b"], "-p", "tcp", "--dport", "8080", "-j", "REJECT"
    )
    with agent() as proc, UplinkWatch(NETS) as watch:
        node = str(netns.path_of(net.node))
        for key, value in (("net.ipv4.icmp_ratemask", "0"), ("net.ipv4.ip_forward", "1")):
            assert call(proc, op="sysctl", netns=node, key=key, value=value)["ok"]
        for key in ("b", "c"):
            ports = [[8080, "TCP"], [53, "UDP"]]
            assert call(
                proc, op="serve", netns=str(netns.path_of(names[key])), ip=pods[key], ports=ports, token=key
            )["ok"]
        src = str(netns.path_of(names["a"]))
        plan = [
            {"id": 0, "netns": src, "ip": pods["b"], "port": 8080, "protocol": "TCP", "token": "b"},
            {"id": 1, "netns": src, "ip": pods["b"], "port": 53, "protocol": "UDP", "token": "b"},
            {
                "id": 2,
                "netns": str(netns.path_of(names["c"])),
                "ip": pods["b"],
                "port": 8080,
                "protocol": "TCP",
                "token": "b",
            },
            {"id": 3, "netns": src, "ip": pods["c"], "port": 8080, "protocol": "TCP", "token": "b"},
            {"id": 4, "netns": src, "ip": pods["b"], "port": 9999, "protocol": "TCP", "token": "b"},
        ] * 20
        # No route: the node answers "unreachable" (routing errors are rate-limited: asked once).
        plan += [
            {"id": 0, "netns": src, "ip": "10.96.0.1", "port": 443, "protocol": "TCP", "token": "x"},
            {"id": 0, "netns": src, "ip": "192.0.2.1", "port": 443, "protocol": "TCP", "token": "x"},
        ]
        plan = [{**p, "id": i} for i, p in enumerate(plan)]
        outcomes = prober(plan)
    expected = ["connected", "connected", "refused", "wrong-peer", "refused"] * 20 + ["refused", "refused"]
    assert [outcomes[i] for i in range(len(plan))] == expected  # the same every time
    assert watch.seen == 0, watch.report()
    assert net.links(net.node) == sorted(["br0", "lo", "v1", "v2", "v3"])


@pytest.mark.slow
@needs_root
def test_the_uplink_watch_sees_a_pod_range_packet(net: netns.Netns) -> None:
    """The watch can fail: on a veth of a throwaway namespace, a UDP packet to the pod range is seen."""
    ip = str(TOOLS_BIN / "ip")
    name = net.node  # a namespace of this test, deleted by the fixture
    subprocess.run([ip, "netns", "add", name], check=True)
    batch = (
        "link add wa type veth peer name wb\nlink set wa up\nlink set wb up\n"
        "addr add 192.0.2.99/24 dev wa\nroute add 10.244.0.0/16 dev wa\n"
    )
    subprocess.run([ip, "-n", name, "-batch", "-"], input=batch, text=True, check=True)
    watcher = subprocess.Popen(
        [
            ip,
            "netns",
            "exec",
            name,
            sys.executable,
            "-m",
            "conformance.cluster.dataplane.watch",
            "wa",
            "2",
            *map(str, NETS),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert watcher.stdout is not None
    assert json.loads(watcher.stdout.readline()) == {"ready": True}
    send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.244.9.9', 53))"
    subprocess.run([ip, "netns", "exec", name, sys.executable, "-c", send], check=True)
    report = json.loads(watcher.stdout.readline())
    watcher.wait(10)
    assert report["seen"] >= 1 and any("10.244.9.9" in s for s in report["samples"]), report


@pytest.mark.slow
@needs_root
def test_the_relay_reaches_the_machines_loopback_from_the_node_namespace(net: netns.Netns) -> None:
    net.create_node()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.sendall(b"apiserver\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    with agent() as proc:
        assert call(proc, op="relay", netns=str(netns.path_of(net.node)), port=port, target=port)["ok"]
        probe = {
            "id": 0,
            "netns": str(netns.path_of(net.node)),
            "ip": "127.0.0.1",
            "port": port,
            "protocol": "TCP",
            "token": "apiserver",
        }
        assert prober([probe]) == {0: "connected"}
    server.close()


@pytest.mark.slow
@needs_root
def test_a_killed_runs_namespaces_are_found_and_removed() -> None:
    dead = 2**22 + 4242
    name = f"twdp-{dead}-0badf0-node"
    ip = str(TOOLS_BIN / "ip")
    subprocess.run([ip, "netns", "add", name], check=True)
    subprocess.run([ip, "-n", name, "link", "add", "br0", "type", "bridge"], check=True)
    try:
        assert name in netns.stale()
        assert netns.delete(TOOLS_BIN / "ip", netns.stale()) == []
        assert name not in netns.ours()
    finally:
        subprocess.run([ip, "netns", "delete", name], capture_output=True, check=False)


def test_struct_sizes_match_the_kernel() -> None:
    # struct sock_filter is 8 bytes; the program must fit the 8-bit jump offsets (checked in bpf_program).
    assert struct.calcsize("HBBI") == 8
    assert len(bpf_program(NETS)) < 256


def _loopback_traffic(count: int) -> None:
    for _ in range(count):
        with socket.socket() as s, contextlib.suppress(OSError):
            s.connect(("127.0.0.1", 1))  # refused: a SYN and a RST on lo


@pytest.mark.slow
@needs_root
def test_the_watch_filters_in_the_kernel_from_the_first_frame() -> None:
    """On lo: loopback traffic is seen when watched for, and none of it slips through a filter for
    the pod range (frames queued before the filter was attached once did)."""
    for _ in range(20):
        with UplinkWatch([str(netns.POD_CIDR)], "lo") as watch:
            _loopback_traffic(10)
        assert watch.seen == 0, watch.report()
    with UplinkWatch(["127.0.0.0/8"], "lo") as watch:
        _loopback_traffic(10)
    assert watch.seen >= 20, watch.report()
