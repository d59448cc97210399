"""Keep secret values out of every message and attachment.

Secret `data`/`stringData` values, credential-looking env values and credential-looking ConfigMap
keys are replaced by a fingerprint (`<redacted: 24 chars "hu********…">`): the length and at most
two leading characters, so a reader can tell a `yes` flag from a real secret without seeing it.
Free text is scrubbed of `password=...`-style pairs, `scheme://user:password@host` URLs and known
token formats, but never of file positions (`templates/secret.yaml:12:3` in helm's errors).
What counts as a credential is conformance/credentials.py's judgement; display errs towards hiding.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..credentials import (
    ANY_KEYWORD,
    KNOWN_TOKEN,
    TEXT_PAIR,
    URL_CREDS,
    fingerprint,
    is_credential_name,
    is_position,
)


def redact_object(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a manifest with secret values fingerprinted (the input is not changed).

    Display errs towards hiding: every credential-named value is fingerprinted, flags included
    (the fingerprint's length shows them for what they are)."""
    out = copy.deepcopy(body)
    kind = out.get("kind")
    if kind == "Secret":
        for key in ("data", "stringData"):
            if isinstance(out.get(key), dict):
                out[key] = {k: fingerprint(v) for k, v in out[key].items()}
    if kind == "ConfigMap" and isinstance(out.get("data"), dict):
        out["data"] = {
            k: (fingerprint(v) if is_credential_name(str(k)) else _scrub_value(v))
            for k, v in out["data"].items()
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
                if isinstance(item, dict) and "value" in item:
                    if is_credential_name(str(item.get("name", ""))):
                        item["value"] = fingerprint(item["value"])
                    else:
                        item["value"] = _scrub_value(item["value"])
        for value in node.values():
            _redact_env(value)
    elif isinstance(node, list):
        for value in node:
            _redact_env(value)


def _pair(match: re.Match[str]) -> str:
    if is_position(match) or match.group(3).startswith("<redacted"):
        return match.group(0)  # a file position, or already a fingerprint
    return match.group(1) + match.group(2) + fingerprint(match.group(3))


def redact_text(text: str) -> str:
    """Scrub `password=hunter2`, `token: abc`, `scheme://user:pass@host` and known token formats
    (`ghp_...`, a JWT) from free text. Unlike `embeds_credential` it judges no value: a look-alike
    is scrubbed too (hiding a flag costs nothing, showing a secret does)."""
    if "://" in text:
        text = URL_CREDS.sub(lambda m: m.group(1) + fingerprint(m.group(2)) + m.group(3), text)
    text = KNOWN_TOKEN.sub(lambda m: fingerprint(m.group(0)), text)
    return TEXT_PAIR.sub(_pair, text) if ANY_KEYWORD.search(text) else text
