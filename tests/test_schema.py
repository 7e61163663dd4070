"""The webhook contract: generated from the code, committed, strict, and met by the sink."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from notifier import events as ev
from notifier import payloads
from notifier.clickfono.models import Call
from notifier.config import load_settings
from notifier.events import Event, event_id
from notifier.schema import DIALECT, build_document, render
from notifier.sinks.webhook import WebhookSink
from tests.support.samples import SPEC_CALL
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver, contract_errors

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "webhooks.openapi.json"
AT = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC)
SINCE = "2026-11-24T12:55:00Z"

# One realistic detail per type, as its producer builds it (payloads.py's TypedDicts).
DETAILS: dict[str, dict[str, Any]] = {
    ev.CALL_QUEUED_TOO_LONG: {"waiting_since": SINCE},
    ev.SOURCE_UNAUTHORIZED: {"error": "Clickfono answered 401", "failures": 1, "since": SINCE},
    ev.SOURCE_UNAVAILABLE: {"error": "timed out after 10s", "failures": 3, "since": SINCE},
    ev.SOURCE_RECOVERED: {"failures": 4, "since": SINCE},
    ev.SINK_FAILING: {
        "sink": "email",
        "pending": 12,
        "dead_letters": 0,
        "since": SINCE,
        "error": "email refused: 550",
    },
    ev.SINK_RECOVERED: {"sink": "email", "since": SINCE, "duration_seconds": 600},
    ev.CALLBACK_CLAIMED: {"user_id": "U0123ABCD", "at": SINCE},
    ev.CALLBACK_RELEASED: {"user_id": "U0123ABCD", "at": SINCE},
    ev.CALLBACK_DONE: {"user_id": "W0123ABCD", "at": SINCE},
    ev.CALLBACK_RESOLVED: {"at": SINCE},
    ev.DAILY_SUMMARY: {
        "popup_uuid": SPEC_CALL["popup_uuid"],
        "popup_name": "Pruebas Clickfono",
        "date": "2026-11-24",
        "total": 3,
        "calls_by_status": {"Conectada": 2, "Intentos terminados": 1},
        "connected_rate": 2 / 3,
        "spam": 0,
        "out_of_hours": 1,
        "longest_wait_seconds": 340,
        "median_claim_seconds": None,
        "waiting_callback": [SPEC_CALL],
        "late": False,
    },
}


def sample_event(event_type: str) -> Event:
    """An event of this type shaped like its producer's (call, reason, detail)."""
    shape = payloads.SHAPES[event_type]
    is_change = ev.REGISTRY[event_type].kind in (ev.Kind.CALL_ALERT, ev.Kind.CALL_CHANGE)
    return Event(
        type=event_type,
        id=event_id("schema-test", event_type),
        detected_at=AT,
        call=dict(SPEC_CALL) if shape.call else None,
        previous_status="En cola" if is_change else None,
        reason=shape.reasons[0] if shape.reasons else None,
        observed_late=is_change,
        detail=DETAILS.get(event_type, {}),
    )


def validator(event_type: str) -> Draft202012Validator:
    document = build_document()
    root = {
        "$schema": DIALECT,
        "components": document["components"],
        "$ref": f"#/components/schemas/{event_type}",
    }
    return Draft202012Validator(root)


def test_committed_document_is_up_to_date() -> None:
    """docs/webhooks.openapi.json is exactly what `clickfono-notifier schema` prints now
    (regenerate it with `.venv/bin/clickfono-notifier schema > docs/webhooks.openapi.json`)."""
    assert COMMITTED.read_text(encoding="utf-8") == render()


