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
    call_duration,
    digest,
    duration,
    email_subject,
    format_phone,
    local_time,
    mask_name,
    mask_phone,
    mask_text,
    parse_time,
    render,
    technical_detail,
    time_ago,
)
from tests.support.samples import SPEC_CALL

DETECTED = datetime(2019, 4, 2, 13, 47, 3, tzinfo=UTC)  # 42 minutes after call_at
ES, EN = Wording(language="es"), Wording(language="en")
SINCE = "2019-04-02T13:22:00Z"  # 25 minutes before DETECTED

OPERATIONAL_DETAIL: dict[str, dict[str, Any]] = {
    ev.SOURCE_UNAUTHORIZED: {
        "error": "Clickfono rejected the token (HTTP 401)",
        "failures": 1,
        "since": SINCE,
    },
    ev.SOURCE_UNAVAILABLE: {
        "error": "Clickfono answered HTTP 503 (all popups)",
        "failures": 3,
        "since": SINCE,
    },
    ev.SOURCE_RECOVERED: {"failures": 7, "since": SINCE},
    ev.SINK_FAILING: {
        "sink": "email",
        "pending": 12,
        "dead_letters": 2,
        "since": SINCE,
        "error": "SMTP mail.example.cl:587 did not finish within 30s",
    },
    ev.SINK_RECOVERED: {"sink": "email", "since": SINCE, "duration_seconds": 1500},
    ev.DAILY_SUMMARY: {
        "popup_uuid": SPEC_CALL["popup_uuid"],
        "popup_name": "Pruebas Clickfono",
        "date": "2019-04-02",
        "total": 40,
        "calls_by_status": {"Conectada": 30, "Intentos terminados": 6, "SPAM": 4},
        "connected_rate": 0.75,
        "waiting_callback": [SPEC_CALL],
        "late": False,
    },
}


def make_event(kind: str, *, reason: str | None = None, **call: Any) -> Event:
    if kind in OPERATIONAL_DETAIL:
        return Event(type=kind, id="evt_op", detected_at=DETECTED, detail=OPERATIONAL_DETAIL[kind])
    body = {**SPEC_CALL, **call}
    if kind == ev.CALL_OUTSIDE_BUSINESS_HOURS and reason is None:
        reason = "status"
    detail: dict[str, Any] = {}
    if kind.startswith("callback."):
        detail = {"user_id": "U0123ABCD", "at": "2019-04-02T13:47:03Z"}
    return Event(
        type=kind,
        id="evt_1",
        detected_at=DETECTED,
        call=body,
        previous_status="En cola",
        reason=reason,
        detail=detail,
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
        (ev.CALL_ATTEMPTS_EXHAUSTED, None, "es", "Cliente sin contactar", "Devolverle la llamada"),
        (ev.CALL_ATTEMPTS_EXHAUSTED, None, "en", "Customer not reached", "Call them back"),
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
        (ev.SOURCE_UNAUTHORIZED, None, "es", "token", "revisen el panel de Clickfono"),
        (ev.SOURCE_UNAVAILABLE, None, "es", "no están llegando alertas", "mientras tanto"),
        (ev.SOURCE_UNAVAILABLE, None, "en", "alerts have stopped", "Check Clickfono's panel"),
        (ev.SOURCE_RECOVERED, None, "es", "volvió a responder tras 25 min", "No requiere"),
        (ev.SOURCE_RECOVERED, None, "en", "responding again after 25 min", "No action"),
    ],
)
def test_titles_and_actions(
    kind: str, reason: str | None, language: str, title_part: str, action_part: str
) -> None:
    """Each alert says what happened and what to do about it."""
    wording = ES if language == "es" else EN
    message = render(make_event(kind, reason=reason), wording)
    assert title_part in message.title
    assert action_part.lower() in message.action.lower()


@pytest.mark.parametrize(
    ("kind", "reason", "wording", "headline"),
    [
        (
            ev.CALL_ATTEMPTS_EXHAUSTED,
            None,
            ES,
            "Devolver la llamada a Juan Perez (+56 9 8765 4321)",
        ),
        (ev.CALL_ATTEMPTS_EXHAUSTED, None, EN, "Call back Juan Perez (+56 9 8765 4321)"),
        (
            ev.CALL_OUTSIDE_BUSINESS_HOURS,
            "status",
            ES,
            "Devolver la llamada a Juan Perez (+56 9 8765 4321) al comenzar la jornada",
        ),
        (
            ev.CALL_QUEUED_TOO_LONG,
            None,
            ES,
            "Atender a Juan Perez (+56 9 8765 4321): espera hace 42 min",
        ),
        (ev.CALL_SPAM, None, ES, "Revisar la llamada SPAM de Juan Perez (+56 9 8765 4321)"),
    ],
)
def test_headline_names_the_customer_and_the_action(
    kind: str, reason: str | None, wording: Wording, headline: str
) -> None:
    """The headline says what to do and to whom, number included."""
    assert render(make_event(kind, reason=reason), wording).headline == headline


