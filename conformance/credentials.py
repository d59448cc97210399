"""Credentials told from look-alikes: the one judgement the credential rules and redaction share.

`is_credential(name, value)` is what the credential rules judge by: the name must look like a
credential (and not merely be about one) and the value must look like one too: not a flag, a
reference, a command's output, a number or an image, and for a token not a short id.
`embeds_credential(text)` finds one inside free text; `fingerprint(value)` is how a credential is
shown anywhere (its length and at most two leading characters). Redaction (report/redact.py)
errs the other way and hides every credential-named value, whatever it holds.

It sits on the bottom floor (no imports from the suite): rules and reporting both use it.
"""

from __future__ import annotations

import re
from typing import Any

CREDENTIAL_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|access[_-]?key|dsn|conn(ection)?_?string)",
    re.IGNORECASE,
)
# Names that say the value is *about* a credential: the Secret's name, a file, a URL, a lifetime,
# a switch, the command that prints it, the image that fetches it (`DB_SECRET_NAME`, `TOKEN_TTL`,
# `PASSWORD_FILE`, `OIDC_TOKEN_URL`, `AIRFLOW__WEBSERVER__SECRET_KEY_CMD`, `SECRETS_INIT_IMAGE`).
_ABOUT = (
    "name|names|ref|refs|file|path|dir|url|uri|endpoint|host|port|length|len|size|ttl|timeout|expiry|"
    "expires|lifetime|algorithm|alg|type|mode|policy|header|enabled|required|version|provider|issuer|"
    "audience|scope|scopes|format|prefix|id|keyid|cmd|command|image"
)
_ABOUT_CAMEL = "|".join(word.capitalize() for word in _ABOUT.split("|"))
# After a separator (DB_SECRET_NAME, token.ttl) or at a camelCase boundary (secretName, tokenFile).
_ABOUT_SUFFIX = re.compile(rf"(?:[_.-](?i:{_ABOUT})|(?<=[a-z0-9])(?:{_ABOUT_CAMEL}))$")
# Switches, not secrets (`ALLOW_EMPTY_PASSWORD=yes`, `REDIS_PASSWORD_ENABLED=false`).
_FLAG = re.compile(r"^(yes|no|y|n|true|false|on|off|enabled?|disabled?|none|null|0|1)$", re.IGNORECASE)
# Filled in at run time, so no secret is written down: ${DB_PASSWORD} and $DB_PASSWORD (a shell or
# envsubst), {{ .Values.x }}, the kubelet's $(DB_PASSWORD) reference to another env var and a
# shell's $(cat /run/secrets/db) command. A bare $VAR is upper case, as env vars are written.
PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\{\{[^}]*\}\}|\$\([^()]*\)|\$[A-Z_][A-Z0-9_]*")
# Credentials whose format says what they are, whatever they are called: vendor tokens, JWTs, keys.
KNOWN_TOKEN = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{22,}|glpat-[\w-]{20}|xox[abprs]-[\w-]{10,}"
    r"|[sr]k_live_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}|AIza[\w-]{35}|eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,})"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
# registry/path:tag or @digest: what a container pulls, not what it authenticates with.
_IMAGE = re.compile(r"[a-z0-9.-]+(?::\d+)?/[a-z0-9._/-]+(?::\w[\w.-]*|@sha256:[0-9a-f]{64})")
# Words and numbers joined by dashes (`etcd-cluster-k8s`): names a cluster or a tenant.
_SHORT_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)+")
# Comment lines (YAML, shell, ini, properties) and trailing `  # ...` comments: prose, not settings.
_COMMENT = re.compile(r"^[ \t]*(?:#|;|//).*$|[ \t]+#.*$", re.MULTILINE)
_CREDENTIAL_WORDS = r"password|passwd|secret|token|api[_-]?key|private[_-]?key|credential"
TEXT_PAIR = re.compile(
    rf"(?i)\b([\w.-]*(?:{_CREDENTIAL_WORDS})[\w.-]*)"
    r"(\s*[:=]\s*|'?\s*:\s*'?|\"?\s*:\s*\"?)([^\s,'\"}]+)"
)
# Any credential word at all: most report texts have none, and the pair pattern above backtracks
# at every word of a long text (a 10k-finding attachment took a second).
ANY_KEYWORD = re.compile(rf"(?i){_CREDENTIAL_WORDS}")
URL_CREDS = re.compile(r"(\w+://[^:/\s@]+:)([^@/\s]+)(@)")
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


