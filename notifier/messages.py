"""The human wording of every event, in Spanish (default) and English.

Pure functions, no I/O: the Slack, email and Apprise sinks turn these values into Block
Kit, HTML and Markdown, and escape them there (customer text is hostile). Phone numbers
are formatted the Chilean way; under NOTIFIER_MASK_PII names become initials, numbers
keep their last 4 digits, form values are hidden, and the message says where the full
record is. Digests and batches are ordered by ``events.urgency``: the customers to call
back first.
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
    """One event in words: a title, what to do about whom, the facts.

    ``headline`` names the action and the customer ("Devolver la llamada a Juan Pérez
    (+56 9 8765 4321)"), empty for events that are not about a customer. ``tel`` is the
    number to dial (``+56987654321``), None when masked or absent. ``ops`` is technical
    detail for whoever runs the notifier, shown small. ``reference`` is the call uuid,
    never an event id.
    """

    event_type: str
    severity: Severity
    title: str
    facts: tuple[tuple[str, str], ...]
    action_label: str
    action: str
    notes: tuple[str, ...]
    reference: str
    headline: str = ""
    tel: str | None = None
    ops: str | None = None
    urgency: int = 4
    event_id: str = ""
    """For machines only (Slack's block_id): never shown to agents."""

    def plain_text(self) -> str:
        lines = [self.title]
        if self.headline:
            lines.append(self.headline)
        lines += [f"{label}: {value}" for label, value in self.facts]
        lines.append(f"{self.action_label}: {self.action}")
        lines += self.notes
        if self.ops:
            lines.append(self.ops)
        if self.reference:
            lines.append(self.reference)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DigestGroup:
    """One kind of alert in a digest: a heading and one line per call (or a few examples)."""

    event_type: str
    urgency: int
    heading: str
    lines: tuple[tuple[str, str], ...]
    """``(who, rest)``: the customer's name (or number) and number · popup · time."""
    hidden: int
    """Calls of this kind not listed (SPAM and information are examples only)."""
    hidden_note: str | None
    dials: tuple[tuple[str, str] | None, ...] = ()
    """Per line: ``(the number as shown, the number to dial)``; None when masked."""

    def plain_lines(self) -> list[str]:
        out = [f"{who} · {rest}" if rest else who for who, rest in self.lines]
        if self.hidden_note:
            out.append(self.hidden_note)
        return out


@dataclass(frozen=True, slots=True)
class Digest:
    """Many alerts at once: counts by kind and, most urgent first, every customer to call.

    ``sample``/``sample_label``/``more`` flatten ``groups`` for sinks that show one list.
    """

    title: str
    counts: tuple[tuple[str, int], ...]
    sample_label: str
    sample: tuple[str, ...]
    more: str | None
    note: str
    groups: tuple[DigestGroup, ...] = ()
    overflow: str = "… +{n}"
    """Where a sink cannot list everything: ``… y {n} más: revisen el panel de Clickfono.``"""

    def plain_text(self) -> str:
        lines = [self.title, *(f"- {n} {kind}" for kind, n in self.counts)]
        for group in self.groups:
            lines.append(group.heading)
            lines += [f"- {line}" for line in group.plain_lines()]
        if not self.groups:
            lines.append(self.sample_label)
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
    headline: str = ""
    """Names the action and the customer: {a}/{de} (es), {who} (en)."""
    todo: str = ""
    """What to do about a digest's list of these."""


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
            "Nueva solicitud {de}",
        ),
        ev.CALL_STATUS_CHANGED: _Copy(
            "Cambio de estado: {previous} → {status}",
            "Revisar si el nuevo estado requiere seguimiento con el cliente.",
            "cambio de estado",
            "cambios de estado",
            "info",
            "Llamada {de}",
        ),
        ev.CALL_SPAM: _Copy(
            "Llamada marcada como SPAM",
            "Revisar la solicitud. Si es un cliente real, devolverle la llamada y ajustar "
            "las reglas de SPAM del popup; si es abuso, bloquear el número.",
            "llamada SPAM",
            "llamadas SPAM",
            "warning",
            "Revisar la llamada SPAM {de}",
            "revisar si alguna es de un cliente real",
        ),
        ev.CALL_ATTEMPTS_EXHAUSTED: _Copy(
            "Cliente sin contactar",
            "Clickfono agotó los intentos sin hablar con el cliente. Devolverle la llamada "
            "lo antes posible.",
            "cliente sin contactar",
            "clientes sin contactar",
            "alert",
            "Devolver la llamada {a}",
            "devolverles la llamada lo antes posible",
        ),
        _OUTSIDE_STATUS: _Copy(
            "Llamada recibida fuera de horario",
            "Clickfono no ejecutó la llamada porque llegó fuera del horario de atención. "
            "Devolverle la llamada al comenzar la próxima jornada.",
            "llamada fuera de horario",
            "llamadas fuera de horario",
            "warning",
            "Devolver la llamada {a} al comenzar la jornada",
            "devolverles la llamada al comenzar la jornada",
        ),
        _OUTSIDE_SCHEDULE: _Copy(
            "Llamada en curso fuera del horario de atención",
            "La llamada se ejecutó fuera del horario configurado o en un feriado. Confirmar "
            "que haya un ejecutivo disponible y revisar el horario del popup.",
            "llamada fuera de horario",
            "llamadas fuera de horario",
            "warning",
            "Confirmar que alguien atienda la llamada {de}",
            "confirmar que haya un ejecutivo disponible",
        ),
        ev.CALL_QUEUED_TOO_LONG: _Copy(
            "Cliente esperando hace {wait}",
            "El cliente sigue en espera. Revisar que haya ejecutivos disponibles en el popup "
            "o devolverle la llamada directamente.",
            "cliente esperando demasiado",
            "clientes esperando demasiado",
            "alert",
            "Atender {a}: espera hace {wait}",
            "atenderlos o devolverles la llamada ahora",
        ),
        ev.SOURCE_UNAUTHORIZED: _Copy(
            "Clickfono rechazó el token: no están llegando alertas",
            "Revisen el panel de Clickfono mientras tanto: el notificador no ve llamadas "
            "nuevas. Quien administra el notificador debe generar un token nuevo en "
            "Clickfono y actualizar CLICKFONO_TOKEN.",
            "token rechazado por Clickfono",
            "tokens rechazados por Clickfono",
        ),
        ev.SOURCE_UNAVAILABLE: _Copy(
            "Clickfono no responde: no están llegando alertas",
            "Revisen el panel de Clickfono mientras tanto: hasta que Clickfono responda no "
            "llegan alertas. El notificador sigue reintentando y avisará aquí cuando vuelva, "
            "con lo ocurrido durante la falla.",
            "falla de Clickfono",
            "fallas de Clickfono",
        ),
        ev.SOURCE_RECOVERED: _Copy(
            "Clickfono volvió a responder tras {outage}",
            "No requiere acción: las alertas se reanudaron y se avisará de los cambios "
            "ocurridos durante la falla.",
            "recuperación de Clickfono",
            "recuperaciones de Clickfono",
            "ok",
        ),
        ev.SINK_FAILING: _Copy(
            "Un canal de avisos está fallando",
            "Algunas alertas no están llegando por ese canal. Revisen el panel de Clickfono "
            "mientras tanto; el notificador sigue reintentando.",
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
            "New request from {who}",
        ),
        ev.CALL_STATUS_CHANGED: _Copy(
            "Status changed: {previous} → {status}",
            "Check whether the new status needs a follow-up with the customer.",
            "status change",
            "status changes",
            "info",
            "Call from {who}",
        ),
        ev.CALL_SPAM: _Copy(
            "Call marked as SPAM",
            "Review the request. If it is a real customer, call them back and adjust the "
            "popup's SPAM rules; if it is abuse, block the number.",
            "SPAM call",
            "SPAM calls",
            "warning",
            "Review the SPAM call from {who}",
            "check whether any is a real customer",
        ),
        ev.CALL_ATTEMPTS_EXHAUSTED: _Copy(
            "Customer not reached",
            "Clickfono used every attempt without reaching the customer. Call them back as "
            "soon as possible.",
            "customer not reached",
            "customers not reached",
            "alert",
            "Call back {who}",
            "call them back as soon as possible",
        ),
        _OUTSIDE_STATUS: _Copy(
            "Call received outside business hours",
            "Clickfono did not place the call because it arrived outside business hours. "
            "Call the customer back when the next business day starts.",
            "out-of-hours call",
            "out-of-hours calls",
            "warning",
            "Call back {who} when the business day starts",
            "call them back when the business day starts",
        ),
        _OUTSIDE_SCHEDULE: _Copy(
            "Call in progress outside business hours",
            "The call ran outside the configured hours or on a holiday. Make sure an agent "
            "is available and review the popup's schedule.",
            "out-of-hours call",
            "out-of-hours calls",
            "warning",
            "Make sure someone takes the call from {who}",
            "make sure an agent is available",
        ),
        ev.CALL_QUEUED_TOO_LONG: _Copy(
            "Customer waiting for {wait}",
            "The customer is still waiting. Check that agents are available on the popup, "
            "or call the customer back directly.",
            "customer waiting too long",
            "customers waiting too long",
            "alert",
            "Attend to {who}: waiting for {wait}",
            "attend to them or call them back now",
        ),
        ev.SOURCE_UNAUTHORIZED: _Copy(
            "Clickfono rejected the token: alerts have stopped",
            "Check Clickfono's panel meanwhile: the notifier cannot see new calls. Whoever "
            "runs the notifier must generate a new token in Clickfono and update "
            "CLICKFONO_TOKEN.",
            "Clickfono token rejected",
            "Clickfono tokens rejected",
        ),
        ev.SOURCE_UNAVAILABLE: _Copy(
            "Clickfono is not responding: alerts have stopped",
            "Check Clickfono's panel meanwhile: no alerts arrive until Clickfono answers. The "
            "notifier keeps retrying and will post here when it is back, with what happened "
            "during the outage.",
            "Clickfono outage",
            "Clickfono outages",
        ),
        ev.SOURCE_RECOVERED: _Copy(
            "Clickfono is responding again after {outage}",
            "No action needed: alerts resumed, and changes that happened during the outage "
            "will be reported.",
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
        "requested": "Solicitó",
        "attempts": "Intentos",
        "status": "Estado",
        "duration": "Duración",
        "reason": "Motivo del aviso",
        "wait": "Espera",
        "form": "Formulario",
        "agent": "Ejecutivo (Slack)",
        "action": "Qué hacer",
        "call": "Llamada",
        "alert": "alerta",
        "alerts": "alertas",
        "hidden": "oculto",
        "the_customer.who": "el cliente",
        "the_customer.a": "al cliente",
        "the_customer.de": "del cliente",
        "late": "Detectado con atraso: el notificador estuvo un rato sin revisar Clickfono.",
        "masked": "Datos personales ocultos. El registro completo está en el panel de "
        "Clickfono: {where}.",
        "masked.popup": "popup {popup}",
        "masked.time": "solicitada {time}",
        "masked.call": "llamada {uuid}",
        "reason.status": "Clickfono la marcó «Fuera de horario»",
        "reason.schedule": "La hora de la llamada cae fuera del horario de atención o en feriado",
        "more_than": "más de {d}",
        "ago": "hace {d}",
        "just_now": "recién",
        "yesterday": "ayer",
        "days_ago": "hace {n} días",
        "since": "Desde",
        "outage": "Sin respuesta",
        "channel": "Canal",
        "pending": "Alertas pendientes",
        "dead_letters": "Alertas sin entregar",
        "ops": "Para soporte: {detail}",
        "failures": "{n} consultas fallidas seguidas",
        "failures.one": "1 consulta fallida",
        "summary.date": "Fecha",
        "summary.total": "Llamadas",
        "summary.connected": "Conectadas",
        "summary.by_status": "Por estado",
        "summary.waiting": "Esperan que les devuelvan la llamada",
        "summary.late": "Enviado con atraso: el notificador no estaba funcionando a la hora "
        "del resumen.",
        "list.more": "y {n} más",
        "digest.title": "{n} alertas de Clickfono",
        "digest.part": "{title} (continuación {i}/{n})",
        "digest.sample": "De la más urgente a la menos:",
        "digest.examples": "Algunos ejemplos ({shown} de {n}):",
        "digest.more": "… y {n} más.",
        "digest.overflow": "… y {n} más: revisen el panel de Clickfono.",
        "digest.note": "Se agruparon en un solo aviso para no saturar el canal.",
        "digest.masked": "Datos personales ocultos: cada registro completo está en el panel de "
        "Clickfono (busquen por popup y hora).",
        "batch.title": "{n} alertas de Clickfono",
        "batch.title.one": "1 alerta de Clickfono",
        "batch.rows": "Las demás alertas, de la más urgente a la menos",
        "thread.note": "Último estado, actualizado a las {time}. El historial está en el hilo.",
        "footer": "Enviado por clickfono-notifier.",
    },
    "en": {
        "customer": "Customer",
        "phone": "Phone",
        "popup": "Popup",
        "requested": "Requested",
        "attempts": "Attempts",
        "status": "Status",
        "duration": "Duration",
        "reason": "Why this alert",
        "wait": "Waiting",
        "form": "Form",
        "agent": "Agent (Slack)",
        "action": "What to do",
        "call": "Call",
        "alert": "alert",
        "alerts": "alerts",
        "hidden": "hidden",
        "the_customer.who": "the customer",
        "the_customer.a": "the customer",
        "the_customer.de": "the customer",
        "late": "Detected late: the notifier had not checked Clickfono for a while.",
        "masked": "Personal data hidden. The full record is in Clickfono's panel: {where}.",
        "masked.popup": "popup {popup}",
        "masked.time": "requested {time}",
        "masked.call": "call {uuid}",
        "reason.status": "Clickfono marked it “Fuera de horario” (outside business hours)",
        "reason.schedule": "The call time is outside business hours or on a holiday",
        "more_than": "over {d}",
        "ago": "{d} ago",
        "just_now": "just now",
        "yesterday": "yesterday",
        "days_ago": "{n} days ago",
        "since": "Since",
        "outage": "Outage",
        "channel": "Channel",
        "pending": "Pending alerts",
        "dead_letters": "Undelivered alerts",
        "ops": "For support: {detail}",
        "failures": "{n} failed polls in a row",
        "failures.one": "1 failed poll",
        "summary.date": "Date",
        "summary.total": "Calls",
        "summary.connected": "Connected",
        "summary.by_status": "By status",
        "summary.waiting": "Waiting for a call back",
        "summary.late": "Sent late: the notifier was not running at the summary time.",
        "list.more": "and {n} more",
        "digest.title": "{n} Clickfono alerts",
        "digest.part": "{title} (continued {i}/{n})",
        "digest.sample": "Most urgent first:",
        "digest.examples": "A few examples ({shown} of {n}):",
        "digest.more": "… and {n} more.",
        "digest.overflow": "… and {n} more: check Clickfono's panel.",
        "digest.note": "Grouped into one notice to avoid flooding the channel.",
        "digest.masked": "Personal data hidden: each full record is in Clickfono's panel (search "
        "by popup and time).",
        "batch.title": "{n} Clickfono alerts",
        "batch.title.one": "1 Clickfono alert",
        "batch.rows": "The other alerts, most urgent first",
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
# Form field names shown the way agents write them (keys compared case-insensitively).
_FORM_LABELS: dict[Language, dict[str, str]] = {
    "es": {"rut": "RUT", "email": "Correo", "correo": "Correo", "mail": "Correo"},
    "en": {"rut": "RUT", "email": "Email", "correo": "Email", "mail": "Email"},
}
_MAX_VALUE = 200
_MAX_NAME = 80
_MAX_ADDITIONALS = 8
_MAX_SUMMARY_WAITING = 10
DIGEST_EXAMPLES = 3
"""SPAM and informational kinds appear in a digest as a count and this many examples."""
LIST_ALL_UP_TO = 2
"""Kinds with this urgency or more urgent list every call in a digest."""


def label(wording: Wording, key: str) -> str:
    """A fixed piece of text (labels, notes) in the configured language."""
    return _LABELS[wording.language][key]


def _copy_key(event: Event) -> str:
    if event.type == ev.CALL_OUTSIDE_BUSINESS_HOURS:
        return _OUTSIDE_SCHEDULE if event.reason == "schedule" else _OUTSIDE_STATUS
    return event.type if event.type in _COPY["es"] else _UNKNOWN


def _copy(event: Event, wording: Wording) -> _Copy:
    return _COPY[wording.language][_copy_key(event)]


def urgency_key(event: Event) -> tuple[int, int, bool, float]:
    """Most urgent first; within a kind, the call requested first (the longest wait).
    Out of hours: the calls to return at opening before those that ran outside hours."""
    call_at = parse_time(event.call.get("call_at")) if event.call is not None else None
    instant = call_at or event.detected_at
    return (
        ev.urgency(event.type),
        ev.delivery_rank(event.type),
        _copy_key(event) == _OUTSIDE_SCHEDULE,
        instant.timestamp(),
    )


def by_urgency(events: Sequence[Event]) -> list[Event]:
    """The events, most urgent first (stable within equal keys)."""
    return sorted(events, key=urgency_key)


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
        return _clip(number)
    if national[0] in "29":
        return f"+56 {national[0]} {national[1:5]} {national[5:]}"
    return f"+56 {national[:2]} {national[2:5]} {national[5:]}"


def dial_number(number: str) -> str | None:
    """The number for a ``tel:`` link (``+56987654321``), or None when it is not dialable."""
    national = _chilean_national(number)
    if national is not None:
        return "+56" + national
    digits = re.sub(r"\D", "", number)
    if not 6 <= len(digits) <= 15:
        return None
    return ("+" if number.strip().startswith("+") else "") + digits


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


def mask_name(value: str) -> str:
    """A name as initials (``Juan Pérez`` → ``J. P.``): recognisable, length not revealed."""
    initials = [word[0].upper() + "." for word in value.split() if word[:1].isalpha()]
    return " ".join(initials[:3]) or "—"


def mask_text(value: str) -> str:
    """Hide a personal value completely: not even its length shows."""
    return "***" if value else ""


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


def short_time(instant: datetime, now: datetime, wording: Wording) -> str:
    """``09:40`` today, ``ayer 21:12``, else ``lunes 23-11 21:12``."""
    local = instant.astimezone(wording.zone)
    today = now.astimezone(wording.zone).date()
    days = (today - local.date()).days
    if days == 0:
        return f"{local:%H:%M}"
    if days == 1:
        return f"{label(wording, 'yesterday')} {local:%H:%M}"
    day = _WEEKDAYS[wording.language][local.weekday()]
    return (
        f"{day} {local:%d-%m %H:%M}" if wording.language == "es" else f"{day} {local:%m-%d %H:%M}"
    )


def time_ago(instant: datetime, now: datetime, wording: Wording) -> str:
    """``09:40 (hace 12 min)``: when, and how long ago."""
    seconds = (now - instant).total_seconds()
    if seconds < 60:
        return f"{short_time(instant, now, wording)} ({label(wording, 'just_now')})"
    if seconds >= 2 * 86400:
        ago = label(wording, "days_ago").format(n=int(seconds // 86400))
    else:
        ago = label(wording, "ago").format(d=duration(seconds))
    return f"{short_time(instant, now, wording)} ({ago})"


def duration(seconds: float) -> str:
    """``42 min``, ``1 h 5 min``; the same in both languages."""
    minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h" if minutes == 0 else f"{hours} h {minutes} min"


def call_duration(seconds: float) -> str:
    """A connected call's length: ``45 s``, ``1 min 35 s``."""
    whole = max(0, int(seconds))
    minutes, rest = divmod(whole, 60)
    if minutes == 0:
        return f"{rest} s"
    return f"{minutes} min" if rest == 0 else f"{minutes} min {rest} s"


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


# Technical errors, told in the message's language


_ERROR_PATTERNS_ES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"rejected the token \(HTTP (\d+)\)"), "{who} rechazó el token (HTTP {0})"),
    (
        re.compile(r"answered 404 for calls/list"),
        "{who} respondió 404: revisar CLICKFONO_BASE_URL",
    ),
    (re.compile(r"rejected the login"), "{who} rechazó el usuario o la contraseña"),
    (re.compile(r"(?:timed out after|within) ([\d.]+)s"), "{who} no respondió en {0} s"),
    (re.compile(r"unreachable|refused|ClientConnector|OSError"), "no se pudo conectar con {who}"),
    (
        re.compile(r"(?:answered|HTTP) (?:unexpected )?(?:HTTP )?(\d{3})"),
        "{who} respondió HTTP {0}",
    ),
)


def technical_detail(error: str, wording: Wording, who: str = "Clickfono") -> str:
    """An error line for support. English errors are summarised in Spanish for Spanish
    messages (the full text is in the notifier's logs)."""
    text = _clip(error)
    if wording.language == "en":
        return text
    for pattern, template in _ERROR_PATTERNS_ES:
        found = pattern.search(text)
        if found:
            detail = template.format(*found.groups(), who=who)
            if "(all popups)" in text:
                detail += " (todos los popups)"
            return detail
    return "error técnico; el detalle está en los registros del notificador"


# Events in words


def _status(value: Any, wording: Wording) -> str:
    text = _clip(value) if value not in (None, "") else "—"
    english = _STATUS_EN.get(text)
    if wording.language == "en" and english and english != text:
        return f"{english} ({text})"
    return text


def _clip(value: Any, limit: int = _MAX_VALUE) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def customer_name(call: Mapping[str, Any], wording: Wording) -> str | None:
    additionals = call.get("additionals")
    name = additionals.get("Nombre") if isinstance(additionals, Mapping) else None
    if name in (None, "") or not str(name).strip():
        return None
    return mask_name(str(name)) if wording.mask_pii else _clip(name, _MAX_NAME)


def _who(call: Mapping[str, Any], wording: Wording) -> dict[str, str]:
    """The customer as a headline names them: {who}, {a} (``a …``/``al …``), {de}."""
    name = customer_name(call, wording)
    number = call.get("caller_number")
    phone = show_phone(str(number), wording) if number else None
    if name and phone:
        who = f"{name} ({phone})"
        return {"who": who, "a": f"a {who}", "de": f"de {who}"}
    if phone:
        return {"who": phone, "a": f"al {phone}", "de": f"del {phone}"}
    if name:
        return {"who": name, "a": f"a {name}", "de": f"de {name}"}
    return {k: label(wording, f"the_customer.{k}") for k in ("who", "a", "de")}


def _form_fields(call: Mapping[str, Any], wording: Wording) -> str | None:
    """The customer's own form fields (``additionals`` but the name), one line."""
    additionals = call.get("additionals")
    if not isinstance(additionals, Mapping):
        return None
    names = _FORM_LABELS[wording.language]
    shown = []
    for key, value in additionals.items():
        if key == "Nombre" or value in (None, "") or not str(value).strip():
            continue
        name = names.get(str(key).strip().lower(), _clip(key, 40))
        text = label(wording, "hidden") if wording.mask_pii else _clip(value)
        shown.append(f"{name}: {text}")
    if not shown:
        return None
    extra = len(shown) - _MAX_ADDITIONALS
    head = " · ".join(shown[:_MAX_ADDITIONALS])
    return head + (f" · {label(wording, 'list.more').format(n=extra)}" if extra > 0 else "")


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
    add("requested", time_ago(call_at, event.detected_at, wording) if call_at else None)
    if event.type == ev.CALL_QUEUED_TOO_LONG:
        add("wait", waited(event, wording))
    retry = call.get("retry")
    add("attempts", str(retry) if retry is not None else None)
    status = call.get("status")
    if event.type != ev.CALL_STATUS_CHANGED:  # its title already says both statuses
        shown = _status(status, wording)
        previous = event.previous_status
        if previous is not None and previous != status:
            shown = f"{_status(previous, wording)} → {shown}"
        add("status", shown)
    seconds = call.get("duration_customer")
    if status == "Conectada" and isinstance(seconds, int | float) and seconds > 0:
        add("duration", call_duration(seconds))
    if event.type == ev.CALL_OUTSIDE_BUSINESS_HOURS and event.reason in ("status", "schedule"):
        add("reason", label(wording, f"reason.{event.reason}"))
    user = event.detail.get("user_id")
    add("agent", _clip(user, 40) if isinstance(user, str) else None)
    add("form", _form_fields(call, wording))
    return facts


def _since(event: Event, wording: Wording) -> datetime | None:
    return parse_time(str(event.detail.get("since", "")).replace("Z", "+00:00"))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _failures(n: int, wording: Wording) -> str:
    return label(wording, "failures.one") if n == 1 else label(wording, "failures").format(n=n)


def _detail_facts(event: Event, wording: Wording) -> tuple[list[tuple[str, str]], str | None]:
    """Facts of an event without a call, and its technical detail for support."""
    detail = event.detail
    facts: list[tuple[str, str]] = []
    ops_parts: list[str] = []
    since = _since(event, wording)
    if event.type in (ev.SOURCE_RECOVERED, ev.SINK_RECOVERED) and since is not None:
        span = (
            f"{short_time(since, event.detected_at, wording)} – "
            f"{clock_time(event.detected_at, wording)} "
            f"({duration((event.detected_at - since).total_seconds())})"
        )
        if isinstance(detail.get("sink"), str):
            facts.append((label(wording, "channel"), _clip(detail["sink"], 60)))
        facts.append((label(wording, "outage"), span))
    elif event.type == ev.DAILY_SUMMARY:
        return _summary_facts(event, wording), None
    else:
        if isinstance(detail.get("sink"), str):
            facts.append((label(wording, "channel"), _clip(detail["sink"], 60)))
        if since is not None:
            facts.append((label(wording, "since"), time_ago(since, event.detected_at, wording)))
        pending = _count(detail.get("pending"))
        if pending is not None:
            facts.append((label(wording, "pending"), str(pending)))
        dead = _count(detail.get("dead_letters"))
        if dead:
            facts.append((label(wording, "dead_letters"), str(dead)))
    if isinstance(detail.get("error"), str) and detail["error"]:
        sink = detail.get("sink")
        who = "Clickfono" if event.type.startswith("notifier.source") else _clip(sink, 40)
        ops_parts.append(technical_detail(detail["error"], wording, who))
    failures = _count(detail.get("failures"))
    if failures and event.type in (ev.SOURCE_UNAVAILABLE, ev.SOURCE_UNAUTHORIZED):
        ops_parts.append(_failures(failures, wording))
    known = {"sink", "since", "pending", "dead_letters", "error", "failures", "duration_seconds"}
    for key, value in detail.items():  # a type this version does not know
        if key in known or not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        facts.append((_clip(key, 40), _clip(value)))
    ops = label(wording, "ops").format(detail="; ".join(ops_parts)) if ops_parts else None
    return facts, ops


def _summary_facts(event: Event, wording: Wording) -> list[tuple[str, str]]:
    detail = event.detail
    facts: list[tuple[str, str]] = []
    if detail.get("popup_name"):
        facts.append((label(wording, "popup"), _clip(detail["popup_name"])))
    if detail.get("date"):
        facts.append((label(wording, "summary.date"), _clip(detail["date"], 20)))
    total = _count(detail.get("total"))
    if total is not None:
        facts.append((label(wording, "summary.total"), str(total)))
    rate = detail.get("connected_rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        facts.append((label(wording, "summary.connected"), f"{rate:.0%}".replace("%", " %")))
    by_status = detail.get("calls_by_status")
    if isinstance(by_status, Mapping) and by_status:
        parts = [f"{_status(k, wording)} {v}" for k, v in list(by_status.items())[:12]]
        facts.append((label(wording, "summary.by_status"), " · ".join(parts)))
    waiting = detail.get("waiting_callback")
    if isinstance(waiting, list) and waiting:
        people = []
        for call in waiting[:_MAX_SUMMARY_WAITING]:
            if isinstance(call, Mapping):
                who = _who(call, wording)["who"]
                people.append(who)
        rest = len(waiting) - len(people)
        text = ", ".join(people)
        if rest > 0:
            text += f", {label(wording, 'list.more').format(n=rest)}"
        facts.append((f"{label(wording, 'summary.waiting')} ({len(waiting)})", text))
    return facts


def _masked_note(event: Event, call: Mapping[str, Any], wording: Wording) -> str:
    where = []
    if call.get("popup_name"):
        where.append(label(wording, "masked.popup").format(popup=_clip(call["popup_name"], 60)))
    call_at = parse_time(call.get("call_at"))
    if call_at is not None:
        when = local_time(call_at, wording)
        where.append(label(wording, "masked.time").format(time=when))
    where.append(label(wording, "masked.call").format(uuid=_clip(event.call_uuid, 64)))
    return label(wording, "masked").format(where=", ".join(where))


def render(event: Event, wording: Wording) -> Message:
    """The title, headline, facts and action of one event."""
    copy = _copy(event, wording)
    call = event.call or {}
    wait = waited(event, wording) if event.type == ev.CALL_QUEUED_TOO_LONG else ""
    since = _since(event, wording)
    outage = duration((event.detected_at - since).total_seconds()) if since else "—"
    title = copy.title.format(
        previous=_status(event.previous_status, wording) if event.previous_status else "—",
        status=_status(call.get("status"), wording),
        wait=wait,
        outage=outage,
        type=_clip(event.type, 60),
    )
    ops: str | None = None
    tel: str | None = None
    notes: list[str] = []
    if event.call is not None:
        facts = _call_facts(event, call, wording)
        headline = copy.headline.format(wait=wait, **_who(call, wording))
        number = call.get("caller_number")
        if number and not wording.mask_pii:
            tel = dial_number(str(number))
        reference = f"{label(wording, 'call')} {_clip(event.call_uuid, 64)}"
        if wording.mask_pii:
            notes.append(_masked_note(event, call, wording))
    else:
        facts, ops = _detail_facts(event, wording)
        headline = ""
        reference = ""
        if event.type == ev.DAILY_SUMMARY and event.detail.get("late") is True:
            notes.append(label(wording, "summary.late"))
    if event.observed_late:
        notes.append(label(wording, "late"))
    return Message(
        event.type,
        copy.severity,
        title,
        tuple(facts),
        label(wording, "action"),
        copy.action,
        tuple(notes),
        reference,
        headline,
        tel,
        ops,
        ev.urgency(event.type),
        event.id,
    )


def counts(events: Sequence[Event], wording: Wording) -> tuple[tuple[str, int], ...]:
    """``(noun, n)`` per kind, most urgent kind first, then most frequent."""
    table = _COPY[wording.language]
    tally: Counter[str] = Counter()
    copies: dict[str, _Copy] = {}
    rank: dict[str, tuple[int, int]] = {}
    for event in events:
        copy = table[_copy_key(event)]
        tally[copy.one] += 1  # keyed by noun: both out-of-hours reasons count together
        copies.setdefault(copy.one, copy)
        key = (ev.urgency(event.type), ev.delivery_rank(event.type))
        rank[copy.one] = min(rank.get(copy.one, key), key)
    ordered = sorted(tally.items(), key=lambda item: (rank[item[0]], -item[1]))
    return tuple((noun if n == 1 else copies[noun].many, n) for noun, n in ordered)


def count_phrase(events: Sequence[Event], wording: Wording) -> str:
    """``2 clientes sin contactar, 1 llamada SPAM``, most urgent first."""
    return ", ".join(f"{n} {noun}" for noun, n in counts(events, wording))


def _alerts(n: int, wording: Wording) -> str:
    return f"{n} {label(wording, 'alert' if n == 1 else 'alerts')}"


def email_subject(events: Sequence[Event], wording: Wording) -> str:
    """One event: ``[Clickfono] Devolver la llamada a Juan Pérez (+56 9 8765 4321)``;
    a batch: ``[Clickfono] 3 alertas: 2 clientes sin contactar, 1 llamada SPAM``."""
    if len(events) == 1:
        message = render(events[0], wording)
        return f"[Clickfono] {message.headline or message.title}"
    return f"[Clickfono] {_alerts(len(events), wording)}: {count_phrase(events, wording)}"


def batch_title(events: Sequence[Event], wording: Wording) -> str:
    n = len(events)
    return label(wording, "batch.title.one" if n == 1 else "batch.title").format(n=n)


def call_line(event: Event, wording: Wording) -> tuple[str, str]:
    """One call in a list: ``(name or number, number · popup · time)``."""
    call = event.call
    if call is None:
        message = render(event, wording)
        return message.title, " · ".join(f"{k}: {v}" for k, v in message.facts[:3])
    name = customer_name(call, wording)
    number = call.get("caller_number")
    phone = show_phone(str(number), wording) if number else None
    call_at = parse_time(call.get("call_at"))
    parts = [
        phone if name else None,
        _clip(call["popup_name"], 60) if call.get("popup_name") else None,
        short_time(call_at, event.detected_at, wording) if call_at else None,
    ]
    if event.type == ev.CALL_QUEUED_TOO_LONG:
        parts.append(f"{label(wording, 'wait').lower()} {waited(event, wording)}")
    if event.type == ev.CALL_STATUS_CHANGED:
        parts.append(
            f"{_status(event.previous_status, wording)} → {_status(call.get('status'), wording)}"
        )
    who = name or phone or label(wording, "the_customer.who")
    return who, " · ".join(p for p in parts if p)


def _dial(event: Event, wording: Wording) -> tuple[str, str] | None:
    number = event.call.get("caller_number") if event.call is not None else None
    if not number or wording.mask_pii:
        return None
    tel = dial_number(str(number))
    return (format_phone(str(number)), tel) if tel else None


def digest(events: Sequence[Event], wording: Wording) -> Digest:
    """Many alerts as one notice: counts, then each kind most urgent first.

    Kinds with urgency up to ``LIST_ALL_UP_TO`` (customers to call back, Clickfono
    down) list every call; SPAM and information are a count with a few examples.
    """
    ordered = by_urgency(events)
    grouped: dict[str, list[Event]] = {}
    for event in ordered:
        grouped.setdefault(_copy_key(event), []).append(event)
    groups: list[DigestGroup] = []
    for group_events in grouped.values():
        first = group_events[0]
        copy = _copy(first, wording)
        n = len(group_events)
        heading = f"{n} {copy.one if n == 1 else copy.many}"
        if copy.todo:
            heading += f": {copy.todo}"
        urgency = ev.urgency(first.type)
        shown = group_events if urgency <= LIST_ALL_UP_TO else group_events[:DIGEST_EXAMPLES]
        hidden = n - len(shown)
        note = None
        if hidden:
            note = label(wording, "digest.more").format(n=hidden)
        groups.append(
            DigestGroup(
                first.type,
                urgency,
                heading,
                tuple(call_line(e, wording) for e in shown),
                hidden,
                note,
                tuple(_dial(e, wording) for e in shown),
            )
        )
    sample = tuple(line for group in groups for line in (group.heading, *group.plain_lines()))
    return Digest(
        label(wording, "digest.title").format(n=len(events)),
        counts(events, wording),
        label(wording, "digest.sample"),
        sample,
        None,
        " ".join(
            [label(wording, "digest.note")]
            + ([label(wording, "digest.masked")] if wording.mask_pii else [])
        ),
        tuple(groups),
        label(wording, "digest.overflow"),
    )


def thread_note(at: datetime, wording: Wording) -> str:
    """The line under a Slack thread's parent, once it shows a later status."""
    return label(wording, "thread.note").format(time=clock_time(at, wording))
