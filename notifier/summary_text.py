"""The daily summary in words: Spanish (default) and English, for Slack, email and the console.

Pure functions, no I/O. The sinks call them for ``report.daily_summary`` events (kind
REPORT) instead of the call-alert wording of ``messages.py``: a summary is not a call
alert, so it never gets buttons or a thread. Customer text (names, popup names) is
escaped for Slack mrkdwn and for HTML, and masked under ``NOTIFIER_MASK_PII``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from notifier import events as ev
from notifier.events import Event
from notifier.messages import Wording, customer_name, duration, parse_time, show_phone
from notifier.summary import PopupSummary, ordered_statuses
from notifier.wording import _STATUS_EN as STATUS_EN

WAITING_SHOWN = 15
"""Customers named per popup; the rest are counted."""
SMALL_TOTAL = 40
"""A popup with at most this many calls and ``SMALL_WAITING`` waiting customers is small:
several small popups share one Slack message."""
SMALL_WAITING = 3
COMBINED_MAX = 15
"""Popups in one combined Slack message (Block Kit allows 50 blocks)."""

_TEXT: dict[str, dict[str, str]] = {
    "es": {
        "title": "Resumen del día: {popup}",
        "title.many": "Resumen del día",
        "calls": "Llamadas",
        "connected": "Conectadas",
        "rate": "Tasa de conexión",
        "spam": "SPAM",
        "out_of_hours": "Fuera de horario",
        "longest_wait": "Espera más larga en cola",
        "median_claim": "Mediana hasta tomar una devolución",
        "by_status": "Por estado",
        "waiting": "Clientes esperando que los llamen de vuelta ({n})",
        "waiting.short": "Esperan que los llamen de vuelta",
        "nobody": "Ningún cliente queda esperando que lo llamen de vuelta.",
        "more": "… y {n} más.",
        "late": "Enviado con atraso: el notificador no estaba funcionando a la hora programada.",
        "none": "sin datos",
        "no_calls": "Sin llamadas hoy.",
        "line": "{total} llamadas, {rate} conectadas, {spam} SPAM, {outside} fuera de horario, "
        "{waiting} esperando devolución",
        "line.wait": "espera máx. {wait}",
        "subject": "[Clickfono] Resumen del día {day}: {popups}",
        "subject.many": "{n} popups",
        "customer": "Cliente",
        "phone": "Teléfono",
        "time": "Hora",
        "status": "Estado",
        "footer": "Enviado por clickfono-notifier.",
        "unnamed": "(sin popup)",
    },
    "en": {
        "title": "Daily summary: {popup}",
        "title.many": "Daily summary",
        "calls": "Calls",
        "connected": "Connected",
        "rate": "Connection rate",
        "spam": "SPAM",
        "out_of_hours": "Outside business hours",
        "longest_wait": "Longest wait in queue",
        "median_claim": "Median time to claim a callback",
        "by_status": "By status",
        "waiting": "Customers waiting for a call back ({n})",
        "waiting.short": "Waiting for a call back",
        "nobody": "No customer is waiting for a call back.",
        "more": "… and {n} more.",
        "late": "Sent late: the notifier was not running at the scheduled time.",
        "none": "no data",
        "no_calls": "No calls today.",
        "line": "{total} calls, {rate} connected, {spam} SPAM, {outside} out of hours, "
        "{waiting} waiting for a call back",
        "line.wait": "longest wait {wait}",
        "subject": "[Clickfono] Daily summary {day}: {popups}",
        "subject.many": "{n} popups",
        "customer": "Customer",
        "phone": "Phone",
        "time": "Time",
        "status": "Status",
        "footer": "Sent by clickfono-notifier.",
        "unnamed": "(no popup)",
    },
}
_WEEKDAYS = {
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_STATUS_EN = STATUS_EN
"""Clickfono's statuses in English: the same table the alerts use."""


def is_report(event: Event) -> bool:
    """A periodic summary (kind REPORT), rendered here rather than as a call alert."""
    known = ev.describe(event.type)
    return known is not None and known.kind is ev.Kind.REPORT


def _t(wording: Wording, key: str) -> str:
    return _TEXT[wording.language][key]


