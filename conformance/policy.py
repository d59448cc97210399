"""Policy layers: the built-in baseline, then the team's own policy file (partial is fine).

    policy = load_policy(None)                        # the baseline alone (any repo)
    policy = load_policy(Path("manifests/policy.yaml"))  # baseline + Tartware's org policy

The baseline (conformance/baseline-policy.yaml) is portable best practice: which
rules run and at which severity, and nothing organisation-specific. A policy
file adds what only its organisation knows (SLOs, per-service HPA bounds, a
capacity plan, required labels, a critical priority class, ...), turns rules on
or off and sets their severity (`rules:`), and lists exemptions. Every section
is optional; a rule that needs data the policy does not provide does not apply
(the registry skips it with the reason). Unknown keys fail with their full path
(`capacity.max_cpu_corez`), so a typo never silently disables a check.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inventory.loader import iter_documents
from .inventory.model import Problem, Source
from .inventory.render import ChartValues, chart_folder

BASELINE = Path(__file__).resolve().parent / "baseline-policy.yaml"
SEVERITIES = ("blocker", "critical", "normal", "minor")
# Scenario names of the SLO tier's load sizes (their parameters are checked by conformance.slo.config).
LOAD_SCENARIOS = ("smoke", "load", "stress", "spike")
TOP_LEVEL = (
    "slo",
    "observability",
    "capacity",
    "org",
    "load",
    "exemptions",
    "provided",
    "pod_operators",
    "rules",
    "exercise",
    "charts",
)
EXERCISE_KINDS = ("hpa", "pdb")


class PolicyError(ValueError):
    """A policy file is unreadable, has an unknown key or a wrong value; names file and field."""


@dataclass(frozen=True)
class Slo:
    target_rps: float
    expected_rps: float
    latency_p95_ms: float
    latency_p99_ms: float
    error_rate: float
    alert_request_rate_rps: float
    checks_pass_rate: float
    min_achieved_ratio: float


@dataclass(frozen=True)
class ServicePolicy:
    name: str
    critical: bool
    rps_per_pod: float
    bounds: dict[str, tuple[int, int]]  # profile -> (minReplicas, maxReplicas)
    entry: bool = False  # every request passes this service (the gateway)


@dataclass(frozen=True)
class Exemption:
    rule: str
    object: str  # Kind/namespace/name; may glob, e.g. VmwarevsphereConfig/fleet-default/*
    owner: str
    reason: str
    expires: dt.date


@dataclass(frozen=True)
class PodOperator:
    """policy `pod_operators`: a custom kind whose operator creates pods, and the labels they carry.

    The rules that report a selector matching nothing (Services, NetworkPolicies) count each
    such custom resource in the input as pods with these labels; the baseline declares the
    common operators, e.g. Prometheus -> app.kubernetes.io/name=prometheus, prometheus=<name>.
    """

    group: str  # API group, e.g. monitoring.coreos.com
    kind: str
    labels: dict[str, str]  # fixed labels; "{name}" stands for the custom resource's name
    labels_from: tuple[str, ...] = ()  # dotted paths of label maps in the resource (spec.podMetadata.labels)


@dataclass(frozen=True)
class Observability:
    """policy.yaml `observability`: what the services export, how SLO alerts must behave."""

    requests_metric: str  # counter with label `code`
    latency_metric: str  # histogram, seconds
    alert_for_s: float  # a breach held this long fires; shorter stays pending
    alert_severity: dict[str, str]  # slo key -> severity label

    @property
    def exported(self) -> tuple[str, ...]:
        """Every series name the services export (a histogram is three)."""
        lat = self.latency_metric
        return (self.requests_metric, f"{lat}_bucket", f"{lat}_count", f"{lat}_sum")


@dataclass(frozen=True)
class RuleSetting:
    """One rule's switch and severity from a policy layer (None: keep the rule's own)."""

    enabled: bool | None = None
    severity: str | None = None
    source: str = ""  # "file: rules.<id>", named when the setting matters


@dataclass(frozen=True)
class Policy:
    """The effective policy. Organisation data is empty/None when no layer provides it."""

    path: Path  # the most specific layer: the policy file, or the baseline when there is none
    slo: Slo | None = None
    capacity: dict[str, Any] = field(default_factory=dict)  # capacity plan (max_cpu_cores, ...)
    namespace: str | None = None  # the organisation's platform namespace
    required_labels: tuple[str, ...] = ()
    critical_priority_class: str | None = None
    scale_up: tuple[int, int] | None = None  # (percent, periodSeconds)
    scale_down: tuple[int, int] | None = None
    required_metrics: tuple[str, ...] | dict[str, tuple[str, ...]] = ()  # one list, or one per profile
    services: dict[str, ServicePolicy] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    exemptions: tuple[Exemption, ...] = field(default_factory=tuple)
    # org.hpa.profiles.<profile>.scale_up|scale_down overrides, e.g. {"ci": {"scale_down": (10, 15)}}
    scaling_overrides: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    provided: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # objects operators create
    pod_operators: tuple[PodOperator, ...] = field(default_factory=tuple)  # custom kinds that make pods
    rules: dict[str, RuleSetting] = field(default_factory=dict)  # rule id -> switch/severity
    layers: tuple[Path, ...] = ()  # baseline first
    # org.hpa.<direction>.stabilization_window_seconds (and per profile): {"ci": {"scale_down": 15}}
    windows: dict[str, dict[str, int]] = field(default_factory=dict)
    # `exercise`: the objects the behaviour tier exercises, by kind ("hpa", "pdb") -> names.
    # Unset: the tier picks from the inventory itself (see behaviour/exercise.py).
    exercise: dict[str, tuple[str, ...]] = field(default_factory=dict)
    observability: Observability | None = None  # absent: no generated alert tests
    # `charts`: values files and --set entries per chart folder, for charts that need them to render
    charts: tuple[tuple[Path, ChartValues], ...] = ()

    @property
    def name(self) -> str:
        """What to call this policy in messages: the file, or "the built-in baseline"."""
        return "the built-in baseline" if self.path == BASELINE else str(self.path)

    @property
    def entry_service(self) -> ServicePolicy | None:
        """The service marked `entry: true` (the API gateway), if any."""
        return next((s for s in self.services.values() if s.entry), None)

    def require_slo(self) -> Slo:
        """The slo section, for what cannot run without one (the SLO tier). Raises PolicyError."""
        if self.slo is None:
            raise PolicyError(f"{self.name}: no slo section (the SLO thresholds come from it)")
        return self.slo

    def provides(self, datum: str) -> bool:
        """Whether the policy sets `datum` (an attribute name; "scaling" = org.hpa scale_up and down)."""
        if datum == "scaling":
            return self.scale_up is not None and self.scale_down is not None
        if datum == "critical_services":
            return any(s.critical for s in self.services.values())
        return bool(getattr(self, datum))

    def scaling(self, profile: str, direction: str) -> tuple[int, int]:
        """(percent, periodSeconds) of `direction` ("scale_up"/"scale_down") for a profile.

        Only for policies that provide org.hpa (rules needing it declare `requires=("scaling",)`).
        """
        default = self.scale_up if direction == "scale_up" else self.scale_down
        value = self.scaling_overrides.get(profile, {}).get(direction, default)
        if value is None:
            raise PolicyError(f"{self.name}: no org.hpa.{direction} for profile {profile}")
        return value

    def window(self, profile: str, direction: str) -> int | None:
        """stabilizationWindowSeconds the policy sets for `direction` in `profile`, if it sets one."""
        return self.windows.get(profile, self.windows.get("", {})).get(direction)

    def exemption_for(self, rule: str, object_ref: str) -> Exemption | None:
        """The exemption of `rule` whose object (Kind/namespace/name, `*` globs allowed) matches."""
        for ex in self.exemptions:
            if ex.rule == rule and fnmatch.fnmatchcase(object_ref, ex.object):
                return ex
        return None


# -- reading one layer -------------------------------------------------------------------------


class _Reader:
    """Typed access to one policy file's mapping; every error names the file and the dotted path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> PolicyError:
        return PolicyError(f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}")

    def mapping(self, value: Any, where: str, known: tuple[str, ...] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where, f"key {key!r} must be a string")
            if known is not None and key not in known:
                raise self.fail(
                    "",
                    f"unknown key {_join(where, key)} "
                    f"(known under {where or 'the top level'}: {', '.join(known)})",
                )
        return value

    def number(self, value: Any, where: str, integer: bool = False) -> float:
        ok = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok):
            raise self.fail(where, f"must be {'an integer' if integer else 'a number'}, got {_kind(value)}")
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty string, got {_kind(value)}")
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list of strings, got {_kind(value)}")
        return tuple(self.string(v, f"{where}[{i}]") for i, v in enumerate(value))

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {_kind(value)}")
        return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    names = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return f"{names.get(type(value), type(value).__name__)} ({value!r})"


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data_bytes = path.read_bytes()
    except OSError as err:
        raise PolicyError(f"{path}: cannot read policy file ({err.strerror})") from None
    docs = list(iter_documents(data_bytes, Source(str(path), 0)))
    if len(docs) != 1:
        raise PolicyError(f"{path}: expected exactly one YAML document, found {len(docs)}")
    data = docs[0][1]
    if isinstance(data, Problem):
        raise PolicyError(str(data))
    if data is None:
        return {}
    if isinstance(data, dict) and "kind" in data and "apiVersion" in data:
        raise PolicyError(
            f"{path}: this is a Kubernetes manifest ({data.get('kind')}), not a conformance policy file"
        )
    return _Reader(path).mapping(data, "", TOP_LEVEL)


