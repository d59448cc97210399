"""SLO tier fixtures: the target, one cached k6 run per scenario, and the timing line.

The target is the local reference target unless --slo-target /
CONFORMANCE_SLO_TARGET names one (then only that URL is contacted). Each
scenario runs once per session, on first use; its InfraError is cached too,
so every test of a broken scenario errors without re-running k6.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from conformance.errors import InfraError
from conformance.plugin import settings_from_config
from conformance.policy import Policy, PolicyError, load_policy
from conformance.report.allure_labels import label
from conformance.report.environment import STAND_IN
from conformance.report.gate import not_applicable
from conformance.report.progress import Progress
from conformance.settings import Settings
from conformance.slo.evaluate import GeneratorLimit, RunOptions, ScenarioRun, run_scenario
from conformance.slo.launcher import ReferenceTarget
from conformance.slo.live_alerts import LiveAlerts

OVERHEAD_GOAL_S = 2.0
SEVERITY = {"p95": "critical", "p99": "critical", "error_rate": "critical"}


@dataclass
class SloTiming:
    """Where the tier's time goes: k6's own runs vs the harness around them."""

    config: pytest.Config
    began: float = field(default_factory=time.monotonic)
    ended: float | None = None
    target: str = ""
    target_start_s: float = 0.0
    target_stop_s: float = 0.0
    k6_s: dict[str, float] = field(default_factory=dict)
    harness_s: dict[str, float] = field(default_factory=dict)
    measured: dict[str, str] = field(default_factory=dict)  # scenario -> one line of figures
    prometheus_s: float = 0.0  # live alert checks: Prometheus start-up
    live_s: dict[str, float] = field(default_factory=dict)  # live alert checks: fault runs + waits

    def lines(self) -> list[str]:
        lines = [self.line(), *(f"  {name}: {text}" for name, text in self.measured.items())]
        if self.prometheus_s or self.live_s:
            runs = ", ".join(f"{name} {s:.1f} s" for name, s in self.live_s.items()) or "none"
            lines.append(f"  live alerts: prometheus start {self.prometheus_s:.2f} s; fault runs {runs}")
        return lines

    def line(self) -> str:
        wall = (self.ended or time.monotonic()) - self.began
        k6 = sum(self.k6_s.values())
        # The live alert checks are reported on their own line (they are runs, not overhead).
        overhead = wall - k6 - self.prometheus_s - sum(self.live_s.values())
        runs = ", ".join(f"{name} k6 {self.k6_s[name]:.1f} s" for name in self.k6_s) or "no k6 runs"
        return (
            f"slo tier: {wall:.1f} s wall, {runs}; harness overhead {overhead:.2f} s "
            f"(target start {self.target_start_s:.2f} s, stop {self.target_stop_s:.2f} s, "
            f"config+preflight+parse+plot {sum(self.harness_s.values()):.2f} s; "
            f"goal <= {OVERHEAD_GOAL_S:g} s) "
            f"against {self.target}"
        )


_TIMING = pytest.StashKey[SloTiming]()


class SloSession:
    """Runs each scenario at most once per session and remembers the outcome."""

    def __init__(
        self,
        policy: Policy,
        profile: str,
        base_url: str,
        workdir: Path,
        timing: SloTiming,
        *,
        generators: int = 1,
    ) -> None:
        self.policy, self.profile, self.base_url = policy, profile, base_url
        self.workdir, self.timing = workdir, timing
        self.generators = generators  # --slo-generators: local k6 processes per scenario (merged.py)
        self.progress = Progress(timing.config)  # k6's live figures while a scenario runs
        self._runs: dict[str, ScenarioRun | InfraError] = {}
        self.windows: dict[str, tuple[float, float]] = {}  # scenario -> wall-clock (start, end)

    def run(self, scenario: str) -> ScenarioRun:
        if scenario not in self._runs:
            began = time.time()
            try:
                run = self._measure(scenario, scenario)
                if run.generator_faults:
                    # k6 could not hold the schedule (a busy machine): that run measured the
                    # generator, not the target. Measure once more; the report says so. Still
                    # the generator's limit: BROKEN (GeneratorLimit), never an SLO verdict.
                    first = "; ".join(run.generator_faults)
                    self.progress.post(
                        f"slo: {scenario}: measuring once more, the first run was not trustworthy"
                    )
                    run = self._measure(scenario, f"{scenario}-again")
                    if run.shortfall is not None and run.shortfall.side == "generator":
                        raise GeneratorLimit(scenario, run.shortfall, "Measured twice, the same both times")
                    integrity = run.results["integrity"]
                    note = f"measured twice: the first run was not trustworthy ({first})"
                    detail = f"{integrity.detail}; {note}" if integrity.detail else note
                    run.results["integrity"] = replace(integrity, detail=detail)
                figures = [f"{r.title} {r.measured}" for r in run.results.values() if r.slo != "integrity"]
                if isinstance(run.calibration, str):
                    figures.append(f"calibration: {run.calibration}")
                self.timing.measured[scenario] = ", ".join(figures)
                self._runs[scenario] = run
            except InfraError as err:
                if isinstance(err, GeneratorLimit):
                    self.timing.measured[scenario] = f"BROKEN: {err}"
                self._runs[scenario] = err
            self.windows[scenario] = (began, time.time())
        outcome = self._runs[scenario]
        if isinstance(outcome, InfraError):
            raise outcome
        return outcome

    def _measure(self, scenario: str, folder: str) -> ScenarioRun:
        try:
            run = run_scenario(
                self.policy,
                self.profile,
                scenario,
                self.base_url,
                self.workdir / folder,
                options=RunOptions(live=self.progress.post, generators=self.generators),
            )
        except GeneratorLimit as err:  # the calibration found it: its seconds are k6's, not overhead
            self.timing.k6_s[f"{scenario} calibration"] = err.k6_s
            raise
        self.timing.k6_s[scenario] = self.timing.k6_s.get(scenario, 0.0) + run.timings["k6"]
        self.timing.harness_s[scenario] = self.timing.harness_s.get(scenario, 0.0) + run.timings["harness"]
        return run


@pytest.fixture(scope="session")
def slo_timing(pytestconfig: pytest.Config) -> SloTiming:
    timing = SloTiming(pytestconfig)
    pytestconfig.stash[_TIMING] = timing
    return timing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A policy without an `slo` section (the baseline, a foreign repo's own) has no SLO to measure:
    every test of this tier is skipped with that reason, never run against made-up thresholds."""
    here = Path(__file__).parent
    ours = [i for i in items if here in i.path.parents]
    if not ours:
        return
    settings = settings_from_config(config)
    try:
        policy = load_policy(settings.policy)
    except PolicyError:
        return  # the slo_policy fixture reports it, as broken
    if policy.slo is None:
        reason = not_applicable(
            f"{policy.name} has no slo section: no SLO to measure (declare slo: with target_rps, "
            "latency_p95_ms, ... to run this tier)"
        )
        for item in ours:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def slo_policy(settings: Settings) -> Policy:
    """The policy the thresholds come from; unreadable = the tier cannot judge (InfraError)."""
    try:
        return load_policy(settings.policy)
    except PolicyError as err:
        raise InfraError(f"SLO tier cannot read its thresholds: {err}") from None


