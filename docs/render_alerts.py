"""Render the examples in docs/alerts.md with the real code.

    .venv/bin/python docs/render_alerts.py > /tmp/alerts.txt

Events come from the real diff engine (``notifier.diff.diff_call``) applied to vendor
records, so ids, payloads and wording are exactly what a deployment produces. The
``notifier.*`` events are built with the same fields as ``notifier.cycle``. Nothing is
sent anywhere: this only prints. Not part of the package or of ``make test``.
"""

from __future__ import annotations

import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notifier import events as ev
from notifier.clickfono.models import Call
from notifier.config import load_settings
from notifier.cycle import Poller
from notifier.diff import DiffContext, Snapshot, diff_call
from notifier.events import Event, event_id, format_timestamp
from notifier.messages import Wording, digest, render, thread_note
from notifier.sinks.console import ConsoleSink
from notifier.sinks.email import compose
from notifier.events import REGISTRY
from notifier.sinks.slack_blocks import digest_blocks, message_blocks

# Tuesday 24 November 2026, 10:05:09 in Santiago (UTC-3, summer time).
NOW = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC)
SETTINGS = load_settings(
    {"CLICKFONO_TOKEN": "example", "NOTIFIER_HOLIDAYS": "CL", "NOTIFIER_CONSOLE": "true"}
)
ES = Wording.from_settings(SETTINGS)
EN = Wording("en", False, SETTINGS.zone, SETTINGS.notifier_queue_alert_minutes)
MASKED = Wording("es", True, SETTINGS.zone, SETTINGS.notifier_queue_alert_minutes)


def vendor(uuid: str, status: str, **fields: Any) -> dict[str, Any]:
    """A record as Clickfono sends it (strings for numbers, its own date format)."""
    record = {
        "uuid": uuid,
        "status": status,
        "call_number_company": "56223456789",
        "retry": "3",
        "duration_company": "117",
        "duration_customer": "95",
        "call_at": "2026/11/24 09:40:12 -0300",
        "enqueued": False,
        "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
        "popup_name": "Ventas Web",
        "additionals": {"Nombre": "Juan Pérez", "Rut": "11.111.111-1"},
        "caller_number": "+56987654321",
    }
    record.update(fields)
    return record


def ctx(now: datetime = NOW) -> DiffContext:
    return DiffContext(
        now=now,
        is_open=SETTINGS.calendar.is_open,
        queue_alert_seconds=SETTINGS.notifier_queue_alert_minutes * 60,
    )


def seen(status: str, minutes_ago: float = 10, *, waiting: bool = False) -> Snapshot:
    since = (NOW - timedelta(minutes=minutes_ago)).timestamp()
    return Snapshot(status, 1, since, wait_since=since if waiting else None, wait_seq=1)


def detect(previous: Snapshot | None, record: dict[str, Any]) -> dict[str, Event]:
    return {e.type: e for e in diff_call(previous, Call.validate(record), ctx()).events}


def source_event(kind: str, detail: dict[str, Any], since: datetime) -> Event:
    return Event(
        type=kind,
        id=event_id("source", kind, repr(since.timestamp())),
        detected_at=NOW,
        detail={**detail, "since": format_timestamp(since)},
    )


def sample_events() -> list[tuple[str, Event]]:
    new = detect(None, vendor("0c1d3a57e2b94f0a8d6e5b4c3a291807", "En cola", retry="0"))
    spam = detect(
        None,
        vendor(
            "5e8f1b2c3d4a49f0b7c6d5e4f3a2b1c0",
            "SPAM",
            retry="0",
            duration_company="0",
            duration_customer="0",
            caller_number="+56911111111",
            additionals={"Nombre": "asdf", "Rut": ""},
        ),
    )
    changed = detect(
        seen("En cola"), vendor("a93460bbf8402e15b9b0afddc05d5e8d", "Intentos terminados")
    )
    out_status = detect(
        seen("Por ejecutar"),
        vendor(
            "d45d347218b49a967a283c7bab360e5b",
            "Fuera de horario",
            retry="0",
            call_at="2026/11/23 21:12:40 -0300",
            popup_name="Soporte Técnico",
            additionals={"Nombre": "Jorge Tapia", "Rut": "12.345.678-5", "Motivo": "Boleta"},
            caller_number="+56223456700",
        ),
    )
    out_schedule = detect(
        seen("En cola"),
        vendor(
            "7f3e9a1b2c4d4e5f8a6b7c8d9e0f1a2b",
            "En ejecución",
            retry="1",
            call_at="2026/11/21 11:30:00 -0300",
            popup_name="Cobranzas",
            additionals={"Nombre": "Camila Rojas", "Rut": "9.876.543-3"},
            caller_number="+56322123456",
        ),
    )
    queued = detect(
        seen("En cola", minutes_ago=42, waiting=True),
        vendor(
            "b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0",
            "En cola",
            retry="1",
            enqueued=True,
            call_at="2026/11/24 09:23:09 -0300",
            additionals={"Nombre": "María González", "Rut": "15.555.555-0"},
            caller_number="+56955512345",
        ),
    )
    outage_since = NOW - timedelta(minutes=3)
    return [
        ("call.created", new[ev.CALL_CREATED]),
        ("call.status_changed", changed[ev.CALL_STATUS_CHANGED]),
        ("call.spam", spam[ev.CALL_SPAM]),
        ("call.attempts_exhausted", changed[ev.CALL_ATTEMPTS_EXHAUSTED]),
        ("call.outside_business_hours (reason status)", out_status[ev.CALL_OUTSIDE_BUSINESS_HOURS]),
        (
            "call.outside_business_hours (reason schedule)",
            out_schedule[ev.CALL_OUTSIDE_BUSINESS_HOURS],
        ),
        ("call.queued_too_long", queued[ev.CALL_QUEUED_TOO_LONG]),
        (
            "notifier.source_unauthorized",
            source_event(
                ev.SOURCE_UNAUTHORIZED,
                {"error": "Clickfono rejected the token (HTTP 401)", "failures": 1},
                NOW,
            ),
        ),
        (
            "notifier.source_unavailable",
            source_event(
                ev.SOURCE_UNAVAILABLE,
                {"error": "Clickfono answered HTTP 503 (all popups)", "failures": 3},
                outage_since,
            ),
        ),
        (
            "notifier.source_recovered",
            Poller._recovery_events(
                {
                    "source_announced": "unavailable",
                    "source_since": repr(outage_since.timestamp()),
                    "source_failures": "7",
                },
                NOW,
            )[0],
        ),
    ]


