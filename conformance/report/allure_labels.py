"""Allure labels and attachments, as no-ops when allure-pytest is not active."""

from __future__ import annotations

import json
from typing import Any

import allure

from .redact import redact_object, redact_text

SEVERITY = {
    "blocker": allure.severity_level.BLOCKER,
    "critical": allure.severity_level.CRITICAL,
    "normal": allure.severity_level.NORMAL,
    "minor": allure.severity_level.MINOR,
}


def label(tier: str, feature: str, stories: list[str] | None = None, severity: str = "normal") -> None:
    """epic = tier, feature = rule family, story = service(s), severity."""
    allure.dynamic.epic(tier)
    allure.dynamic.feature(feature)
    for story in sorted(set(stories or [])):
        allure.dynamic.story(story)
    allure.dynamic.severity(SEVERITY.get(severity, allure.severity_level.NORMAL))


def attach_text(name: str, text: str) -> None:
    allure.attach(redact_text(text), name=name, attachment_type=allure.attachment_type.TEXT)


def attach_object(name: str, body: dict[str, Any]) -> None:
    """The offending object, secrets redacted, as JSON."""
    allure.attach(
        json.dumps(redact_object(body), indent=2, default=str),
        name=name,
        attachment_type=allure.attachment_type.JSON,
    )


def attach_file(name: str, path: str, kind: Any = None) -> None:
    allure.attach.file(path, name=name, attachment_type=kind)
