"""The static tier as a CI gate (issue 18): exit statuses that tell findings from a tier that could
not judge, --fail-on, and a quiet tool check.

    0  clean                     1  findings (at or above --fail-on)
    2  could not judge (broken, interrupted, nothing checked)            4  usage error

Runs the real entry points (`python -m conformance static`, `make static`, tools/install.sh) on
fixtures/gate/ and the corpus; the exit-status rules themselves also in pytester sessions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.report.hooks import EXIT_BROKEN, EXIT_CLEAN, EXIT_FINDINGS
from conformance.rules import load_all
from conformance.settings import OPTIONS, Settings
from conformance.static import fails_the_run
from conformance.tools import REPO

pytest_plugins = ["pytester"]

MINOR = REPO / "fixtures" / "gate" / "minor-finding"  # one finding, env-names-unique ranked minor
CLEAN = REPO / "fixtures" / "corpus" / "plain-clean"
USAGE_ERROR = int(pytest.ExitCode.USAGE_ERROR)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    env["CONFORMANCE_STATIC_CACHE"] = "off"  # every run judges afresh
    return {**env, **extra}


def _gate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m conformance static ARGS` as CI runs it (from another folder: paths are the user's)."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", "static", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=REPO.parent,
        env=_env(PYTHONPATH=str(REPO), **env),
        timeout=300,
        check=False,
    )


def _last_gate_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("conformance gate: exit ")]
    assert lines, out[-3000:]
    return lines[-1]


# -- --fail-on -------------------------------------------------------------------------------------


def test_a_minor_finding_passes_with_fail_on_normal_and_is_still_reported() -> None:
    run = _gate("--manifests", str(MINOR), "--fail-on", "normal")
    out = run.stdout + run.stderr
    assert run.returncode == EXIT_CLEAN, out[-3000:]
    # Reported, not hidden: the warning names rule, severity, threshold and object; the summary counts it.
    assert (
        "BelowFailOnWarning: 1 finding(s) of rule env-names-unique (minor, below --fail-on normal: "
        "reported, not failed): Deployment/podinfo/podinfo"
    ) in out
    assert any(line.split()[:3] == ["env-names-unique", "minor", "1"] for line in out.splitlines()), out
    assert _last_gate_line(out) == "conformance gate: exit 0: clean: no failing verdict"


@pytest.mark.parametrize("fail_on", ["minor", None])
def test_the_same_finding_fails_with_fail_on_minor_and_by_default(fail_on: str | None) -> None:
    run = _gate("--manifests", str(MINOR), *(["--fail-on", fail_on] if fail_on else []))
    out = run.stdout + run.stderr
    assert run.returncode == EXIT_FINDINGS, out[-3000:]
    # Under CI=true pytest appends the whole message to the summary line ("... - 1 finding(s) ...").
    assert any(x.startswith("FAILED ") and "::test_rule[env-names-unique]" in x for x in out.splitlines()), (
        out[-3000:]
    )
    assert _last_gate_line(out).startswith("conformance gate: exit 1: findings")


def test_fail_on_reads_its_env_var_too() -> None:
    run = _gate("--manifests", str(MINOR), CONFORMANCE_FAIL_ON="critical")
    assert run.returncode == EXIT_CLEAN, (run.stdout + run.stderr)[-3000:]


def test_fail_on_orders_the_severities() -> None:
    rule = load_all()["env-names-unique"]  # normal in the baseline
    for fail_on, fails in {"blocker": False, "critical": False, "normal": True, "minor": True}.items():
        settings = Settings.resolve({"fail_on": fail_on}.get, {})
        assert fails_the_run(settings, rule) is fails, fail_on
    assert Settings.resolve(lambda _: None, {}).fail_on == "minor"  # default: every finding fails
    assert next(o for o in OPTIONS if o.name == "fail_on").default == "minor"
    with pytest.raises(ValueError, match="must be one of blocker, critical, normal, minor, got 'major'"):
        Settings.resolve({"fail_on": "major"}.get, {})


# -- exit statuses through the real entry points -----------------------------------------------------


def test_a_clean_input_exits_0() -> None:
    run = _gate("--manifests", str(CLEAN), "-q")
    assert run.returncode == EXIT_CLEAN, (run.stdout + run.stderr)[-3000:]


def test_a_missing_tool_exits_2_not_1(tmp_path: Path) -> None:
    """Infrastructure, not a verdict: helm/kubeconform not where the suite looks for them."""
    empty = tmp_path / "bin"
    empty.mkdir()
    run = _gate("--manifests", str(MINOR), TOOLS_BIN=str(empty))
    out = run.stdout + run.stderr
    assert run.returncode == EXIT_BROKEN, out[-3000:]
    assert "BROKEN (infrastructure, not a conformance verdict)" in out and "not found" in out
    assert _last_gate_line(out).startswith("conformance gate: exit 2: could not judge")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--fail-on", "major"],
            "--fail-on / CONFORMANCE_FAIL_ON must be one of blocker, critical, normal, minor",
        ),
        (["--max-findings-per-rule", "many"], "--max-findings-per-rule"),
        (["--manifests", "/no/such/folder"], "/no/such/folder does not exist"),
        (
            ["--policy", "/no/such/policy.yaml"],
            "--policy / CONFORMANCE_POLICY /no/such/policy.yaml does not exist",
        ),
    ],
)
def test_a_bad_option_or_missing_input_is_a_usage_error(args: list[str], message: str) -> None:
    run = _gate(*(["--manifests", str(MINOR)] if args[0] != "--manifests" else []), *args)
    out = run.stdout + run.stderr
    assert run.returncode == USAGE_ERROR, out[-3000:]
    assert message in out
    assert "Traceback" not in out


@pytest.mark.slow
def test_make_static_records_the_tiers_own_status(tmp_path: Path) -> None:
    """GNU make exits 2 for any failing recipe: the tier's status is in build/static.rc and in make's
    "Error N" line; the tool check prints nothing when every tool is cached."""
    build = tmp_path / "build"
    make = shutil.which("make")
    assert make is not None
    run = subprocess.run(
        [make, "--no-print-directory", "static", f"BUILD={build}", f"ARGS=--manifests {MINOR} -q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(),
        timeout=600,
        check=False,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 2, out[-3000:]  # make's own: any failing recipe
    assert (build / "static.rc").read_text().strip() == "1", out[-3000:]
    assert "static] Error 1" in out
    assert (build / "junit" / "static.xml").is_file()
    assert not [line for line in out.splitlines() if line.startswith("tools:")], out[:3000]


# -- the rules, in pytest sessions (pytester) ----------------------------------------------------------

VERDICTS = """
import pytest

