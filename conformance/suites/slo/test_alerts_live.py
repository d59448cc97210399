"""SLO tier, live alerts: a real Prometheus evaluates the platform's own SLO alerts on this run.

Prometheus scrapes the reference target during the whole tier, with the platform's rules
scaled by one factor (conformance.slo.prometheus.TIME_SCALE). Two kinds of items:

  test_alert_quiet_under_load[<alert>]   the passing load run leaves the alert inactive (never
                                        pending or firing while it ran); a run Prometheus did
                                        not count is broken, never quiet
  test_alert_fires_on_breach[<fault>]   a short run with a fault injected into the target (latency
                                        between the p95 and p99 bounds; 4x the error-rate bound)
                                        makes exactly the matching SLO alert fire, read from
                                        Prometheus's alerts API within a bounded wait

Fault sizes come from policy.yaml, never from the rules. With --slo-target (a remote target),
nothing can be scraped or injected: the items are skipped with that reason.
"""

from __future__ import annotations

import json
import time
from typing import Any

import allure
import pytest

from conformance.alerts.rulefiles import prometheus_rules
from conformance.errors import InfraError
from conformance.inventory.build import build_inventory
from conformance.plugin import settings_from_config
from conformance.policy import Policy, load_policy
from conformance.report.allure_labels import attach_file, attach_text, label
from conformance.rules.observability import ALERT_KEYS, alert_rules
from conformance.slo.evaluate import ScenarioRun
from conformance.slo.live_alerts import Fault, LiveAlerts, faults
from conformance.slo.prometheus import EVALUATION_INTERVAL_S, TIME_SCALE

from .conftest import LocalTarget, SloSession

# Of k6's requests, Prometheus must have counted at least this share: not all, as increase()
# extrapolates and misses a new series' first requests (a 3 s run at 20/s: about 94 % counted).
SEEN_SHARE = 0.5


def _alert_names(config: pytest.Config) -> tuple[Policy, list[str]] | InfraError:
    settings = settings_from_config(config)
    try:
        policy = load_policy(settings.policy)
        inventory = build_inventory(settings.manifests, settings.run_profile, policy.namespace)
    except (InfraError, ValueError) as err:
        return InfraError(f"live alert checks cannot read the platform: {err}")
    names = {
        str(rule["alert"])
        for obj in prometheus_rules(inventory.objects)
        for rule, _ in alert_rules(obj)
        if (rule.get("labels") or {}).get("slo") in ALERT_KEYS
    }
    return policy, sorted(names)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    found = _alert_names(metafunc.config)
    if isinstance(found, InfraError):
        metafunc.parametrize("case", [pytest.param(found, id="infra-error")])
        return
    policy, names = found
    if not policy.provides("slo"):  # the tier's conftest skips every item, saying why
        metafunc.parametrize("case", [pytest.param(None, id="none")])
        return
    if metafunc.function.__name__ == "test_alert_quiet_under_load":
        params = [pytest.param(n, id=n) for n in names]
    else:
        params = [pytest.param(f, id=f.name) for f in faults(policy)]
    if not names:
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(reason="no SLO alert in the rules"))]
    metafunc.parametrize("case", params)


def _live(case: Any, local: LocalTarget, policy: Policy) -> LiveAlerts:
    if isinstance(case, InfraError):
        raise case
    if policy.observability is None:
        pytest.skip("policy.yaml declares no observability.metrics: the target exports nothing to scrape")
    if local.target is None:
        pytest.skip("live alert checks need the local reference target (a --slo-target cannot be scraped)")
    if local.live is None:
        raise local.live_error or InfraError("prometheus did not start")
    return local.live


def _attach_plot(live: LiveAlerts, start: float, end: float, title: str) -> None:
    svg = live.plot(start, end, f"{title} (Prometheus, {TIME_SCALE}x time scale)")
    allure.attach(svg, name="Prometheus series", attachment_type=allure.attachment_type.SVG)


@pytest.mark.slo
def test_alert_quiet_under_load(
    case: Any, slo_session: SloSession, slo_local: LocalTarget, slo_policy: Policy
) -> None:
    """The passing load run leaves this SLO alert inactive (not pending, not firing)."""
    live = _live(case, slo_local, slo_policy)
    name = str(case)
    label("slo", "alerts (live)", [name], "critical")
    run = slo_session.run("load")
    start, end = slo_session.windows["load"]
    began = time.monotonic()
    try:
        _judge_quiet(live, name, run, start, end)
    finally:
        timing = slo_session.timing.live_s
        timing["quiet checks"] = timing.get("quiet checks", 0.0) + time.monotonic() - began


def _judge_quiet(live: LiveAlerts, name: str, run: ScenarioRun, start: float, end: float) -> None:
    # One more evaluation: the last samples of the run are judged after it ends.
    time.sleep(max(0.0, end + 2 * EVALUATION_INTERVAL_S - time.time()))
    # Quiet proves something only about load Prometheus saw (a run before its first scrape went unseen).
    counted, sent = live.requests_between(start, time.time()), run.summary.value("http_reqs", "count") or 0
    if counted < SEEN_SHARE * sent:
        raise InfraError(
            f"prometheus counted {counted:.0f} of the load run's {sent:.0f} requests: "
            f"the quiet check cannot judge what it did not see"
        )
    seen = live.active_between(start, time.time())
    attach_file("latency and throughput (k6)", str(run.plot_path), allure.attachment_type.SVG)
    _attach_plot(live, start, time.time(), "load")
    attach_text("SLO alerts active during the load run", json.dumps({k: sorted(v) for k, v in seen.items()}))
    assert name not in seen, (
        f"alert {name} was {'/'.join(sorted(seen[name]))} during the passing load run "
        f"(k6 SLO verdicts: {', '.join(f'{s} {r.passed}' for s, r in run.results.items())})"
    )


@pytest.mark.slo
def test_alert_fires_on_breach(
    case: Any,
    slo_session: SloSession,
    slo_local: LocalTarget,
    slo_policy: Policy,
) -> None:
    """A fault run makes exactly the matching SLO alert fire (alerts API), and no other SLO alert."""
    live = _live(case, slo_local, slo_policy)
    fault: Fault = case
    expected = sorted({a.name for a in live.alerts if a.key == fault.key})
    label("slo", "alerts (live)", expected or [fault.key], "critical")
    if not expected:
        pytest.fail(
            f"no alert labelled slo: {fault.key} in the rules: an {fault.name} breach would go unseen"
        )
    assert slo_local.target is not None
    slo_session.run("load")  # the passing runs first: their windows must not see the fault
    began = time.monotonic()
    try:
        out = live.breach(
            fault, slo_local.target, slo_session.profile, slo_session.workdir / f"fault-{fault.name}"
        )
    finally:
        slo_session.timing.live_s[fault.name] = time.monotonic() - began
    fired, seen, start = out.fired, out.seen, out.start
    _attach_plot(live, start, time.time(), f"{fault.name} fault {fault.faults}")
    attach_text("alerts fired", json.dumps(fired, indent=2))
    attach_text("SLO alerts active during the fault run", json.dumps({k: sorted(v) for k, v in seen.items()}))
    others = sorted(set(seen) - set(expected))
    assert not others, f"{fault.name} fault {fault.faults} also set off {others}: only {expected} should fire"