def _slo(r: _Reader, raw: Any) -> Slo:
    names = tuple(Slo.__dataclass_fields__)
    data = r.mapping(raw, "slo", names)
    missing = [k for k in names if k not in data]
    if missing:
        raise r.fail(
            "slo", f"missing field slo.{missing[0]} (an slo section needs all of: {', '.join(names)})"
        )
    return Slo(**{k: float(r.number(data[k], f"slo.{k}")) for k in names})


def _bounds(r: _Reader, raw: Any, where: str) -> tuple[int, int]:
    data = r.mapping(raw, where, ("min", "max"))
    for key in ("min", "max"):
        if key not in data:
            raise r.fail(where, f"missing field {where}.{key}")
    lo, hi = (int(r.number(data[k], f"{where}.{k}", integer=True)) for k in ("min", "max"))
    if lo > hi:
        raise r.fail(where, f"min {lo} is above max {hi}")
    return lo, hi


_CAPACITY: dict[str, Callable[[_Reader, Any, str], Any]] = {
    "max_cpu_cores": lambda r, v, w: r.number(v, w),
    "max_memory_gib": lambda r, v, w: r.number(v, w),
    "max_pods": lambda r, v, w: r.number(v, w, integer=True),
    "nodes": _bounds,
}


def _capacity(r: _Reader, raw: Any) -> dict[str, Any]:
    data = r.mapping(raw, "capacity", tuple(_CAPACITY))
    return {k: _CAPACITY[k](r, v, f"capacity.{k}") for k, v in data.items()}