def _one_line(value: Any, limit: int = 120) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_name(status: str, wording: Wording) -> str:
    english = _STATUS_EN.get(status)
    if wording.language == "en" and english:
        return f"{english} ({status})"
    return status


def day_label(iso: str, wording: Wording) -> str:
    """``martes 24-11-2026`` (es) or ``Tue 2026-11-24`` (en)."""
    try:
        day = date.fromisoformat(iso)
    except ValueError:
        return iso
    weekday = _WEEKDAYS[wording.language][day.weekday()]
    return f"{weekday} {day:%d-%m-%Y}" if wording.language == "es" else f"{weekday} {day}"


def wait_text(seconds: float) -> str:
    """``21 min``, ``1 h 5 min``; under a minute ``< 1 min``."""
    return "< 1 min" if seconds < 60 else duration(seconds)


def percent(rate: float, wording: Wording) -> str:
    value = round(rate * 100)
    return f"{value} %" if wording.language == "es" else f"{value}%"


def popup_title(summary: PopupSummary, wording: Wording) -> str:
    return _one_line(summary.popup_name or summary.popup_uuid or _t(wording, "unnamed"), 80)


@dataclass(frozen=True, slots=True)
class SummaryText:
    """One popup's summary in words; the renderers below lay it out."""

    title: str
    popup: str
    day: str
    facts: tuple[tuple[str, str], ...]
    statuses: tuple[tuple[str, int], ...]
    waiting_label: str
    waiting: tuple[tuple[str, str, str, str], ...]
    """(customer, phone, time, status) per customer still waiting, first ``WAITING_SHOWN``."""
    more: str | None
    late: str | None
    reference: str
    statuses_label: str
    labels: Mapping[str, str]
    """Column names of the waiting customers' table: customer, phone, time, status."""

    def waiting_lines(self) -> list[str]:
        return [" · ".join(p for p in row if p) for row in self.waiting]

    def plain_text(self) -> str:
        lines = [f"{self.title} ({self.day})"]
        lines += [f"{label}: {value}" for label, value in self.facts]
        if self.statuses:
            lines.append(self.statuses_label + ":")
            lines += [f"- {s}: {n}" for s, n in self.statuses]
        lines.append(self.waiting_label)
        lines += [f"- {line}" for line in self.waiting_lines()]
        if self.more:
            lines.append(self.more)
        if self.late:
            lines.append(self.late)
        lines.append(self.reference)
        return "\n".join(lines)


def render(summary: PopupSummary, wording: Wording, reference: str = "") -> SummaryText:
    """The words of one popup's summary."""
    none = _t(wording, "none")
    facts = [
        (_t(wording, "calls"), str(summary.total)),
        (
            _t(wording, "connected"),
            f"{summary.connected} ({percent(summary.connected_rate, wording)})",
        ),
        (_t(wording, "spam"), str(summary.spam)),
        (_t(wording, "out_of_hours"), str(summary.out_of_hours)),
        (
            _t(wording, "longest_wait"),
            wait_text(summary.longest_wait) if summary.longest_wait is not None else none,
        ),
    ]
    if summary.median_claim_seconds is not None:
        facts.append((_t(wording, "median_claim"), duration(summary.median_claim_seconds)))
    rows = []
    for call in summary.waiting_callback[:WAITING_SHOWN]:
        number = call.get("caller_number")
        at = parse_time(call.get("call_at"))
        rows.append(
            (
                customer_name(call, wording) or "",
                show_phone(str(number), wording) if number else "",
                f"{at.astimezone(wording.zone):%H:%M}" if at else "",
                status_name(str(call.get("status")), wording),
            )
        )
    hidden = len(summary.waiting_callback) - len(rows)
    waiting_count = len(summary.waiting_callback)
    popup = popup_title(summary, wording)
    return SummaryText(
        title=_t(wording, "title").format(popup=popup),
        popup=popup,
        day=day_label(summary.date, wording),
        facts=tuple(facts),
        statuses=tuple(
            (status_name(s, wording), n) for s, n in ordered_statuses(summary.calls_by_status)
        ),
        waiting_label=_t(wording, "waiting").format(n=waiting_count)
        if waiting_count
        else _t(wording, "nobody"),
        waiting=tuple(rows),
        more=_t(wording, "more").format(n=hidden) if hidden > 0 else None,
        late=_t(wording, "late") if summary.late else None,
        reference=reference,
        statuses_label=_t(wording, "by_status"),
        labels={k: _t(wording, k) for k in ("customer", "phone", "time", "status")},
    )


