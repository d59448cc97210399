"""The static tier, pytest-free: inventory -> schema results -> rule outcomes, per target.

    run = run_static(settings)            # one StaticTarget per profile and environment
    for target in run.targets: ...
    verdicts = merged(run)                # the same, each finding once across targets

A target is one profile of one environment: each chart root and each kustomization root the
input holds (overlays dev/staging/prod are three). Plain files outside them are applied beside
every environment, so they join every target (kubeconform still reads each file once); an input
with no chart and no kustomization is one environment, its plain files. Cross-object rules,
duplicates and PDB-workload pairing see one target at a time. With one environment a target is
named by its profile ("prod"), else "prod · overlays/dev"; findings name the targets they are in.

The pytest suite only turns these results into test items; benchmarks, the
SARIF/annotation writers and the summary use the same code.
"""

from __future__ import annotations

import functools
import gc
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import InfraError
from .inventory import (
    Discovery,
    InputFile,
    Inventory,
    K8sObject,
    Problem,
    Source,
    build_inventory,
    chart_inputs,
    discover_inputs,
    environment_label,
    environments,
    in_environment,
    load_inputs,
    shared_inputs,
    to_inventory,
)
from .inventory.locate import save_positions
from .inventory.render import merge_values
from .netpol import DeclaredFlow, default_flows_path, load_flows
from .policy import BASELINE, SEVERITIES, Exemption, Policy, PolicyError, load_policy
from .rules import Context, Finding, Rule, RuleOutcome, evaluate, load_all
from .rules.registry import configured, disabled_rules, evaluate_profiles, locate_findings
from .schema import SCHEMA_RULE
from .schema.kubeconform import SchemaCheck, SchemaResult, Status
from .schema.locations import SchemaLocations
from .settings import Settings

T = TypeVar("T")


TARGET_SEP = " · "  # between profile and environment in a target's name: "prod · overlays/dev"


@dataclass
class StaticTarget:
    """What is checked together: one profile of one environment (a chart or kustomization root,
    with the plain files beside it)."""

    profile: str
    inventory: Inventory
    schema: list[SchemaResult] = field(default_factory=list)
    outcomes: list[RuleOutcome] = field(default_factory=list)
    # The environment's root relative to the input, when the input has several; None with one.
    environment: str | None = None

    @property
    def name(self) -> str:
        return target_name(self.profile, self.environment)


def target_name(profile: str, environment: str | None) -> str:
    """The profile ("prod"), or "prod · overlays/dev" when the input has several environments."""
    return profile if environment is None else f"{profile}{TARGET_SEP}{environment}"


@dataclass
class StaticRun:
    settings: Settings
    policy: Policy | None
    policy_error: str | None
    targets: list[StaticTarget]
    namespace: str | None = None  # what charts rendered into (None: helm's default)
    base: Path | None = None  # labels are relative to this folder
    disabled: list[tuple[str, str]] = field(default_factory=list)  # (rule id, where switched off)
    excluded: list[str] = field(default_factory=list)  # inputs matched by --exclude
    # The merged views below, computed once: tests, summary, SARIF and annotations all read them.
    views: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_objects(self) -> bool:
        return any(not o.provided for t in self.targets for o in t.inventory.objects)

    @property
    def left_out(self) -> list[tuple[str, str]]:
        """Files left out as not manifests, once (they are the same in every profile)."""
        return list(dict.fromkeys(pair for t in self.targets for pair in t.inventory.left_out))


def render_namespace(settings: Settings, policy: Policy | None) -> str | None:
    """Charts render into --namespace, else the policy's org.namespace, else helm's default."""
    return settings.namespace or (policy.namespace if policy is not None else None)


def render_inventory(settings: Settings, policy: Policy | None, profile: str | None = None) -> Inventory:
    """The inventory of one profile (default: the run profile) as the settings ask for it: the
    namespace charts render into, limits, exclusions, the target Kubernetes version."""
    return build_inventory(
        settings.manifests,
        profile or settings.run_profile,
        render_namespace(settings, policy),
        settings.limits,
        exclude=settings.exclude,
        kube_version=settings.k8s_version,
    )


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect garbage less often while the run builds its heap.

    A large input is millions of dicts and strings that live until the end; at the default
    thresholds the cycle collector walks them again and again (a quarter of a warm 10k-object
    run). Cycles are still collected, only less often.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run_static(settings: Settings) -> StaticRun:
    """Render, schema-check and evaluate every profile. Raises InfraError if a tool fails."""
    with _few_collections():
        return _run_static(settings)


def _run_static(settings: Settings) -> StaticRun:
    try:
        policy: Policy | None = load_policy(settings.policy)
        policy_error = None
    except PolicyError as err:
        policy, policy_error = None, str(err)
    disabled: list[tuple[str, str]] = []
    if policy is not None:
        _, unknown = configured(policy, load_all().values())
        policy_error = "; ".join(unknown) or None
        disabled = disabled_rules(policy)
    namespace = render_namespace(settings, policy)
    locations = SchemaLocations.from_settings(settings)
    targets, found = check_targets(settings, settings.profiles, namespace, policy, locations)
    return StaticRun(settings, policy, policy_error, targets, namespace, found.base, disabled, found.excluded)