_SCALING_KEYS = ("percent", "period_seconds", "stabilization_window_seconds")


def _scaling(r: _Reader, raw: Any, where: str) -> tuple[int, int]:
    """(percent, period_seconds), both positive."""
    data = r.mapping(raw, where, _SCALING_KEYS)
    for key in ("percent", "period_seconds"):
        if key not in data:
            raise r.fail(where, f"missing field {where}.{key}")
    percent = int(r.number(data["percent"], f"{where}.percent", integer=True))
    period = int(r.number(data["period_seconds"], f"{where}.period_seconds", integer=True))
    if percent <= 0 or period <= 0:
        raise r.fail(where, "needs a positive percent and period_seconds")
    return percent, period


def _windows(r: _Reader, hpa: dict[str, Any], where: str) -> dict[str, int]:
    """{direction: stabilization_window_seconds} set under `where`.scale_up / .scale_down."""
    out = {}
    for direction in ("scale_up", "scale_down"):
        node = hpa.get(direction)
        if isinstance(node, dict) and "stabilization_window_seconds" in node:
            key = f"{where}.{direction}.stabilization_window_seconds"
            value = int(r.number(node["stabilization_window_seconds"], key, integer=True))
            if value < 0:
                raise r.fail("", f"{key} must be >= 0")
            out[direction] = value
    return out


_SERVICE_KEYS = ("critical", "entry", "rps_per_pod")