def credential_kind(name: str) -> str | None:
    """What a name says it holds: "password", "secret" (a secret, key, credential, DSN) or "token";
    None when it names no credential or is only about one (`DB_SECRET_NAME`, `TOKEN_TTL`)."""
    words = {m.group(0).lower() for m in CREDENTIAL_NAME.finditer(name)}
    if not words or _ABOUT_SUFFIX.search(name):
        return None
    if any(w.startswith("pass") for w in words):
        return "password"
    return "token" if words == {"token"} else "secret"


def _literal(kind: str | None, text: str) -> bool:
    """Is `text` written down as the credential a name of that kind holds?

    A password is chosen by a person, so any literal counts (digits too: 123456 is the commonest
    one). A secret or key is not a short number (a count, a size) nor an image. A token is issued
    by a system, so a short id is not one either (`ETCD_INITIAL_CLUSTER_TOKEN=etcd-cluster-k8s`
    names the cluster; `CASSANDRA_NUM_TOKENS=256` counts them). A value of several lines is a file,
    judged by its content (`embeds_credential`).
    """
    literal = PLACEHOLDER.sub("", text).strip()
    if kind is None or not literal or _FLAG.match(literal) or "\n" in literal:
        return False
    if kind == "password" or KNOWN_TOKEN.search(literal):
        return True
    # Six characters hold any count, size or port; a longer number may be a numeric token.
    if (len(literal) <= 6 and _NUMBER.fullmatch(literal)) or _IMAGE.fullmatch(literal):
        return False
    return kind != "token" or not _short_id(literal)


def _short_id(text: str) -> bool:
    """Dashed words and numbers with no random-looking part (a UUID's parts mix hex letters and
    digits): an identifier, not a token."""
    return (
        len(text) <= 63
        and _SHORT_ID.fullmatch(text) is not None
        and not any(len(p) >= 8 and not p.isalpha() and not p.isdigit() for p in text.split("-"))
    )


def embeds_credential(text: str) -> bool:
    """Does free text carry a credential: a known token format, a URL with user:password, or a
    `password=...` pair with a literal value on one line, outside comments? (`secretName: tls`,
    `token:` over a nested mapping, `image: ghcr.io/x/secrets-init:1.0`, `token.yaml:12:3` and
    `# the password: is set below` do not count.)"""
    if KNOWN_TOKEN.search(text):
        return True
    text = PLACEHOLDER.sub("", _COMMENT.sub("", text))
    if URL_CREDS.search(text):
        return True
    return bool(ANY_KEYWORD.search(text)) and any(_literal_pair(m) for m in TEXT_PAIR.finditer(text))


def _literal_pair(match: re.Match[str]) -> bool:
    """A pair the credential pattern found is a key and its literal value, not a look-alike: one
    line (a key over a nested mapping is followed by the next line's key), not a file position, a
    key that starts a word (not the end of a path or an image such as `org/token-proxy:1.2`), a
    colon that separates as YAML and JSON do (`key: v`, `"key":"v"`, not `name:tag`), and a value."""
    key, sep, value = match.group(1), match.group(2), match.group(3)
    start = match.start()
    if "\n" in sep or is_position(match) or (start and match.string[start - 1] in "/@:."):
        return False
    if "=" not in sep and not re.search(r"^['\"]|:[\s'\"]", sep):
        return False
    if value[0] in "&*!|>" or not re.search(r"[A-Za-z0-9]", value):
        return False  # YAML syntax (an anchor, a block scalar), not a value
    return _literal(credential_kind(key), value)


def is_credential(name: str, value: Any) -> bool:
    """Is `name: value` a literal credential? A value that embeds one (a URL with a password, a
    known token format) counts whatever the name; otherwise the name must say what it holds
    (`credential_kind`) and the value be written down as one (`_literal`)."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return False
    text = str(value)
    return embeds_credential(text) or _literal(credential_kind(name), text)


def is_position(match: re.Match[str]) -> bool:
    """A file name in helm's errors, not a key and its value: `secret.yaml:12:3` (a line and
    column), or a path's last part such as `templates/secrets.yaml: error converting YAML`."""
    key, sep, value = match.group(1), match.group(2), match.group(3)
    if not _FILE_NAME.search(key) or sep.strip() != ":":
        return False
    in_path = match.start() > 0 and match.string[match.start() - 1] == "/"
    return in_path or bool(_POSITION.match(value))
