"""The static tier's results as flat, located entries: what SARIF and CI annotations carry.

Each finding, failing schema check and input problem appears once (across profiles),
with the file, line and column it is about. Exempted findings are kept, marked
`suppressed` with the exemption's reason (SARIF shows them as suppressed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..inventory.locate import Location, locate
from ..static import StaticRun, failing_schema, input_problems, rule_verdicts, schema_groups

# Rule severity -> SARIF level / GitHub annotation command.
LEVELS = {"blocker": "error", "critical": "error", "normal": "warning", "minor": "note"}
SCHEMA_RULE = "schema"
INPUTS_RULE = "inputs"


@dataclass(frozen=True)
class Entry:
    rule_id: str
    level: str  # "error", "warning" or "note"
    title: str  # short: what is wrong with which object
    message: str  # the full text
    location: Location
    profiles: tuple[str, ...] = ()
    suppressed: str | None = None  # exemption reason, when exempted and not expired
    extra: dict[str, str] = field(default_factory=dict)


def entries(run: StaticRun) -> list[Entry]:
    """Every reportable result of the run, each once, in a stable order."""
    out: list[Entry] = []
    every = [t.name for t in run.targets]
    for loaded in input_problems(run):
        p = loaded.item
        out.append(
            Entry(
                INPUTS_RULE,
                "error",
                f"input does not load: {p.source.path}",
                str(p) + loaded.where(every),
                _problem_location(run, p.source.path, p.source.line),
                tuple(loaded.profiles),
            )
        )
    for kind, results in schema_groups(run).items():
        for checked in failing_schema(run, results):
            r = checked.item
            first = r.errors[0].path if r.errors else "apiVersion"
            details = "; ".join(f"{e.path}: {e.message}" for e in r.errors) or r.message
            out.append(
                Entry(
                    SCHEMA_RULE,
                    "error",
                    f"{r.obj.ref} fails the {kind} schema",
                    f"{r.obj.ref} ({r.obj.source}) fails the schema: {details}{checked.where(every)}",
                    locate(r.obj, first),
                    tuple(checked.profiles),
                )
            )
    for verdict in rule_verdicts(run):
        level = LEVELS[verdict.rule.severity.value]
        for found in verdict.findings:
            f = found.item
            out.append(
                Entry(
                    f.rule.id,
                    level,
                    f"{f.rule.id}: {f.obj.ref}",
                    f"{f.violation.message} (field {f.violation.field}: {f.violation.actual!r}, required "
                    f"{f.violation.required!r}){found.where(every)}. {f.rule.remediation}",
                    f.location,
                    tuple(found.profiles),
                )
            )
        for pair in verdict.expired:
            f, ex = pair.item
            out.append(
                Entry(
                    f.rule.id,
                    "error",
                    f"{f.rule.id}: {f.obj.ref} (exemption expired {ex.expires})",
                    f"{f.violation.message}; the exemption (owner {ex.owner}) expired on {ex.expires}",
                    f.location,
                    tuple(pair.profiles),
                )
            )
        for pair in verdict.exempted:
            f, ex = pair.item
            out.append(
                Entry(
                    f.rule.id,
                    level,
                    f"{f.rule.id}: {f.obj.ref} (exempted)",
                    f.violation.message,
                    f.location,
                    tuple(pair.profiles),
                    suppressed=f"exempted until {ex.expires} by {ex.owner}: {ex.reason}",
                )
            )
    return out


def _problem_location(run: StaticRun, label: str, line: int | None) -> Location:
    disk = run.base / label if run.base is not None else Path(label)
    return Location(label, line, None, disk if disk.is_file() else None)
