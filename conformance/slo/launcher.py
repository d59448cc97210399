"""Start and stop the reference target (conformance.slo.target) in its own process.

    with ReferenceTarget(latency_ms=600).start(log_dir) as target:
        target.url          # http://127.0.0.1:<ephemeral port>
        target.set_faults(error_rate=0.2)
        target.stats()      # {"requests": ..., "errors_injected": ...}

A separate process, not a thread: the server gets its own interpreter and
GIL, so neither it nor the harness slows the other. Its stdin is a pipe the
launcher holds: if the harness dies (even by SIGKILL) the pipe closes and the
server exits on EOF; `stop()` also closes it and sends SIGTERM, then SIGKILL after
procs.STOP_GRACE_S.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from ..cluster.procs import stop_child
from ..errors import InfraError
from ..tools import REPO

STARTUP_TIMEOUT_S = 15.0


class ReferenceTarget:
    """A running reference target; a context manager that always stops it."""

    def __init__(
        self,
        latency_ms: float = 0.0,
        latency_fraction: float = 1.0,
        error_rate: float = 0.0,
        metrics: tuple[str, str] | None = None,  # (request counter, latency histogram) names
    ) -> None:
        self.metrics = metrics
        self.faults = {
            "latency_ms": latency_ms,
            "latency_fraction": latency_fraction,
            "error_rate": error_rate,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log: Path | None = None
        self.startup_s = 0.0

    @property
    def url(self) -> str:
        if not self.port:
            raise InfraError("reference target is not running")
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, timeout_s: float = STARTUP_TIMEOUT_S) -> ReferenceTarget:
        """Launch the server and wait for its `LISTENING` line. Raises InfraError."""
        began = time.monotonic()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / "target.log"
        argv = [
            sys.executable,
            "-m",
            "conformance.slo.target",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--exit-on-stdin-eof",
            "--latency-ms",
            str(self.faults["latency_ms"]),
            "--latency-fraction",
            str(self.faults["latency_fraction"]),
            "--error-rate",
            str(self.faults["error_rate"]),
            *(["--metrics", ",".join(self.metrics)] if self.metrics else []),
        ]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        # Safety net for paths that skip stop() (an error between start and `with`).
        weakref.finalize(self, _reap, self.proc)
        try:
            line = self._first_line(timeout_s)
        except BaseException:
            self.stop()
            raise
        parts = line.split()
        if len(parts) != 3 or parts[0] != "LISTENING" or not parts[2].isdigit():
            self.stop()
            raise InfraError(
                f"reference target said {line!r} instead of 'LISTENING host port'; log: {self.log}"
            )
        self.port = int(parts[2])
        self.startup_s = time.monotonic() - began
        return self

    def _first_line(self, timeout_s: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InfraError(
                        f"reference target did not announce its port within {timeout_s:.0f}s; log: {self.log}"
                    )
                if sel.select(left):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        code = self.proc.wait(5)
                        raise InfraError(
                            f"reference target exited (code {code}) before listening: {self._log_tail()}"
                        )
                    buf += chunk
        return buf.split(b"\n", 1)[0].decode(errors="replace").strip()

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:] if self.log else ""
        except OSError:
            return ""

    def stop(self) -> None:
        """Close stdin and SIGTERM its group (the server exits cleanly on either), SIGKILL if needed."""
        proc, self.port = self.proc, 0
        if proc is None:
            return
        self.proc = None
        _reap(proc)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # only ever 127.0.0.1
                return json.loads(resp.read())  # type: ignore[no-any-return]
        except OSError as err:
            raise InfraError(f"reference target admin call {method} {path} failed: {err}") from None

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_admin/stats")

    def set_faults(self, **faults: float) -> dict[str, Any]:
        """Change fault injection at runtime (latency_ms, latency_fraction, error_rate)."""
        return self._call("POST", "/_admin/faults", faults)

    def __enter__(self) -> ReferenceTarget:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """EOF on stdin and SIGTERM (both end the server's loop cleanly), SIGKILL after the grace."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    stop_child(proc)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()


__all__ = ["ReferenceTarget"]
