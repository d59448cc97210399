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


LONG_PARAMETER = 120  # characters; longer reprs are hidden from the report and from the history id


def identify_case(case_id: str, params: dict[str, Any]) -> None:
    """Name a parametrised test by its pytest id; hide long parameter reprs.

    Without this, allure-pytest shows every parameter's repr (whole manifests,
    megabytes per report) and derives the history id from them, so two cases
    whose objects print alike (profile prod vs ci) collapse into "retries" of
    one test, and any manifest edit breaks the trend. The pytest id is short,
    unique and stable. Call it before allure-pytest's setup ends.
    """
    allure.dynamic.parameter("case", case_id)
    for name, value in params.items():
        text = repr(value)
        if len(text) > LONG_PARAMETER:
            allure.dynamic.parameter(name, f"{type(value).__name__} ({len(text)} chars)", excluded=True)
