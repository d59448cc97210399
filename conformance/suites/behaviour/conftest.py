"""Behaviour tier fixtures: one cluster per session, a namespace per test, timing, diagnostics.

    def test_x(behaviour_env, spaces):          # spaces: this test's namespaces, cleaned up after
        ns = spaces.create()                    # behaviour_env: cluster, kube, render, policy, ...

Session order: `cluster` (provider from --provider, started once, stopped at the
end, on failure and on SIGINT/SIGTERM) -> `platform` (the run profile's render
applied: CRDs, namespaces, cluster-scoped objects, dry-run of the rest).
Parametrised tests get their ids (object refs, namespaces, workloads) from the
same render, built once at collection.

On a failed test, events and describe output of its namespaces are attached to
the Allure report. The terminal summary prints the measured times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.behaviour.exercise import HpaSubject, PdbSubject, hpa_subjects, pdb_subjects
from conformance.behaviour.platform import WORKLOAD_KINDS, NamespaceMap, PlatformState, apply_platform
from conformance.behaviour.resources import TestNamespaces
from conformance.cluster import Cluster, Kube, WorkloadDriver, create_provider
from conformance.cluster.base import Provider
from conformance.cluster.lifecycle import guarded, install_signal_handlers, note_interrupt
from conformance.errors import InfraError
from conformance.inventory import Inventory, K8sObject
from conformance.k8s import of_kinds
from conformance.netpol import default_flows_path
from conformance.plugin import settings_from_config
from conformance.policy import Policy, PolicyError, load_policy
from conformance.report.allure_labels import attach_text
from conformance.report.progress import Progress, say
from conformance.schema import SCHEMA_RULE
from conformance.schema.api_lifecycle import LifecycleTable
from conformance.schema.crds import Catalogue
from conformance.settings import Settings
from conformance.static import render_inventory

TIER = "behaviour"


@dataclass
class BehaviourTiming:
    """Where the tier's time goes; printed in the terminal summary."""

    began: float = field(default_factory=time.monotonic)
    cluster: str = ""
    figures: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        wall = time.monotonic() - self.began
        out = [f"behaviour tier: {wall:.1f} s wall" + (f"; {self.cluster}" if self.cluster else "")]
        out += [f"  {name}: {text}" for name, text in self.figures.items()]
        return out


_TIMING = pytest.StashKey[BehaviourTiming]()
_RENDER = pytest.StashKey["Inventory | InfraError"]()
_RENDERS = pytest.StashKey[dict[str, "Inventory | InfraError"]]()


_FULL_TRACE: list[bool] = []  # --full-trace of this session (pytest_keyboard_interrupt gets no config)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMING] = BehaviourTiming()
    _FULL_TRACE[:] = [bool(config.option.fulltrace)]


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """However the interrupt came (the cluster fixture's signal handlers note theirs first), the
    teardown that follows takes the fast path (lifecycle.INTERRUPT_BUDGET_S).

    Without --full-trace pytest prints one line of the interrupt's traceback, but first builds
    all of it, parsing the source of every frame: 2.5 s of the budget on a loaded machine. Only
    the last frame (the line it prints) is kept.
    """
    note_interrupt()
    shown = excinfo.traceback.filter(excinfo)[-1:]  # the frame pytest names (not a hidden one)
    if shown and not any(_FULL_TRACE):
        excinfo.traceback = shown


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`long` tests (minutes each) run only when asked for with -m; otherwise deselected, never passed."""
    if config.option.markexpr:
        return
    long = [i for i in items if i.get_closest_marker("long") is not None]
    if long:
        config.hook.pytest_deselected(items=long)
        items[:] = [i for i in items if i.get_closest_marker("long") is None]


# -- the render (collection time) ------------------------------------------------------------


def load_policy_or_infra(settings: Settings) -> Policy:
    """policy.yaml, or InfraError (the tier cannot judge without its expectations)."""
    try:
        return load_policy(settings.policy)
    except PolicyError as err:
        raise InfraError(f"behaviour tier cannot read the policy source: {err}") from None


def render(config: pytest.Config) -> Inventory:
    """The run profile's inventory, built once per session (collection and fixtures share it)."""
    cached = config.stash.get(_RENDER, None)
    if cached is None:
        try:
            settings = settings_from_config(config)
            policy = load_policy_or_infra(settings)
            cached = render_inventory(settings, policy)
        except InfraError as err:
            cached = err
        except (OSError, ValueError) as err:
            cached = InfraError(f"behaviour tier cannot render the manifests: {err}")
        config.stash[_RENDER] = cached
    if isinstance(cached, InfraError):
        raise cached
    return cached