@pytest.mark.parametrize(
    ("call", "headline"),
    [
        ({"additionals": {}}, "Devolver la llamada al +56 9 8765 4321"),
        ({"additionals": {}, "caller_number": None}, "Devolver la llamada al cliente"),
    ],
)
def test_headline_without_name_or_number(call: dict[str, Any], headline: str) -> None:
    """Without a name the headline uses the number; without either, "al cliente"."""
    assert render(make_event(ev.CALL_ATTEMPTS_EXHAUSTED, **call), ES).headline == headline


def test_outside_hours_reasons_are_told_apart() -> None:
    """`status` and `schedule` reasons get different titles and a reason fact."""
    by_status = render(make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="status"), ES)
    by_schedule = render(make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="schedule"), ES)
    assert by_status.title != by_schedule.title
    assert dict(by_status.facts)["Motivo del aviso"] != dict(by_schedule.facts)["Motivo del aviso"]


def test_call_facts() -> None:
    """The facts: name, Chilean number, popup, when requested and how long ago, attempts
    as Clickfono reports them, one status row, and the form's own fields under their label."""
    message = render(make_event(ev.CALL_ATTEMPTS_EXHAUSTED), ES)
    assert dict(message.facts) == {
        "Cliente": "Juan Perez",
        "Teléfono": "+56 9 8765 4321",
        "Popup": "Pruebas Clickfono",
        "Solicitó": "10:05 (hace 42 min)",
        "Intentos": "3",
        "Estado": "En cola → Intentos terminados",
        "Formulario": "RUT: 11.111.111-1",
    }
    assert message.tel == "+56987654321"
    assert message.reference == "Llamada a93460bbf8402e15b9b0afddc05d5e8d"


def test_form_fields_never_look_like_the_notifiers_reason() -> None:
    """A form field called Motivo stays inside Formulario; labels are never repeated."""
    extra = {"Nombre": "Ana", "Rut": "1-9", "Motivo": "Boleta", "email": "a@b.cl"}
    event = make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, additionals=extra)
    labels = [label for label, _ in render(event, ES).facts]
    assert len(labels) == len(set(labels))
    assert dict(render(event, ES).facts)["Formulario"] == (
        "RUT: 1-9 · Motivo: Boleta · Correo: a@b.cl"
    )


def test_status_row_does_not_repeat() -> None:
    """One status row; a status change's title already carries both statuses."""
    facts = dict(render(make_event(ev.CALL_SPAM, status="SPAM"), ES).facts)
    assert "Estado anterior" not in facts and facts["Estado"] == "En cola → SPAM"
    same = render(make_event(ev.CALL_QUEUED_TOO_LONG, status="En cola"), ES)
    assert dict(same.facts)["Estado"] == "En cola"
    changed = render(make_event(ev.CALL_STATUS_CHANGED, status="Conectada"), ES)
    assert "Estado" not in dict(changed.facts) and "En cola → Conectada" in changed.title


def test_connected_call_shows_its_duration() -> None:
    """A connected call shows how long the customer talked."""
    event = make_event(ev.CALL_STATUS_CHANGED, status="Conectada", duration_customer=95)
    assert dict(render(event, ES).facts)["Duración"] == "1 min 35 s"
    assert "Duración" not in dict(render(make_event(ev.CALL_SPAM), ES).facts)


def test_english_statuses_keep_the_original() -> None:
    """In English, Clickfono's statuses are translated with the Spanish original beside them."""
    facts = dict(render(make_event(ev.CALL_ATTEMPTS_EXHAUSTED), EN).facts)
    assert facts["Status"] == "Queued (En cola) → Attempts exhausted (Intentos terminados)"
    assert facts["Requested"] == "10:05 (42 min ago)"


def test_missing_fields_are_left_out() -> None:
    """A call without name, number or call_at simply has fewer facts."""
    event = make_event(ev.CALL_SPAM, additionals={}, caller_number=None, call_at=None)
    labels = [label for label, _ in render(event, ES).facts]
    assert "Cliente" not in labels and "Teléfono" not in labels and "Solicitó" not in labels
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


