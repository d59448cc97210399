"""Running promtool and promql-inspect (both pinned, from .tools/bin) and reading their output."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import tools
from ..errors import InfraError

TIMEOUT_S = 120.0
# promtool check rules: `<file>: [<line>:<col>: ]group "<g>", rule <n>, "<name>": <message>`
_RULE_ERROR = re.compile(
    r'^(?:\d+:\d+: )?group "(?P<group>[^"]*)", rule (?P<index>\d+), "(?P<name>[^"]*)": (?P<msg>.*)$'
)


def _run(tool: str, args: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = tools.find(tool)
    try:
        return subprocess.run(
            [str(binary), *args], input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise InfraError(f"{tool} {args[0] if args else ''} did not finish within {TIMEOUT_S:g} s") from None
    except OSError as err:
        raise InfraError(f"cannot run {binary}: {err.strerror}") from None


@dataclass(frozen=True)
class CheckError:
    """One problem promtool found in a rule file; group/index/name when it names a rule."""

    message: str
    group: str | None = None
    index: int | None = None
    rule: str | None = None


@dataclass
class CheckResult:
    ok: bool
    errors: list[CheckError] = field(default_factory=list)
    output: str = ""


def check_rules(paths: Sequence[Path]) -> dict[Path, CheckResult]:
    """`promtool check rules` on every file at once; the result of each file."""
    if not paths:
        return {}
    proc = _run("promtool", ["check", "rules", *map(str, paths)])
    output = proc.stdout + proc.stderr
    errors: dict[Path, list[CheckError]] = defaultdict(list)
    for line in output.splitlines():
        for path in paths:
            prefix = f"{path}: "
            if line.startswith(prefix):
                text = line[len(prefix) :]
                match = _RULE_ERROR.match(text)
                error = (
                    CheckError(match["msg"], match["group"], int(match["index"]), match["name"])
                    if match
                    else CheckError(text)
                )
                if error not in errors[path]:
                    errors[path].append(error)
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not errors):
        raise InfraError(f"promtool check rules exited {proc.returncode}: {output.strip()[-500:]}")
    return {p: CheckResult(not errors.get(p), errors.get(p, []), output) for p in paths}


@dataclass(frozen=True)
class Inspected:
    """promql-inspect's reading of one expression."""

    error: str | None
    metrics: tuple[str, ...]
    unnamed: int
    ranges_s: tuple[float, ...]
    scaled: str | None


def inspect(exprs: Sequence[str], scale: float | None = None) -> list[Inspected]:
    """Parse expressions with Prometheus's parser: metric names, windows, optionally rescaled."""
    if not exprs:
        return []
    args = ["-scale", f"{scale:g}"] if scale else []
    proc = _run("promql-inspect", args, json.dumps([{"expr": e} for e in exprs]))
    if proc.returncode != 0:
        raise InfraError(f"promql-inspect exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    raw: list[dict[str, Any]] = json.loads(proc.stdout)
    return [
        Inspected(
            r.get("error"),
            tuple(r.get("metrics") or ()),
            int(r.get("unnamed", 0)),
            tuple(r.get("ranges_s") or ()),
            r.get("scaled"),
        )
        for r in raw
    ]


@dataclass(frozen=True)
class UnitResult:
    """One promtool unit-test group: passed, or the failure text promtool printed."""

    name: str
    passed: bool
    message: str


def test_rules(test_files: Sequence[Path], junit: Path) -> tuple[dict[str, UnitResult], str]:
    """`promtool test rules --junit` on every file in one process; results by test-group name."""
    if not test_files:
        return {}, ""
    proc = _run("promtool", ["test", "rules", f"--junit={junit}", *map(str, test_files)])
    output = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1) or not junit.is_file():
        raise InfraError(f"promtool test rules exited {proc.returncode}: {output.strip()[-500:]}")
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        failures = [f.get("message") or (f.text or "") for f in case.iter("failure")]
        results[name] = UnitResult(name, not failures, "\n".join(failures).strip())
    for suite in ET.parse(junit).getroot().iter("testsuite"):
        # A test file that does not load (bad YAML, rule file errors) aborts without test cases.
        for err in suite.iter("error"):
            raise InfraError(f"promtool could not run {suite.get('name')}: {err.get('message') or err.text}")
    return results, output
