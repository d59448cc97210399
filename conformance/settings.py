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
from .tools import REPO


@dataclass(frozen=True)
class Option:
    name: str  # attribute of Settings
    flag: str
    env: str
    help: str
    default: str | None = None


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
        "policy/SLO source of truth (default: <manifests>/policy.yaml, else the platform's)",
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
        "kind_node_image",
        "--kind-node-image",
        "CONFORMANCE_KIND_NODE_IMAGE",
        "node image for the `kind` provider (default: the pinned kind's own default)",
    ),
    Option(
        "agnhost_image",
        "--agnhost-image",
        "CONFORMANCE_AGNHOST_IMAGE",
        "agnhost image the `kind`/`existing` providers run for CPU load and connection probes",
        "registry.k8s.io/e2e-test-images/agnhost:2.53",
    ),
    Option(
        "data_plane",
        "--data-plane",
        "CONFORMANCE_DATA_PLANE",
        "on/off: the `local` provider's data plane (network namespaces + kube-router; needs root)",
        "on",
    ),
)


@dataclass(frozen=True)
class Settings:
    manifests: Path
    profiles: tuple[str, ...]
    run_profile: str
    policy: Path
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
    agnhost_image: str = ""
    data_plane: bool = True

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
        policy = raw["policy"]
        if policy is None:
            local = (manifests if manifests.is_dir() else manifests.parent) / "policy.yaml"
            policy = str(local if local.is_file() else REPO / "manifests" / "policy.yaml")
        crds = raw["crd_schemas"]
        today = dt.date.fromisoformat(raw["today"]) if raw["today"] else dt.date.today()
        return cls(
            manifests=manifests,
            profiles=tuple(p.strip() for p in str(raw["profiles"]).split(",") if p.strip()),
            run_profile=str(raw["run_profile"]),
            policy=Path(policy).expanduser().resolve(),
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
            agnhost_image=raw["agnhost_image"] or "",
            data_plane=str(raw["data_plane"]).strip().lower() not in ("off", "0", "false", "no"),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from env vars and defaults only (for scripts and `python -m conformance`)."""
        return cls.resolve(lambda _name: None, environ)
