"""The provider interface, the capabilities a provider declares, and the provider registry.

A provider makes a Kubernetes cluster available to the behaviour tier and takes
it away again. It is chosen by one option (``--provider`` / ``CONFORMANCE_PROVIDER``):

    provider = create_provider(settings)          # from the registry
    cluster = provider.start()                    # Cluster(kubeconfig, capabilities, ...)
    try:
        ...
    finally:
        provider.stop()                           # idempotent; also run on SIGINT / exit

A test that needs a capability the provider lacks is skipped with the reason
(`Capabilities.lacks`), never counted as passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import InfraError
from ..settings import Settings

if TYPE_CHECKING:
    from .dataplane import DataPlane
    from .kube import Kube

Metrics = Literal["simulated", "real", "none"]
RUN_LABEL = "conformance.tartware.io/run"  # on every namespace the suite creates
MANAGED_BY = {"app.kubernetes.io/managed-by": "tartware-conformance"}


@dataclass(frozen=True)
class Capabilities:
    """What a provider's cluster can do; tests check these instead of the provider's name."""

    data_plane: bool  # pods really run and connect: NetworkPolicy can be probed with connections
    metrics: Metrics  # where pod CPU metrics come from (the HPA needs some)
    can_set_usage: bool  # the suite can drive a pod's CPU usage (kwok annotation, ConsumeCPU on kind)
    owns_cluster: bool  # made for this run: nodes may be cordoned, CRDs and cluster-scoped objects created
    # Why a capability is absent on this machine, e.g. {"data_plane": "the data plane needs root ..."}.
    why_not: Mapping[str, str] = field(default_factory=dict)

    def lacks(self, **needed: object) -> str | None:
        """The reason a test cannot run here, or None.

        Example: ``caps.lacks(data_plane=True)`` -> "provider lacks data_plane=True (it has
        data_plane=False: the data plane needs root ...)".
        """
        for name, want in needed.items():
            have = getattr(self, name)
            if have != want:
                why = self.why_not.get(name)
                return f"provider lacks {name}={want!r} (it has {name}={have!r}{f': {why}' if why else ''})"
        return None


@dataclass(frozen=True)
class Cluster:
    """A running cluster as the tests see it."""

    provider: str
    name: str
    kubeconfig: Path
    capabilities: Capabilities
    ready_s: float  # from start() until the API, metrics and nodes were ready
    # Prepended to every namespace the suite creates; "" when the suite owns the
    # cluster (the platform's own namespace names are used as they are).
    namespace_prefix: str = ""
    run_id: str = ""  # value of RUN_LABEL on everything this run creates
    details: Mapping[str, str] = field(default_factory=dict)  # e.g. workdir, versions
    # The provider's own data plane (network namespaces + enforcer) when it has one (`local`);
    # other providers with data_plane=True probe through their real pods instead.
    data_plane: DataPlane | None = None

    def describe(self) -> str:
        """One line for humans: "local cluster tw-1 ready in 4.3 s (workdir ..., ...)"."""
        extra = ", ".join(f"{k} {v}" for k, v in self.details.items())
        return f"{self.provider} cluster {self.name} ready in {self.ready_s:.1f} s" + (
            f" ({extra})" if extra else ""
        )


class WorkloadDriver(Protocol):
    """How this provider runs the platform's workloads and drives their CPU usage."""

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        """A platform workload (Deployment, ...) as this provider can run it (a modified copy)."""
        ...

    def set_cpu(self, kube: Kube, namespace: str, selector: Mapping[str, str], millicores: int) -> int:
        """Make every pod matching selector use `millicores` of CPU; returns the pods changed."""
        ...


class Provider(Protocol):
    """One way of getting a cluster. Implementations live in one module each."""

    name: str
    capabilities: Capabilities

    def start(self) -> Cluster:
        """Create (or connect to) the cluster and wait until it is ready. Raises InfraError."""
        ...

    def stop(self) -> None:
        """Release everything start() acquired. Idempotent, safe after a failed or partial start."""
        ...

    def workloads(self) -> WorkloadDriver:
        """The workload driver for this provider (capabilities say whether it can set usage)."""
        ...


ProviderFactory = Callable[[Settings], Provider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Class decorator: make a provider selectable as ``--provider <name>``."""

    def add(factory: ProviderFactory) -> ProviderFactory:
        _REGISTRY[name] = factory
        return factory

    return add


def provider_names() -> list[str]:
    """The registered providers, e.g. ["existing", "kind", "local"]."""
    return sorted(_REGISTRY)


def create_provider(settings: Settings) -> Provider:
    """The provider settings.provider names. Raises InfraError naming the flag and env var.

    Example: ``create_provider(Settings.from_env()).start()``
    """
    factory = _REGISTRY.get(settings.provider)
    if factory is None:
        raise InfraError(
            f"unknown cluster provider {settings.provider!r}: choose one of {', '.join(provider_names())} "
            "(--provider or CONFORMANCE_PROVIDER)"
        )
    return factory(settings)
