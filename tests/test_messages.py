"""The human wording of events: tables over types, languages, numbers, masking and time."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier import events as ev
from notifier.config import EVENT_TYPES
from notifier.events import Event
from notifier.messages import (
    Wording,
    digest,
    duration,
    email_subject,
    format_phone,
    local_time,
    mask_phone,
    mask_text,
    parse_time,
    render,
)
from tests.support.samples import SPEC_CALL

DETECTED = datetime(2019, 4, 2, 13, 47, 3, tzinfo=UTC)  # 42 minutes after call_at
ES, EN = Wording(language="es"), Wording(language="en")


def make_event(kind: str, *, reason: str | None = None, **call: Any) -> Event:
    if kind.startswith("notifier."):
        return Event(type=kind, id="evt_op", detected_at=DETECTED, detail={"error": "HTTP 503"})
    body = {**SPEC_CALL, **call}
    if kind == ev.CALL_OUTSIDE_BUSINESS_HOURS and reason is None:
        reason = "status"
    return Event(
        type=kind,
        id="evt_1",
        detected_at=DETECTED,
        call=body,
        previous_status="En cola",
        reason=reason,
    )


@pytest.mark.parametrize("kind", EVENT_TYPES)
@pytest.mark.parametrize("wording", [ES, EN], ids=["es", "en"])
def test_every_type_has_title_facts_and_action(kind: str, wording: Wording) -> None:
    """Every event type renders a filled title, facts and an action in both languages."""
    message = render(make_event(kind), wording)
    assert message.title and "{" not in message.title
    assert message.facts and all(label and value for label, value in message.facts)
    assert len(message.action) > 20
    assert message.title in message.plain_text() and message.action in message.plain_text()


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_registered_type_has_its_own_wording(language: str) -> None:
    """A type added to the registry without wording in a language fails here."""
    from notifier.messages import _COPY

    missing = [t for t in ev.PUBLIC_TYPES if t not in _COPY[language]]  # type: ignore[index]
    # call.outside_business_hours is worded per reason.
    missing = [t for t in missing if t != ev.CALL_OUTSIDE_BUSINESS_HOURS]
    assert missing == []


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_languages_differ(kind: str) -> None:
    """Spanish and English give different actions, so the language setting takes effect."""
    event = make_event(kind)
    assert render(event, ES).action != render(event, EN).action
    assert render(event, ES).action_label == "Qué hacer"
    assert render(event, EN).action_label == "What to do"


@pytest.mark.parametrize(
    ("kind", "reason", "language", "title_part", "action_part"),
    [
        (
            ev.CALL_ATTEMPTS_EXHAUSTED,
            None,
            "es",
            "Cliente sin contactar",
            "Llamar de vuelta al cliente",
        ),
        (ev.CALL_ATTEMPTS_EXHAUSTED, None, "en", "Customer not reached", "Call the customer back"),
        (ev.CALL_SPAM, None, "es", "SPAM", "bloquear el número"),
        (ev.CALL_SPAM, None, "en", "SPAM", "block the number"),
        (ev.CALL_OUTSIDE_BUSINESS_HOURS, "status", "es", "fuera de horario", "próxima jornada"),
        (
            ev.CALL_OUTSIDE_BUSINESS_HOURS,
            "schedule",
            "es",
            "fuera del horario",
            "horario del popup",
        ),
        (
            ev.CALL_OUTSIDE_BUSINESS_HOURS,
            "schedule",
            "en",
            "outside business hours",
            "popup's schedule",
        ),
        (ev.CALL_QUEUED_TOO_LONG, None, "es", "esperando hace 42 min", "ejecutivos disponibles"),
        (ev.CALL_QUEUED_TOO_LONG, None, "en", "waiting for 42 min", "agents are available"),
        (ev.SOURCE_UNAUTHORIZED, None, "es", "token", "CLICKFONO_TOKEN"),
        (ev.SOURCE_UNAVAILABLE, None, "en", "not responding", "keeps retrying"),
        (ev.SOURCE_RECOVERED, None, "es", "volvió a responder", "No requiere acción"),
    ],
)
def test_titles_and_actions(
    kind: str, reason: str | None, language: str, title_part: str, action_part: str
) -> None:
    """Each alert says what happened and what to do about it."""
    wording = ES if language == "es" else EN
    message = render(make_event(kind, reason=reason), wording)
    assert title_part in message.title
    assert action_part in message.action


def test_outside_hours_reasons_are_told_apart() -> None:
    """`status` and `schedule` reasons get different titles and a reason fact."""
    by_status = render(make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="status"), ES)
    by_schedule = render(make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="schedule"), ES)
    assert by_status.title != by_schedule.title
    assert dict(by_status.facts)["Motivo"] != dict(by_schedule.facts)["Motivo"]


def test_call_facts() -> None:
    """The facts carry name, Chilean number, popup, local time, attempts and both statuses."""
    facts = dict(render(make_event(ev.CALL_ATTEMPTS_EXHAUSTED), ES).facts)
    assert facts == {
        "Cliente": "Juan Perez",
        "Teléfono": "+56 9 8765 4321",
        "Popup": "Pruebas Clickfono",
        "Hora": "martes 02-04-2019 10:05",
        "Intentos": "3",
        "Estado": "Intentos terminados",
        "Estado anterior": "En cola",
        "Rut": "11.111.111-1",
    }


def test_english_statuses_keep_the_original() -> None:
    """In English, Clickfono's statuses are translated with the Spanish original beside them."""
    facts = dict(render(make_event(ev.CALL_ATTEMPTS_EXHAUSTED), EN).facts)
    assert facts["Status"] == "Attempts exhausted (Intentos terminados)"
    assert facts["Previous status"] == "Queued (En cola)"


