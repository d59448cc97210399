"""The single source of truth for SLOs and org-policy parameters (policy.yaml)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inventory.loader import iter_documents
from .inventory.model import Problem, Source


class PolicyError(ValueError):
    """policy.yaml is missing a field or has a wrong value; names file and field."""


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
class Policy:
    path: Path
    slo: Slo
    capacity: dict[str, Any]
    namespace: str
    required_labels: tuple[str, ...]
    critical_priority_class: str
    scale_up: tuple[int, int]  # (percent, periodSeconds)
    scale_down: tuple[int, int]
    required_metrics: tuple[str, ...] | dict[str, tuple[str, ...]]  # one list, or one per profile
    services: dict[str, ServicePolicy]
    load: dict[str, Any]
    exemptions: tuple[Exemption, ...] = field(default_factory=tuple)
    # org.hpa.profiles.<profile>.scale_up|scale_down overrides, e.g. {"ci": {"scale_down": (10, 15)}}
    scaling_overrides: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    provided: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # objects operators create
    # org.hpa.<direction>.stabilization_window_seconds (and per profile): {"ci": {"scale_down": 15}}
    windows: dict[str, dict[str, int]] = field(default_factory=dict)
    # `exercise`: the objects the behaviour tier exercises, by kind ("hpa", "pdb") -> names.
    # Unset: the tier picks from the inventory itself (see suites/behaviour/exercise.py).
    exercise: dict[str, tuple[str, ...]] = field(default_factory=dict)
    observability: Observability | None = None  # absent: no generated alert tests

    @property
    def entry_service(self) -> ServicePolicy | None:
        """The service marked `entry: true` (the API gateway), if any."""
        return next((s for s in self.services.values() if s.entry), None)

    def scaling(self, profile: str, direction: str) -> tuple[int, int]:
        """(percent, periodSeconds) of `direction` ("scale_up"/"scale_down") for a profile."""
        default = self.scale_up if direction == "scale_up" else self.scale_down
        return self.scaling_overrides.get(profile, {}).get(direction, default)

    def window(self, profile: str, direction: str) -> int | None:
        """stabilizationWindowSeconds policy.yaml sets for `direction` in `profile`, if it sets one."""
        return self.windows.get(profile, self.windows.get("", {})).get(direction)

    def exemption_for(self, rule: str, object_ref: str) -> Exemption | None:
        """The exemption of `rule` whose object (Kind/namespace/name, `*` globs allowed) matches."""
        for ex in self.exemptions:
            if ex.rule == rule and fnmatch.fnmatchcase(object_ref, ex.object):
                return ex
        return None


def _get(data: Any, dotted: str, path: Path, kind: type | tuple[type, ...]) -> Any:
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise PolicyError(f"{path}: missing field {dotted}")
        node = node[part]
    if isinstance(node, bool) and kind in (int, float, (int, float)):
        raise PolicyError(f"{path}: field {dotted} must be a number, got {node!r}")
    if not isinstance(node, kind):
        raise PolicyError(f"{path}: field {dotted} has the wrong type ({type(node).__name__})")
    return node


def _scaling(data: Any, where: str, path: Path) -> tuple[int, int]:
    """(percent, period_seconds) at the dotted path `where`, both positive."""
    percent = _get(data, f"{where}.percent", path, int)
    period = _get(data, f"{where}.period_seconds", path, int)
    if percent <= 0 or period <= 0:
        raise PolicyError(f"{path}: {where} needs a positive percent and period_seconds")
    return int(percent), int(period)


def _metrics(raw: list[Any] | dict[str, Any]) -> tuple[str, ...] | dict[str, tuple[str, ...]]:
    if isinstance(raw, dict):
        return {str(profile): tuple(map(str, names or ())) for profile, names in raw.items()}
    return tuple(map(str, raw))


def load_policy(path: Path) -> Policy:
    """Read and check policy.yaml. Raises PolicyError naming the file and field."""
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
    num = (int, float)
    slo = Slo(**{k: float(_get(data, f"slo.{k}", path, num)) for k in Slo.__dataclass_fields__})
    services = {}
    for name, svc in _get(data, "org.services", path, dict).items():
        prefix = f"org.services.{name}"
        bounds = {}
        for profile, b in svc.items():
            if isinstance(b, dict):
                lo = _get(svc, f"{profile}.min", path, int)
                hi = _get(svc, f"{profile}.max", path, int)
                if lo > hi:
                    raise PolicyError(f"{path}: {prefix}.{profile}: min {lo} is above max {hi}")
                bounds[profile] = (lo, hi)
        services[name] = ServicePolicy(
            name=name,
            critical=bool(_get(data, f"{prefix}.critical", path, bool)),
            rps_per_pod=float(_get(data, f"{prefix}.rps_per_pod", path, num)),
            bounds=bounds,
            entry=svc.get("entry") is True,
        )
    entries = [name for name, svc in services.items() if svc.entry]
    if len(entries) > 1:
        raise PolicyError(f"{path}: only one service can be `entry: true`, found {', '.join(entries)}")
    exemptions = []
    for i, ex in enumerate(data.get("exemptions") or []):
        where = f"exemptions[{i}]"
        if not isinstance(ex, dict):
            raise PolicyError(f"{path}: {where} must be a mapping")
        missing = [k for k in ("rule", "object", "owner", "reason", "expires") if not ex.get(k)]
        if missing:
            raise PolicyError(
                f"{path}: {where} is missing {', '.join(missing)} (every exemption needs all five)"
            )
        try:
            expires = dt.date.fromisoformat(str(ex["expires"]))
        except ValueError:
            raise PolicyError(f"{path}: {where}.expires {ex['expires']!r} is not a YYYY-MM-DD date") from None
        exemptions.append(
            Exemption(str(ex["rule"]), str(ex["object"]), str(ex["owner"]), str(ex["reason"]), expires)
        )
    up = _scaling(data, "org.hpa.scale_up", path)
    down = _scaling(data, "org.hpa.scale_down", path)
    overrides: dict[str, dict[str, tuple[int, int]]] = {}
    windows: dict[str, dict[str, int]] = {"": _windows(data, "org.hpa", path)}
    for profile, entry in (_get(data, "org.hpa", path, dict).get("profiles") or {}).items():
        where = f"org.hpa.profiles.{profile}"
        if not isinstance(entry, dict):
            raise PolicyError(f"{path}: {where} must be a mapping")
        overrides[str(profile)] = {
            key: _scaling(data, f"{where}.{key}", path) for key in ("scale_up", "scale_down") if key in entry
        }
        windows[str(profile)] = {**windows[""], **_windows(data, where, path)}
    return Policy(
        path=path,
        slo=slo,
        capacity=_get(data, "capacity", path, dict),
        namespace=str(_get(data, "org.namespace", path, str)),
        required_labels=tuple(_get(data, "org.required_labels", path, list)),
        critical_priority_class=str(_get(data, "org.critical_priority_class", path, str)),
        scale_up=up,
        scale_down=down,
        scaling_overrides=overrides,
        required_metrics=_metrics(_get(data, "org.hpa.required_metrics", path, (list, dict))),
        services=services,
        load=_get(data, "load", path, dict),
        exemptions=tuple(exemptions),
        provided=tuple(_provided(data.get("provided") or [], path)),
        windows=windows,
        exercise=_exercise(data.get("exercise"), path),
        observability=_observability(data, path) if "observability" in data else None,
    )


_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _observability(data: Any, path: Path) -> Observability:
    raw_for = str(_get(data, "observability.alert_for", path, str))
    match = _DURATION.match(raw_for)
    if match is None or int(match.group(1)) <= 0:
        raise PolicyError(f"{path}: observability.alert_for {raw_for!r} is not a positive duration like 5m")
    severity = _get(data, "observability.alert_severity", path, dict)
    if not all(isinstance(v, str) and v for v in severity.values()):
        raise PolicyError(f"{path}: observability.alert_severity maps each slo key to a severity name")
    return Observability(
        requests_metric=str(_get(data, "observability.metrics.requests", path, str)),
        latency_metric=str(_get(data, "observability.metrics.latency", path, str)),
        alert_for_s=int(match.group(1)) * _UNIT_S[match.group(2)],
        alert_severity={str(k): str(v) for k, v in severity.items()},
    )


def _windows(data: Any, where: str, path: Path) -> dict[str, int]:
    """{direction: stabilization_window_seconds} set under `where`.scale_up / .scale_down."""
    out = {}
    for direction in ("scale_up", "scale_down"):
        node = _get(data, where, path, dict).get(direction)
        if isinstance(node, dict) and "stabilization_window_seconds" in node:
            value = _get(data, f"{where}.{direction}.stabilization_window_seconds", path, int)
            if value < 0:
                raise PolicyError(f"{path}: {where}.{direction}.stabilization_window_seconds must be >= 0")
            out[direction] = int(value)
    return out


EXERCISE_KINDS = ("hpa", "pdb")


def _exercise(raw: Any, path: Path) -> dict[str, tuple[str, ...]]:
    """`exercise: {hpa: [names], pdb: [names]}`: what the behaviour tier runs on a cluster."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: exercise must be a mapping of {'/'.join(EXERCISE_KINDS)} to names")
    out = {}
    for key, names in raw.items():
        if key not in EXERCISE_KINDS:
            raise PolicyError(f"{path}: unknown key exercise.{key} (known: {', '.join(EXERCISE_KINDS)})")
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise PolicyError(f"{path}: exercise.{key} must be a list of object names")
        out[str(key)] = tuple(names)
    return out


def _provided(items: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise PolicyError(f"{path}: provided must be a list of partial manifests")
    for i, item in enumerate(items):
        meta = item.get("metadata") if isinstance(item, dict) else None
        if (
            not isinstance(meta, dict)
            or not all(isinstance(item.get(k), str) for k in ("apiVersion", "kind"))
            or not isinstance(meta.get("name"), str)
        ):
            raise PolicyError(f"{path}: provided[{i}] needs apiVersion, kind and metadata.name")
    return list(items)


__all__ = ["Exemption", "Observability", "Policy", "PolicyError", "ServicePolicy", "Slo", "load_policy"]
