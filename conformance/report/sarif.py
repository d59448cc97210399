"""SARIF 2.1.0 of the static tier, for code-scanning upload (`--sarif build/static.sarif`).

One run, tool `tartware-conformance`, one reporting descriptor per rule (plus
`schema` and `inputs`), one result per finding. Locations are relative to
%SRCROOT% (the working directory, which in CI is the checkout) when the file is
under it, absolute file URIs otherwise. Exempted findings carry a suppression.
The self-test validates the output against the SARIF 2.1.0 JSON schema.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from ..rules import load_all
from ..static import StaticRun
from .results import INPUTS_RULE, LEVELS, SCHEMA_RULE, Entry, entries

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL = "tartware-conformance"
INFORMATION_URI = "https://tartware.local/conformance"


def _descriptors() -> list[dict[str, Any]]:
    rules = [
        {
            "id": rule.id,
            "name": "".join(part.title() for part in rule.id.split("-")),
            "shortDescription": {"text": rule.description},
            "help": {"text": rule.remediation},
            "defaultConfiguration": {"level": LEVELS[rule.severity.value]},
            "properties": {"tags": [rule.family], "severity": rule.severity.value},
        }
        for rule in sorted(load_all().values(), key=lambda r: r.id)
    ]
    rules.append(
        {
            "id": SCHEMA_RULE,
            "name": "Schema",
            "shortDescription": {"text": "Every object passes kubeconform -strict against its schema."},
            "help": {"text": "Fix the field the schema names (unknown fields, wrong types, missing fields)."},
            "defaultConfiguration": {"level": "error"},
        }
    )
    rules.append(
        {
            "id": INPUTS_RULE,
            "name": "Inputs",
            "shortDescription": {"text": "Every manifest file loads and every chart/kustomization renders."},
            "help": {"text": "Fix the file, document and field the message names."},
            "defaultConfiguration": {"level": "error"},
        }
    )
    return rules


@functools.lru_cache(maxsize=4096)
def _on_disk(disk: Path, root: Path) -> tuple[tuple[str, str], ...]:
    """The artifact location of a file on disk: worked out once per file, not once per finding."""
    disk = disk.resolve()
    if disk.is_relative_to(root):
        return (("uri", disk.relative_to(root).as_posix()), ("uriBaseId", "%SRCROOT%"))
    return (("uri", disk.as_uri()),)


def _location(entry: Entry, root: Path) -> dict[str, Any]:
    loc = entry.location
    artifact: dict[str, Any]
    if loc.disk is not None:
        artifact = dict(_on_disk(loc.disk, root))
    else:
        artifact = {"uri": Path(loc.path).as_posix(), "uriBaseId": "%SRCROOT%"}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if loc.line is not None:
        region: dict[str, Any] = {"startLine": loc.line}
        if loc.column is not None:
            region["startColumn"] = loc.column
        physical["region"] = region
    return {"physicalLocation": physical}


def to_sarif(run: StaticRun, root: Path | None = None) -> dict[str, Any]:
    root = (root or Path.cwd()).resolve()
    descriptors = _descriptors()
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results = []
    for entry in entries(run):
        result: dict[str, Any] = {
            "ruleId": entry.rule_id,
            "ruleIndex": index[entry.rule_id],
            "level": entry.level,
            "message": {"text": entry.message},
            "locations": [_location(entry, root)],
        }
        if entry.profiles:
            result["properties"] = {"profiles": list(entry.profiles)}
        if entry.suppressed:
            result["suppressions"] = [{"kind": "external", "justification": entry.suppressed}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": TOOL, "informationUri": INFORMATION_URI, "rules": descriptors}},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "results": results,
                "properties": {
                    "profiles": [t.name for t in run.targets],
                    "policy": run.settings.policy_label,
                    "kubernetesVersion": run.settings.k8s_version,
                },
            }
        ],
    }


def write_sarif(run: StaticRun, path: Path, root: Path | None = None) -> None:
    """Write atomically (parallel workers may write the same file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    # Compact: an indented dump takes json's pure-Python encoder (seconds at 10,000 findings).
    tmp.write_text(json.dumps(to_sarif(run, root), separators=(",", ":")))
    tmp.replace(path)