def test_missing_fields_are_left_out() -> None:
    """A call without name, number or call_at simply has fewer facts."""
    event = make_event(ev.CALL_SPAM, additionals={}, caller_number=None, call_at=None)
    labels = [label for label, _ in render(event, ES).facts]
    assert "Cliente" not in labels and "Teléfono" not in labels and "Hora" not in labels
    assert "Estado" in labels


def test_late_detection_is_noted() -> None:
    """An event found after downtime says it was detected late."""
    event = make_event(ev.CALL_SPAM)
    late = dataclasses.replace(event, observed_late=True)
    assert not render(event, ES).notes
    assert "atraso" in render(late, ES).notes[0]


def test_unknown_type_still_renders() -> None:
    """An event type this version does not know still gets a generic message."""
    message = render(make_event("call.something_new"), ES)
    assert "call.something_new" in message.title and message.action


@pytest.mark.parametrize(
    ("raw", "formatted"),
    [
        ("+56987654321", "+56 9 8765 4321"),
        ("56987654321", "+56 9 8765 4321"),
        ("987654321", "+56 9 8765 4321"),
        (" +56 9 8765 4321 ", "+56 9 8765 4321"),
        ("56223456789", "+56 2 2345 6789"),
        ("+56322123456", "+56 32 212 3456"),
        ("+14155550123", "+14155550123"),
        ("12345", "12345"),
    ],
)
def test_format_phone(raw: str, formatted: str) -> None:
    """Chilean numbers are written +56 9 XXXX XXXX / +56 2 … / +56 AA XXX XXXX; others as given."""
    assert format_phone(raw) == formatted


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+56987654321", "+56 9 **** 4321"),
        ("987654321", "+56 9 **** 4321"),
        ("56223456789", "+56 2 **** 6789"),
        ("+56322123456", "+56 32 *** 3456"),
        ("+14155550123", "+*******0123"),
        ("123", "***"),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    """Masking keeps only the last 4 digits."""
    assert mask_phone(raw) == masked
    digits = re.sub(r"\D", "", raw)
    # After the first star only the last 4 digits may remain visible.
    visible = re.sub(r"\D", "", masked[masked.index("*") :])
    assert visible == (digits[-4:] if len(digits) > 4 else "")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("Juan Perez", "J*** P****"),
        ("11.111.111-1", "**.***.***-*"),
        ("ana@empresa.cl", "a**@*******.**"),
        ("", ""),
    ],
)
def test_mask_text(value: str, masked: str) -> None:
    """Personal values keep their shape and each word's initial, nothing else."""
    assert mask_text(value) == masked


@pytest.mark.parametrize("wording", [Wording(mask_pii=True), Wording("en", mask_pii=True)])
def test_masked_message_hides_digits_and_additionals(wording: Wording) -> None:
    """Under NOTIFIER_MASK_PII no phone digit but the last 4, and no additionals value, shows."""
    text = render(make_event(ev.CALL_ATTEMPTS_EXHAUSTED), wording).plain_text()
    assert "+56 9 **** 4321" in text
    for hidden in ("8765", "Juan", "Perez", "11.111.111-1", "111"):
        assert hidden not in text


