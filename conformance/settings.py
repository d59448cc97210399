"""One settings object for the whole suite.

Every option is both a pytest flag and an environment variable, declared once
in `OPTIONS`; the plugin registers the flags from it and `Settings.resolve`
reads flag first, then env var, then default.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .inventory.loader import Limits
from .inventory.render import ChartValues, parse_chart_values
from .policy import SEVERITIES, is_policy_file
from .tools import REPO

POLICY_FILE = "policy.yaml"  # looked for in the manifests folder


@dataclass(frozen=True)
class Option:
    name: str  # attribute of Settings
    flag: str
    env: str
    help: str
    default: str | None = None
    repeatable: bool = False  # the flag may be given more than once; the env var lists entries by spaces


OPTIONS: tuple[Option, ...] = (
    Option(
        "manifests",
        "--manifests",
        "CONFORMANCE_MANIFESTS",
        "folder (or file) of manifests and charts to check",
        str(REPO / "manifests"),
    ),
    Option(
        "profiles",
        "--profile",
        "CONFORMANCE_PROFILE",
        "comma-separated chart profiles for the static tier (values-<profile>.yaml)",
        "prod,ci",
    ),
    Option(
        "run_profile",
        "--run-profile",
        "CONFORMANCE_RUN_PROFILE",
        "profile the behaviour and SLO tiers deploy and load",
        "ci",
    ),
    Option(
        "policy",
        "--policy",
        "CONFORMANCE_POLICY",
        "policy file laid over the built-in baseline (default: <manifests>/policy.yaml when that is "
        "a conformance policy, else the baseline alone; `baseline` for the baseline alone)",
    ),
    Option(
        "namespace",
        "--namespace",
        "CONFORMANCE_NAMESPACE",
        "namespace charts render into (default: the policy's org.namespace, else helm's `default`)",
    ),
    Option(
        "exclude",
        "--exclude",
        "CONFORMANCE_EXCLUDE",
        "comma-separated globs of input paths to leave out, relative to --manifests "
        "(e.g. 'test/*,*.tmpl.yaml')",
    ),
    Option(
        "chart_values",
        "--values",
        "CONFORMANCE_VALUES",
        "CHART=FILE: a values file for one chart (CHART relative to --manifests), after values.yaml, "
        "values-<profile>.yaml and the policy's `charts:`; repeatable (env: entries separated by spaces)",
        repeatable=True,
    ),
    Option(
        "chart_sets",
        "--set",
        "CONFORMANCE_SET",
        "CHART:key=value: a `helm --set` for one chart, after its values files; repeatable (env: entries "
        "separated by spaces)",
        repeatable=True,
    ),
    Option(
        "max_findings_per_rule",
        "--max-findings-per-rule",
        "CONFORMANCE_MAX_FINDINGS_PER_RULE",
        "findings printed per rule (and per schema kind) before `... and N more`; 0: all",
        "20",
    ),
    Option(
        "fail_on",
        "--fail-on",
        "CONFORMANCE_FAIL_ON",
        "lowest rule severity that fails the static tier: blocker, critical, normal or minor; findings "
        "of rules below it are reported (summary, warnings, SARIF) but pass. Schema, input and policy "
        "problems always fail",
        "minor",
    ),
    Option(
        "sarif",
        "--sarif",
        "CONFORMANCE_SARIF",
        "write the static tier's findings as SARIF 2.1.0 to this file (for code scanning)",
    ),
    Option(
        "k8s_version",
        "--k8s-version",
        "CONFORMANCE_K8S_VERSION",
        "target Kubernetes version: core schemas and removed/deprecated APIs (e.g. 1.35, 1.36, 1.37)",
        "1.36.0",
    ),
    Option(
        "schemas",
        "--schemas",
        "CONFORMANCE_SCHEMAS",
        "folder of schemas made by `make tools`: core schemas per version (v<version>/), "
        "CRDs generated from pinned sources (crds/) and the API lifecycle table (api-lifecycle/)",
        str(REPO / ".tools" / "schemas"),
    ),
    Option(
        "crd_schemas",
        "--crd-schemas",
        "CONFORMANCE_CRD_SCHEMAS",
        "extra folders of CRD schemas laid out <group>/<kind>_<version>.json, comma-separated "
        "(after the CRDs of the input and the generated ones)",
    ),
    Option(
        "max_file_bytes",
        "--max-file-bytes",
        "CONFORMANCE_MAX_FILE_BYTES",
        "largest manifest file accepted",
        str(Limits().max_file_bytes),
    ),
    Option(
        "today",
        "--today",
        "CONFORMANCE_TODAY",
        "date exemptions are checked against (YYYY-MM-DD; default: today)",
    ),
    Option(
        "provider",
        "--provider",
        "CONFORMANCE_PROVIDER",
        "cluster provider for the behaviour tier: local, kind or existing",
        "local",
    ),
    Option("kubeconfig", "--kubeconfig", "CONFORMANCE_KUBECONFIG", "kubeconfig for the `existing` provider"),
    Option(
        "slo_target",
        "--slo-target",
        "CONFORMANCE_SLO_TARGET",
        "base URL of a running API gateway for the SLO tier (default: a local reference target)",
    ),
    Option(
        "slo_generators",
        "--slo-generators",
        "CONFORMANCE_SLO_GENERATORS",
        "local k6 processes sharing each SLO scenario (k6 execution segments); above 1 the verdicts "
        "are PromQL over their samples merged in a Prometheus (remote write, native histograms)",
        "1",
    ),
    Option(
        "kind_node_image",
        "--kind-node-image",
        "CONFORMANCE_KIND_NODE_IMAGE",
        "node image for the `kind` provider (default: the suite's offline build for the pinned "
        "Kubernetes; another image, e.g. kindest/node, gets the suite's own images loaded)",
    ),
    Option(
        "data_plane",
        "--data-plane",
        "CONFORMANCE_DATA_PLANE",
        "on/off: the `local` provider's data plane (network namespaces + kube-router; needs root). "
        "Where flows.yaml declares traffic and no data plane runs, the probe is BROKEN unless this is off",
        "on",
    ),
)


# The option whose explicit `off` turns a declared NetworkPolicy probe from BROKEN into a skip.
DATA_PLANE_OPTION = "data_plane"


@dataclass(frozen=True)
class Settings:
    manifests: Path
    profiles: tuple[str, ...]
    run_profile: str
    policy: Path | None  # None: the built-in baseline alone
    k8s_version: str
    schemas: Path
    crd_schemas: tuple[Path, ...]
    limits: Limits
    today: dt.date
    provider: str
    kubeconfig: Path | None
    slo_target: str | None
    explicit: frozenset[str] = field(default_factory=frozenset)
    kind_node_image: str = ""
    data_plane: bool = True
    namespace: str | None = None  # chart render namespace asked for (flag/env)
    exclude: tuple[str, ...] = ()
    max_findings_per_rule: int = 20
    sarif: Path | None = None
    fail_on: str = "minor"  # lowest rule severity that fails the static tier (SEVERITIES)
    slo_generators: int = 1
    # --values / --set per chart folder (the policy's `charts:` come first: static.py merges them)
    chart_values: tuple[tuple[Path, ChartValues], ...] = ()

    @property
    def policy_label(self) -> str:
        """The policy layers in words: "baseline" or "baseline + <file>"."""
        return f"baseline + {self.policy}" if self.policy is not None else "baseline"

    @classmethod
    def resolve(
        cls, get_flag: Callable[[str], str | None], environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Flag, else env var, else default, for every option in OPTIONS."""
        env = os.environ if environ is None else environ
        raw: dict[str, str | None] = {}
        explicit = set()
        for opt in OPTIONS:
            value = get_flag(opt.name)
            if value is None or value == "":
                value = env.get(opt.env) or None
            if value is not None:
                explicit.add(opt.name)
            raw[opt.name] = value if value is not None else opt.default
        manifests = Path(str(raw["manifests"])).expanduser().resolve()
        policy = _policy_path(raw["policy"], manifests)
        crds = raw["crd_schemas"]
        today = dt.date.fromisoformat(raw["today"]) if raw["today"] else dt.date.today()
        return cls(
            manifests=manifests,
            profiles=tuple(p.strip() for p in str(raw["profiles"]).split(",") if p.strip()),
            run_profile=str(raw["run_profile"]),
            policy=policy,
            k8s_version=str(raw["k8s_version"]),
            schemas=Path(str(raw["schemas"])).expanduser(),
            crd_schemas=tuple(Path(p.strip()).expanduser() for p in (crds or "").split(",") if p.strip()),
            limits=Limits(max_file_bytes=int(str(raw["max_file_bytes"]))),
            today=today,
            provider=str(raw["provider"]),
            kubeconfig=Path(raw["kubeconfig"]).expanduser() if raw["kubeconfig"] else None,
            slo_target=raw["slo_target"],
            explicit=frozenset(explicit),
            kind_node_image=raw["kind_node_image"] or "",
            data_plane=str(raw["data_plane"]).strip().lower() not in ("off", "0", "false", "no"),
            namespace=raw["namespace"] or None,
            exclude=tuple(g.strip() for g in str(raw["exclude"] or "").split(",") if g.strip()),
            max_findings_per_rule=_count("max_findings_per_rule", str(raw["max_findings_per_rule"])),
            sarif=Path(raw["sarif"]).expanduser() if raw["sarif"] else None,
            fail_on=_severity("fail_on", str(raw["fail_on"])),
            slo_generators=_count("slo_generators", str(raw["slo_generators"]), minimum=1),
            chart_values=parse_chart_values(
                str(raw["chart_values"] or "").split(), str(raw["chart_sets"] or "").split(), manifests
            ),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from env vars and defaults only (for scripts and `python -m conformance`)."""
        return cls.resolve(lambda _name: None, environ)


def _policy_path(value: str | None, manifests: Path) -> Path | None:
    """The policy file to lay over the baseline: asked for, else <manifests>/policy.yaml if it is one."""
    if value == "baseline":
        return None
    if value is not None:
        return Path(value).expanduser().resolve()
    local = (manifests if manifests.is_dir() else manifests.parent) / POLICY_FILE
    return local if local.is_file() and is_policy_file(local) else None


def _severity(name: str, value: str) -> str:
    severity = value.strip().lower()
    if severity not in SEVERITIES:
        opt = next(o for o in OPTIONS if o.name == name)
        raise ValueError(f"{opt.flag} / {opt.env} must be one of {', '.join(SEVERITIES)}, got {value!r}")
    return severity


def _count(name: str, value: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        opt = next(o for o in OPTIONS if o.name == name)
        raise ValueError(f"{opt.flag} / {opt.env} must be a whole number >= {minimum}, got {value!r}")
    return number
