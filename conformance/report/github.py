"""GitHub Actions workflow commands for the static tier's results (when GITHUB_ACTIONS=true).

    ::error file=manifests/app.yaml,line=21,col=11,title=image-pinned: Deployment/shop/web::...

Files are relative to GITHUB_WORKSPACE (the checkout) when under it, so the annotation
lands on the diff. Exempted findings are not annotated. At most `limit` per rule.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from ..static import StaticRun
from .results import Entry, entries

COMMANDS = {"error": "error", "warning": "warning", "note": "notice"}


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(entry: Entry, workspace: Path) -> str:
    loc = entry.location
    path = loc.path
    if loc.disk is not None:
        disk = loc.disk.resolve()
        path = disk.relative_to(workspace).as_posix() if disk.is_relative_to(workspace) else str(disk)
    props = [f"file={_escape_property(path)}"]
    if loc.line is not None:
        props.append(f"line={loc.line}")
        if loc.column is not None:
            props.append(f"col={loc.column}")
    props.append(f"title={_escape_property(entry.title)}")
    return f"::{COMMANDS[entry.level]} {','.join(props)}::{_escape_data(entry.message)}"


def workflow_commands(run: StaticRun, limit: int = 0, environ: Mapping[str, str] | None = None) -> list[str]:
    """Workflow command lines, at most `limit` per rule (0: all)."""
    env = os.environ if environ is None else environ
    workspace = Path(env.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    out, per_rule = [], Counter[str]()
    for entry in entries(run):
        if entry.suppressed:
            continue
        per_rule[entry.rule_id] += 1
        if limit and per_rule[entry.rule_id] > limit:
            continue
        out.append(command(entry, workspace))
    return out
