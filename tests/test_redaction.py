"""Secret values never reach messages or attachments; look-alikes are not taken for credentials."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.credentials import embeds_credential, fingerprint, is_credential
from conformance.report.redact import redact_object, redact_text


def test_secret_data_and_string_data_are_fingerprinted() -> None:
    body: dict[str, Any] = {
        "kind": "Secret",
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"token": "abc"},
    }
    out = redact_object(body)
    assert out["data"] == {"password": '<redacted: 12 chars "a********…">'}
    assert out["stringData"] == {"token": '<redacted: 3 chars "***">'}
    assert body["data"]["password"] == "aHVudGVyMg==", "the input object is not changed"


def test_fingerprint_shows_length_and_at_most_two_leading_characters() -> None:
    assert fingerprint("yes") == '<redacted: 3 chars "***">'
    assert fingerprint("hunter22") == '<redacted: 8 chars "h*******">'
    token = "ghp_" + "x" * 36
    assert fingerprint(token) == '<redacted: 40 chars "gh********…">'
    assert fingerprint(12345) == '<redacted: 5 chars "*****">'
    assert "x" * 3 not in fingerprint(token)


def test_credential_env_values_are_fingerprinted_anywhere_in_a_pod_spec() -> None:
    body = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "env": [
                                {"name": "DB_PASSWORD", "value": "hunter2"},
                                {"name": "ALLOW_EMPTY_PASSWORD", "value": "yes"},
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "DATABASE_URL", "value": "postgres://app:s3cret@db/x"},
                            ]
                        }
                    ]
                }
            }
        },
    }
    env = redact_object(body)["spec"]["template"]["spec"]["containers"][0]["env"]
    values = [e["value"] for e in env]
    # A flag is still hidden in attachments, but its fingerprint shows it is three characters long.
    assert values[:3] == ['<redacted: 7 chars "*******">', '<redacted: 3 chars "***">', "info"]
    assert "s3cret" not in values[3] and values[3].startswith("postgres://app:")


def test_configmap_credential_keys_and_inline_credentials() -> None:
    out = redact_object(
        {"kind": "ConfigMap", "data": {"db_password": "x", "url": "postgres://app:s3cret@db/x"}}
    )
    assert out["data"]["db_password"] == '<redacted: 1 chars "*">'
    assert "s3cret" not in out["data"]["url"]


def test_free_text() -> None:
    text = redact_text("login failed: password=hunter2 token: abc123 dsn postgres://u:pw@h:5432/db")
    assert "hunter2" not in text and "abc123" not in text and ":pw@" not in text
    assert 'password=<redacted: 7 chars "*******">' in text
    assert redact_text(text) == text, "a fingerprint is not redacted again"


@pytest.mark.parametrize(
    "message",
    [
        'Error: template: shop/templates/secret-token.yaml:12:3: executing "shop/templates/x" at <.Values>: '
        "nil pointer evaluating interface {}.token",
        "Error: YAML parse error on shop/templates/secrets.yaml: error converting YAML to JSON: yaml: "
        "line 7: did not find expected key (shop/templates/secrets.yaml:7:14)",
        "parse error at (shop/templates/credentials.tpl:3): unexpected EOF",
    ],
)
def test_helm_file_positions_survive_redaction(message: str) -> None:
    assert redact_text(message) == message


def test_a_position_lookalike_with_a_real_value_is_still_redacted() -> None:
    # `secret.yaml: hunter2` is a key and a value, not a file position.
    assert "hunter2" not in redact_text("secret.yaml: hunter2")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALLOW_EMPTY_PASSWORD", "yes"),  # a switch
        ("REDIS_PASSWORD_ENABLED", "false"),
        ("POSTGRES_SECRET_NAME", "my-secret"),  # the Secret's name, not its content
        ("existingSecretName", "db-credentials"),
        ("DB_PASSWORD_FILE", "/run/secrets/db"),
        ("TOKEN_TTL", "3600"),
        ("OIDC_TOKEN_URL", "https://auth.example.com/token"),
        ("DB_PASSWORD", "$(DB_PASSWORD_FROM_SECRET)"),  # the kubelet expands another env var
        ("DB_PASSWORD", "${DB_PASSWORD}"),
        ("API_KEY", ""),
        ("LOG_LEVEL", "debug"),
    ],
)
def test_not_credentials(name: str, value: str) -> None:
    assert not is_credential(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_PASSWORD", "hunter2"),
        ("API_KEY", "sk_live_51H8xYz"),
        ("JWT_SECRET", "my-secret"),  # a literal, whatever it looks like
        ("REDIS_PASSWORD", 123456),
        ("DATABASE_URL", "postgres://app:s3cret@db:5432/app"),  # by value: the name says nothing
        ("JAVA_OPTS", "-Dspring.datasource.password=hunter2"),
    ],
)
def test_credentials(name: str, value: Any) -> None:
    assert is_credential(name, value)


def test_embedded_pairs_judge_the_key_and_the_value() -> None:
    assert embeds_credential("db:\n  password: hunter2\n")
    assert not embeds_credential("tls:\n  secretName: shop-tls\n")  # names a Secret
    assert not embeds_credential("auth:\n  tokenEnabled: true\n")
    assert not embeds_credential("password: ${DB_PASSWORD}")