@pytest.mark.parametrize("kind", EVENT_TYPES)
@pytest.mark.parametrize("wording", [ES, EN], ids=["es", "en"])
def test_no_event_ids_in_agent_text(kind: str, wording: Wording) -> None:
    """Agents never see evt_ ids; a call's uuid may stay, in the reference."""
    assert "evt_" not in render(make_event(kind), wording).plain_text()


_ENGLISH = re.compile(
    r"\b(rejected|answered|timed out|failed|unreachable|call back|within|the token)\b", re.I
)


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_spanish_throughout(kind: str) -> None:
    """A Spanish message has no English error text, no calque and no internal words."""
    text = render(make_event(kind), ES).plain_text()
    assert not _ENGLISH.search(text), text
    for word in ("llamarlo de vuelta", "ciclo", "Ciclos fallidos"):
        assert word not in text


@pytest.mark.parametrize(
    ("error", "who", "es"),
    [
        (
            "Clickfono rejected the token (HTTP 401)",
            "Clickfono",
            "Clickfono rechazó el token (HTTP 401)",
        ),
        (
            "Clickfono answered HTTP 503 (all popups)",
            "Clickfono",
            "Clickfono respondió HTTP 503 (todos los popups)",
        ),
        (
            "Clickfono at https://x timed out after 10s (popup p)",
            "Clickfono",
            "Clickfono no respondió en 10 s",
        ),
        (
            "Clickfono unreachable at https://x: ConnectError (all popups)",
            "Clickfono",
            "no se pudo conectar con Clickfono (todos los popups)",
        ),
        ("SMTP h:587 did not finish within 30s", "email", "email no respondió en 30 s"),
        (
            "something new",
            "Clickfono",
            "error técnico; el detalle está en los registros del notificador",
        ),
    ],
)
def test_technical_detail_in_spanish(error: str, who: str, es: str) -> None:
    """Errors are told in Spanish in Spanish messages, and kept as they are in English."""
    assert technical_detail(error, ES, who) == es
    assert technical_detail(error, EN, who) == error


def test_source_outage_tells_agents_what_to_do_and_ops_the_detail() -> None:
    """Clickfono down: agents read what to do; the error and count go in the ops line."""
    message = render(make_event(ev.SOURCE_UNAVAILABLE), ES)
    assert "revisen el panel de clickfono mientras tanto" in message.action.lower()
    assert dict(message.facts) == {"Desde": "10:22 (hace 25 min)"}
    assert message.ops == (
        "Para soporte: Clickfono respondió HTTP 503 (todos los popups); "
        "3 consultas fallidas seguidas"
    )


def test_recovery_says_how_long_the_outage_lasted() -> None:
    """The recovery names the outage's length and its span."""
    message = render(make_event(ev.SOURCE_RECOVERED), ES)
    assert message.title == "Clickfono volvió a responder tras 25 min"
    assert dict(message.facts) == {"Sin respuesta": "10:22 – 10:47 (25 min)"}


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
        ("Juan Perez", "J. P."),
        ("Alejandro Bocanegra", "A. B."),
        ("ana", "A."),
        ("María José de la Fuente", "M. J. D."),
        ("12345", "—"),
    ],
)
def test_mask_name(value: str, masked: str) -> None:
    """Names become initials, which do not reveal how long the name is."""
    assert mask_name(value) == masked


def test_mask_text_hides_length() -> None:
    """Other personal values are hidden whole: two lengths look the same."""
    assert mask_text("11.111.111-1") == mask_text("1-9") == "***"
    assert mask_text("") == ""


