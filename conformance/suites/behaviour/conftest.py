"""Behaviour tier fixtures: one cluster per session, a namespace per test, timing, diagnostics.

    def test_x(cluster, kube, spaces):          # spaces: this test's namespaces, cleaned up after
        ns = spaces.create()

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.cluster import Cluster, Kube, WorkloadDriver, create_provider
from conformance.cluster.base import Provider
from conformance.cluster.lifecycle import guarded, install_signal_handlers
from conformance.errors import InfraError
from conformance.inventory import Inventory, build_inventory
from conformance.netpol import default_flows_path
from conformance.plugin import settings_from_config
from conformance.policy import Policy, PolicyError, load_policy
from conformance.report.allure_labels import attach_text
from conformance.settings import Settings

from .platform import WORKLOAD_KINDS, NamespaceMap, PlatformState, apply_platform, pod_template
from .resources import TestNamespaces

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


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMING] = BehaviourTiming()


def _say(config: pytest.Config, line: str) -> None:
    """Print now, past output capture (a cluster start is worth seeing live)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
            reporter.flush()  # a pipe is block-buffered: whoever watches must see it now
    else:
        reporter.write_line(line)
        reporter.flush()


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
            cached = build_inventory(
                settings.manifests, settings.run_profile, policy.namespace, settings.limits
            )
        except InfraError as err:
            cached = err
        except (OSError, ValueError) as err:
            cached = InfraError(f"behaviour tier cannot render the manifests: {err}")
        config.stash[_RENDER] = cached
    if isinstance(cached, InfraError):
        raise cached
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = {"platform_ref", "platform_namespace", "workload_ref"} & set(metafunc.fixturenames)
    if not wanted:
        return
    try:
        inventory = render(metafunc.config)
    except InfraError as err:
        for name in wanted:
            metafunc.parametrize(
                name, [pytest.param(None, id="render-failed", marks=pytest.mark.skip(reason=str(err)))]
            )
        return
    if "platform_ref" in wanted:
        refs = sorted({o.ref for o in inventory.objects})
        metafunc.parametrize("platform_ref", refs, ids=refs)
    if "platform_namespace" in wanted:
        names = sorted(o.name for o in inventory.of_kind("Namespace"))
        metafunc.parametrize("platform_namespace", names, ids=names)
    if "workload_ref" in wanted:
        refs = sorted(o.ref for o in inventory.of_kind(*WORKLOAD_KINDS) if pod_template(o) is not None)
        metafunc.parametrize("workload_ref", refs, ids=refs)


# -- session fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def behaviour_timing(pytestconfig: pytest.Config) -> BehaviourTiming:
    """Measured times, printed at the end. Example: ``behaviour_timing.figures["x"] = "1.0 s"``"""
    return pytestconfig.stash.setdefault(_TIMING, BehaviourTiming())


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
    """The session's cluster, started once; released at the end, on failure and on SIGINT/SIGTERM.

    Example: ``def test_x(cluster): assert cluster.capabilities.owns_cluster``
    """
    install_signal_handlers()
    stop = guarded(f"{provider.name} cluster", provider.stop)
    try:
        started = provider.start()
    except BaseException:
        stop()
        raise
    behaviour_timing.cluster = started.describe()
    _say(pytestconfig, f"\nbehaviour: {started.describe()}")
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
    behaviour_timing: BehaviourTiming,
) -> Iterator[PlatformState]:
    """The render applied: CRDs, namespaces and cluster-scoped objects for real, the rest dry-run.

    Example: ``platform.results["Deployment/tartware/guests"].outcome is Outcome.DRY_RUN``
    """
    began = time.monotonic()
    state = apply_platform(
        kube, inventory, nsmap, cluster.capabilities, schema_root=settings.crd_schemas, run_id=cluster.run_id
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
