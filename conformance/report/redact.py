"""Keep secret values out of every message and attachment, and tell credentials from look-alikes.

Secret `data`/`stringData` values, credential-looking env values and credential-looking ConfigMap
keys are replaced by a fingerprint (`<redacted: 24 chars "hu********…">`): the length and at most
two leading characters, so a reader can tell a `yes` flag from a real secret without seeing it.
Free text is scrubbed of `password=...`-style pairs and `scheme://user:password@host` URLs, but
never of file positions (`templates/secret.yaml:12:3` in helm's errors).

`is_credential(name, value)` is what the credential rules judge by: the name must look like a
credential and the value like one too (not a flag, a placeholder, a path, or a reference to a
Secret by name).
"""

from __future__ import annotations

import copy
import re
from typing import Any

CREDENTIAL_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|access[_-]?key|dsn|conn(ection)?_?string)",
    re.IGNORECASE,
)
# Names that say the value is *about* a credential: the Secret's name, a file, a URL, a lifetime,
# a switch (`DB_SECRET_NAME`, `TOKEN_TTL`, `PASSWORD_FILE`, `OIDC_TOKEN_URL`).
_ABOUT = (
    "name|names|ref|refs|file|path|dir|url|uri|endpoint|host|port|length|len|size|ttl|timeout|expiry|"
    "expires|lifetime|algorithm|alg|type|mode|policy|header|enabled|required|version|provider|issuer|"
    "audience|scope|scopes|format|prefix|id|keyid"
)
_ABOUT_CAMEL = "|".join(word.capitalize() for word in _ABOUT.split("|"))
# After a separator (DB_SECRET_NAME, token.ttl) or at a camelCase boundary (secretName, tokenFile).
_ABOUT_SUFFIX = re.compile(rf"(?:[_.-](?i:{_ABOUT})|(?<=[a-z0-9])(?:{_ABOUT_CAMEL}))$")
# Switches, not secrets (`ALLOW_EMPTY_PASSWORD=yes`, `REDIS_PASSWORD_ENABLED=false`).
_FLAG = re.compile(r"^(yes|no|y|n|true|false|on|off|enabled?|disabled?|none|null|0|1)$", re.IGNORECASE)
# Filled in at run time, so no secret is written down: ${DB_PASSWORD}, {{ .Values.x }}, and the
# kubelet's $(DB_PASSWORD) reference to another env var.
PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\{\{[^}]*\}\}|\$\([A-Za-z_][A-Za-z0-9_]*\)")
_CREDENTIAL_WORDS = r"password|passwd|secret|token|api[_-]?key|private[_-]?key|credential"
_TEXT_PAIR = re.compile(
    rf"(?i)\b([\w.-]*(?:{_CREDENTIAL_WORDS})[\w.-]*)"
    r"(\s*[:=]\s*|'?\s*:\s*'?|\"?\s*:\s*\"?)([^\s,'\"}]+)"
)
# Any credential word at all: most report texts have none, and the pair pattern above backtracks
# at every word of a long text (a 10k-finding attachment took a second).
_ANY_KEYWORD = re.compile(rf"(?i){_CREDENTIAL_WORDS}")
_URL_CREDS = re.compile(r"(\w+://[^:/\s@]+:)([^@/\s]+)(@)")
# `secret.yaml:12:3`: a file name with a line (and column) is a position, not a key and its value.
_FILE_NAME = re.compile(r"\.[A-Za-z][\w-]{0,9}$")
_POSITION = re.compile(r"^\d+(:\d+)*\b")
_SHOWN_MASK = 8  # at most this many `*`; the length says the rest


def fingerprint(value: Any) -> str:
    """A stand-in for a secret value: its length and at most two leading characters.

    `fingerprint("yes")` is `<redacted: 3 chars "***">`; a 40-character token shows its first two
    characters (often a vendor prefix such as `gh` or `sk`). Short values reveal nothing but their
    length, and no value reveals more than an eighth of itself.
    """
    text = value if isinstance(value, str) else str(value)
    shown = 2 if len(text) >= 16 else 1 if len(text) >= 8 else 0
    hidden = len(text) - shown
    mask = "*" * min(hidden, _SHOWN_MASK) + ("…" if hidden > _SHOWN_MASK else "")
    return f'<redacted: {len(text)} chars "{text[:shown]}{mask}">'


def is_credential_name(name: str) -> bool:
    """Does the name look like it holds a credential (password, token, api key, DSN, ...)?"""
    return bool(CREDENTIAL_NAME.search(name))


def embeds_credential(text: str) -> bool:
    """Does free text carry a credential: a `password=...` pair with a literal value, or a URL with
    user:password? (`secretName: tls` and `token.yaml:12:3` do not count.)"""
    text = PLACEHOLDER.sub("", text)
    if _URL_CREDS.search(text):
        return True
    for match in _TEXT_PAIR.finditer(text):
        key, value = match.group(1), match.group(3)
        if not _is_position(match) and not _ABOUT_SUFFIX.search(key) and not _FLAG.match(value):
            return True
    return False


def is_credential(name: str, value: Any) -> bool:
    """Is `name: value` a literal credential? The name must look like one and not merely be about
    one (`*_SECRET_NAME`, `*_FILE`, `*_TTL`), and the value must be a literal: not empty, not a
    switch such as `yes`, not only placeholders. A value that embeds a credential (a URL with a
    password) counts whatever the name."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return False
    text = str(value)
    if embeds_credential(text):
        return True
    if not is_credential_name(name) or _ABOUT_SUFFIX.search(name):
        return False
    literal = PLACEHOLDER.sub("", text).strip()
    return bool(literal) and not _FLAG.match(literal)


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


def _is_position(match: re.Match[str]) -> bool:
    """A file name in helm's errors, not a key and its value: `secret.yaml:12:3` (a line and
    column), or a path's last part such as `templates/secrets.yaml: error converting YAML`."""
    key, sep, value = match.group(1), match.group(2), match.group(3)
    if not _FILE_NAME.search(key) or sep.strip() != ":":
        return False
    in_path = match.start() > 0 and match.string[match.start() - 1] == "/"
    return in_path or bool(_POSITION.match(value))


def _pair(match: re.Match[str]) -> str:
    if _is_position(match) or match.group(3).startswith("<redacted"):
        return match.group(0)  # a file position, or already a fingerprint
    return match.group(1) + match.group(2) + fingerprint(match.group(3))


def redact_text(text: str) -> str:
    """Scrub `password=hunter2`, `token: abc`, `scheme://user:pass@host` from free text."""
    if "://" in text:
        text = _URL_CREDS.sub(lambda m: m.group(1) + fingerprint(m.group(2)) + m.group(3), text)
    return _TEXT_PAIR.sub(_pair, text) if _ANY_KEYWORD.search(text) else text