def render_profile(config: pytest.Config, profile: str) -> Inventory:
    """Another profile's inventory (e.g. prod, for its scale-down policy), built once per session."""
    renders = config.stash.setdefault(_RENDERS, {})
    if profile not in renders:
        try:
            settings = settings_from_config(config)
            policy = load_policy_or_infra(settings)
            renders[profile] = render_inventory(settings, policy, profile)
        except InfraError as err:
            renders[profile] = err
    cached = renders[profile]
    if isinstance(cached, InfraError):
        raise cached
    return cached


def _policy_or_none(config: pytest.Config) -> Policy | None:
    try:
        return load_policy_or_infra(settings_from_config(config))
    except InfraError:
        return None


def scale_down_cases(config: pytest.Config) -> list[tuple[str, HpaSubject]]:
    """(profile, HPA) pairs whose scale-down policy the tier exercises: every static profile other
    than the run profile (--profile minus --run-profile, e.g. prod), for each exercised HPA."""
    settings = settings_from_config(config)
    subjects = hpa_subjects(render(config), _policy_or_none(config))
    return [(p, s) for p in settings.profiles if p != settings.run_profile for s in subjects]


def _unavailable(name: str, reason: str) -> Any:
    return pytest.param(None, id=name, marks=pytest.mark.skip(reason=reason))


def _subject_params(subjects: Sequence[HpaSubject | PdbSubject], missing: str) -> list[Any]:
    """One parameter per subject (its id), or one skipped parameter `none` saying what is missing."""
    return [pytest.param(s, id=s.id) for s in subjects] or [_unavailable("none", missing)]


def _policy_case_params(config: pytest.Config) -> list[Any]:
    """`<profile>-<subject>` for every other profile's scale-down policy, or one skipped `none`
    naming why there is none (a single profile, or no HPA)."""
    cases = [f"{p}-{s.id}" for p, s in scale_down_cases(config)]
    if cases:
        return [pytest.param(c, id=c) for c in cases]
    settings = settings_from_config(config)
    if not [p for p in settings.profiles if p != settings.run_profile]:
        why = (
            f"no profile besides the run profile {settings.run_profile} in --profile "
            f"{','.join(settings.profiles)}: no other profile's scale-down policy to exercise"
        )
    else:
        why = "the render has no HorizontalPodAutoscaler scaling a Deployment"
    return [_unavailable("none", why)]


