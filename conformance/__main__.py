"""Command line: `python -m conformance doctor|catalogue|static`.

doctor     every tool, its version (reported vs pinned), path; where schemas come from
catalogue  the rule catalogue (Markdown) generated from the registry
static     the static tier as a CI gate (what `make static` runs): `static [PATH] [flags]`, PATH (a
           first argument that is no flag) is --manifests; every other argument goes to pytest
           (`--fail-on normal --sarif out.sarif ...`); exit 0 clean, 1 findings, 2 or more: the
           tier could not judge (see README, "The static tier as a CI gate")

Installed (`pip install .`), the same entry point is the `conformance` command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import tools
from .errors import InfraError, ToolMissing

if TYPE_CHECKING:
    from .settings import Settings

# The static tier's pytest command: `make static` and CI run this and nothing else. The tiers do not
# use hypothesis (its plugin alone costs ~0.6 s of start-up); `-p conformance.plugin` makes the
# suite's options known before pytest looks for conftest.py files, so `--manifests ../their-repo`
# is never taken for a test path.
STATIC_PYTEST = ("-m", "pytest", "-p", "no:hypothesispytest", "-p", "conformance.plugin")
STATIC_SUITE = Path(__file__).resolve().parent / "suites" / "static"
# What every static run calls (kubectl only for kustomizations, promtool only for alert rules: those
# report their own absence as a broken check). The installed command checks them up front, so that
# without the tools it says what to do in one line instead of failing every check.
STATIC_TOOLS = ("helm", "kubeconform")


def _pins() -> dict[str, str]:
    pins = dict(tools.pinned_versions())
    for tool in tools.TOOLS:
        if tool.pin.startswith("lock:"):
            pins[tool.pin] = tools.locked_version(tool.pin.removeprefix("lock:"))
    # controller-gen's pin is its wrapper module's requirement.
    gomod = tools.REPO / "tools" / "go" / "controller-gen" / "go.mod"
    for line in gomod.read_text().splitlines() if gomod.is_file() else []:
        if line.split()[:1] == ["sigs.k8s.io/controller-tools"]:
            pins["CONTROLLER_GEN_VERSION"] = line.split()[1]
    return pins


def doctor() -> int:
    from .cluster.dataplane import unavailable
    from .settings import Settings

    pins = _pins()
    settings = Settings.from_env()
    missing = 0
    print(f"{'tool':<24} {'version':<20} {'pinned':<20} path")
    for tool in tools.TOOLS:
        name, key = tool.name, tool.pin
        pinned = pins.get(key, key if key.startswith("machine ") else "-")
        try:
            path = str(tools.find(name))
        except ToolMissing as err:
            optional = key.startswith("machine ")  # only the data plane needs it; it stays off
            missing += 0 if optional else 1
            print(f"{name:<24} {'MISSING':<20} {pinned:<20} {err}" + (" (optional)" if optional else ""))
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
    missing += _doctor_crds(settings)
    why = unavailable(tools.TOOLS_BIN)
    print(f"data plane:    {'available' if why is None else 'off: ' + why} (local provider)")
    print(f"kind node:     {_kind_node(settings)}")
    print(f"manifests:     {settings.manifests}")
    print(f"policy:        {settings.policy_label}")
    if missing:
        print(f"\n{missing} tool(s) missing: run `make tools`.", file=sys.stderr)
    return 1 if missing else 0


def _kind_node(settings: Settings) -> str:
    """The kind provider's node image: the user's (--kind-node-image), else the project's offline
    build for this checkout (cached or not yet built: `make kind-node`, only when kind is used)."""
    if settings.kind_node_image:
        return f"{settings.kind_node_image} (--kind-node-image; the suite's own images loaded into it)"
    from .cluster.kind import BUILD_SCRIPT

    try:
        out = subprocess.run(
            [str(BUILD_SCRIPT), "--print"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError) as err:
        return f"unknown ({BUILD_SCRIPT.name} --print failed: {err}; `make tools` first)"
    folder, tag = Path(out[0]), out[1]
    if (folder / "node.tar").is_file():
        return f"{tag} (built, {folder})"
    return f"{tag} not built yet: `make kind-node` (root, ~11 min cold; only for --provider kind)"


def _doctor_crds(settings: Settings) -> int:
    """Print where CRDs and the API lifecycle table come from; 1 per missing part."""
    from .schema.api_lifecycle import LifecycleTable
    from .schema.crds import Catalogue

    missing = 0
    catalogue = Catalogue.load(settings.schemas / "crds")
    if not catalogue.sources:
        missing += 1
        print(f"CRDs:          MISSING in {catalogue.root}: run `make tools`")
    else:
        print(f"CRDs:          generated by `make tools` into {catalogue.root}:")
        for source in catalogue.sources:
            count = len(list((source.path / "crds").glob("*.json")))
            print(f"  {source.name:<24} {count:>3} CRDs  {source.describe()}")
    extra = ", ".join(f"{p}{'' if p.is_dir() else ' (MISSING)'}" for p in settings.crd_schemas) or "none"
    print(f"extra CRD schemas: {extra} (--crd-schemas / CONFORMANCE_CRD_SCHEMAS)")
    try:
        table = LifecycleTable.load(settings.schemas / "api-lifecycle")
    except InfraError as err:
        print(f"API lifecycle: MISSING: {err}")
        return missing + 1
    removed = sum(
        1
        for a in table.apis.values()
        if (v := table.verdict(a.api_version, a.kind, settings.k8s_version)) and v.removed
    )
    print(
        f"API lifecycle: {len(table.apis)} deprecated/removed APIs from {', '.join(table.sources)}; "
        f"{removed} removed by Kubernetes {settings.k8s_version} (--k8s-version)"
    )
    return missing


def catalogue() -> int:
    from .policy import load_policy
    from .rules import load_all
    from .rules.registry import POLICY_DATA

    rules = load_all()
    baseline = load_policy(None)
    print("# Rule catalogue\n")
    print(
        "Generated from the rule registry by `make catalogue` (`python -m conformance catalogue`); "
        "do not edit by hand.\n"
    )
    print(f"{len(rules)} rules. Fixtures: `fixtures/rules/<id>/good|bad/`.\n")
    print(
        "`baseline`: on or off in the built-in baseline policy (conformance/baseline-policy.yaml); a policy "
        "file switches any rule with `rules: {<id>: {enabled: true|false, severity: ...}}`. `needs`: policy "
        "data without which the rule does not apply (it is skipped with the reason).\n"
    )
    for family in sorted({r.family for r in rules.values()}):
        print(f"## {family}\n")
        print("| id | severity | baseline | needs | scope | kinds | description | remediation |")
        print("|---|---|---|---|---|---|---|---|")
        for rule in sorted((r for r in rules.values() if r.family == family), key=lambda r: r.id):
            kinds = ", ".join(rule.kinds) or "any"
            setting = baseline.rules.get(rule.id)
            state = "off" if setting is not None and setting.enabled is False else "on"
            needs = "; ".join(
                " or ".join(POLICY_DATA.get(o, o) for o in ((n,) if isinstance(n, str) else n))
                for n in rule.requires
            )
            print(
                f"| `{rule.id}` | {rule.severity.value} | {state} | {needs or '-'} | {rule.scope} | "
                f"{kinds} | {rule.description} | {rule.remediation} |"
            )
        print()
    from .rules.parity import markdown

    print(markdown(), end="")
    return 0


def static(pytest_args: list[str]) -> int:
    """Run the static tier (pytest in a child process) and return its exit status unchanged.

    0 clean; 1 findings at or above --fail-on; 2 the tier could not judge (a tool missing or failing,
    a check that crashed, a tier that checked nothing, an interrupted run); 3 pytest's internal error;
    4 a usage error (an unknown flag, a bad option value, --manifests that does not exist).
    """
    missing = _missing_tools()
    if missing is not None:
        print(f"conformance: {missing}", file=sys.stderr)
        return 2  # could not judge: as a tool missing inside the run
    if pytest_args[:1] and not pytest_args[0].startswith("-"):
        pytest_args = ["--manifests", *pytest_args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tools.REPO), env.get("PYTHONPATH")) if p)
    env["PATH"] = os.pathsep.join(
        (str(tools.TOOLS_BIN), str(tools.REPO / ".venv" / "bin"), env.get("PATH", ""))
    )
    proc = subprocess.Popen([sys.executable, *STATIC_PYTEST, str(STATIC_SUITE), *pytest_args], env=env)
    while True:
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            continue  # the child has the same signal and ends on its own (exit 2: interrupted)
        return code if code >= 0 else 128 - code  # killed by a signal: the shell's 128+N


def _missing_tools() -> str | None:
    """Installed (no checkout around the package): one line naming the static tier's tools missing
    from TOOLS_BIN and how to get them, or None. A checkout's run reports them itself, as a broken
    check that says `make tools` (what `make static` has always printed)."""
    if (tools.REPO / "tools" / "install.sh").is_file():
        return None
    missing = [name for name in STATIC_TOOLS if not os.access(tools.TOOLS_BIN / name, os.X_OK)]
    if not missing:
        return None
    return (
        f"{', '.join(missing)} not found in {tools.TOOLS_BIN} (TOOLS_BIN): install the pinned tools with "
        "`TOOLS_TIER=static tools/install.sh` in a checkout of this suite, then set "
        "TOOLS_BIN=<checkout>/.tools/bin and CONFORMANCE_SCHEMAS=<checkout>/.tools/schemas"
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["static"]:  # everything after it is pytest's (argparse would take --help etc.)
        return static(args[1:])
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["doctor", "catalogue", "static"])
    parsed = parser.parse_args(args)
    return doctor() if parsed.command == "doctor" else catalogue()


if __name__ == "__main__":
    sys.exit(main())
