"""The static tier, pytest-free: inventory -> schema results -> rule outcomes, per target.

    run = run_static(settings)            # one StaticTarget per profile
    for target in run.targets: ...

The pytest suite only turns these results into test items; benchmarks and
`python -m conformance static` use the same code.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .errors import InfraError
from .inventory import (
    InputFile,
    Inventory,
    K8sObject,
    Problem,
    Source,
    load_inputs,
    prepare_inputs,
    to_inventory,
)
from .netpol import DeclaredFlow, default_flows_path, load_flows
from .policy import Policy, PolicyError, load_policy
from .rules import Context, RuleOutcome, evaluate
from .schema.kubeconform import SchemaCheck, SchemaLocations, SchemaResult
from .settings import Settings


@dataclass
class StaticTarget:
    profile: str
    inventory: Inventory
    schema: list[SchemaResult] = field(default_factory=list)
    outcomes: list[RuleOutcome] = field(default_factory=list)


@dataclass
class StaticRun:
    settings: Settings
    policy: Policy | None
    policy_error: str | None
    targets: list[StaticTarget]


def run_static(settings: Settings) -> StaticRun:
    """Render, schema-check and evaluate every profile. Raises InfraError if a tool fails."""
    try:
        policy: Policy | None = load_policy(settings.policy)
        policy_error = None
    except PolicyError as err:
        policy, policy_error = None, str(err)
    namespace = policy.namespace if policy else "default"
    locations = SchemaLocations.from_settings(settings)
    targets = check_targets(settings, settings.profiles, namespace, policy, locations)
    return StaticRun(settings, policy, policy_error, targets)


def check_targets(
    settings: Settings,
    profiles: tuple[str, ...],
    namespace: str,
    policy: Policy | None,
    locations: SchemaLocations,
) -> list[StaticTarget]:
    """All profiles with one kubeconform run that reads the files while Python parses them.

    Plain files are the same for every profile: they are loaded and schema-checked once
    and shared; only chart renders differ per profile.
    """
    with tempfile.TemporaryDirectory(prefix="conformance-static-") as tmp:
        prepared = []
        shared: dict[Path, InputFile] = {}
        for profile in profiles:
            inputs, problems = prepare_inputs(
                settings.manifests, profile, namespace, Path(tmp), settings.limits
            )
            inputs = [shared.setdefault(i.disk, i) if i.chart is None else i for i in inputs]
            prepared.append((profile, inputs, problems))
        unique = list({id(i): i for _, inputs, _ in prepared for i in inputs}.values())
        check = SchemaCheck.start(unique, locations)
        load_inputs(unique, namespace, settings.limits)
        flows, flows_problem = declared_flows(settings.manifests)
        targets = []
        for profile, inputs, problems in prepared:
            target = StaticTarget(profile, to_inventory(profile, inputs, problems))
            if flows_problem is not None:
                target.inventory.problems.append(flows_problem)
            if policy is not None:
                target.inventory.objects += provided_objects(policy)
                target.outcomes = evaluate(Context(target.inventory, policy, profile, settings.today, flows))
            target.schema = check.finish(inputs)
            targets.append(target)
    return targets


def declared_flows(manifests: Path) -> tuple[tuple[DeclaredFlow, ...] | None, Problem | None]:
    """flows.yaml beside the manifests: (flows, None); (None, None) without one; (None, problem) if broken."""
    path = default_flows_path(manifests)
    if not path.is_file():
        return None, None
    try:
        return tuple(load_flows(path)), None
    except (OSError, ValueError) as err:
        return None, Problem(Source(str(path), 0), f"declared flows do not load: {err}")


def provided_objects(policy: Policy) -> list[K8sObject]:
    """Stand-ins for objects operators create at run time (policy.yaml `provided`)."""
    rel = policy.path.name
    return [
        K8sObject(body, Source(f"{rel} provided", i), "default", provided=True)
        for i, body in enumerate(policy.provided)
    ]


@cache
def cached_run(settings: Settings) -> StaticRun | InfraError:
    """One run per settings per process (collection and tests share it)."""
    try:
        return run_static(settings)
    except InfraError as err:
        return err
