"""One cached run of the alert checks for the static tier (collection and tests share it).

run = alerts_run(settings)     # AlertsRun, or the InfraError that stopped it
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..errors import InfraError
from ..inventory.model import K8sObject
from ..policy import Policy
from ..settings import Settings
from ..static import cached_run
from . import promtool
from .dashboards import Dashboard, dashboards
from .generate import Case, Generator, write_tests
from .promtool import CheckResult, Inspected, UnitResult
from .rulefiles import RuleFile, prometheus_rules, recorded_names, write_rule_files


@dataclass
class RuleSet:
    """The PrometheusRules of one profile (profiles with identical rules share one set)."""

    profiles: tuple[str, ...]
    files: list[RuleFile]
    checks: dict[Path, CheckResult] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    results: dict[str, UnitResult] = field(default_factory=dict)
    dashboards: list[Dashboard] = field(default_factory=list)
    parsed: dict[str, Inspected] = field(default_factory=dict)  # promql -> parse
    recorded: set[str] = field(default_factory=set)


@dataclass
class AlertsRun:
    policy: Policy | None
    sets: list[RuleSet]
    seconds: float = 0.0
    workdir: Path | None = None

    def prefix(self, rule_set: RuleSet) -> str:
        """Item-id prefix: empty when all profiles share one rule set."""
        return "" if len(self.sets) == 1 else f"{'+'.join(rule_set.profiles)}-"


def _fingerprint(objects: list[K8sObject]) -> str:
    return json.dumps([o.body for o in objects], sort_keys=True, default=str)


@cache
def alerts_run(settings: Settings) -> AlertsRun | InfraError:
    try:
        return _run(settings)
    except InfraError as err:
        return err


def _run(settings: Settings) -> AlertsRun:
    began = time.monotonic()
    static = cached_run(settings)
    if isinstance(static, InfraError):
        raise static
    # Kept for the session: Allure attachments and failure messages point at these files.
    workdir = Path(tempfile.mkdtemp(prefix="conformance-alerts-"))
    atexit.register(shutil.rmtree, workdir, True)
    groups: dict[str, tuple[list[str], list[K8sObject]]] = {}
    for target in static.targets:
        objects = [o for o in target.inventory.objects if o.kind in ("PrometheusRule", "ConfigMap")]
        profiles, _ = groups.setdefault(_fingerprint(objects), ([], objects))
        profiles.append(target.profile)
    sets = []
    for i, (profiles, objects) in enumerate(groups.values()):
        folder = workdir / f"set{i}"
        rule_set = RuleSet(tuple(profiles), write_rule_files(prometheus_rules(objects), folder / "rules"))
        rule_set.checks = promtool.check_rules([f.path for f in rule_set.files])
        rule_set.recorded = recorded_names(rule_set.files)
        rule_set.dashboards = dashboards(objects)
        exprs = sorted({q.promql for d in rule_set.dashboards for q in d.queries})
        rule_set.parsed = dict(zip(exprs, promtool.inspect(exprs), strict=True))
        if static.policy is not None and rule_set.files:
            rule_set.cases = Generator(static.policy, rule_set.files).cases()
            broken = [
                f"{f.obj.ref} ({f.obj.source.path})" for f in rule_set.files if not rule_set.checks[f.path].ok
            ]
            if broken:
                # promtool cannot load the rules: every case fails, pointing at the check that says why.
                text = f"the rule files do not load: promtool check rules fails for {', '.join(broken)}"
                rule_set.results = {c.test_name: UnitResult(c.test_name, False, text) for c in rule_set.cases}
            else:
                tests = write_tests(rule_set.cases, rule_set.files, folder)
                rule_set.results, _ = promtool.test_rules(tests, folder / "promtool-junit.xml")
        sets.append(rule_set)
    return AlertsRun(static.policy, sets, time.monotonic() - began, workdir)
