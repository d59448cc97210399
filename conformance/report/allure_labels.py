"""Allure labels and attachments, as no-ops when allure-pytest is not active."""

from __future__ import annotations

import dataclasses
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
        if short_repr(value, LONG_PARAMETER) is None:
            allure.dynamic.parameter(
                name, f"{type(value).__name__} (over {LONG_PARAMETER} chars)", excluded=True
            )


class _TooLong(Exception):
    pass


def short_repr(value: Any, limit: int) -> str | None:
    """repr(value) when it is at most `limit` characters, else None, without building the
    whole text: a static-tier parameter holds every object of the input (a full repr of it
    cost minutes per run at 10,000 objects). Containers and generated dataclass reprs are
    walked with a budget; other objects are asked for their repr."""
    budget = [limit]

    def take(text: str) -> str:
        budget[0] -= len(text)
        if budget[0] < 0:
            raise _TooLong
        return text

    def walk(v: Any) -> str:
        if isinstance(v, list | tuple | set | frozenset | dict) and len(v) > limit:
            raise _TooLong
        if type(v) in (list, tuple):
            take("[]" if type(v) is list else "()")
            inner = [walk(x) for x in v]
            take(", " * max(0, len(inner) - 1) + ("," if type(v) is tuple and len(inner) == 1 else ""))
            body = ", ".join(inner) + ("," if type(v) is tuple and len(inner) == 1 else "")
            return f"[{body}]" if type(v) is list else f"({body})"
        if type(v) is dict:
            take("{}")
            parts = []
            for k, x in v.items():
                parts.append(f"{walk(k)}{take(': ')}{walk(x)}")
            take(", " * max(0, len(parts) - 1))
            return "{" + ", ".join(parts) + "}"
        if dataclasses.is_dataclass(v) and not isinstance(v, type) and _generated_repr(v):
            fields = [f for f in dataclasses.fields(v) if f.repr]
            take(f"{type(v).__qualname__}()" + ", " * max(0, len(fields) - 1))
            text = ", ".join(f"{take(f.name + '=')}{walk(getattr(v, f.name))}" for f in fields)
            return f"{type(v).__qualname__}({text})"
        return take(repr(v))

    try:
        return walk(value)
    except _TooLong:
        return None


def _generated_repr(value: Any) -> bool:
    """The dataclass's own generated __repr__ (not one the class wrote)."""
    method = type(value).__repr__
    method = getattr(method, "__wrapped__", method)  # under dataclasses' recursion guard
    return "__create_fn__" in getattr(method, "__qualname__", "")