def _services(r: _Reader, raw: Any) -> dict[str, ServicePolicy]:
    services = {}
    for name, svc in r.mapping(raw, "org.services").items():
        prefix = f"org.services.{name}"
        data = r.mapping(svc, prefix)
        bounds = {}
        for key, value in data.items():
            if key in _SERVICE_KEYS:
                continue
            if not isinstance(value, dict):
                raise r.fail(
                    "",
                    f"unknown key {_join(prefix, key)} "
                    f"(a service has {', '.join(_SERVICE_KEYS)} and <profile>: {{min, max}})",
                )
            bounds[key] = _bounds(r, value, _join(prefix, key))
        for key in ("critical", "rps_per_pod"):
            if key not in data:
                raise r.fail(prefix, f"missing field {prefix}.{key}")
        services[name] = ServicePolicy(
            name=name,
            critical=r.boolean(data["critical"], f"{prefix}.critical"),
            rps_per_pod=float(r.number(data["rps_per_pod"], f"{prefix}.rps_per_pod")),
            bounds=bounds,
            entry=r.boolean(data.get("entry", False), f"{prefix}.entry"),
        )
    entries = [name for name, svc in services.items() if svc.entry]
    if len(entries) > 1:
        raise r.fail("org.services", f"only one service can be `entry: true`, found {', '.join(entries)}")
    return services


def _metrics(r: _Reader, raw: Any, where: str) -> tuple[str, ...] | dict[str, tuple[str, ...]]:
    if isinstance(raw, dict):
        return {str(p): r.strings(names or [], f"{where}.{p}") for p, names in r.mapping(raw, where).items()}
    return r.strings(raw, where)


def _org(r: _Reader, raw: Any, out: dict[str, Any]) -> None:
    keys = ("namespace", "required_labels", "critical_priority_class", "hpa", "services")
    org = r.mapping(raw, "org", keys)
    if "namespace" in org:
        out["namespace"] = r.string(org["namespace"], "org.namespace")
    if "required_labels" in org:
        out["required_labels"] = r.strings(org["required_labels"], "org.required_labels")
    if "critical_priority_class" in org:
        out["critical_priority_class"] = r.string(
            org["critical_priority_class"], "org.critical_priority_class"
        )
    if "services" in org:
        out["services"] = _services(r, org["services"])
    if "hpa" in org:
        hpa = r.mapping(org["hpa"], "org.hpa", ("scale_up", "scale_down", "profiles", "required_metrics"))
        for key in ("scale_up", "scale_down"):
            if key in hpa:
                out[key] = _scaling(r, hpa[key], f"org.hpa.{key}")
        overrides: dict[str, dict[str, tuple[int, int]]] = {}
        windows = {"": _windows(r, hpa, "org.hpa")}
        for profile, entry in r.mapping(hpa.get("profiles") or {}, "org.hpa.profiles").items():
            where = f"org.hpa.profiles.{profile}"
            data = r.mapping(entry, where, ("scale_up", "scale_down"))
            overrides[profile] = {k: _scaling(r, v, f"{where}.{k}") for k, v in data.items()}
            windows[profile] = {**windows[""], **_windows(r, data, where)}
        out["scaling_overrides"] = overrides
        out["windows"] = windows
        if "required_metrics" in hpa:
            out["required_metrics"] = _metrics(r, hpa["required_metrics"], "org.hpa.required_metrics")


def _load(r: _Reader, raw: Any) -> dict[str, Any]:
    load = r.mapping(raw, "load")
    for profile, scenarios in load.items():
        r.mapping(scenarios, f"load.{profile}", LOAD_SCENARIOS)
    return load


def _exemptions(r: _Reader, raw: Any) -> tuple[Exemption, ...]:
    if not isinstance(raw, list):
        raise r.fail("exemptions", f"must be a list, got {_kind(raw)}")
    keys = ("rule", "object", "owner", "reason", "expires")
    out = []
    for i, ex in enumerate(raw):
        where = f"exemptions[{i}]"
        data = r.mapping(ex, where, keys)
        missing = [k for k in keys if not data.get(k)]
        if missing:
            raise r.fail(where, f"is missing {', '.join(missing)} (every exemption needs all five)")
        try:
            expires = dt.date.fromisoformat(str(data["expires"]))
        except ValueError:
            raise r.fail(f"{where}.expires", f"{data['expires']!r} is not a YYYY-MM-DD date") from None
        out.append(
            Exemption(
                str(data["rule"]), str(data["object"]), str(data["owner"]), str(data["reason"]), expires
            )
        )
    return tuple(out)


