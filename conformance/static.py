"""The static tier, pytest-free: inventory -> schema results -> rule outcomes, per target.

    run = run_static(settings)            # one StaticTarget per profile
    for target in run.targets: ...

The pytest suite only turns these results into test items; benchmarks and
`python -m conformance static` use the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from .errors import InfraError
from .inventory import Inventory, build_inventory
from .policy import Policy, PolicyError, load_policy
from .rules import Context, RuleOutcome, evaluate
from .schema.kubeconform import SchemaLocations, SchemaResult, validate
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
    locations = SchemaLocations.for_version(settings.schemas, settings.k8s_version, settings.crd_schemas)
    targets = []
    for profile in settings.profiles:
        inventory = build_inventory(settings.manifests, profile, namespace, settings.limits)
        target = StaticTarget(profile, inventory)
        target.schema = validate(inventory.objects, locations)
        if policy is not None:
            target.outcomes = evaluate(Context(inventory, policy, profile, settings.today))
        targets.append(target)
    return StaticRun(settings, policy, policy_error, targets)


@cache
def cached_run(settings: Settings) -> StaticRun | InfraError:
    """One run per settings per process (collection and tests share it)."""
    try:
        return run_static(settings)
    except InfraError as err:
        return err
