"""A real Prometheus for the SLO tier: scrapes the reference target, evaluates the platform's rules.

Time is compressed by one factor, TIME_SCALE = 60: one minute of production is one second of
the run. Every duration of the platform's own rules is divided by it, never re-typed: `for:`
and `keep_firing_for:` in the rule, the groups' `interval:`, and every range, subquery and
offset inside the expressions (rewritten by Prometheus's own parser, promql-inspect -scale).
A `for: 5m` alert on a `rate(...[5m])` recording therefore fires about 10 s after a breach
starts. Scrape and evaluation intervals are the production defaults scaled the same way.

    with Prometheus.start(workdir, rule_files, target="127.0.0.1:8080", labels={...}) as prom:
        prom.alerts()                       # /api/v1/alerts
        prom.query_range("up", t0, t1, 0.5)

The server listens on 127.0.0.1 only, keeps its data in `workdir` (removed on stop), and is
stopped on exit of the `with`, at interpreter exit, and with its parent (PDEATHSIG).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from .. import tools
from ..alerts.promtool import inspect
from ..alerts.rulefiles import RuleFile
from ..cluster.procs import stop_child
from ..errors import InfraError
from .runner import _die_with_parent

TIME_SCALE = 60
# Production defaults, scaled: ServiceMonitors scrape every 15 s, kube-prometheus-stack
# evaluates rule groups without an interval every 30 s.
SCRAPE_INTERVAL_S = 15 / TIME_SCALE
EVALUATION_INTERVAL_S = 30 / TIME_SCALE
STARTUP_TIMEOUT_S = 30.0
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """A Prometheus duration ("1h30m", "500ms") in seconds; ValueError if it is not one."""
    parts = _DURATION_PART.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration.strip():
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def duration_ms(value_s: float) -> str:
    """Seconds as a Prometheus duration in whole milliseconds (at least 1ms)."""
    return f"{max(1, round(value_s * 1000))}ms"


def scale_rule_files(files: list[RuleFile], folder: Path, factor: float = TIME_SCALE) -> list[Path]:
    """The rule files with every duration divided by `factor` (see module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    rules = [(g, r) for f in files for g in f.groups for r in (g.get("rules") or []) if isinstance(r, dict)]
    scaled = inspect([str(r.get("expr", "")) for _, r in rules], scale=factor)
    by_rule = {id(r): p for (_, r), p in zip(rules, scaled, strict=True)}
    out = []
    for f in files:
        groups = []
        for g in f.groups:
            group = dict(g)
            if "interval" in group:
                group["interval"] = duration_ms(seconds(str(group["interval"])) / factor)
            group["rules"] = []
            for rule in g.get("rules") or []:
                parsed = by_rule[id(rule)]
                if parsed.error or parsed.scaled is None:
                    raise InfraError(f"{f.obj.ref}: cannot scale {rule.get('expr')!r}: {parsed.error}")
                new = {**rule, "expr": parsed.scaled}
                for key in ("for", "keep_firing_for"):
                    if key in new:
                        new[key] = duration_ms(seconds(str(new[key])) / factor)
                group["rules"].append(new)
            groups.append(group)
        path = folder / f.path.name
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        out.append(path)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """One running Prometheus server (a context manager that always stops it)."""

    def __init__(self, workdir: Path, proc: subprocess.Popen[bytes], port: int) -> None:
        self.workdir, self.proc, self.port = workdir, proc, port
        self.url = f"http://127.0.0.1:{port}"
        self.startup_s = 0.0
        self._finalizer = weakref.finalize(self, _stop, proc, workdir)

    @classmethod
    def start(
        cls,
        workdir: Path,
        rule_files: list[Path],
        target: str | None,
        labels: dict[str, str],
        *,
        remote_write: bool = False,
        scrape_configs: list[dict[str, Any]] | None = None,
    ) -> Prometheus:
        """Start scraping `target` (host:port, its /metrics; None: nothing) with `labels`; wait until ready.

        `remote_write`: also accept samples on /api/v1/write (k6's experimental-prometheus-rw
        output; native histograms are stable in Prometheus 3.16, so no feature flag is needed).
        `scrape_configs`: Prometheus scrape configs of their own instead of `target` (e.g. pods
        discovered through a cluster's API server).
        """
        began = time.monotonic()
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {
                "scrape_interval": duration_ms(SCRAPE_INTERVAL_S),
                "scrape_timeout": duration_ms(SCRAPE_INTERVAL_S),
                "evaluation_interval": duration_ms(EVALUATION_INTERVAL_S),
            },
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": scrape_configs
            if scrape_configs is not None
            else [
                {"job_name": "reference-target", "static_configs": [{"targets": [target], "labels": labels}]}
            ]
            if target
            else [],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        port = _free_port()
        argv = [
            str(tools.find("prometheus")),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            *(["--web.enable-remote-write-receiver"] if remote_write else []),
        ]
        log = (workdir / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 (only prctl: see runner.run_k6)
        )  # fmt: skip
        log.close()
        server = cls(workdir, proc, port)
        try:
            server._wait_ready(STARTUP_TIMEOUT_S)
        except BaseException:
            server.stop()
            raise
        server.startup_s = time.monotonic() - began
        return server

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise InfraError(f"prometheus exited with code {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.1)
        raise InfraError(f"prometheus not ready within {timeout_s:g} s ({last}): {self.log_tail()}")

    @property
    def write_url(self) -> str:
        """Where remote-write clients send samples (needs `remote_write=True` at start)."""
        return f"{self.url}/api/v1/write"

    def log_tail(self, lines: int = 5) -> str:
        path = self.workdir / "prometheus.log"
        text = path.read_text(errors="replace") if path.is_file() else ""
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def _get(self, path: str, **params: Any) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}" if params else f"{self.url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise InfraError(f"prometheus API {path} failed: {err}") from None
        if body.get("status") != "success":
            raise InfraError(f"prometheus API {path}: {body.get('error', body)}")
        return body["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts (GET /api/v1/alerts)."""
        return list(self._get("/api/v1/alerts")["alerts"])

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return list(self._get("/api/v1/query", **params)["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self._get(
            "/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}"
        )
        return list(data["result"])

    def stop(self) -> None:
        self._finalizer()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _stop(proc: subprocess.Popen[bytes], workdir: Path) -> None:
    stop_child(proc)
    shutil.rmtree(workdir / "data", ignore_errors=True)