def check_targets(
    settings: Settings,
    profiles: tuple[str, ...],
    namespace: str | None,
    policy: Policy | None,
    locations: SchemaLocations,
) -> tuple[list[StaticTarget], Discovery]:
    """One target per profile and environment, with one kubeconform run that reads the files
    while Python parses them.

    Plain files and kustomize builds are the same for every profile: they are loaded and
    schema-checked once and shared; only chart renders differ per profile. A plain file joins
    every environment's target, yet kubeconform reads it once and its results are shared.
    """
    skip = {}
    if policy is not None and policy.path != BASELINE:
        skip[policy.path] = "the conformance policy in use"
    flows, flows_problem = declared_flows(settings.manifests)
    if flows is not None or flows_problem is not None:
        skip[default_flows_path(settings.manifests)] = "the declared flows in use"
    found: Discovery = discover_inputs(settings.manifests, settings.exclude, skip)
    envs = environments(found)
    with tempfile.TemporaryDirectory(prefix="conformance-static-") as tmp:
        shared, shared_problems = shared_inputs(found, Path(tmp))
        per_profile: list[tuple[str, list[InputFile], list[Problem]]] = []
        values = merge_values(policy.charts if policy is not None else (), settings.chart_values)
        for profile in profiles:
            charts, problems = chart_inputs(
                found, profile, namespace, Path(tmp), settings.k8s_version, values=values
            )
            per_profile.append((profile, charts, problems))
        unique = shared + [i for _, charts, _ in per_profile for i in charts]
        check = SchemaCheck.start(unique, locations)
        load_inputs(unique, namespace, settings.limits, base=found.base)
        targets, inputs_of = [], []
        provided = provided_objects(policy) if policy is not None else []
        flows_problems = [flows_problem] if flows_problem is not None else []
        for profile, charts, problems in per_profile:
            for env in envs:
                inputs = [i for i in shared + charts if in_environment(found, env, i)]
                mine = [p for p in shared_problems + problems if in_environment(found, env, p)]
                inputs_of.append(inputs)
                # The environment is named only when there are several: one keeps today's names.
                where = environment_label(found, env) if len(envs) > 1 else None
                inventory = to_inventory(
                    target_name(profile, where),
                    inputs,
                    found.problems + mine + flows_problems,
                    found.left_out,
                )
                inventory.objects += provided
                targets.append(StaticTarget(profile, inventory, environment=where))
        if policy is not None:  # while kubeconform still runs
            rendered = {t.name for t, inputs in zip(targets, inputs_of, strict=True) if _has_chart(inputs)}
            for env_targets in _by_environment(targets):
                contexts = [
                    Context(t.inventory, policy, t.profile, settings.today, flows) for t in env_targets
                ]
                if any(t.name in rendered for t in env_targets):
                    outcomes = [evaluate(ctx) for ctx in contexts]
                else:  # every profile has the same objects: rules that ignore the profile run once
                    outcomes = evaluate_profiles(contexts)
                for target, found_outcomes in zip(env_targets, outcomes, strict=True):
                    target.outcomes = found_outcomes
        for target, inputs in zip(targets, inputs_of, strict=True):
            target.schema = check.finish(inputs)
    locate_findings(f for t in targets for o in t.outcomes for f in o.located())
    save_positions()
    return targets, found


def _by_environment(targets: list[StaticTarget]) -> list[list[StaticTarget]]:
    """The targets of each environment (one per profile), environments in their first order."""
    groups: dict[str | None, list[StaticTarget]] = {}
    for target in targets:
        groups.setdefault(target.environment, []).append(target)
    return list(groups.values())


def _has_chart(inputs: list[InputFile]) -> bool:
    """A chart render differs per profile; plain files and kustomize builds do not."""
    return any(i.kind == "chart" for i in inputs)


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


def fails_the_run(settings: Settings, rule: Rule) -> bool:
    """Whether a rule's findings fail the tier: its severity (the policy's, if it sets one) is at or
    above --fail-on. Below it, findings are reported and pass."""
    return SEVERITIES.index(rule.severity.value) <= SEVERITIES.index(settings.fail_on)


@cache
def cached_run(settings: Settings) -> StaticRun | InfraError:
    """One run per settings per process (collection and tests share it)."""
    try:
        return run_static(settings)
    except InfraError as err:
        return err


# -- one verdict per check across profiles -------------------------------------------------------


@dataclass
class Merged(Generic[T]):
    """One thing found in one or more targets (identical in each)."""

    item: T
    profiles: list[str]  # the names of the targets it was found in (profiles, when one environment)

    def where(self, all_profiles: Iterable[str]) -> str:
        """ "" when found in every target, else " [profile ci]" (" [target ci · overlays/dev]")."""
        every = list(all_profiles)
        if len(every) <= 1 or self.profiles == every:
            return ""
        return f" [{_word(every)}{'s' if len(self.profiles) > 1 else ''} {', '.join(self.profiles)}]"

    def listed(self, all_profiles: Iterable[str]) -> str:
        """Where it was found, as a finding's block ends: "profiles:    prod" ("targets:     ...")."""
        return f"{_word(list(all_profiles)) + 's:':<13}{', '.join(self.profiles)}"


