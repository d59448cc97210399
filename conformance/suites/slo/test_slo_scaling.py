"""The load -> autoscaling -> SLO loop, end to end on real pods (conformance/slo/loop.py).

One test, on a cluster the suite owns whose pods really run (`--provider kind`): the platform's
gateway (its own Deployment, Service, HPA, PDB, NetworkPolicies; only the image is the reference
target) under a k6 ramp through the platform's front door. It passes when the HPA scaled out on
real CPU within policy.yaml's scale-up limits up to the intended maximum AND p95, p99, the error
rate and the achieved rate held AND the platform's SLO alerts stayed quiet: a real Prometheus
with the platform's rules (time-scaled as in the other live checks) scrapes the gateway's pods
through the API server's pod proxy (targets from the API server's pod list, kept in step by the
sampler). Elsewhere (`local`
simulates pods) it is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import allure
import pytest

from conformance.behaviour.exercise import scaling_intent
from conformance.behaviour.platform import NamespaceMap
from conformance.behaviour.scaling import HpaSpec, summarize
from conformance.cluster import Kube, create_provider
from conformance.cluster.kind import PROBE_IMAGE, TARGET_IMAGE
from conformance.cluster.lifecycle import running
from conformance.errors import InfraError
from conformance.inventory import K8sObject
from conformance.policy import Policy
from conformance.report.allure_labels import attach_file, attach_text, label
from conformance.settings import Settings
from conformance.slo.config import slo_specs
from conformance.slo.evaluate import ScenarioRun, run_scenario
from conformance.slo.live_alerts import LiveAlerts, now
from conformance.slo.loop import (
    RAMP,
    GatewayLoop,
    ImageNotRunnable,
    Placement,
    PodScrape,
    gateway_route,
    ramp_options,
)
from conformance.slo.plot import render_svg
from conformance.static import render_inventory

NEEDS = {"metrics": "real", "data_plane": True}


@dataclass
class LoopSetup:
    loop: GatewayLoop
    live: LiveAlerts | None  # Prometheus scraping the gateway's pods with the platform's rules
    hpa: K8sObject  # the gateway's HPA under the platform's names (what policy.yaml speaks of)
    why_no_alerts: str = ""


@pytest.fixture(scope="module")
def gateway_loop(
    settings: Settings, slo_policy: Policy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoopSetup]:
    provider = create_provider(settings)
    why = provider.capabilities.lacks(**NEEDS)
    if why is not None:
        pytest.skip(
            f"the load -> autoscaling -> SLO loop needs real pods with real CPU metrics: {why}; "
            "run it with --provider kind (make docker first) or --provider existing"
        )
    rendered = render_inventory(settings, slo_policy)
    hpa = gateway_route(rendered, slo_policy.namespace or "default").hpa
    obs = slo_policy.observability
    metrics = (obs.requests_metric, obs.latency_metric) if obs else None
    with running(provider) as cluster:
        placement = Placement(cluster.namespace_prefix, cluster.run_id)
        inventory = placement.inventory(rendered)
        route = gateway_route(
            inventory, NamespaceMap(placement.prefix).to_cluster(slo_policy.namespace or "default")
        )
        kube = Kube(cluster.kubeconfig)
        live = None
        try:
            images = (
                cluster.details.get("target image", TARGET_IMAGE),
                cluster.details.get("probe image", PROBE_IMAGE),
            )
            try:
                loop = GatewayLoop.deploy(
                    kube, inventory, route, images, metrics=metrics, placement=placement
                )
            except ImageNotRunnable as err:
                if placement.owned:
                    raise
                pytest.skip(f"the loop cannot run on this cluster: {err}")
            if metrics is None:
                yield LoopSetup(loop, None, hpa, f"{slo_policy.name} declares no observability.metrics")
                return
            folder = tmp_path_factory.mktemp("loop-prom")
            scrape = PodScrape.through_api_server(
                cluster.kubeconfig, route, folder / "scrape", placement.prefix
            )
            scrape.write(kube, route)
            loop.scrape = scrape  # the sampler keeps the targets in step with the pods
            live = LiveAlerts.start(
                slo_policy,
                settings.manifests,
                settings.run_profile,
                folder,
                "gateway pods",
                scrape=scrape.config,
            )
            yield LoopSetup(loop, live, hpa)
        finally:
            if live is not None:
                live.stop()
            kube.close()


@pytest.mark.slo
def test_slo_holds_while_scaling(
    gateway_loop: LoopSetup, slo_policy: Policy, settings: Settings, tmp_path: Path
) -> None:
    loop, live, profile = gateway_loop.loop, gateway_loop.live, settings.run_profile
    label("slo", "scaling loop", ["holds while scaling"], "critical")
    allure.dynamic.title(f"SLO holds while {loop.route.deployment.name} scales on real CPU")  # type: ignore[no-untyped-call]
    intent = scaling_intent(slo_policy, profile, gateway_loop.hpa)
    spec, drift = intent.judge(HpaSpec.from_body(loop.route.hpa.body))
    began = now()
    with loop.sampling():
        run = run_scenario(slo_policy, profile, "stress", loop.url, tmp_path / "k6", options=ramp_options())
    if run.generator_faults:
        raise InfraError(f"the load generator fell short, not the gateway: {'; '.join(run.generator_faults)}")
    alerts = _alerts(live, run, began, gateway_loop.why_no_alerts)
    timeline = loop.timeline.render()
    plot = tmp_path / "loop.svg"
    plot.write_text(
        render_svg(
            run.series,
            f"{loop.route.deployment.name} under a ramp ({profile}): requests, replicas, latency",
            [(0.0, 0.0), *_corners()],
            {f"{s.id} SLO": s.bound for s in slo_specs(slo_policy) if s.unit == "ms"},
            replicas=loop.replicas_over_time(),
        )
    )
    attach_file("joint timeline (rate, replicas, latency)", str(plot), allure.attachment_type.SVG)
    attach_text("replica timeline", timeline + "\n\nCPU (HPA utilization %):\n" + _cpu(loop))
    attach_text("what differs from the platform", "\n".join(loop.notes))
    scaling = loop.scaling_problems(spec)
    if live is not None:
        attach_text("SLO alerts during the ramp", alerts.text)
    bounds = {s.id: s.bound for s in slo_specs(slo_policy)}
    broken = [f"{r.message}{_when(run, r.slo, bounds)}" for r in run.results.values() if not r.passed]
    peak = max(s.replicas for s in loop.timeline.samples)
    measured = ", ".join(f"{r.title} {r.measured}" for r in run.results.values() if r.slo != "integrity")
    summary = (
        f"{loop.route.describe()}\nreplicas {loop.timeline.samples[0].replicas} -> peak {peak}: "
        f"{summarize(loop.timeline.changes())} after the ramp began (judged against {intent.source}); "
        f"{run.series.requests} requests, ramp {RAMP}; {measured}\n"
        + "\n".join(f"  note: {n}" for n in loop.notes)
    )
    summary += f"\n  alerts: {alerts.text}"
    print(summary)
    if scaling or broken or alerts.active:
        lines = [*(f"SLO broke: {b}" for b in broken), *(f"scaling: {p}" for p in scaling)]
        lines += [f"alert: {a}" for a in alerts.active]
        lines += [f"drift: {d}" for d in drift]
        pytest.fail("\n".join([*lines, summary, timeline]), pytrace=False)


@dataclass(frozen=True)
class AlertWatch:
    active: list[str]  # SLO alerts pending or firing during the ramp: "name (pending, firing)"
    text: str  # one line for the summary


def _alerts(live: LiveAlerts | None, run: ScenarioRun, began: float, why_not: str) -> AlertWatch:
    """The platform's SLO alerts over the ramp, as Prometheus evaluated them on the gateway's pods.
    Prometheus must have seen the run (at least half of k6's requests), else the check is broken."""
    if live is None:
        return AlertWatch([], f"not evaluated: {why_not}")
    end = now()
    counted = live.requests_between(began, end)
    sent = run.summary.value("http_reqs", "count") or 0
    if counted < sent / 2:
        raise InfraError(
            f"Prometheus counted {counted:.0f} of the {sent:.0f} requests k6 sent: the alert check "
            "would judge a run it did not see (is the gateway's /metrics scraped through the API server?)"
        )
    seen = live.active_between(began, end)
    active = [f"{name} ({', '.join(sorted(states))})" for name, states in sorted(seen.items())]
    text = f"{', '.join(active) or 'quiet'} (Prometheus counted {counted:.0f} of {sent:.0f} requests)"
    return AlertWatch(active, text)


def _corners() -> list[tuple[float, float]]:
    """The ramp's requested-rate corners (t, rate) for the plot."""
    t, out = 0.0, []
    for rate, seconds in RAMP:
        t += seconds
        out.append((t, float(rate)))
    return out


def _cpu(loop: GatewayLoop) -> str:
    return "\n".join(f"t={t:6.1f} s  {u if u is not None else '?'} %" for t, u in loop.cpu[::5])


def _when(run: ScenarioRun, slo: str, bounds: dict[str, float]) -> str:
    """When a latency or error SLO first broke, from the per-second series."""
    bound = bounds.get(slo)
    for p in run.series.points:
        value = {"p95": p.p95_ms, "p99": p.p99_ms}.get(slo)
        if slo == "error_rate" and p.rps:
            value = p.failed_per_s / p.rps
        if bound is not None and value is not None and value > bound:
            return f"; first broke at t={p.t_s:.0f} s ({p.rps:.0f} req/s completed that second)"
    return ""