def slack_text(blocks: list[dict[str, Any]]) -> str:
    """Block Kit as a reader sees it in Slack, in plain text (emoji codes left as codes)."""
    lines: list[str] = []
    for block in blocks:
        if block["type"] == "header":
            lines.append(block["text"]["text"])
        elif block["type"] == "section" and "fields" in block:
            for f in block["fields"]:
                label, _, value = f["text"].partition("\n")
                lines.append(f"{label:<22} {value}")
        elif block["type"] == "section":
            lines.append(block["text"]["text"])
        elif block["type"] == "context":
            lines += [e["text"] for e in block["elements"]]
    return "\n".join(lines)


def section(title: str) -> None:
    print(f"\n######## {title}\n")


def main() -> None:
    samples = sample_events()
    for name, event in samples:
        section(f"slack es {name}")
        print(slack_text(message_blocks(render(event, ES))))

    by_type = dict(samples)
    section("slack en call.attempts_exhausted")
    print(slack_text(message_blocks(render(by_type["call.attempts_exhausted"], EN))))
    section("slack en call.queued_too_long")
    print(slack_text(message_blocks(render(by_type["call.queued_too_long"], EN))))
    section("slack es masked call.attempts_exhausted")
    print(slack_text(message_blocks(render(by_type["call.attempts_exhausted"], MASKED))))

    section("block kit json call.attempts_exhausted")
    print(
        json.dumps(
            message_blocks(render(by_type["call.attempts_exhausted"], ES)),
            indent=2,
            ensure_ascii=False,
        )
    )

    section("slack thread parent after chat.update")
    note = thread_note(NOW, ES)
    print(
        slack_text(message_blocks(render(by_type["call.attempts_exhausted"], ES), extra_note=note))
    )

    section("slack digest")
    storm = [
        e
        for _, e in samples
        if e.call is not None and e.type != ev.CALL_CREATED and e.type != ev.CALL_STATUS_CHANGED
    ] * 5  # 25 alerts: over the threshold of 20
    print(slack_text(digest_blocks(digest(storm, ES))))

    section("plain text fallback (notification text) call.spam")
    print(render(by_type["call.spam"], ES).plain_text())

    section("email")
    batch = [
        by_type["call.attempts_exhausted"],
        by_type["call.spam"],
        by_type["call.queued_too_long"],
    ]
    mail = compose(batch, ES, "alertas@example.cl", ["ventas@example.cl"], NOW)
    for header in ("Subject", "From", "To", "Date", "Message-ID"):
        print(f"{header}: {mail[header]}")
    for header in ("MIME-Version", "Content-Type"):
        value = re.sub(r'boundary=".*"', 'boundary="…"', str(mail[header]))
        print(f"{header}: {value}")
    print()
    print(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    section("email single subject")
    print(
        compose([by_type["call.spam"]], ES, "alertas@example.cl", ["x@example.cl"], NOW)["Subject"]
    )
    section("email en subject")
    print(compose(batch, EN, "alertas@example.cl", ["x@example.cl"], NOW)["Subject"])

    section("console")
    out = io.StringIO()
    console = ConsoleSink(SETTINGS, stream=out, colour=False)
    for _, event in samples:
        print(console.format(event))

    section("webhook payload call.attempts_exhausted")
    print(json.dumps(by_type["call.attempts_exhausted"].payload(), indent=2, ensure_ascii=False))
    section("webhook payload call.queued_too_long")
    print(json.dumps(by_type["call.queued_too_long"].payload(), indent=2, ensure_ascii=False))
    section("webhook payload notifier.source_unavailable")
    print(
        json.dumps(by_type["notifier.source_unavailable"].payload(), indent=2, ensure_ascii=False)
    )
    for name, event in samples:
        section(f"webhook payload {name}")
        print(json.dumps(event.payload(), ensure_ascii=False))
    section("emoji")
    for kind, known in REGISTRY.items():
        print(f"{kind:<30} {known.emoji}")


if __name__ == "__main__":
    main()
