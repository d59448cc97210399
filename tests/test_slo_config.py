"""The k6 config comes from policy.yaml: thresholds and sizes are typed once, never in JS."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from conformance.policy import Policy, load_policy
from conformance.slo.config import (
    ConfigError,
    build_config,
    loopback_guard,
    plan_scenario,
    plans,
    slo_specs,
    thresholds,
)
from conformance.slo.evaluate import THRESHOLD_SLOS
from conformance.tools import REPO

POLICY = REPO / "manifests" / "policy.yaml"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY)


def edited_policy(tmp_path: Path, old: str, new: str) -> Policy:
    """A copy of the real policy with one line changed."""
    text = POLICY.read_text()
    assert old in text, f"policy.yaml no longer contains {old!r}: update this test"
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1))
    return load_policy(path)


def test_thresholds_are_the_policy_slos(policy: Policy) -> None:
    s = policy.require_slo()
    assert thresholds(slo_specs(policy)) == {
        "http_req_duration": [f"p(95)<{s.latency_p95_ms:g}", f"p(99)<{s.latency_p99_ms:g}"],
        "http_req_failed": [f"rate<{s.error_rate:g}"],
        "checks": ["rate>0.99"],
    }


def test_every_threshold_slo_becomes_a_test(policy: Policy) -> None:
    """The suite collects tests from THRESHOLD_SLOS before any run: it must match the specs."""
    assert tuple(s.id for s in slo_specs(policy)) == THRESHOLD_SLOS


@pytest.mark.parametrize(
    ("old", "new", "metric", "expression"),
    [
        ("latency_p95_ms: 500", "latency_p95_ms: 250", "http_req_duration", "p(95)<250"),
        ("latency_p99_ms: 1000", "latency_p99_ms: 750", "http_req_duration", "p(99)<750"),
        ("error_rate: 0.05", "error_rate: 0.01", "http_req_failed", "rate<0.01"),
        ("checks_pass_rate: 0.99", "checks_pass_rate: 0.995", "checks", "rate>0.995"),
    ],
)
def test_changing_the_policy_changes_the_threshold(
    tmp_path: Path, old: str, new: str, metric: str, expression: str
) -> None:
    cfg = build_config(edited_policy(tmp_path, old, new), "ci", "http://127.0.0.1:9")
    assert expression in cfg["thresholds"][metric]


def test_sizes_follow_the_profile(policy: Policy) -> None:
    for profile in ("ci", "prod"):
        cfg = build_config(policy, profile, "http://127.0.0.1:9")
        load = policy.load[profile]["load"]
        assert cfg["scenarios"]["load"]["rate"] == load["rate"]
        assert cfg["scenarios"]["load"]["max_vus"] == load["max_vus"]
        assert cfg["scenarios"]["smoke"]["vus"] == policy.load[profile]["smoke"]["vus"]
    assert plans(policy, "prod")["load"].peak_rate == policy.require_slo().target_rps, (
        "prod load must be the seed's rate"
    )


def test_changing_a_load_size_changes_the_scenario(tmp_path: Path) -> None:
    edited = edited_policy(tmp_path, "load:   {rate: 300,", "load:   {rate: 120,")
    assert build_config(edited, "ci", "http://127.0.0.1:9")["scenarios"]["load"]["rate"] == 120


def test_ramping_plans_count_iterations_and_keep_the_duration(policy: Policy) -> None:
    p = plans(policy, "ci")
    stress = policy.load["ci"]["stress"]["stages"]
    assert p["stress"].scheduled_s == sum(d for _, d in stress)
    # Linear ramps from 0: area under the curve.
    expected, rate = 0.0, 0.0
    for target, duration in stress:
        expected += (rate + target) / 2 * duration
        rate = target
    assert p["stress"].expected_iterations == pytest.approx(expected)
    spike = policy.load["ci"]["spike"]
    assert p["spike"].scheduled_s == spike["duration_s"]
    assert p["spike"].peak_rate == spike["peak_rate"]
    assert p["load"].requested_rate == policy.load["ci"]["load"]["rate"]
    assert p["smoke"].requested_rate is None


@pytest.mark.parametrize(
    ("name", "raw", "field"),
    [
        ("load", {"rate": "fast", "duration_s": 10, "max_vus": 5}, ".rate"),
        ("load", {"rate": 10, "duration_s": 10}, ".max_vus"),
        ("stress", {"stages": [[10]], "max_vus": 5}, ".stages[0]"),
        ("spike", {"base_rate": 1, "peak_rate": 2, "duration_s": 2, "max_vus": 5}, ".duration_s"),
        ("soak", {}, "unknown scenario"),
    ],
)
def test_bad_sizes_name_the_field(name: str, raw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        plan_scenario(name, raw, "load.ci." + name)


def test_missing_profile_is_named(policy: Policy) -> None:
    with pytest.raises(ConfigError, match=r"no load\.staging section"):
        plans(policy, "staging")


def test_loopback_guard_blocks_everything_but_loopback() -> None:
    nets = [ipaddress.ip_network(n) for n in loopback_guard("http://127.0.0.1:8080")]

    def blocked(ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in nets if n.version == addr.version)

    assert not blocked("127.0.0.1") and not blocked("::1")
    assert blocked("10.1.2.3") and blocked("8.8.8.8") and blocked("2001:db8::1")
    assert loopback_guard("http://localhost:1") == loopback_guard("http://127.0.0.1:2")
    assert loopback_guard("https://api.tartware.local") == []


def test_an_address_target_lets_only_itself_through() -> None:
    """The scaling loop's NodePort on the kind node: k6 may reach that address and nothing else."""
    nets = [ipaddress.ip_network(n) for n in loopback_guard("http://172.18.0.2:30080")]

    def blocked(ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in nets if n.version == addr.version)

    assert not blocked("172.18.0.2")
    assert blocked("172.18.0.3") and blocked("127.0.0.1") and blocked("8.8.8.8") and blocked("::1")


def test_base_url_must_be_http(policy: Policy) -> None:
    with pytest.raises(ConfigError, match="must be http"):
        build_config(policy, "ci", "127.0.0.1:8080")


def test_no_k6_script_types_a_threshold_or_rate() -> None:
    """Thresholds and sizes live in policy.yaml only: the JS must read them from the config."""
    pattern = re.compile(r"p\(\d+\)\s*[<>]|rate\s*[<>]=?\s*\d|\brate:\s*\d|\bvus:\s*\d|duration:\s*'\d")
    offenders = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in sorted((REPO / "k6").rglob("*.js"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, "k6 scripts type SLO numbers (take them from the config):\n" + "\n".join(offenders)
