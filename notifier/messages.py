"""The human wording of every event, in Spanish (default) and English.

Pure functions, no I/O: the Slack and email sinks turn these values into Block Kit and
HTML. Phone numbers are formatted the Chilean way and masked under NOTIFIER_MASK_PII.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from notifier import events as ev
from notifier.events import Event

if TYPE_CHECKING:
    from notifier.config import Settings

Language = Literal["es", "en"]
Severity = Literal["alert", "warning", "info", "ok"]
_SANTIAGO = ZoneInfo("America/Santiago")


@dataclass(frozen=True, slots=True)
class Wording:
    """What shapes the text: language, masking, local time zone, the queue threshold."""

    language: Language = "es"
    mask_pii: bool = False
    zone: tzinfo = _SANTIAGO
    queue_alert_minutes: float = 15

    @classmethod
    def from_settings(cls, settings: Settings) -> Wording:
        return cls(
            settings.notifier_language,
            settings.notifier_mask_pii,
            settings.zone,
            settings.notifier_queue_alert_minutes,
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One event in words: a title, the facts, and what to do about it."""

    event_type: str
    severity: Severity
    title: str
    facts: tuple[tuple[str, str], ...]
    action_label: str
    action: str
    notes: tuple[str, ...]
    reference: str

    def plain_text(self) -> str:
        lines = [self.title, *(f"{label}: {value}" for label, value in self.facts)]
        lines.append(f"{self.action_label}: {self.action}")
        lines += self.notes
        lines.append(self.reference)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Digest:
    """Many alerts at once: counts by kind and the first few calls."""

    title: str
    counts: tuple[tuple[str, int], ...]
    sample_label: str
    sample: tuple[str, ...]
    more: str | None
    note: str

    def plain_text(self) -> str:
        lines = [self.title, *(f"- {n} {kind}" for kind, n in self.counts), self.sample_label]
        lines += [f"- {line}" for line in self.sample]
        if self.more:
            lines.append(self.more)
        lines.append(self.note)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Copy:
    title: str
    action: str
    one: str
    many: str
    severity: Severity = "alert"


_OUTSIDE_STATUS = "call.outside_business_hours/status"
_OUTSIDE_SCHEDULE = "call.outside_business_hours/schedule"
_UNKNOWN = "?"