def one_line(summary: PopupSummary, wording: Wording) -> str:
    """``Ventas Web 2026-11-24: 42 llamadas, 62 % conectadas, …``: the console's line."""
    text = _t(wording, "line").format(
        total=summary.total,
        rate=percent(summary.connected_rate, wording),
        spam=summary.spam,
        outside=summary.out_of_hours,
        waiting=len(summary.waiting_callback),
    )
    if summary.longest_wait is not None:
        text += ", " + _t(wording, "line.wait").format(wait=wait_text(summary.longest_wait))
    if summary.median_claim_seconds is not None:
        text += f", {_t(wording, 'median_claim').lower()} {duration(summary.median_claim_seconds)}"
    return f"{popup_title(summary, wording)} {summary.date}: {text}"


def summaries_of(events: Sequence[Event]) -> list[PopupSummary]:
    return [PopupSummary.from_detail(e.detail) for e in events]


# Slack (Block Kit). No buttons, no threads: a summary is not a call alert.

_HEADER_MAX = 150
_TEXT_MAX = 3000


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = _TEXT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(text, _HEADER_MAX), "emoji": True},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip(t)} for t in texts if t],
    }


def is_small(summary: PopupSummary) -> bool:
    return summary.total <= SMALL_TOTAL and len(summary.waiting_callback) <= SMALL_WAITING


def slack_blocks(text: SummaryText) -> list[dict[str, Any]]:
    """One popup's summary as one Block Kit message."""
    blocks: list[dict[str, Any]] = [
        _header(f":bar_chart: {text.title}"),
        _context(_mrkdwn(text.day)),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _clip(f"*{_mrkdwn(k)}*\n{_mrkdwn(v)}", 2000)}
                for k, v in text.facts
            ][:10],
        },
    ]
    if text.statuses:
        lines = "\n".join(f"• {_mrkdwn(s)}: *{n}*" for s, n in text.statuses)
        blocks.append(_section(f"*{_mrkdwn(text.statuses_label)}*\n{lines}"))
    waiting = "\n".join(f"• {_mrkdwn(line)}" for line in text.waiting_lines())
    blocks.append(
        _section(f"*{_mrkdwn(text.waiting_label)}*" + (f"\n{waiting}" if waiting else ""))
    )
    notes = [f"_{_mrkdwn(n)}_" for n in (text.more, text.late) if n]
    blocks.append(_context(*notes, f"`{_mrkdwn(text.reference)}`" if text.reference else ""))
    return blocks


def _compact(summary: PopupSummary, wording: Wording) -> str:
    """One small popup in a combined message: its line and whoever still waits."""
    text = render(summary, wording)
    head = f"*{_mrkdwn(text.popup)}*: " + _mrkdwn(one_line(summary, wording).split(": ", 1)[1])
    if summary.late:
        head += f"\n_{_mrkdwn(text.late or '')}_"
    if text.waiting:
        names = "; ".join(_mrkdwn(" · ".join(p for p in row[:3] if p)) for row in text.waiting)
        head += f"\n{_mrkdwn(_t(wording, 'waiting.short'))}: {names}"
    return head


@dataclass(frozen=True, slots=True)
class SlackPost:
    """One Slack message and the events (their positions in the batch) it delivers."""

    text: str
    blocks: list[dict[str, Any]]
    indexes: tuple[int, ...]


def slack_posts(events: Sequence[Event], wording: Wording) -> list[SlackPost]:
    """Summaries for one channel: one message per popup, and one shared message for the
    small popups when there are several of them."""
    summaries = summaries_of(events)
    small = [i for i, s in enumerate(summaries) if is_small(s)]
    if len(small) < 2:
        small = []
    posts: list[SlackPost] = []
    for i, summary in enumerate(summaries):
        if i in small:
            continue
        text = render(summary, wording, events[i].id)
        posts.append(SlackPost(_mrkdwn(text.plain_text()), slack_blocks(text), (i,)))
    for start in range(0, len(small), COMBINED_MAX):
        group = small[start : start + COMBINED_MAX]
        days = sorted({summaries[i].date for i in group})
        day = ", ".join(day_label(d, wording) for d in days)
        title = _t(wording, "title.many")
        blocks: list[dict[str, Any]] = [_header(f":bar_chart: {title}"), _context(_mrkdwn(day))]
        blocks += [_section(_compact(summaries[i], wording)) for i in group]
        plain = "\n".join([f"{title} ({day})", *(one_line(summaries[i], wording) for i in group)])
        posts.append(SlackPost(_mrkdwn(plain), blocks, tuple(group)))
    return posts