def _provided(r: _Reader, raw: Any) -> tuple[dict[str, Any], ...]:
    """`provided`: stand-ins (partial manifests) for objects operators or the cluster create at run
    time; added to every target so lookups find them, never reported on (README, "Objects the input
    does not hold")."""
    if not isinstance(raw, list):
        raise r.fail("provided", "must be a list of partial manifests")
    for i, item in enumerate(raw):
        meta = item.get("metadata") if isinstance(item, dict) else None
        if (
            not isinstance(meta, dict)
            or not all(isinstance(item.get(k), str) for k in ("apiVersion", "kind"))
            or not isinstance(meta.get("name"), str)
        ):
            raise r.fail(f"provided[{i}]", "needs apiVersion, kind and metadata.name")
    return tuple(raw)


_OPERATOR_KEYS = ("group", "kind", "labels", "labels_from")


def _pod_operators(r: _Reader, raw: Any) -> tuple[PodOperator, ...]:
    """`pod_operators: [{group, kind, labels: {k: v}, labels_from: [path]}]` (one of the last two)."""
    if not isinstance(raw, list):
        raise r.fail("pod_operators", f"must be a list of {{{', '.join(_OPERATOR_KEYS)}}}, got {_kind(raw)}")
    out = []
    for i, item in enumerate(raw):
        where = f"pod_operators[{i}]"
        data = r.mapping(item, where, _OPERATOR_KEYS)
        if "kind" not in data or "group" not in data:
            raise r.fail(where, "needs group and kind (e.g. group: argoproj.io, kind: Rollout)")
        labels = r.mapping(data.get("labels", {}), f"{where}.labels")
        for key, value in labels.items():
            r.string(value, f"{where}.labels.{key}")
        paths = r.strings(data.get("labels_from", []), f"{where}.labels_from")
        if not labels and not paths:
            raise r.fail(where, "needs labels or labels_from (the labels the operator's pods carry)")
        group = data["group"]
        if not isinstance(group, str):  # "" is the core group
            raise r.fail(f"{where}.group", f"must be a string, got {_kind(group)}")
        out.append(PodOperator(group, r.string(data["kind"], f"{where}.kind"), dict(labels), paths))
    return tuple(out)


def _charts(r: _Reader, raw: Any) -> tuple[tuple[Path, ChartValues], ...]:
    """`charts: {<chart folder>: {values: [files], set: {key: value}}}`, paths relative to this file."""
    here = r.path.parent
    out = []
    for chart, spec in r.mapping(raw, "charts").items():
        where = f"charts.{chart}"
        try:
            folder = chart_folder(chart, here, where)
        except ValueError as err:
            raise r.fail("", str(err)) from None
        data = r.mapping(spec, where, ("values", "set"))
        files = []
        for i, name in enumerate(r.strings(data.get("values", []), f"{where}.values")):
            path = (here / name).resolve()
            if not path.is_file():
                raise r.fail(f"{where}.values[{i}]", f"values file {path} does not exist")
            files.append(path)
        sets = []
        for key, value in r.mapping(data.get("set", {}), f"{where}.set").items():
            if isinstance(value, dict | list) or value is None:
                raise r.fail(f"{where}.set.{key}", f"must be a string, number or boolean, got {_kind(value)}")
            sets.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
        out.append((folder, ChartValues(tuple(files), tuple(sets))))
    return tuple(out)


_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _observability(r: _Reader, raw: Any) -> Observability:
    data = r.mapping(raw, "observability", ("metrics", "alert_for", "alert_severity"))
    for key in ("metrics", "alert_for", "alert_severity"):
        if key not in data:
            raise r.fail("observability", f"missing field observability.{key}")
    metrics = r.mapping(data["metrics"], "observability.metrics", ("requests", "latency"))
    for key in ("requests", "latency"):
        if key not in metrics:
            raise r.fail("observability.metrics", f"missing field observability.metrics.{key}")
    raw_for = str(data["alert_for"])
    match = _DURATION.match(raw_for)
    if match is None or int(match.group(1)) <= 0:
        raise r.fail("", f"observability.alert_for {raw_for!r} is not a positive duration like 5m")
    severity = r.mapping(data["alert_severity"], "observability.alert_severity")
    if not all(isinstance(v, str) and v for v in severity.values()):
        raise r.fail("", "observability.alert_severity maps each slo key to a severity name")
    return Observability(
        requests_metric=r.string(metrics["requests"], "observability.metrics.requests"),
        latency_metric=r.string(metrics["latency"], "observability.metrics.latency"),
        alert_for_s=int(match.group(1)) * _UNIT_S[match.group(2)],
        alert_severity={str(k): str(v) for k, v in severity.items()},
    )