@pytest.mark.parametrize("wording", [Wording(mask_pii=True), Wording("en", mask_pii=True)])
def test_masked_message_hides_pii_and_says_where_the_record_is(wording: Wording) -> None:
    """Under NOTIFIER_MASK_PII only initials and the last 4 digits show, no tel: link, and
    a note names the popup, the time and the call uuid to find the record in Clickfono."""
    message = render(make_event(ev.CALL_ATTEMPTS_EXHAUSTED), wording)
    text = message.plain_text()
    assert "+56 9 **** 4321" in text and "J. P." in text
    for hidden in ("8765", "Juan", "Perez", "11.111.111-1", "111"):
        assert hidden not in text
    assert message.tel is None
    [note] = message.notes
    assert "Clickfono" in note and "Pruebas Clickfono" in note
    assert "10:05" in note and "a93460bbf8402e15b9b0afddc05d5e8d" in note


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
    ("call_at", "wording", "expected"),
    [
        ("2019-04-02T10:35:03-03:00", ES, "10:35 (hace 12 min)"),
        ("2019-04-02T10:46:30-03:00", ES, "10:46 (recién)"),
        ("2019-04-01T21:12:00-03:00", ES, "ayer 21:12 (hace 13 h 35 min)"),
        ("2019-03-29T09:00:00-03:00", ES, "viernes 29-03 09:00 (hace 4 días)"),
        ("2019-04-02T10:35:03-03:00", EN, "10:35 (12 min ago)"),
        ("2019-04-01T21:12:00-03:00", EN, "yesterday 21:12 (13 h 35 min ago)"),
    ],
)
def test_time_ago(call_at: str, wording: Wording, expected: str) -> None:
    """When the customer asked, and how long ago, in words an agent reads at a glance."""
    instant = parse_time(call_at)
    assert instant is not None
    assert time_ago(instant, DETECTED, wording) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 min"), (59, "0 min"), (42 * 60, "42 min"), (3600, "1 h"), (3900, "1 h 5 min")],
)
def test_duration(seconds: float, text: str) -> None:
    """Durations read as minutes and hours."""
    assert duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(45, "45 s"), (60, "1 min"), (95, "1 min 35 s")])
def test_call_duration(seconds: float, text: str) -> None:
    """A call's length reads in minutes and seconds."""
    assert call_duration(seconds) == text


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
            [ev.CALL_SPAM, ev.CALL_SPAM, ev.CALL_ATTEMPTS_EXHAUSTED],
            ES,
            "[Clickfono] 3 alertas: 1 cliente sin contactar, 2 llamadas SPAM",
        ),
        ([ev.CALL_SPAM, ev.CALL_SPAM], ES, "[Clickfono] 2 alertas: 2 llamadas SPAM"),
        (
            [ev.CALL_OUTSIDE_BUSINESS_HOURS, ev.CALL_QUEUED_TOO_LONG],
            EN,
            "[Clickfono] 2 alerts: 1 customer waiting too long, 1 out-of-hours call",
        ),
        (
            [ev.CALL_ATTEMPTS_EXHAUSTED],
            ES,
            "[Clickfono] Devolver la llamada a Juan Perez (+56 9 8765 4321)",
        ),
        ([ev.CALL_SPAM], EN, "[Clickfono] Review the SPAM call from Juan Perez (+56 9 8765 4321)"),
        (
            [ev.SOURCE_UNAVAILABLE],
            ES,
            "[Clickfono] Clickfono no responde: no están llegando alertas",
        ),
    ],
)
def test_email_subject(kinds: list[str], wording: Wording, subject: str) -> None:
    """One event: the subject names the action and the customer; a batch leads with the
    most urgent kind."""
    assert email_subject([make_event(k) for k in kinds], wording) == subject


def test_both_outside_hours_reasons_count_as_one_kind() -> None:
    """Out-of-hours alerts count together whatever their reason."""
    batch = [
        make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="status"),
        make_event(ev.CALL_OUTSIDE_BUSINESS_HOURS, reason="schedule"),
    ]
    assert email_subject(batch, ES) == "[Clickfono] 2 alertas: 2 llamadas fuera de horario"


def test_digest_lists_every_customer_most_urgent_first() -> None:
    """A digest lists every customer to call back before SPAM, which is a count with
    a few examples; no internal words."""
    batch = [make_event(ev.CALL_SPAM, status="SPAM") for _ in range(30)]
    batch += [
        make_event(ev.CALL_ATTEMPTS_EXHAUSTED, caller_number=f"+5698765{i:04d}") for i in range(70)
    ]
    result = digest(batch, ES)
    assert result.title == "100 alertas de Clickfono"
    assert result.counts == (("clientes sin contactar", 70), ("llamadas SPAM", 30))
    first, spam = result.groups
    assert first.heading.startswith("70 clientes sin contactar: devolverles la llamada")
    assert len(first.lines) == 70 and first.hidden == 0
    assert first.lines[0] == ("Juan Perez", "+56 9 8765 0000 · Pruebas Clickfono · 10:05")
    assert len(spam.lines) == 3 and spam.hidden == 27 and spam.hidden_note == "… y 27 más."
    text = result.plain_text()
    assert all(f"+56 9 8765 {i:04d}" in text for i in range(70))
    assert "ciclo" not in text
    masked = digest(batch, Wording(mask_pii=True)).plain_text()
    assert "J. P. · +56 9 **** 0000" in masked and "8765" not in masked
    assert "panel de Clickfono (busquen por popup y hora)" in masked