def test_schema_command_needs_no_configuration() -> None:
    """`clickfono-notifier schema` with an empty environment prints the document, exit 0."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "schema"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == build_document()


def test_one_webhook_per_public_event_type_with_the_standard_headers() -> None:
    """`webhooks` has exactly the registry's public types (not the internal slack.update),
    each with the three Standard Webhooks headers and its body schema keyed by the type."""
    document = build_document()
    assert document["openapi"].startswith("3.1.")
    assert list(document["webhooks"]) == list(ev.PUBLIC_TYPES)
    assert ev.SLACK_UPDATE not in document["webhooks"]
    parameters = document["components"]["parameters"]
    for name, operation in document["webhooks"].items():
        post = operation["post"]
        refs = [p["$ref"].rsplit("/", 1)[1] for p in post["parameters"]]
        assert refs == ["webhook-id", "webhook-timestamp", "webhook-signature"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{name}"}
    assert [parameters[n]["required"] for n in refs] == [True, True, False]


def test_every_body_schema_is_valid_json_schema_2020_12() -> None:
    """Each component schema passes the 2020-12 metaschema."""
    for name, schema in build_document()["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object", name


def test_every_registered_public_type_has_a_payload_shape() -> None:
    """A new event type without a declared payload shape fails here (and in build)."""
    assert set(ev.PUBLIC_TYPES) <= set(payloads.SHAPES)


def test_call_schema_has_exactly_the_keys_call_payload_emits() -> None:
    """data.call lists every key of Call.payload(), all required, and no other."""
    call_schema = build_document()["components"]["schemas"]["Call"]
    emitted = Call.validate(SPEC_CALL).payload()
    assert list(call_schema["properties"]) == list(emitted)
    assert call_schema["required"] == list(emitted)


@pytest.mark.parametrize("event_type", ev.PUBLIC_TYPES)
def test_each_type_payload_validates(event_type: str) -> None:
    """A payload built by Event.payload() for every public type validates."""
    payload = sample_event(event_type).payload()
    errors = [e.message for e in validator(event_type).iter_errors(payload)]
    assert errors == []


def mutate(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return changed


_DELETE = object()


@pytest.mark.parametrize(
    ("event_type", "path", "value"),
    [
        (ev.CALL_ATTEMPTS_EXHAUSTED, ("data", "call", "retry"), "3"),
        (ev.CALL_ATTEMPTS_EXHAUSTED, ("data", "call", "uuid"), _DELETE),
        (ev.CALL_ATTEMPTS_EXHAUSTED, ("data", "previous_status"), _DELETE),
        (ev.CALL_ATTEMPTS_EXHAUSTED, ("data", "call", "caller_number"), 56987654321),
        (ev.CALL_ATTEMPTS_EXHAUSTED, ("data", "unexpected"), 1),
        (ev.CALL_ATTEMPTS_EXHAUSTED, ("type",), "call.spam"),
        (ev.CALL_ATTEMPTS_EXHAUSTED, ("timestamp",), "24/11/2026"),
        (ev.CALL_OUTSIDE_BUSINESS_HOURS, ("data", "reason"), "lunch"),
        (ev.CALL_OUTSIDE_BUSINESS_HOURS, ("data", "reason"), _DELETE),
        (ev.SOURCE_UNAVAILABLE, ("data", "failures"), -1),
        (ev.CALLBACK_CLAIMED, ("data", "user_id"), "<!channel>"),
        (ev.DAILY_SUMMARY, ("data", "connected_rate"), 1.5),
        (ev.DAILY_SUMMARY, ("data", "waiting_callback"), [{"status": "SPAM"}]),
    ],
)
def test_the_schemas_are_strict(event_type: str, path: tuple[str, ...], value: Any) -> None:
    """Wrong types, missing required fields, unknown fields and bad values all fail:
    `retry` as a string, no `call.uuid`, a number as phone, an unknown reason, …"""
    payload = mutate(sample_event(event_type).payload(), path, value)
    assert list(validator(event_type).iter_errors(payload)) != []


async def test_the_webhook_sink_meets_the_contract_for_every_type() -> None:
    """The real webhook sink POSTs every public type to a receiver that checks headers and
    body against the contract, with no violation."""
    with WebhookReceiver(WEBHOOK_TEST_SECRET) as receiver:
        settings = load_settings(
            {
                "CLICKFONO_TOKEN": "t0ken-value",
                "WEBHOOK_URL": receiver.url,
                "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
            }
        )
        sink = WebhookSink(settings)
        try:
            outcomes = await sink.send([sample_event(t) for t in ev.PUBLIC_TYPES])
        finally:
            await sink.aclose()
        deliveries = receiver.alerts
    assert outcomes == [None] * len(ev.PUBLIC_TYPES)
    assert len(deliveries) == len(ev.PUBLIC_TYPES)
    assert all(d.verified and d.contract_errors == () for d in deliveries)


async def test_the_receiver_reports_payloads_outside_the_contract() -> None:
    """A payload with `retry` as a string and no `call.uuid`, POSTed to the suite's
    receiver, is recorded as a violation (which every other test would fail on)."""
    import httpx

    payload = sample_event(ev.CALL_SPAM).payload()
    payload["data"]["call"]["retry"] = "3"
    del payload["data"]["call"]["uuid"]
    headers = {"webhook-id": event_id("bad"), "webhook-timestamp": "1764000000"}
    with WebhookReceiver() as receiver:
        async with httpx.AsyncClient() as client:
            answer = await client.post(receiver.url, json=payload, headers=headers)
        errors = receiver.expect_contract_violations()
    assert answer.status_code == 200
    assert any("call/retry" in e and "'3' is not valid" in e for e in errors), errors
    assert any("'uuid' is a required property" in e for e in errors), errors


def test_headers_are_checked_too() -> None:
    """A webhook-id that is not an event id, or a missing timestamp, breaks the contract."""
    body = json.dumps(sample_event(ev.CALL_SPAM).payload()).encode()
    good = {"webhook-id": event_id("x"), "webhook-timestamp": "1764000000"}
    assert contract_errors(good, body) == ()
    problems = contract_errors({"webhook-id": "42"}, body)
    assert any(p.startswith("header webhook-id:") for p in problems)
    assert "header webhook-timestamp: missing" in problems