def _exercise(r: _Reader, raw: Any) -> dict[str, tuple[str, ...]]:
    """`exercise: {hpa: [names], pdb: [names]}`: what the behaviour tier runs on a cluster."""
    data = r.mapping(raw, "exercise", EXERCISE_KINDS)
    out = {}
    for key, names in data.items():
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise r.fail(f"exercise.{key}", "must be a list of object names")
        out[key] = tuple(names)
    return out


def _rules(r: _Reader, raw: Any) -> dict[str, RuleSetting]:
    """rules: {<rule id>: {enabled: bool, severity: blocker|critical|normal|minor}}.

    Rule ids are checked against the registry by conformance.rules (which imports this module).
    """
    out = {}
    for rule_id, setting in r.mapping(raw, "rules").items():
        where = f"rules.{rule_id}"
        data = r.mapping(setting, where, ("enabled", "severity"))
        severity = data.get("severity")
        if severity is not None and severity not in SEVERITIES:
            raise r.fail(f"{where}.severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
        enabled = r.boolean(data["enabled"], f"{where}.enabled") if "enabled" in data else None
        out[rule_id] = RuleSetting(enabled, severity, f"{r.path}: {where}")
    return out


def _layer(path: Path) -> dict[str, Any]:
    """One file's sections as Policy keyword arguments (only what it sets)."""
    r = _Reader(path)
    data = _read_file(path)
    out: dict[str, Any] = {}
    if data.get("slo") is not None:
        out["slo"] = _slo(r, data["slo"])
    if data.get("observability") is not None:
        out["observability"] = _observability(r, data["observability"])
    if data.get("capacity") is not None:
        out["capacity"] = _capacity(r, data["capacity"])
    if data.get("org") is not None:
        _org(r, data["org"], out)
    if data.get("load") is not None:
        out["load"] = _load(r, data["load"])
    if data.get("exemptions") is not None:
        out["exemptions"] = _exemptions(r, data["exemptions"])
    if data.get("provided") is not None:
        out["provided"] = _provided(r, data["provided"])
    if data.get("pod_operators") is not None:
        out["pod_operators"] = _pod_operators(r, data["pod_operators"])
    if data.get("exercise") is not None:
        out["exercise"] = _exercise(r, data["exercise"])
    if data.get("charts") is not None:
        out["charts"] = _charts(r, data["charts"])
    out["rules"] = _rules(r, data["rules"]) if data.get("rules") is not None else {}
    return out


def load_policy(path: Path | None = None) -> Policy:
    """The baseline, overlaid with `path` when given. Raises PolicyError naming the file and field."""
    layers = [BASELINE] if path is None or path.resolve() == BASELINE else [BASELINE, path]
    merged: dict[str, Any] = {}
    rules: dict[str, RuleSetting] = {}
    for layer in layers:
        values = _layer(layer)
        for rule_id, setting in values.pop("rules").items():
            old = rules.get(rule_id, RuleSetting())
            rules[rule_id] = RuleSetting(
                setting.enabled if setting.enabled is not None else old.enabled,
                setting.severity or old.severity,
                setting.source,
            )
        merged.update(values)  # sections replace whole: a layer states a section completely
    if merged.get("services") and not merged.get("namespace"):
        raise PolicyError(
            f"{layers[-1]}: org.services needs org.namespace (the namespace the services run in)"
        )
    return Policy(path=layers[-1], rules=rules, layers=tuple(layers), **merged)


def is_policy_file(path: Path) -> bool:
    """Whether `path` is meant as a conformance policy: YAML that is not a Kubernetes manifest.

    A team's `policy.yaml` may be a Kyverno or Gatekeeper manifest: that is an input, not ours.
    A broken or misspelt policy still counts as one, so its error is reported, never ignored.
    """
    try:
        docs = list(iter_documents(path.read_bytes(), Source(str(path), 0)))
    except OSError:
        return False
    return not any(isinstance(d, dict) and "apiVersion" in d and "kind" in d for _, d in docs)


__all__ = [
    "BASELINE",
    "EXERCISE_KINDS",
    "Exemption",
    "Observability",
    "PodOperator",
    "Policy",
    "PolicyError",
    "RuleSetting",
    "ServicePolicy",
    "Slo",
    "is_policy_file",
    "load_policy",
]