@pytest.mark.parametrize(
    ("call_at", "zone", "language", "expected"),
    [
        ("2019-04-02T10:05:03-03:00", "America/Santiago", "es", "martes 02-04-2019 10:05"),
        ("2019-04-02T10:05:03-03:00", "America/Santiago", "en", "Tue 2019-04-02 10:05"),
        ("2019-04-02T10:05:03-03:00", "UTC", "es", "martes 02-04-2019 13:05"),
        ("2026-01-15T12:00:00+00:00", "America/Santiago", "es", "jueves 15-01-2026 09:00"),
        ("2026-07-15T12:00:00+00:00", "America/Santiago", "es", "miércoles 15-07-2026 08:00"),
        ("2026-11-28T23:30:00-03:00", "America/Santiago", "en", "Sat 2026-11-28 23:30"),
    ],
)
def test_local_time(call_at: str, zone: str, language: str, expected: str) -> None:
    """call_at is shown in NOTIFIER_TIMEZONE's local time, summer and winter offsets included."""
    wording = Wording(language="es" if language == "es" else "en", zone=ZoneInfo(zone))
    instant = parse_time(call_at)
    assert instant is not None
    assert local_time(instant, wording) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 min"), (59, "0 min"), (42 * 60, "42 min"), (3600, "1 h"), (3900, "1 h 5 min")],
)
def test_duration(seconds: float, text: str) -> None:
    """Durations read as minutes and hours."""
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("call", "detail", "expected"),
    [
        ({}, {}, "42 min"),
        ({"call_at": "2019-04-02T10:40:00-03:00"}, {}, "más de 15 min"),
        ({"call_at": None}, {}, "más de 15 min"),
        ({}, {"waiting_since": (DETECTED - timedelta(minutes=95)).isoformat()}, "1 h 35 min"),
    ],
)
def test_queued_wait(call: dict[str, Any], detail: dict[str, Any], expected: str) -> None:
    """A long wait shows how long the customer waited, never less than the threshold."""
    base = make_event(ev.CALL_QUEUED_TOO_LONG, status="En cola", **call)
    event = Event(type=base.type, id=base.id, detected_at=DETECTED, call=base.call, detail=detail)
    assert dict(render(event, ES).facts)["Espera"] == expected


@pytest.mark.parametrize(
    ("kinds", "wording", "subject"),
    [
        (
            [ev.CALL_ATTEMPTS_EXHAUSTED, ev.CALL_SPAM, ev.CALL_ATTEMPTS_EXHAUSTED],
            ES,
            "[Clickfono] 3 alertas: 2 llamadas sin contactar, 1 SPAM",
        ),
        ([ev.CALL_SPAM], ES, "[Clickfono] 1 alerta: 1 SPAM"),
        (
            [ev.CALL_QUEUED_TOO_LONG, ev.CALL_OUTSIDE_BUSINESS_HOURS],
            EN,
            "[Clickfono] 2 alerts: 1 customer waiting too long, 1 out-of-hours call",
        ),
        ([ev.SOURCE_UNAVAILABLE], ES, "[Clickfono] 1 alerta: 1 falla de Clickfono"),
    ],
)
def test_email_subject(kinds: list[str], wording: Wording, subject: str) -> None:
    """The subject names the count and the kinds, most frequent first."""
    assert email_subject([make_event(k) for k in kinds], wording) == subject


def test_both_outside_hours_reasons_count_as_one_kind() -> None:
    """Out-of-hours alerts count together whatever their reason."""
    batch = [
        make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="status"),
        make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="schedule"),
    ]
    assert email_subject(batch, ES) == "[Clickfono] 2 alertas: 2 llamadas fuera de horario"


def test_digest() -> None:
    """A digest counts alerts by kind and lists only the first few calls."""
    batch = [make_event(ev.CALL_SPAM, status="SPAM") for _ in range(3)]
    batch += [make_event(ev.CALL_ATTEMPTS_EXHAUSTED) for _ in range(7)]
    result = digest(batch, Wording(mask_pii=True), sample_size=4)
    assert result.title == "10 alertas en este ciclo"
    assert result.counts == (("llamadas sin contactar", 7), ("SPAM", 3))
    assert len(result.sample) == 4 and result.more == "… y 6 más."
    assert result.sample[0].startswith("SPAM · J*** P**** · +56 9 **** 4321")
    assert "8765" not in result.plain_text()


@pytest.mark.parametrize(
    ("language", "failures", "since"),
    [("es", "Ciclos fallidos", "Desde"), ("en", "Failed cycles", "Since")],
)
def test_outage_facts_are_labelled_and_local(language: str, failures: str, since: str) -> None:
    """An outage alert labels its failure count and shows its start in local time."""
    event = Event(
        type=ev.SOURCE_UNAVAILABLE,
        id="evt_1",
        detected_at=DETECTED,
        detail={
            "error": "Clickfono answered HTTP 503",
            "failures": 3,
            "since": "2026-11-24T13:00:00Z",
        },
    )
    wording = ES if language == "es" else EN
    facts = dict(render(event, wording).facts)
    assert facts[failures] == "3"
    assert "10:00" in facts[since] and "2026" in facts[since]