_COPY: dict[Language, dict[str, _Copy]] = {
    "es": {
        ev.CALL_CREATED: _Copy(
            "Nueva solicitud de llamada",
            "Solo informativo: por ahora no requiere acción.",
            "llamada nueva",
            "llamadas nuevas",
            "info",
        ),
        ev.CALL_STATUS_CHANGED: _Copy(
            "Cambio de estado: {previous} → {status}",
            "Revisar si el nuevo estado requiere seguimiento con el cliente.",
            "cambio de estado",
            "cambios de estado",
            "info",
        ),
        ev.CALL_SPAM: _Copy(
            "Llamada marcada como SPAM",
            "Revisar la solicitud. Si es un cliente real, llamarlo de vuelta y ajustar las "
            "reglas de SPAM del popup; si es abuso, bloquear el número.",
            "SPAM",
            "SPAM",
            "warning",
        ),
        ev.CALL_ATTEMPTS_EXHAUSTED: _Copy(
            "Cliente sin contactar: se agotaron los intentos",
            "Llamar de vuelta al cliente lo antes posible.",
            "llamada sin contactar",
            "llamadas sin contactar",
        ),
        _OUTSIDE_STATUS: _Copy(
            "Llamada recibida fuera de horario",
            "Clickfono no ejecutó la llamada porque llegó fuera del horario de atención. "
            "Llamar de vuelta al cliente al comenzar la próxima jornada.",
            "llamada fuera de horario",
            "llamadas fuera de horario",
        ),
        _OUTSIDE_SCHEDULE: _Copy(
            "Llamada en curso fuera del horario de atención",
            "La llamada se ejecutó fuera del horario configurado o en un feriado. Confirmar "
            "que haya un ejecutivo disponible y revisar el horario del popup.",
            "llamada fuera de horario",
            "llamadas fuera de horario",
            "warning",
        ),
        ev.CALL_QUEUED_TOO_LONG: _Copy(
            "Cliente esperando hace {wait}",
            "El cliente sigue en espera. Revisar que haya ejecutivos disponibles en el popup "
            "o llamarlo directamente.",
            "cliente esperando demasiado",
            "clientes esperando demasiado",
        ),
        ev.SOURCE_UNAUTHORIZED: _Copy(
            "Clickfono rechazó el token de la API",
            "Generar un token nuevo en Clickfono y actualizar CLICKFONO_TOKEN. Mientras "
            "tanto no se detectan llamadas nuevas.",
            "token rechazado por Clickfono",
            "tokens rechazados por Clickfono",
        ),
        ev.SOURCE_UNAVAILABLE: _Copy(
            "Clickfono no responde",
            "El notificador sigue reintentando y revisará las llamadas pendientes cuando "
            "Clickfono vuelva. Si se prolonga, revisar el estado del servicio o la conexión.",
            "falla de Clickfono",
            "fallas de Clickfono",
            "warning",
        ),
        ev.SOURCE_RECOVERED: _Copy(
            "Clickfono volvió a responder",
            "No requiere acción: se retomó el monitoreo y se avisará de los cambios "
            "ocurridos durante la falla.",
            "recuperación de Clickfono",
            "recuperaciones de Clickfono",
            "ok",
        ),
        ev.SINK_FAILING: _Copy(
            "Un canal de avisos está fallando",
            "Algunas alertas no están llegando por ese canal. Revisen mientras tanto el panel "
            "de Clickfono; el notificador sigue reintentando.",
            "canal de avisos con fallas",
            "canales de avisos con fallas",
        ),
        ev.SINK_RECOVERED: _Copy(
            "El canal de avisos volvió a funcionar",
            "No requiere acción: las alertas pendientes se están enviando.",
            "canal de avisos recuperado",
            "canales de avisos recuperados",
            "ok",
        ),
        ev.CALLBACK_CLAIMED: _Copy(
            "Devolución de llamada tomada",
            "Un ejecutivo se hizo cargo de devolverle la llamada al cliente.",
            "devolución tomada",
            "devoluciones tomadas",
            "info",
        ),
        ev.CALLBACK_RELEASED: _Copy(
            "Devolución de llamada liberada",
            "Nadie está a cargo: otro ejecutivo puede tomarla.",
            "devolución liberada",
            "devoluciones liberadas",
            "warning",
        ),
        ev.CALLBACK_DONE: _Copy(
            "Devolución de llamada cerrada",
            "No requiere acción: la devolución quedó cerrada.",
            "devolución cerrada",
            "devoluciones cerradas",
            "ok",
        ),
        ev.CALLBACK_RESOLVED: _Copy(
            "Cliente contactado",
            "No requiere acción: una llamada posterior del mismo número se conectó.",
            "cliente contactado",
            "clientes contactados",
            "ok",
        ),
        ev.DAILY_SUMMARY: _Copy(
            "Resumen del día",
            "Revisar los clientes que siguen esperando que les devuelvan la llamada.",
            "resumen del día",
            "resúmenes del día",
            "info",
        ),
        _UNKNOWN: _Copy(
            "Evento {type}",
            "Revisar el detalle del evento.",
            "otro evento",
            "otros eventos",
            "info",
        ),
    },
    "en": {
        ev.CALL_CREATED: _Copy(
            "New call request",
            "For information only: no action needed for now.",
            "new call",
            "new calls",
            "info",
        ),
        ev.CALL_STATUS_CHANGED: _Copy(
            "Status changed: {previous} → {status}",
            "Check whether the new status needs a follow-up with the customer.",
            "status change",
            "status changes",
            "info",
        ),
        ev.CALL_SPAM: _Copy(
            "Call marked as SPAM",
            "Review the request. If it is a real customer, call them back and adjust the "
            "popup's SPAM rules; if it is abuse, block the number.",
            "SPAM",
            "SPAM",
            "warning",
        ),
        ev.CALL_ATTEMPTS_EXHAUSTED: _Copy(
            "Customer not reached: all attempts used",
            "Call the customer back as soon as possible.",
            "customer not reached",
            "customers not reached",
        ),
        _OUTSIDE_STATUS: _Copy(
            "Call received outside business hours",
            "Clickfono did not place the call because it arrived outside business hours. "
            "Call the customer back when the next business day starts.",
            "out-of-hours call",
            "out-of-hours calls",
        ),
        _OUTSIDE_SCHEDULE: _Copy(
            "Call in progress outside business hours",
            "The call ran outside the configured hours or on a holiday. Make sure an agent "
            "is available and review the popup's schedule.",
            "out-of-hours call",
            "out-of-hours calls",
            "warning",
        ),
        ev.CALL_QUEUED_TOO_LONG: _Copy(
            "Customer waiting for {wait}",
            "The customer is still waiting. Check that agents are available on the popup, "
            "or call the customer directly.",
            "customer waiting too long",
            "customers waiting too long",
        ),
        ev.SOURCE_UNAUTHORIZED: _Copy(
            "Clickfono rejected the API token",
            "Generate a new token in Clickfono and update CLICKFONO_TOKEN. Until then no "
            "new calls are detected.",
            "Clickfono token rejected",
            "Clickfono tokens rejected",
        ),
        ev.SOURCE_UNAVAILABLE: _Copy(
            "Clickfono is not responding",
            "The notifier keeps retrying and will check pending calls when Clickfono is "
            "back. If it lasts, check the service status or the network.",
            "Clickfono outage",
            "Clickfono outages",
            "warning",
        ),
        ev.SOURCE_RECOVERED: _Copy(
            "Clickfono is responding again",
            "No action needed: monitoring resumed and changes that happened during the "
            "outage will be reported.",
            "Clickfono recovery",
            "Clickfono recoveries",
            "ok",
        ),
        ev.SINK_FAILING: _Copy(
            "An alert channel is failing",
            "Some alerts are not getting through on that channel. Check Clickfono's panel "
            "meanwhile; the notifier keeps retrying.",
            "failing alert channel",
            "failing alert channels",
        ),
        ev.SINK_RECOVERED: _Copy(
            "The alert channel works again",
            "No action needed: pending alerts are being sent.",
            "recovered alert channel",
            "recovered alert channels",
            "ok",
        ),
        ev.CALLBACK_CLAIMED: _Copy(
            "Callback taken",
            "An agent is calling the customer back.",
            "callback taken",
            "callbacks taken",
            "info",
        ),
        ev.CALLBACK_RELEASED: _Copy(
            "Callback released",
            "Nobody owns it now: another agent can take it.",
            "callback released",
            "callbacks released",
            "warning",
        ),
        ev.CALLBACK_DONE: _Copy(
            "Callback closed",
            "No action needed: the callback is closed.",
            "callback closed",
            "callbacks closed",
            "ok",
        ),
        ev.CALLBACK_RESOLVED: _Copy(
            "Customer reached",
            "No action needed: a later call from the same number connected.",
            "customer reached",
            "customers reached",
            "ok",
        ),
        ev.DAILY_SUMMARY: _Copy(
            "Daily summary",
            "Check the customers still waiting for a call back.",
            "daily summary",
            "daily summaries",
            "info",
        ),
        _UNKNOWN: _Copy(
            "Event {type}", "Check the event details.", "other event", "other events", "info"
        ),
    },
}