@dataclass
class LocalTarget:
    """The reference target of this session and the Prometheus scraping it (live alert checks)."""

    target: ReferenceTarget | None = None
    live: LiveAlerts | None = None
    live_error: InfraError | None = None  # why there is no Prometheus (the live checks error with it)


_LOCAL = pytest.StashKey[LocalTarget]()


@pytest.fixture(scope="session")
def slo_local(pytestconfig: pytest.Config) -> LocalTarget:
    """Filled by `slo_target`: the local target and its Prometheus, when the tier started them."""
    return pytestconfig.stash.setdefault(_LOCAL, LocalTarget())


@pytest.fixture(scope="session")
def slo_target(
    settings: Settings,
    slo_timing: SloTiming,
    slo_policy: Policy,
    slo_local: LocalTarget,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """Base URL under test: --slo-target if given, else a local reference target (stopped at the end).

    With the local target, a real Prometheus scrapes it for the whole tier (every run, so the
    passing runs can be shown to leave the SLO alerts quiet); stopped before the target.
    """
    if hasattr(slo_timing.config, "workerinput"):
        # Each xdist worker would run its own k6 on the same cores: every figure would be wrong.
        raise InfraError("the SLO tier cannot run under pytest-xdist (-n): run it with -n 0 / -p no:xdist")
    if settings.slo_target:
        slo_timing.target = settings.slo_target
        yield settings.slo_target
        return
    obs = slo_policy.observability
    metrics = (obs.requests_metric, obs.latency_metric) if obs else None
    target = ReferenceTarget(metrics=metrics).start(tmp_path_factory.mktemp("slo-target"))
    slo_timing.target_start_s = target.startup_s
    slo_timing.target = f"{target.url} (reference target)"
    slo_local.target = target
    try:
        if obs is None:
            slo_local.live_error = None  # nothing to scrape: the live checks are skipped
        else:
            began = time.monotonic()
            try:
                slo_local.live = LiveAlerts.start(
                    slo_policy,
                    settings.manifests,
                    settings.run_profile,
                    tmp_path_factory.mktemp("prom"),
                    target.url,
                )
            except InfraError as err:
                slo_local.live_error = err
            slo_timing.prometheus_s += time.monotonic() - began
        yield target.url
    finally:
        stopping = time.monotonic()
        if slo_local.live is not None:
            slo_local.live.stop()
        target.stop()
        slo_timing.target_stop_s = time.monotonic() - stopping
        slo_timing.ended = time.monotonic()


@pytest.fixture(scope="session")
def slo_session(
    settings: Settings,
    slo_policy: Policy,
    slo_target: str,
    slo_timing: SloTiming,
    tmp_path_factory: pytest.TempPathFactory,
) -> SloSession:
    return SloSession(
        slo_policy,
        settings.run_profile,
        slo_target,
        tmp_path_factory.mktemp("slo"),
        slo_timing,
        generators=settings.slo_generators,
    )


@pytest.fixture(autouse=True)
def _live_checks_judge_a_measured_run(request: pytest.FixtureRequest) -> None:
    """The live alert checks judge the load run: measure it in their setup, so a run that cannot be
    judged (k6 broken, the generator's limit) ERRORs them like the test_slo items, never FAILS them."""
    if request.node.path.name != "test_alerts_live.py" or "slo_session" not in request.fixturenames:
        return
    session: SloSession = request.getfixturevalue("slo_session")
    local: LocalTarget = request.getfixturevalue("slo_local")
    if local.live is not None:  # else the check itself skips or errors, with its own reason
        session.run("load")


@pytest.fixture
def slo_run(request: pytest.FixtureRequest, slo_session: SloSession) -> ScenarioRun:
    """The (cached) run of the scenario named by indirect parametrisation; InfraError -> ERROR.

    Labels are set here, before the run, so a broken result is filed under its
    epic/feature too.
    """
    scenario = str(request.param)
    callspec = getattr(request.node, "callspec", None)
    slo = str(callspec.params.get("slo", "")) if callspec else ""
    label("slo", scenario, [slo] if slo else None, SEVERITY.get(slo, "normal"))
    return slo_session.run(scenario)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    timing = config.stash.get(_TIMING, None)
    if timing is not None:
        if timing.ended is None:
            timing.ended = time.monotonic()
        for line in timing.lines():
            terminalreporter.write_line(line)
        if not settings_from_config(config).slo_target:
            terminalreporter.write_line(STAND_IN)
