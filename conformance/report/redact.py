"""Keep secret values out of every message and attachment.

Secret `data`/`stringData` values, credential-looking env values and
credential-looking ConfigMap keys are replaced by a marker; free text is
scrubbed of `password=...`-style pairs.
"""

from __future__ import annotations

import copy
import re
from typing import Any

MARK = "<redacted>"
CREDENTIAL_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|access[_-]?key|dsn|conn(ection)?_?string)",
    re.IGNORECASE,
)
_TEXT_PAIR = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|credential)[\w.-]*)"
    r"(\s*[:=]\s*|'?\s*:\s*'?|\"?\s*:\s*\"?)([^\s,'\"}]+)"
)
_URL_CREDS = re.compile(r"(\w+://[^:/\s@]+:)([^@/\s]+)(@)")


def is_credential_name(name: str) -> bool:
    return bool(CREDENTIAL_NAME.search(name))


def redact_object(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a manifest with secret values replaced (the input is not changed)."""
    out = copy.deepcopy(body)
    kind = out.get("kind")
    if kind == "Secret":
        for key in ("data", "stringData"):
            if isinstance(out.get(key), dict):
                out[key] = dict.fromkeys(out[key], MARK)
    if kind == "ConfigMap" and isinstance(out.get("data"), dict):
        out["data"] = {
            k: (MARK if is_credential_name(k) else _scrub_value(v)) for k, v in out["data"].items()
        }
    _redact_env(out)
    return out


def _scrub_value(value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else value


def _redact_env(node: Any) -> None:
    if isinstance(node, dict):
        env = node.get("env")
        if isinstance(env, list):
            for item in env:
                if (
                    isinstance(item, dict)
                    and "value" in item
                    and is_credential_name(str(item.get("name", "")))
                ):
                    item["value"] = MARK
        for value in node.values():
            _redact_env(value)
    elif isinstance(node, list):
        for value in node:
            _redact_env(value)


def redact_text(text: str) -> str:
    """Scrub `password=hunter2`, `token: abc`, `scheme://user:pass@host` from free text."""
    text = _URL_CREDS.sub(lambda m: m.group(1) + MARK + m.group(3), text)
    return _TEXT_PAIR.sub(lambda m: m.group(1) + m.group(2) + MARK, text)