_LABELS: dict[Language, dict[str, str]] = {
    "es": {
        "customer": "Cliente",
        "phone": "Teléfono",
        "popup": "Popup",
        "time": "Hora",
        "attempts": "Intentos",
        "status": "Estado",
        "previous": "Estado anterior",
        "reason": "Motivo",
        "wait": "Espera",
        "action": "Qué hacer",
        "call": "Llamada",
        "event": "evento",
        "alert": "alerta",
        "alerts": "alertas",
        "late": "Detectado con atraso: el notificador estuvo un rato sin revisar Clickfono.",
        "reason.status": "Clickfono la marcó «Fuera de horario»",
        "reason.schedule": "La hora de la llamada cae fuera del horario de atención o en feriado",
        "more_than": "más de {d}",
        "digest.title": "{n} alertas en este ciclo",
        "digest.sample": "Primeras llamadas:",
        "digest.more": "… y {n} más.",
        "digest.note": "Se agruparon en un solo mensaje para no saturar el canal.",
        "batch.title": "{n} alertas de Clickfono",
        "batch.title.one": "1 alerta de Clickfono",
        "thread.note": "Último estado, actualizado a las {time}. El historial está en el hilo.",
        "footer": "Enviado por clickfono-notifier.",
    },
    "en": {
        "customer": "Customer",
        "phone": "Phone",
        "popup": "Popup",
        "time": "Time",
        "attempts": "Attempts",
        "status": "Status",
        "previous": "Previous status",
        "reason": "Reason",
        "wait": "Waiting",
        "action": "What to do",
        "call": "Call",
        "event": "event",
        "alert": "alert",
        "alerts": "alerts",
        "late": "Detected late: the notifier had not checked Clickfono for a while.",
        "reason.status": "Clickfono marked it “Fuera de horario” (outside business hours)",
        "reason.schedule": "The call time is outside business hours or on a holiday",
        "more_than": "over {d}",
        "digest.title": "{n} alerts in this cycle",
        "digest.sample": "First calls:",
        "digest.more": "… and {n} more.",
        "digest.note": "Grouped into one message to avoid flooding the channel.",
        "batch.title": "{n} Clickfono alerts",
        "batch.title.one": "1 Clickfono alert",
        "thread.note": "Latest status, updated at {time}. The history is in the thread.",
        "footer": "Sent by clickfono-notifier.",
    },
}