def _ref_params(refs: list[str], missing: str | None = None) -> list[Any]:
    """One parameter per object ref or name (its own id); `missing`: one skipped `none` if empty."""
    params: list[Any] = [pytest.param(r, id=r) for r in refs]
    return params or ([_unavailable("none", missing)] if missing else [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = {
        "platform_ref",
        "platform_namespace",
        "workload_ref",
        "hpa_subject",
        "pdb_subject",
        "policy_case",
    } & set(metafunc.fixturenames)
    if not wanted:
        return
    try:
        inventory = render(metafunc.config)
    except InfraError as err:
        for name in wanted:
            metafunc.parametrize(name, [_unavailable("render-failed", str(err))])
        return
    policy = _policy_or_none(metafunc.config)
    if "hpa_subject" in wanted:
        missing = "the render has no HorizontalPodAutoscaler scaling a Deployment"
        metafunc.parametrize(
            "hpa_subject", _subject_params(hpa_subjects(inventory, policy), missing), scope="module"
        )
    if "pdb_subject" in wanted:
        missing = "the render has no PodDisruptionBudget protecting a Deployment"
        metafunc.parametrize("pdb_subject", _subject_params(pdb_subjects(inventory, policy), missing))
    if "policy_case" in wanted:
        metafunc.parametrize("policy_case", _policy_case_params(metafunc.config))
    if "platform_ref" in wanted:
        metafunc.parametrize("platform_ref", _ref_params(sorted({o.ref for o in inventory.objects})))
    if "platform_namespace" in wanted:
        names = sorted(o.name for o in inventory.of_kind("Namespace"))
        missing = "the input declares no Namespace: no namespace labels to check"
        metafunc.parametrize("platform_namespace", _ref_params(names, missing))
    if "workload_ref" in wanted:
        refs = sorted(o.ref for o in of_kinds(inventory, WORKLOAD_KINDS))
        metafunc.parametrize("workload_ref", _ref_params(refs))


# -- session fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def behaviour_timing(pytestconfig: pytest.Config) -> BehaviourTiming:
    """Measured times, printed at the end. Example: ``behaviour_timing.figures["x"] = "1.0 s"``"""
    return pytestconfig.stash.setdefault(_TIMING, BehaviourTiming())


@pytest.fixture(scope="session")
def progress(pytestconfig: pytest.Config) -> Progress:
    """Live progress lines. Example: ``progress.post("behaviour: HPA guests: 2 replicas")``"""
    return Progress(pytestconfig)


@pytest.fixture(scope="session")
def policy(settings: Settings) -> Policy:
    """policy.yaml (the source of truth for expected HPA bounds). Example: ``policy.services``"""
    return load_policy_or_infra(settings)


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Inventory:
    """The run profile's render (e.g. `ci`), rendered into the policy's namespace.

    Example: ``inventory.get("HorizontalPodAutoscaler", "tartware", "guests")``
    """
    return render(pytestconfig)


@pytest.fixture(scope="session")
def provider(settings: Settings) -> Provider:
    """The provider --provider / CONFORMANCE_PROVIDER names. Example: ``provider.capabilities``"""
    return create_provider(settings)


@pytest.fixture(scope="session")
def cluster(
    provider: Provider, pytestconfig: pytest.Config, behaviour_timing: BehaviourTiming
) -> Iterator[Cluster]:
    """The session's cluster, started once; released at the end, on failure and on SIGINT/SIGTERM
    (then within lifecycle.INTERRUPT_BUDGET_S of the signal).

    Example: ``def test_x(cluster): assert cluster.capabilities.owns_cluster``
    """
    install_signal_handlers()
    stop = guarded(f"{provider.name} cluster", provider.stop)
    say(pytestconfig, f"\nbehaviour: starting the {provider.name} cluster ...")
    try:
        started = provider.start()
    except BaseException:
        stop()
        raise
    behaviour_timing.cluster = started.describe()
    say(pytestconfig, f"behaviour: {started.describe()}")
    try:
        yield started
    finally:
        began = time.monotonic()
        stop()
        behaviour_timing.figures["cluster stop"] = f"{time.monotonic() - began:.1f} s"


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Iterator[Kube]:
    """API client for the session's cluster. Example: ``kube.list("v1", "Node")``"""
    client = Kube(cluster.kubeconfig)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def workloads(provider: Provider, cluster: Cluster) -> WorkloadDriver:
    """How the provider runs platform workloads and sets their CPU usage.

    Example: ``workloads.set_cpu(kube, ns, {"app.kubernetes.io/name": "guests"}, 28)``
    """
    return provider.workloads()


@pytest.fixture(scope="session")
def nsmap(cluster: Cluster) -> NamespaceMap:
    """Platform namespace -> cluster namespace. Example: ``nsmap.to_cluster("tartware")``"""
    return NamespaceMap(cluster.namespace_prefix)


@pytest.fixture(scope="session")
def platform(
    kube: Kube,
    cluster: Cluster,
    inventory: Inventory,
    nsmap: NamespaceMap,
    *,
    settings: Settings,
    policy: Policy,
    behaviour_timing: BehaviourTiming,
) -> Iterator[PlatformState]:
    """The render applied: CRDs, namespaces and cluster-scoped objects for real, the rest dry-run.

    Example: ``platform.results["Deployment/tartware/guests"].outcome is Outcome.DRY_RUN``
    """
    began = time.monotonic()

    def exemption(obj: K8sObject) -> str | None:
        ex = policy.exemption_for(SCHEMA_RULE, obj.ref)
        if ex is None:
            return None
        if ex.expires < settings.today:
            return None  # expired: the object fails as if there were none
        return f"exempted from schema checks until {ex.expires} by {ex.owner}: {ex.reason}"

    state = apply_platform(
        kube,
        inventory,
        nsmap,
        cluster.capabilities,
        catalogue=Catalogue.load(settings.schemas / "crds"),
        run_id=cluster.run_id,
        exemption=exemption,
        lifecycle=LifecycleTable.load(settings.schemas / "api-lifecycle"),
    )
    counts: dict[str, int] = {}
    for result in state.results.values():
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    behaviour_timing.figures["platform apply"] = (
        f"{time.monotonic() - began:.1f} s ({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))})"
    )
    yield state
    if not cluster.capabilities.owns_cluster:
        for name in reversed(state.namespaces):
            kube.delete("v1", "Namespace", name)


@dataclass(frozen=True)
class BehaviourEnv:
    """Everything a behaviour test takes from the session, as one fixture (`behaviour_env`): the
    started cluster with the render applied, and the render, policy and options it was applied from.
    A test takes this, its parametrised subject and, when it creates objects, `spaces`."""

    config: pytest.Config
    settings: Settings
    cluster: Cluster
    kube: Kube
    workloads: WorkloadDriver  # how the provider runs a workload and sets its CPU usage
    nsmap: NamespaceMap  # the render's namespaces -> the cluster's (a prefix on shared clusters)
    inventory: Inventory  # the run profile's render
    policy: Policy
    platform: PlatformState  # the render as applied (results per object)
    timing: BehaviourTiming  # figures for the terminal summary
    progress: Progress  # live lines while a long scenario runs


@pytest.fixture(scope="session")
def behaviour_env(
    pytestconfig: pytest.Config,
    settings: Settings,
    cluster: Cluster,
    *,
    kube: Kube,
    workloads: WorkloadDriver,
    nsmap: NamespaceMap,
    inventory: Inventory,
    policy: Policy,
    platform: PlatformState,
    behaviour_timing: BehaviourTiming,
    progress: Progress,
) -> BehaviourEnv:
    """The session's cluster, with the render applied (`platform` first: pods need the render's
    PriorityClasses and namespaces), and what it was applied from.

    Example: ``def test_x(behaviour_env, spaces): behaviour_env.kube.list("v1", "Node")``
    """
    return BehaviourEnv(
        config=pytestconfig,
        settings=settings,
        cluster=cluster,
        kube=kube,
        workloads=workloads,
        nsmap=nsmap,
        inventory=inventory,
        policy=policy,
        platform=platform,
        timing=behaviour_timing,
        progress=progress,
    )


@pytest.fixture
def spaces(kube: Kube, cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[TestNamespaces]:
    """This test's namespaces and objects; removed in reverse creation order after the test.

    Example: ``ns = spaces.create(labels={...}); spaces.apply({..., "metadata": {"namespace": ns}})``
    """
    owned = TestNamespaces(kube, cluster, request.node.originalname.removeprefix("test_"))
    yield owned
    errors = owned.cleanup()
    if errors:
        raise InfraError("cleanup failed: " + "; ".join(errors))


def flows_path(settings: Settings) -> Path:
    """flows.yaml next to the manifests (the declared intent of the NetworkPolicies)."""
    return default_flows_path(settings.manifests)


# -- reporting ----------------------------------------------------------------------------------


def _namespaces_of(item: pytest.Item) -> list[TestNamespaces]:
    found = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, TestNamespaces):
            found.append(value)
        elif isinstance(getattr(value, "spaces", None), TestNamespaces):
            found.append(value.spaces)
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        for owned in _namespaces_of(item):
            try:
                texts = owned.diagnostics()
            except Exception as err:  # diagnostics must never hide the verdict
                texts = {"diagnostics": f"could not collect: {err}"}
            for name, text in texts.items():
                attach_text(name, text)
                if name.startswith("events"):
                    report.sections.append((name, "\n".join(text.splitlines()[-25:])))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    timing = config.stash.get(_TIMING, None)
    if timing is not None and (timing.cluster or timing.figures):
        for line in timing.lines():
            terminalreporter.write_line(line)