def _word(names: list[str]) -> str:
    """What the run's targets are called: "profile", or "target" when environments name them too."""
    return "target" if any(TARGET_SEP in name for name in names) else "profile"


def merge(pairs: Iterable[tuple[str, T]], key: Callable[[T], Hashable]) -> list[Merged[T]]:
    out: dict[Hashable, Merged[T]] = {}
    for profile, item in pairs:
        entry = out.setdefault(key(item), Merged(item, []))
        if profile not in entry.profiles:
            entry.profiles.append(profile)
    return list(out.values())


def finding_key(f: Finding) -> Hashable:
    v = f.violation
    return (f.rule.id, v.obj.source.path, v.obj.source.document, v.obj.ref, v.field, v.message)


def problem_key(p: Problem) -> Hashable:
    return (p.source.path, p.source.document, p.source.line, p.source.chart, p.message, p.field)


@dataclass
class RuleVerdict:
    """One rule over every profile: its findings once each, and where it did not apply."""

    rule: Rule
    findings: list[Merged[Finding]]
    exempted: list[Merged[tuple[Finding, Exemption]]]
    expired: list[Merged[tuple[Finding, Exemption]]]
    checked: list[str]  # profiles the rule ran in
    not_applicable: dict[str, str]  # profile -> why it did not run there
    errors: list[str]


def _view(name: str) -> Callable[[Callable[[StaticRun], T]], Callable[[StaticRun], T]]:
    """A merged view of a run, computed on first use (a run never changes after it is made)."""

    def wrap(compute: Callable[[StaticRun], T]) -> Callable[[StaticRun], T]:
        @functools.wraps(compute)
        def view(run: StaticRun) -> T:
            if name not in run.views:
                run.views[name] = compute(run)
            found: T = run.views[name]
            return found

        return view

    return wrap


@_view("rules")
def rule_verdicts(run: StaticRun) -> list[RuleVerdict]:
    by_rule: dict[str, list[tuple[str, RuleOutcome]]] = {}
    for target in run.targets:
        for outcome in target.outcomes:
            by_rule.setdefault(outcome.rule.id, []).append((target.name, outcome))
    verdicts = []
    for outcomes in by_rule.values():
        rule = outcomes[0][1].rule
        pair_key: Callable[[tuple[Finding, Exemption]], Hashable] = lambda fe: finding_key(fe[0])  # noqa: E731
        verdicts.append(
            RuleVerdict(
                rule,
                merge(((p, f) for p, o in outcomes for f in o.findings), finding_key),
                merge(((p, fe) for p, o in outcomes for fe in o.exempted), pair_key),
                merge(((p, fe) for p, o in outcomes for fe in o.expired), pair_key),
                [p for p, o in outcomes if o.not_applicable is None],
                {p: o.not_applicable for p, o in outcomes if o.not_applicable is not None},
                [f"{p}: {o.error}" for p, o in outcomes if o.error is not None],
            )
        )
    return verdicts


@_view("schema")
def schema_groups(run: StaticRun) -> dict[str, list[Merged[SchemaResult]]]:
    """Schema results per `apiVersion Kind`, each object once across profiles."""
    groups: dict[str, list[tuple[str, SchemaResult]]] = {}
    for target in run.targets:
        for result in target.schema:
            groups.setdefault(f"{result.obj.api_version} {result.obj.kind}", []).append((target.name, result))

    def key(r: SchemaResult) -> Hashable:
        errors = tuple((e.path, e.message) for e in r.errors)
        # With field errors, the message adds only kubeconform's schema path (a temp folder per profile).
        return (
            r.obj.source.path,
            r.obj.source.document,
            r.obj.ref,
            r.status,
            errors,
            "" if errors else r.message,
        )

    return {name: merge(pairs, key) for name, pairs in sorted(groups.items())}


@_view("inputs")
def input_problems(run: StaticRun) -> list[Merged[Problem]]:
    return merge(((t.name, p) for t in run.targets for p in t.inventory.problems), problem_key)


def failing_schema(run: StaticRun, results: Iterable[Merged[SchemaResult]]) -> list[Merged[SchemaResult]]:
    """What fails the schema stage: invalid, unjudged, a removed API, or no schema at all unless the
    policy exempts the object under rule `schema` (an expired exemption fails too)."""
    out = []
    for m in results:
        if m.item.status in (Status.INVALID, Status.ERROR, Status.REMOVED):
            out.append(m)
        elif m.item.status is Status.SKIPPED:
            ex = run.policy.exemption_for(SCHEMA_RULE, m.item.obj.ref) if run.policy else None
            if ex is None or ex.expires < run.settings.today:
                out.append(m)
    return out
