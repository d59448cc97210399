"""The k6 run configuration, generated from the policy (manifests/policy.yaml).

Thresholds and load sizes are typed once, in policy.yaml; this module turns
them into the JSON the k6 scripts read (k6/lib/config.js), so a threshold can
never drift between Python and JavaScript::

    cfg = build_config(policy, "ci", "http://127.0.0.1:8080")
    write_config(cfg, workdir / "k6-config.json")
    cfg["thresholds"]["http_req_duration"]  # ["p(95)<500", "p(99)<1000"]

CLI (for running a scenario by hand)::

    python -m conformance.slo.config --profile ci --base-url http://127.0.0.1:8080 -o build/k6.json
    TARTWARE_K6_CONFIG=$PWD/build/k6.json k6 run k6/load.js
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..policy import Policy, load_policy

SCENARIOS = ("smoke", "load", "stress", "spike")
# Scenarios with an arrival-rate executor: they request a rate, so "achieved
# rate" and "dropped iterations" mean something for them.
ARRIVAL_RATE = frozenset({"load", "stress", "spike"})
CONFIG_SCHEMA = "tartware-k6-config/v1"

# Not (yet) in policy.yaml; read from `slo.<key>` when present so adding them
# there needs no code change.
# Bounded time everywhere: no request waits longer, no iteration outlives the
# scenario by more than the graceful stop.
REQUEST_TIMEOUT_S = 10
GRACEFUL_STOP_S = 5
SMOKE_THINK_TIME_S = 0.5
# A ramping spike: share of the duration at base, ramping up, at peak, ramping down (rest at base).
SPIKE_SHAPE = (0.30, 0.05, 0.25, 0.05)
SUMMARY_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"]
# Fewer system tags = smaller time-series lines for k6 to write and us to parse.
TRANSPORT_ERRORS = "tartware_transport_errors"  # counter of k6/lib/checks.js: no HTTP response
SYSTEM_TAGS = ["status", "method", "name", "scenario", "expected_response", "error_code"]


class ConfigError(ValueError):
    """The policy's load section cannot be turned into a k6 scenario; names the field."""


@dataclass(frozen=True)
class SloSpec:
    """One SLO that k6 judges with a threshold."""

    id: str  # test id: p95, p99, error_rate, checks
    title: str
    metric: str  # k6 metric the threshold is on
    stat: str  # key of the metric's summary values
    op: str  # "<" or ">"
    bound: float
    unit: str  # "ms" or "" (a fraction)
    source: str  # where the bound comes from

    @property
    def expression(self) -> str:
        return f"{self.stat}{self.op}{_num(self.bound)}"

    def render(self, value: float) -> str:
        return f"{value:.1f} ms" if self.unit == "ms" else f"{value * 100:.2f} %"

    def required(self) -> str:
        return f"{self.op} {self.render(self.bound)}"


@dataclass(frozen=True)
class ScenarioPlan:
    """A scenario's sizes, normalised: what the JS builds its executor from."""

    name: str
    executor: str
    sizes: dict[str, Any]  # written into the config for the script
    scheduled_s: float  # how long the executor runs (without graceful stop)
    expected_iterations: float | None  # arrival-rate executors only
    peak_rate: float | None  # highest requested iterations/s

    @property
    def requested_rate(self) -> float | None:
        """Mean requested iterations (= requests) per second over the run."""
        if self.expected_iterations is None:
            return None
        return self.expected_iterations / self.scheduled_s


def _num(value: float) -> str:
    """500.0 -> "500", 0.05 -> "0.05" (k6 parses either; this keeps thresholds readable)."""
    return f"{value:g}"