def test_finding():
    pytest.fail("a rule fired", pytrace=False)

def test_assertion():
    assert 1 == 2

def test_passes():
    pass
"""
BROKEN = {
    "infra": "from conformance.errors import InfraError\n\ndef test_x():\n    raise InfraError('no helm')\n",
    "crash": "def test_x():\n    raise KeyError('a suite bug')\n",
    "setup": (
        "import pytest\n\n@pytest.fixture\ndef f():\n    raise RuntimeError('no cluster')\n\n"
        "def test_x(f):\n    pass\n"
    ),
}
PLUGINS = ("-p", "conformance.plugin", "-p", "no:cacheprovider")


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    for name in [n for n in os.environ if n.startswith("CONFORMANCE_")]:
        monkeypatch.delenv(name)
    return pytester


def _tier(pytester: pytest.Pytester, tier: str, name: str, source: str) -> None:
    folder = pytester.path / "suites" / tier
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"test_{name}.py").write_text(source)


def test_failed_verdicts_exit_1(suite: pytest.Pytester) -> None:
    _tier(suite, "static", "verdicts", VERDICTS)
    result = suite.runpytest(*PLUGINS, "suites/static")
    assert result.ret == EXIT_FINDINGS
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["conformance gate: exit 1: findings*"])


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_test_exits_2_even_beside_findings(suite: pytest.Pytester, kind: str) -> None:
    _tier(suite, "behaviour", "verdicts", VERDICTS)
    _tier(suite, "behaviour", "broken", BROKEN[kind])
    result = suite.runpytest(*PLUGINS, "suites/behaviour")
    assert result.ret == EXIT_BROKEN
    result.stdout.fnmatch_lines(["conformance gate: exit 2: could not judge* (1 broken)"])


def test_the_suites_own_tests_keep_pytests_status(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_self=BROKEN["crash"])
    result = suite.runpytest(*PLUGINS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "conformance gate" not in result.stdout.str()


@pytest.mark.slow
def test_broken_is_told_from_failed_under_xdist(suite: pytest.Pytester) -> None:
    _tier(suite, "static", "verdicts", VERDICTS)
    result = suite.runpytest_subprocess(*PLUGINS, "-n", "2", "suites/static")
    assert result.ret == EXIT_FINDINGS
    _tier(suite, "static", "broken", BROKEN["crash"])
    result = suite.runpytest_subprocess(*PLUGINS, "-n", "2", "suites/static")
    assert result.ret == EXIT_BROKEN


# -- quiet tool check ---------------------------------------------------------------------------------


def _install(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "tools" / "install.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "TOOLS_TIER": "static", **env},
        timeout=600,
        check=False,
    )


def test_the_static_tool_check_is_silent_when_everything_is_cached(tmp_path: Path) -> None:
    run = _install({"TOOLS_BIN": str(tmp_path / "bin")})  # links made afresh: still nothing to say
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == "" and run.stderr == ""
    # ... and it links what the static tier runs, nothing of the behaviour tier's cluster.
    linked = {p.name for p in (tmp_path / "bin").iterdir()}
    assert {"helm", "kubeconform", "kubectl", "promtool", "promql-inspect"} <= linked
    assert not linked & {"kube-apiserver", "etcd", "kube-router", "iptables", "kind", "actionlint"}


@pytest.mark.slow
def test_the_static_tool_check_says_only_what_it_builds(tmp_path: Path) -> None:
    """A cache without helm: the build lines and one closing line; nothing about other tiers' tools."""
    real_cache = Path(os.environ.get("TARTWARE_TOOLS_CACHE", Path.home() / ".cache" / "tartware-conformance"))
    go = shutil.which("go")
    if go is None or not (real_cache / "crds").exists():
        pytest.skip("needs Go and a tool cache made by `make tools`")
    cache = tmp_path / "cache"
    cache.mkdir()
    for entry in real_cache.iterdir():
        if not entry.name.startswith("helm-"):
            (cache / entry.name).symlink_to(entry)
    fake = tmp_path / "fake-go"
    fake.mkdir()
    # `go install .../helm@v`: a dummy helm in GOBIN; every other go command is the real one.
    (fake / "go").write_text(
        "#!/bin/sh\n"
        'case "$1 $*" in install*helm@*) printf \'#!/bin/sh\\necho fake\\n\' >"$GOBIN/helm"; '
        'chmod +x "$GOBIN/helm"; exit 0;; esac\n'
        f'exec {go} "$@"\n'
    )
    (fake / "go").chmod(0o755)
    run = _install(
        {
            "TARTWARE_TOOLS_CACHE": str(cache),
            "TOOLS_BIN": str(tmp_path / "bin"),
            "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
        }
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("tools: building helm "), lines
    assert lines[1].startswith("tools: built helm in "), lines
    assert lines[2].startswith("tools: the static tier's tools ready in "), lines
    assert len(lines) == 3 and run.stderr == "", run.stdout + run.stderr
