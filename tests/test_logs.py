"""Log redaction is a structlog processor, so no call site has to remember it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from notifier import logs


@pytest.fixture(autouse=True)
def json_logs(capsys: pytest.CaptureFixture[str]) -> None:
    """Each test starts from JSON logs bound to the captured stderr."""
    logs.configure("debug", "json")


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("token", "abc123"),
        ("security_token", "abc123"),
        ("password", "hunter22"),
        ("authorization", "Bearer x"),
        ("caller_number", "+56987654321"),
        ("additionals", {"Nombre": "Juan Perez"}),
        ("webhook_url", "https://h/x?k=1"),
    ],
)
def test_sensitive_fields_are_redacted_by_name(
    capsys: pytest.CaptureFixture[str], field: str, value: object
) -> None:
    """A field whose name marks it as sensitive is replaced whatever its value."""
    logs.get_logger("t").info("event", **{field: value})
    assert lines(capsys)[0][field] == "[REDACTED]"


def test_registered_secrets_are_hidden_anywhere(capsys: pytest.CaptureFixture[str]) -> None:
    """A configured secret is masked even inside an innocent field or nested structure."""
    logs.register_secrets(["s3cr3t-token-value"])
    logs.get_logger("t").error(
        "failed",
        error="rejected s3cr3t-token-value at login",
        nested={"detail": ["s3cr3t-token-value"]},
    )
    text = json.dumps(lines(capsys))
    assert "s3cr3t-token-value" not in text and "[REDACTED]" in text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("call from +56987654321 failed", "+56987654321"),
        ("company 56223456789 answered", "56223456789"),
    ],
)
def test_phone_numbers_are_masked_in_free_text(
    capsys: pytest.CaptureFixture[str], text: str, hidden: str
) -> None:
    """Phone numbers in free text keep only their last four digits."""
    logs.get_logger("t").warning("note", message=text)
    logged = lines(capsys)[0]["message"]
    assert hidden not in logged and hidden[-4:] in logged


@pytest.mark.parametrize(
    "kept",
    [
        "2026-11-24T13:05:09Z",
        "evt_8aac047f103e5e7338fe2931",
        "a93460bbf8402e15b9b0afddc05d5e8d",
        "popup 14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
        "popup 00000000-0000-0000-0000-000000000000",
    ],
)
def test_timestamps_ids_and_uuids_are_not_mangled(
    capsys: pytest.CaptureFixture[str], kept: str
) -> None:
    """Redaction leaves timestamps, event ids and uuids readable."""
    logs.get_logger("t").info("event", value=kept)
    assert lines(capsys)[0]["value"] == kept


def test_stdlib_logging_goes_through_the_same_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Records from libraries using stdlib logging are redacted too."""
    logs.register_secrets(["lib-secret-9876"])
    logging.getLogger("slack_sdk").warning("retrying with lib-secret-9876 for +56987654321")
    err = capsys.readouterr().err
    assert "lib-secret-9876" not in err and "+56987654321" not in err and "4321" in err


def test_console_format_renders_without_json(capsys: pytest.CaptureFixture[str]) -> None:
    """LOG_FORMAT=console gives human lines, still redacted."""
    logs.configure("info", "console")
    logs.get_logger("t").info("cycle", token="abc", calls=3)
    err = capsys.readouterr().err
    assert "cycle" in err and "calls=3" in err and "abc" not in err
    structlog.reset_defaults()


async def test_a_sink_bug_logs_its_traceback_as_one_json_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rendering bug in the email sink is logged with its traceback inside one JSON line,
    phone numbers in it masked, instead of only ``(KeyError)``."""
    from notifier.config import load_settings
    from notifier.events import Event
    from notifier.sinks import email as email_sink
    from tests.support.samples import SPEC_CALL

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("missing wording for +56987654321")

    monkeypatch.setattr(email_sink, "compose", broken)
    settings = load_settings(
        {
            "CLICKFONO_TOKEN": "t",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": "9",
            "EMAIL_FROM": "a@example.com",
            "EMAIL_TO": "b@example.com",
        }
    )
    sink = email_sink.EmailSink(settings)
    event = Event("call.spam", "evt_1", datetime.now(UTC), call=SPEC_CALL)
    [outcome] = await sink.send([event])
    assert outcome is not None and "KeyError" in str(outcome)
    err = capsys.readouterr().err
    records = [json.loads(line) for line in err.splitlines() if line]  # every line is JSON
    [failed] = [r for r in records if r["event"] == "email_send_failed"]
    assert "Traceback" in failed["exception"] and "def broken" not in failed["exception"]
    assert "in broken" in failed["exception"] and "+56987654321" not in err