# Clickfono's statuses in English; the Spanish original stays beside it, as agents see it.
_STATUS_EN = {
    "Conectada": "Connected",
    "No Conectada": "Not connected",
    "Intentos terminados": "Attempts exhausted",
    "SPAM": "SPAM",
    "En cola": "Queued",
    "Fuera de horario": "Outside business hours",
    "En ejecución": "In progress",
    "Por ejecutar": "Scheduled",
}
_WEEKDAYS: dict[Language, tuple[str, ...]] = {
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_DETAIL_LABELS: dict[Language, dict[str, str]] = {
    "es": {
        "error": "Error",
        "since": "Desde",
        "failures": "Ciclos fallidos",
        "waiting_since": "En espera desde",
        "popup_uuid": "Popup",
    },
    "en": {
        "error": "Error",
        "since": "Since",
        "failures": "Failed cycles",
        "waiting_since": "Waiting since",
        "popup_uuid": "Popup",
    },
}
_MAX_VALUE = 200
_MAX_ADDITIONALS = 8


def label(wording: Wording, key: str) -> str:
    """A fixed piece of text (labels, notes) in the configured language."""
    return _LABELS[wording.language][key]


def _copy_key(event: Event) -> str:
    if event.type == ev.CALL_OUTSIDE_BUSINESS_HOURS:
        return _OUTSIDE_SCHEDULE if event.reason == "schedule" else _OUTSIDE_STATUS
    return event.type if event.type in _COPY["es"] else _UNKNOWN


def _copy(event: Event, wording: Wording) -> _Copy:
    return _COPY[wording.language][_copy_key(event)]


# Phone numbers


def _chilean_national(number: str) -> str | None:
    """The 9 national digits of a Chilean number, or None when it is not one."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits.startswith("56"):
        return digits[2:]
    if len(digits) == 9 and not number.strip().startswith("+"):
        return digits
    return None


def format_phone(number: str) -> str:
    """Chilean style: ``+56 9 8765 4321`` (mobile), ``+56 2 2345 6789`` (Santiago),
    ``+56 32 212 3456`` (other areas); anything else is returned as given."""
    national = _chilean_national(number)
    if national is None:
        return number.strip()
    if national[0] in "29":
        return f"+56 {national[0]} {national[1:5]} {national[5:]}"
    return f"+56 {national[:2]} {national[2:5]} {national[5:]}"


def mask_phone(number: str) -> str:
    """Hide all but the last 4 digits: ``+56 9 **** 4321``."""
    national = _chilean_national(number)
    if national is not None:
        if national[0] in "29":
            return f"+56 {national[0]} **** {national[5:]}"
        return f"+56 {national[:2]} *** {national[5:]}"
    digits = re.sub(r"\D", "", number)
    keep = digits[-4:] if len(digits) > 4 else ""
    return ("+" if number.strip().startswith("+") else "") + "*" * (len(digits) - len(keep)) + keep


def mask_text(value: str) -> str:
    """Hide a personal value; keep each word's initial (agents still recognise a name)."""
    out: list[str] = []
    first = True
    for char in value:
        if char.isalnum():
            out.append(char if first and char.isalpha() else "*")
            first = False
        else:
            out.append(char)
            first = first or char.isspace()  # a new word starts after a space only
    return "".join(out)


def show_phone(number: str, wording: Wording) -> str:
    return mask_phone(number) if wording.mask_pii else format_phone(number)


# Times and durations


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string (the normalised ``call_at``)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def local_time(instant: datetime, wording: Wording) -> str:
    """``martes 02-04-2019 10:05`` (es) or ``Tue 2019-04-02 10:05`` (en), in the local zone."""
    local = instant.astimezone(wording.zone)
    day = _WEEKDAYS[wording.language][local.weekday()]
    if wording.language == "es":
        return f"{day} {local:%d-%m-%Y %H:%M}"
    return f"{day} {local:%Y-%m-%d %H:%M}"


def clock_time(instant: datetime, wording: Wording) -> str:
    return f"{instant.astimezone(wording.zone):%H:%M}"


def duration(seconds: float) -> str:
    """``42 min``, ``1 h 5 min``; the same in both languages."""
    minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h" if minutes == 0 else f"{hours} h {minutes} min"


def waited(event: Event, wording: Wording) -> str:
    """How long a queued call has waited.

    Uses ``detail["waiting_since"]`` (ISO 8601, when the notifier first saw the call
    waiting) when present, else ``call_at``; it never claims less than the configured
    threshold that raised the alert.
    """
    threshold = wording.queue_alert_minutes * 60
    since = parse_time(event.detail.get("waiting_since"))
    seconds: float | None = None
    if since is not None:
        seconds = (event.detected_at - since).total_seconds()
    elif event.call is not None and (call_at := parse_time(event.call.get("call_at"))):
        seconds = (event.detected_at - call_at).total_seconds()
    if seconds is not None and seconds >= threshold:
        return duration(seconds)
    return label(wording, "more_than").format(d=duration(threshold))


# Events in words


def _status(value: Any, wording: Wording) -> str:
    text = str(value) if value not in (None, "") else "—"
    english = _STATUS_EN.get(text)
    if wording.language == "en" and english and english != text:
        return f"{english} ({text})"
    return text


def _clip(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def customer_name(call: Mapping[str, Any], wording: Wording) -> str | None:
    additionals = call.get("additionals")
    name = additionals.get("Nombre") if isinstance(additionals, Mapping) else None
    if name in (None, ""):
        return None
    return mask_text(_clip(name)) if wording.mask_pii else _clip(name)


def _call_facts(event: Event, call: Mapping[str, Any], wording: Wording) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []

    def add(key: str, value: str | None) -> None:
        if value:
            facts.append((label(wording, key), value))

    add("customer", customer_name(call, wording))
    number = call.get("caller_number")
    add("phone", show_phone(str(number), wording) if number else None)
    add("popup", _clip(call["popup_name"]) if call.get("popup_name") else None)
    call_at = parse_time(call.get("call_at"))
    add("time", local_time(call_at, wording) if call_at else None)
    retry = call.get("retry")
    add("attempts", str(retry) if retry is not None else None)
    add("status", _status(call.get("status"), wording))
    if event.previous_status is not None:
        add("previous", _status(event.previous_status, wording))
    if event.type == ev.CALL_OUTSIDE_BUSINESS_HOURS and event.reason in ("status", "schedule"):
        add("reason", label(wording, f"reason.{event.reason}"))
    if event.type == ev.CALL_QUEUED_TOO_LONG:
        add("wait", waited(event, wording))
    additionals = call.get("additionals")
    if isinstance(additionals, Mapping):
        extra = [
            (str(k), v) for k, v in additionals.items() if k != "Nombre" and v not in (None, "")
        ]
        for key, value in extra[:_MAX_ADDITIONALS]:
            text = _clip(value)
            facts.append((_clip(key), mask_text(text) if wording.mask_pii else text))
    return facts


def _detail_facts(event: Event, wording: Wording) -> list[tuple[str, str]]:
    names = _DETAIL_LABELS[wording.language]
    facts = []
    for key, value in event.detail.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        instant = parse_time(value) if key in ("since", "waiting_since") else None
        shown = local_time(instant, wording) if instant else _clip(value)
        facts.append((names.get(str(key), str(key)), shown))
    return facts


def render(event: Event, wording: Wording) -> Message:
    """The title, facts and action of one event."""
    copy = _copy(event, wording)
    call = event.call or {}
    title = copy.title.format(
        previous=_status(event.previous_status, wording) if event.previous_status else "—",
        status=_status(call.get("status"), wording),
        wait=waited(event, wording) if event.type == ev.CALL_QUEUED_TOO_LONG else "",
        type=event.type,
    )
    facts = (
        _call_facts(event, call, wording)
        if event.call is not None
        else _detail_facts(event, wording)
    )
    notes = (label(wording, "late"),) if event.observed_late else ()
    reference = (
        f"{label(wording, 'call')} {event.call_uuid} · {event.id}"
        if event.call is not None
        else event.id
    )
    return Message(
        event.type,
        copy.severity,
        title,
        tuple(facts),
        label(wording, "action"),
        copy.action,
        notes,
        reference,
    )


def counts(events: Sequence[Event], wording: Wording) -> tuple[tuple[str, int], ...]:
    """``(noun, n)`` per kind, most frequent first (ties in first-seen order)."""
    table = _COPY[wording.language]
    tally: Counter[str] = Counter()
    copies: dict[str, _Copy] = {}
    for event in events:
        copy = table[_copy_key(event)]
        tally[copy.one] += 1  # keyed by noun: both out-of-hours reasons count together
        copies.setdefault(copy.one, copy)
    ordered = sorted(tally.items(), key=lambda item: -item[1])  # sorted() is stable
    return tuple((noun if n == 1 else copies[noun].many, n) for noun, n in ordered)


def count_phrase(events: Sequence[Event], wording: Wording) -> str:
    """``2 llamadas sin contactar, 1 SPAM``."""
    return ", ".join(f"{n} {noun}" for noun, n in counts(events, wording))


def _alerts(n: int, wording: Wording) -> str:
    return f"{n} {label(wording, 'alert' if n == 1 else 'alerts')}"


def email_subject(events: Sequence[Event], wording: Wording) -> str:
    """``[Clickfono] 3 alertas: 2 llamadas sin contactar, 1 SPAM``."""
    return f"[Clickfono] {_alerts(len(events), wording)}: {count_phrase(events, wording)}"


def batch_title(events: Sequence[Event], wording: Wording) -> str:
    n = len(events)
    return label(wording, "batch.title.one" if n == 1 else "batch.title").format(n=n)


def summary_line(event: Event, wording: Wording) -> str:
    """One short line per call for digests: kind · customer · phone · popup · time."""
    noun = _copy(event, wording).one
    head = noun[:1].upper() + noun[1:]
    call = event.call or {}
    if event.type == ev.CALL_STATUS_CHANGED:
        head += (
            f": {_status(event.previous_status, wording)} → {_status(call.get('status'), wording)}"
        )
    number = call.get("caller_number")
    call_at = parse_time(call.get("call_at"))
    parts = [
        head,
        customer_name(call, wording) if call else None,
        show_phone(str(number), wording) if number else None,
        _clip(call["popup_name"]) if call.get("popup_name") else None,
        local_time(call_at, wording) if call_at else None,
    ]
    return " · ".join(p for p in parts if p)


def digest(events: Sequence[Event], wording: Wording, *, sample_size: int = 5) -> Digest:
    """Many alerts as one message: counts by kind and the first ``sample_size`` calls."""
    sample = tuple(summary_line(e, wording) for e in events[:sample_size])
    rest = len(events) - len(sample)
    more = label(wording, "digest.more").format(n=rest) if rest > 0 else None
    return Digest(
        label(wording, "digest.title").format(n=len(events)),
        counts(events, wording),
        label(wording, "digest.sample"),
        sample,
        more,
        label(wording, "digest.note"),
    )


def thread_note(at: datetime, wording: Wording) -> str:
    """The line under a Slack thread's parent, once it shows a later status."""
    return label(wording, "thread.note").format(time=clock_time(at, wording))
