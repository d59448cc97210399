"""The pytest plugin: options (flag + env var), the settings fixture, failure hygiene.

Loaded by the top-level conftest.py for the conformance suites and self-tests.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from .errors import InfraError
from .settings import OPTIONS, Settings

# The gate (an empty or wholly skipped tier fails) and Allure case identities.
pytest_plugins = ["conformance.report.hooks"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "Tartware conformance suite (each flag also reads an env var)")
    for opt in OPTIONS:
        default = f" [default: {opt.default}]" if opt.default else ""
        group.addoption(
            opt.flag,
            dest=f"conformance_{opt.name}",
            default=None,
            action="append" if opt.repeatable else "store",
            help=f"{opt.help} (env {opt.env}){default}",
        )


def _flag(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"conformance_{name}")
    # A repeatable flag's entries, one string as its env var gives them (Settings splits on spaces).
    return " ".join(value) if isinstance(value, list) else value


def settings_from_config(config: pytest.Config) -> Settings:
    return Settings.resolve(lambda name: _flag(config, name))


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings (flags, then env vars, then defaults).

    Example: ``def test_x(settings): assert settings.manifests.is_dir()``
    """
    return settings_from_config(pytestconfig)


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        s = settings_from_config(config)
    except (ValueError, OSError) as err:
        return [f"conformance: bad settings: {err}"]
    return [
        f"conformance: manifests={s.manifests} profiles={','.join(s.profiles)} policy={s.policy_label} "
        f"k8s={s.k8s_version} provider={s.provider}"
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # Infra faults carry their own clear message: show it, not a traceback.
    if call.excinfo is not None and isinstance(call.excinfo.value, InfraError):
        report.longrepr = f"BROKEN (infrastructure, not a conformance verdict): {call.excinfo.value}"
    # A test that failed on anything but a verdict (assertion, pytest.fail) could not judge: the
    # exit status says so (conformance.report.hooks). An attribute, so pytest-xdist forwards it.
    if report.failed and call.excinfo is not None and not call.excinfo.errisinstance(VERDICTS):
        setattr(report, BROKEN_ATTR, True)
    return report


# What a failing verdict raises; anything else a test raises means it could not judge.
VERDICTS = (AssertionError, pytest.fail.Exception)
BROKEN_ATTR = "conformance_broken"  # read by conformance.report.hooks.is_broken


__all__ = ["InfraError", "settings", "settings_from_config"]
