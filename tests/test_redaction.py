"""Secret values never reach messages or attachments."""

from __future__ import annotations

from typing import Any

from conformance.report.redact import MARK, redact_object, redact_text


def test_secret_data_and_string_data_are_redacted() -> None:
    body: dict[str, Any] = {
        "kind": "Secret",
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"token": "abc"},
    }
    out = redact_object(body)
    assert out["data"] == {"password": MARK} and out["stringData"] == {"token": MARK}
    assert body["data"]["password"] == "aHVudGVyMg==", "the input object is not changed"


def test_credential_env_values_are_redacted_anywhere_in_a_pod_spec() -> None:
    body = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "env": [
                                {"name": "DB_PASSWORD", "value": "hunter2"},
                                {"name": "API_KEY", "value": "k"},
                                {"name": "LOG_LEVEL", "value": "info"},
                            ]
                        }
                    ]
                }
            }
        },
    }
    env = redact_object(body)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["value"] for e in env] == [MARK, MARK, "info"]


def test_configmap_credential_keys_and_inline_credentials() -> None:
    out = redact_object(
        {"kind": "ConfigMap", "data": {"db_password": "x", "url": "postgres://app:s3cret@db/x"}}
    )
    assert out["data"]["db_password"] == MARK
    assert "s3cret" not in out["data"]["url"]


def test_free_text() -> None:
    text = redact_text("login failed: password=hunter2 token: abc123 dsn postgres://u:pw@h:5432/db")
    assert "hunter2" not in text and "abc123" not in text and ":pw@" not in text
    assert "password=" + MARK in text