# Email: one message for the batch's summaries, an HTML table per popup.

_CELL = "padding:4px 12px;border-bottom:1px solid #e5e7eb;text-align:left"
_HEAD = _CELL + ";background:#f3f4f6;color:#374151"
_MUTED = "color:#6b7280;font-size:12px"


def _html_summary(text: SummaryText) -> str:
    e = html.escape
    facts = "".join(
        f'<tr><th style="{_CELL};font-weight:normal;color:#4b5563">{e(k)}</th>'
        f'<td style="{_CELL};text-align:right"><strong>{e(v)}</strong></td></tr>'
        for k, v in text.facts
    )
    statuses = "".join(
        f'<tr><td style="{_CELL}">{e(s)}</td><td style="{_CELL};text-align:right">{n}</td></tr>'
        for s, n in text.statuses
    )
    status_table = (
        f'<h4 style="margin:16px 0 6px">{e(text.statuses_label)}</h4>'
        f'<table style="border-collapse:collapse;font-size:14px">{statuses}</table>'
        if statuses
        else ""
    )
    waiting = ""
    if text.waiting:
        labels = ("customer", "phone", "time", "status")
        head = "".join(f'<th style="{_HEAD}">{e(text.labels[k])}</th>' for k in labels)
        rows = "".join(
            "<tr>" + "".join(f'<td style="{_CELL}">{e(cell)}</td>' for cell in row) + "</tr>"
            for row in text.waiting
        )
        waiting = (
            f'<table style="border-collapse:collapse;font-size:14px"><thead><tr>{head}</tr>'
            f"</thead><tbody>{rows}</tbody></table>"
        )
    notes = "".join(f'<p style="{_MUTED}">{e(n)}</p>' for n in (text.more, text.late) if n)
    return (
        '<div style="border-left:4px solid #1565c0;padding:4px 16px;margin:20px 0">'
        f'<h3 style="margin:4px 0 2px;color:#1565c0">{e(text.title)}</h3>'
        f'<p style="{_MUTED};margin:0 0 10px">{e(text.day)}</p>'
        f'<table style="border-collapse:collapse;font-size:14px">{facts}</table>'
        f"{status_table}"
        f'<h4 style="margin:16px 0 6px">{e(text.waiting_label)}</h4>{waiting}{notes}'
        f'<p style="{_MUTED};margin:8px 0 4px">{e(text.reference)}</p></div>'
    )


@dataclass(frozen=True, slots=True)
class SummaryEmail:
    subject: str
    text: str
    html: str


def email(events: Sequence[Event], wording: Wording) -> SummaryEmail:
    """Subject, text part and HTML part of one email holding the batch's summaries."""
    summaries = summaries_of(events)
    texts = [render(s, wording, e.id) for s, e in zip(summaries, events, strict=True)]
    days = ", ".join(day_label(d, wording) for d in sorted({s.date for s in summaries}))
    popups = (
        ", ".join(t.popup for t in texts)
        if len(texts) <= 3
        else _t(wording, "subject.many").format(n=len(texts))
    )
    subject = _one_line(_t(wording, "subject").format(day=days, popups=popups), 200)
    footer = _t(wording, "footer")
    plain = "\n\n".join([*(t.plain_text() for t in texts), "-- \n" + footer]) + "\n"
    e = html.escape
    body = (
        f'<!DOCTYPE html><html lang="{wording.language}"><head><meta charset="utf-8">'
        f"<title>{e(subject)}</title></head>"
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#1f2933;max-width:720px">'
        f"<h2>{e(_t(wording, 'title.many'))} · {e(days)}</h2>"
        + "".join(_html_summary(t) for t in texts)
        + f'<p style="{_MUTED}">{e(footer)}</p></body></html>'
    )
    return SummaryEmail(subject, plain, body)
