"""Settings (flag > env var > default) and the policy source of truth."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from conformance.policy import BASELINE, PolicyError, load_policy
from conformance.settings import OPTIONS, Settings
from conformance.tools import REPO

PLATFORM_POLICY = REPO / "manifests" / "policy.yaml"


def test_every_option_has_a_flag_and_an_env_var() -> None:
    for opt in OPTIONS:
        assert opt.flag.startswith("--") and opt.env.startswith("CONFORMANCE_"), opt
    assert len({o.env for o in OPTIONS}) == len(OPTIONS)


def test_flag_beats_env_beats_default(tmp_path: Path) -> None:
    env = {"CONFORMANCE_PROFILE": "ci", "CONFORMANCE_MANIFESTS": str(tmp_path)}
    from_env = Settings.resolve(lambda _name: None, env)
    assert from_env.profiles == ("ci",)
    assert from_env.manifests == tmp_path.resolve()
    flags = {"profiles": "prod"}
    from_flag = Settings.resolve(flags.get, env)
    assert from_flag.profiles == ("prod",)
    default = Settings.resolve(lambda _name: None, {})
    assert default.profiles == ("prod", "ci")
    assert default.manifests == (REPO / "manifests").resolve()


def test_policy_defaults_to_the_manifests_folder_then_the_baseline(tmp_path: Path) -> None:
    def resolved(**env: str) -> Path | None:
        return Settings.resolve(lambda _n: None, {"CONFORMANCE_MANIFESTS": str(tmp_path), **env}).policy

    assert resolved() is None, "a foreign folder gets the built-in baseline, not Tartware's policy"
    assert Settings.resolve(lambda _n: None, {}).policy == PLATFORM_POLICY
    (tmp_path / "policy.yaml").write_text("rules: {image-pinned: {enabled: false}}\n")
    assert resolved() == tmp_path / "policy.yaml"
    assert resolved(CONFORMANCE_POLICY="baseline") is None
    # A Kyverno/Gatekeeper manifest called policy.yaml is an input, not the suite's policy.
    (tmp_path / "policy.yaml").write_text(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: x}\n"
    )
    assert resolved() is None
    # A broken or misspelt policy file is still the policy: its error is reported, never ignored.
    (tmp_path / "policy.yaml").write_text("capacty: {max_pods: 3}\n")
    assert resolved() == tmp_path / "policy.yaml"


def test_platform_policy_loads_with_the_seed_numbers() -> None:
    policy = load_policy(PLATFORM_POLICY)
    assert (
        policy.require_slo().target_rps,
        policy.require_slo().latency_p95_ms,
        policy.require_slo().latency_p99_ms,
    ) == (20000, 500, 1000)
    assert policy.require_slo().error_rate == 0.05
    assert policy.services["api-gateway"].bounds["prod"] == (10, 100)
    assert policy.services["core-service"].bounds["prod"] == (8, 80)
    assert policy.services["reservations"].bounds["prod"] == (8, 70)
    assert policy.scale_up == (100, 15) and policy.scale_down == (10, 60)


def _write_policy(tmp_path: Path, mutate: str, replacement: str) -> Path:
    text = PLATFORM_POLICY.read_text()
    assert mutate in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(mutate, replacement))
    return path


@pytest.mark.parametrize(
    ("mutate", "replacement", "message"),
    [
        (
            "  latency_p95_ms: 500",
            "  latency_p95_ms: fast",
            r"slo.latency_p95_ms: must be a number, got a string",
        ),
        ("  error_rate: 0.05 ", "  rate_of_errors: 0.05 ", r"unknown key slo.rate_of_errors"),
        ("  max_cpu_cores: 600", "  max_cpu_corez: 600", r"unknown key capacity.max_cpu_corez"),
        (
            "  critical_priority_class:",
            "  critical_priority_klass:",
            r"unknown key org.critical_priority_klass",
        ),
        ("    scale_up: {percent: 100,", "    scale_up: {pct: 100,", r"unknown key org.hpa.scale_up.pct"),
        (
            "{critical: false, rps_per_pod: 200, prod",
            "{critical: nope, rps_per_pod: 200, prod",
            r"critical: must be true",
        ),
        (
            "  ingress-tls: {enabled: true}",
            "  ingress-tls: {enabled: yes please}",
            r"rules.ingress-tls.enabled: must be",
        ),
        (
            "  ingress-tls: {enabled: true}",
            "  ingress-tls: {severity: urgent}",
            r"rules.ingress-tls.severity: 'urgent'",
        ),
        ("  namespace: tartware\n", "", r"org.services needs org.namespace"),
        ("\nload:\n", "\nlaod:\n", r"unknown key laod \(known under the top level"),
        (
            "prod: {min: 10, max: 100}",
            "prod: {min: 100, max: 10}",
            r"api-gateway.prod: min 100 is above max 10",
        ),
        (
            "    expires: 2027-06-30\n  - rule: read",
            "    expires: someday\n  - rule: read",
            r"exemptions\[0\]\.expires: 'someday' is not a YYYY-MM-DD",
        ),
        ("    owner: platform-team@tartware.local\n", "", r"exemptions\[0\]: is missing owner"),
    ],
)
def test_policy_errors_name_file_and_field(
    tmp_path: Path, mutate: str, replacement: str, message: str
) -> None:
    path = _write_policy(tmp_path, mutate, replacement)
    with pytest.raises(PolicyError, match=message) as err:
        load_policy(path)
    assert str(path) in str(err.value)


def test_broken_policy_yaml_is_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        textwrap.dedent("""\
        slo:
          target_rps: 1
          target_rps: 2
    """)
    )
    with pytest.raises(PolicyError, match="duplicate key 'target_rps'"):
        load_policy(path)


def test_today_option_parses_dates() -> None:
    assert Settings.resolve({"today": "2030-01-02"}.get, {}).today == dt.date(2030, 1, 2)


def test_profile_scaling_overrides_the_default() -> None:
    policy = load_policy(PLATFORM_POLICY)
    assert policy.scaling("prod", "scale_down") == (10, 60)
    assert policy.scaling("ci", "scale_down") == (10, 15)
    assert policy.scaling("ci", "scale_up") == (100, 15)


def test_the_entry_service_is_declared_once(tmp_path: Path) -> None:
    entry = load_policy(PLATFORM_POLICY).entry_service
    assert entry is not None and entry.name == "api-gateway"
    path = _write_policy(
        tmp_path, "core-service:   {critical: true,", "core-service:   {critical: true, entry: true,"
    )
    with pytest.raises(
        PolicyError, match="only one service can be `entry: true`, found api-gateway, core-service"
    ):
        load_policy(path)


def test_baseline_alone_provides_no_organisation_data() -> None:
    policy = load_policy(None)
    assert policy.path == BASELINE and policy.name == "the built-in baseline"
    assert policy.slo is None and policy.namespace is None and not policy.services
    for datum in ("slo", "capacity", "services", "required_labels", "critical_priority_class", "scaling"):
        assert not policy.provides(datum), datum
    assert policy.rules["default-deny-per-namespace"].enabled is False


def test_a_partial_policy_keeps_the_baseline_for_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(
        "org: {required_labels: [team]}\nrules:\n  image-pinned: {severity: blocker}\n"
        "  ingress-tls: {enabled: true}\n  probes-set: {enabled: false}\n"
    )
    policy = load_policy(path)
    assert policy.layers == (BASELINE, path)
    assert policy.required_labels == ("team",) and policy.slo is None
    assert policy.rules["image-pinned"].severity == "blocker"
    assert policy.rules["ingress-tls"].enabled is True  # switched back on over the baseline
    assert policy.rules["default-deny-per-namespace"].enabled is False  # the baseline's, kept
    assert policy.rules["probes-set"].enabled is False
    assert "team.yaml: rules.probes-set" in policy.rules["probes-set"].source


def test_the_platform_policy_switches_on_what_the_baseline_leaves_off() -> None:
    policy = load_policy(PLATFORM_POLICY)
    for rule in (
        "default-deny-per-namespace",
        "workload-netpol-coverage",
        "ingress-tls",
        "servicemonitor-per-service",
    ):
        assert load_policy(None).rules[rule].enabled is False
        assert policy.rules[rule].enabled is True, rule


def test_a_kubernetes_manifest_is_not_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(PolicyError, match="is a Kubernetes manifest"):
        load_policy(path)
