"""What shapes the words, and the words themselves: the Spanish and English copy of every
event type, the fixed labels, and Clickfono's statuses in English. Data, no logic beyond
the lookups; ``messages.py`` composes messages from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from notifier import events as ev
from notifier.clickfono.models import CallStatus
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
_STATUS_EN: dict[str, str] = {
    CallStatus.CONNECTED: "Connected",
    CallStatus.NOT_CONNECTED: "Not connected",
    CallStatus.ATTEMPTS_EXHAUSTED: "Attempts exhausted",
    CallStatus.SPAM: "SPAM",
    CallStatus.QUEUED: "Queued",
    CallStatus.OUT_OF_HOURS: "Outside business hours",
    CallStatus.RUNNING: "In progress",
    CallStatus.SCHEDULED: "Scheduled",
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


def label(wording: Wording, key: str) -> str:
    """A fixed piece of text (labels, notes) in the configured language."""
    return _LABELS[wording.language][key]


def _copy_key(event: Event) -> str:
    if event.type == ev.CALL_OUTSIDE_BUSINESS_HOURS:
        return _OUTSIDE_SCHEDULE if event.reason == "schedule" else _OUTSIDE_STATUS
    return event.type if event.type in _COPY["es"] else _UNKNOWN


def _copy(event: Event, wording: Wording) -> _Copy:
    return _COPY[wording.language][_copy_key(event)]