def slo_specs(policy: Policy) -> tuple[SloSpec, ...]:
    """The threshold-judged SLOs, bounds taken from the policy."""
    s = policy.require_slo()
    checks = policy.require_slo().checks_pass_rate
    return (
        SloSpec(
            "p95",
            "p95 latency",
            "http_req_duration",
            "p(95)",
            "<",
            s.latency_p95_ms,
            "ms",
            "slo.latency_p95_ms",
        ),
        SloSpec(
            "p99",
            "p99 latency",
            "http_req_duration",
            "p(99)",
            "<",
            s.latency_p99_ms,
            "ms",
            "slo.latency_p99_ms",
        ),
        SloSpec(
            "error_rate", "error rate", "http_req_failed", "rate", "<", s.error_rate, "", "slo.error_rate"
        ),
        SloSpec(
            "checks",
            "checks pass rate",
            "checks",
            "rate",
            ">",
            checks,
            "",
            "slo.checks_pass_rate",
        ),
    )


def thresholds(specs: tuple[SloSpec, ...]) -> dict[str, list[str]]:
    """k6 `thresholds` option: metric -> expressions."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        out.setdefault(spec.metric, []).append(spec.expression)
    return out


def _field(sizes: dict[str, Any], key: str, where: str, minimum: float = 0) -> float:
    value = sizes.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{where}.{key} must be a number >= {minimum}, got {value!r}")
    return float(value)


def _ramp_integral(start: float, stages: list[dict[str, float]]) -> float:
    """Iterations a ramping-arrival-rate executor starts: area under the linear ramps."""
    total, rate = 0.0, start
    for st in stages:
        total += (rate + st["target"]) / 2 * st["duration_s"]
        rate = st["target"]
    return total


def plan_scenario(name: str, raw: dict[str, Any], where: str) -> ScenarioPlan:
    """Normalise one scenario's sizes from policy.yaml `load.<profile>.<name>`."""
    if name not in SCENARIOS:
        raise ConfigError(f"{where}: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    if name == "smoke":
        vus, dur = int(_field(raw, "vus", where, 1)), _field(raw, "duration_s", where, 1)
        think = float(raw.get("think_time_s", SMOKE_THINK_TIME_S))
        sizes = {"vus": vus, "duration_s": dur, "think_time_s": think, "graceful_stop_s": GRACEFUL_STOP_S}
        return ScenarioPlan(name, "constant-vus", sizes, dur, None, None)
    max_vus = int(_field(raw, "max_vus", where, 1))
    pre = int(raw.get("pre_allocated_vus", max(1, max_vus // 2)))
    common = {"max_vus": max_vus, "pre_allocated_vus": min(pre, max_vus), "graceful_stop_s": GRACEFUL_STOP_S}
    if name == "load":
        rate, dur = _field(raw, "rate", where, 1), _field(raw, "duration_s", where, 1)
        sizes = {"rate": rate, "duration_s": dur, **common}
        return ScenarioPlan(name, "constant-arrival-rate", sizes, dur, rate * dur, rate)
    if name == "stress":
        stages_raw = raw.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise ConfigError(f"{where}.stages must be a list of [rate, duration_s] pairs")
        stages = []
        for i, st in enumerate(stages_raw):
            if not (isinstance(st, list) and len(st) == 2):
                raise ConfigError(f"{where}.stages[{i}] must be [rate, duration_s], got {st!r}")
            pair = {"target": st[0], "duration_s": st[1]}
            stages.append({k: _field(pair, k, f"{where}.stages[{i}]") for k in ("target", "duration_s")})
        return _ramping(name, 0.0, stages, common)
    if name == "spike":
        base, peak = _field(raw, "base_rate", where, 1), _field(raw, "peak_rate", where, 1)
        dur = _field(raw, "duration_s", where, 4)
        # Whole seconds per phase; the last phase takes the rounding rest.
        phases = [max(1, round(dur * f)) for f in SPIKE_SHAPE]
        rest = dur - sum(phases)
        if rest < 1:
            raise ConfigError(f"{where}.duration_s {dur:g} is too short for a spike")
        targets = (base, peak, peak, base, base)
        durations = [*phases, rest]
        stages = [{"target": t, "duration_s": float(d)} for t, d in zip(targets, durations, strict=True)]
        return _ramping(name, base, stages, common)
    raise AssertionError(f"scenario {name} is in SCENARIOS but has no branch here")


def _ramping(name: str, start: float, stages: list[dict[str, float]], common: dict[str, Any]) -> ScenarioPlan:
    scheduled = sum(st["duration_s"] for st in stages)
    sizes = {"start_rate": start, "stages": stages, **common}
    peak = max([start, *(st["target"] for st in stages)])
    return ScenarioPlan(name, "ramping-arrival-rate", sizes, scheduled, _ramp_integral(start, stages), peak)


def plans(
    policy: Policy, profile: str, overrides: dict[str, dict[str, Any]] | None = None
) -> dict[str, ScenarioPlan]:
    """Every scenario of a profile, with optional per-scenario size overrides (for self-tests)."""
    load = policy.load.get(profile)
    if not isinstance(load, dict):
        known = ", ".join(sorted(policy.load)) or "none"
        raise ConfigError(f"{policy.path}: no load.{profile} section (profiles: {known})")
    out = {}
    for name in SCENARIOS:
        raw = load.get(name)
        if not isinstance(raw, dict):
            raise ConfigError(f"{policy.path}: load.{profile}.{name} is missing")
        merged = {**raw, **(overrides or {}).get(name, {})}
        out[name] = plan_scenario(name, merged, f"{policy.path}: load.{profile}.{name}")
    return out


def loopback_guard(base_url: str) -> list[str]:
    """k6 `blacklistIPs` letting the target's own address through and nothing else.

    A belt to the scripts' braces: they only build URLs from the base URL, and k6 itself then
    refuses any other address. A loopback target lets loopback through (127.0.0.0/8, ::1); an
    address literal (e.g. the kind node's NodePort on the run's own network) only itself. Empty
    for a named gateway (it may resolve anywhere).
    """
    host = urlsplit(base_url).hostname or ""
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        return []
    if address.is_loopback:
        allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
            ipaddress.IPv4Network("127.0.0.0/8"),
            ipaddress.IPv6Network("::1/128"),
        ]
    else:
        allowed = [ipaddress.ip_network(address)]
    blocked: list[str] = []
    for everything in (ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")):
        keep = [n for n in allowed if n.version == everything.version]
        nets = [everything]
        for hole in keep:
            nets = [part for n in nets for part in (n.address_exclude(hole) if hole.subnet_of(n) else [n])]  # type: ignore[arg-type]
        blocked += [str(n) for n in nets]
    return sorted(blocked)


def build_config(
    policy: Policy, profile: str, base_url: str, overrides: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON document k6/lib/config.js reads."""
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ConfigError(f"base URL {base_url!r} must be http(s)://host[:port]")
    specs = slo_specs(policy)
    return {
        "schema": CONFIG_SCHEMA,
        "profile": profile,
        "policy": str(policy.path),
        "baseUrl": base_url.rstrip("/"),
        "thresholds": thresholds(specs),
        "slos": {s.id: {"metric": s.metric, "expression": s.expression, "source": s.source} for s in specs},
        "scenarios": {
            name: {"executor": p.executor, **p.sizes} for name, p in plans(policy, profile, overrides).items()
        },
        "requestTimeout": f"{REQUEST_TIMEOUT_S}s",
        "summaryTrendStats": SUMMARY_TREND_STATS,
        "systemTags": SYSTEM_TAGS,
        "blockedIPs": loopback_guard(base_url),
        "userAgent": "tartware-conformance-k6/1",
    }


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    return path.resolve()


def main(argv: list[str] | None = None) -> int:
    from ..settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m conformance.slo.config", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--policy", type=Path, default=settings.policy)
    parser.add_argument("--profile", default=settings.run_profile)
    parser.add_argument("--base-url", default=settings.slo_target or "http://127.0.0.1:8080")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    cfg = build_config(load_policy(args.policy), args.profile, args.base_url)
    if args.output:
        print(write_config(cfg, args.output))
    else:
        json.dump(cfg, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "ARRIVAL_RATE",
    "SCENARIOS",
    "TRANSPORT_ERRORS",
    "ConfigError",
    "ScenarioPlan",
    "SloSpec",
    "build_config",
    "loopback_guard",
    "plan_scenario",
    "plans",
    "slo_specs",
    "thresholds",
    "write_config",
]
