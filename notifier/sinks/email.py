"""Email sink: one message per batch (HTML + plain text) through SMTP with aiosmtplib."""

from __future__ import annotations

import asyncio
import hashlib
import html
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib

from notifier import messages
from notifier.config import Settings
from notifier.errors import SinkError
from notifier.events import Event
from notifier.logs import get_logger
from notifier.messages import Digest, DigestGroup, Message, Wording
from notifier.sinks import summary_render
from notifier.sinks.base import CheckResult, utcnow
from notifier.summary_text import is_report

log = get_logger(__name__)

MAX_BYTES = 100_000
"""Gmail clips messages over about 102 KB: a batch is summarised to stay under this."""
_LAYOUTS = ((20, 300), (10, 150), (5, 60), (3, 20), (1, 0))
"""(events shown in full, events as one line) tried in turn until the mail fits MAX_BYTES;
the most urgent come first, the rest are counted."""

_COLOURS = {"alert": "#c62828", "warning": "#b26a00", "info": "#1565c0", "ok": "#2e7d32"}
"""By severity: red is for act-now only; out of hours (next morning) is amber."""
_MUTED = "color:#6b7280;font-size:12px"
_STYLE = (
    "body{font-family:Arial,Helvetica,sans-serif;color:#1f2933;max-width:720px}\n"
    "td{padding:2px 12px 2px 0;vertical-align:top}\n"
    "td.k{color:#4b5563}\n"
    "ul.r{padding-left:18px;font-size:14px}\n"
    ".m{color:#6b7280;font-size:12px}\n"
)


def _message_id(events: Sequence[Event], sender: str) -> str:
    # The same batch retried gets the same Message-ID, so mail systems can drop the copy.
    digest = hashlib.blake2b("\n".join(e.id for e in events).encode(), digest_size=12)
    domain = sender.rpartition("@")[2] or "clickfono-notifier.invalid"
    return f"<{digest.hexdigest()}.{len(events)}@{domain}>"


@dataclass(frozen=True, slots=True)
class _Batch:
    """One email's content: every event, the cards, and the rest in one-line groups."""

    events: Sequence[Event]
    cards: list[Message]
    rest: Digest | None
    max_rows: int


def _plan(events: Sequence[Event], wording: Wording, max_cards: int, max_rows: int) -> _Batch:
    ordered = messages.by_urgency(events)
    cards = [messages.render(e, wording) for e in ordered[:max_cards]]
    rest = messages.digest(ordered[max_cards:], wording) if len(ordered) > max_cards else None
    return _Batch(events, cards, rest, max_rows)


def _rows(batch: _Batch) -> list[tuple[DigestGroup, int]]:
    """The groups of one-line events, each with how many of its lines fit in max_rows."""
    out: list[tuple[DigestGroup, int]] = []
    budget = batch.max_rows
    assert batch.rest is not None
    for group in batch.rest.groups:
        shown = min(len(group.lines), budget)
        budget -= shown
        out.append((group, shown))
    return out


def _overflow(batch: _Batch) -> int:
    return sum(len(group.lines) - shown for group, shown in _rows(batch))


def _text_body(batch: _Batch, wording: Wording) -> str:
    parts = [messages.batch_title(batch.events, wording)]
    if len(batch.events) > 1:
        parts.append(messages.count_phrase(batch.events, wording))
    parts += [m.plain_text() for m in batch.cards]
    if batch.rest is not None:
        lines = [messages.label(wording, "batch.rows") + ":"]
        for group, shown in _rows(batch):
            lines.append("")
            lines.append(group.heading)
            plain = group.plain_lines()
            lines += [f"- {line}" for line in plain[:shown]]
            if group.hidden_note:
                lines.append(group.hidden_note)
        hidden = _overflow(batch)
        if hidden:
            lines.append(batch.rest.overflow.format(n=hidden))
        parts.append("\n".join(lines))
    parts.append("-- \n" + messages.label(wording, "footer"))
    return "\n\n".join(parts) + "\n"


def _tel(shown: str, tel: str | None) -> str:
    """An escaped number, as a tel: link when it can be dialled."""
    e = html.escape
    return f'<a href="tel:{e(tel)}">{e(shown)}</a>' if tel else e(shown)


def _html_message(message: Message, wording: Wording) -> str:
    e = html.escape
    phone = messages.label(wording, "phone")
    rows = "".join(
        f'<tr><td class="k" style="color:#4b5563;padding:2px 12px 2px 0">{e(k)}</td>'
        f"<td>{_tel(v, message.tel) if k == phone else e(v)}</td></tr>\n"
        for k, v in message.facts
    )
    notes = "".join(f'<p style="{_MUTED}">{e(n)}</p>\n' for n in message.notes)
    small = [message.ops, message.reference]
    refs = "".join(f'<p style="{_MUTED};margin:4px 0">{e(t)}</p>\n' for t in small if t)
    colour = _COLOURS[message.severity]
    headline = (
        f'<p style="margin:0 0 8px;font-size:16px"><strong>{e(message.headline)}</strong></p>\n'
    )
    return (
        f'<div style="border-left:4px solid {colour};padding:4px 16px;margin:20px 0">\n'
        f'<h3 style="margin:4px 0 8px;color:{colour}">{e(message.title)}</h3>\n'
        + (headline if message.headline else "")
        + f'<table style="border-collapse:collapse;font-size:14px">\n{rows}</table>\n'
        f'<p style="margin:10px 0 4px"><strong>{e(message.action_label)}:</strong> '
        f"{e(message.action)}</p>\n{notes}{refs}</div>\n"
    )


def _html_line(who: str, rest: str, dial: tuple[str, str] | None) -> str:
    e = html.escape
    who_html, rest_html = f"<b>{e(who)}</b>", e(rest)
    if dial is not None:
        shown, tel = dial
        link = _tel(shown, tel)
        if who == shown:
            who_html = f"<b>{link}</b>"
        else:
            rest_html = rest_html.replace(e(shown), link, 1)
    return f"<li>{who_html}{' · ' + rest_html if rest else ''}</li>\n"


def _html_rows(batch: _Batch, rest: Digest, wording: Wording) -> str:
    e = html.escape
    out = [f"<h3>{e(messages.label(wording, 'batch.rows'))}</h3>\n"]
    for group, shown in _rows(batch):
        colour = _COLOURS[
            "alert" if group.urgency == 1 else "warning" if group.urgency <= 3 else "info"
        ]
        out.append(f'<h4 style="color:{colour};margin:12px 0 4px">{e(group.heading)}</h4>\n')
        dials = group.dials or (None,) * len(group.lines)
        items = [
            _html_line(who, rest_text, dial)
            for (who, rest_text), dial in list(zip(group.lines, dials, strict=True))[:shown]
        ]
        if group.hidden_note:
            items.append(f'<li class="m">{e(group.hidden_note)}</li>\n')
        out.append(f'<ul class="r">\n{"".join(items)}</ul>\n')
    hidden = _overflow(batch)
    if hidden:
        out.append(f"<p><strong>{e(rest.overflow.format(n=hidden))}</strong></p>\n")
    return "".join(out)


def _html_body(batch: _Batch, wording: Wording) -> str:
    e = html.escape
    summary = ""
    if len(batch.events) > 1:
        counts = messages.counts(batch.events, wording)
        items = "".join(f"<li>{n} {e(noun)}</li>\n" for noun, n in counts)
        summary = f"<ul>\n{items}</ul>\n"
    rows = _html_rows(batch, batch.rest, wording) if batch.rest is not None else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{wording.language}"><head><meta charset="utf-8">\n'
        f"<title>{e(messages.email_subject(batch.events, wording))}</title>\n"
        f"<style>\n{_STYLE}</style></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#1f2933;max-width:720px">\n'
        f"<h2>{e(messages.batch_title(batch.events, wording))}</h2>\n{summary}"
        + "".join(_html_message(m, wording) for m in batch.cards)
        + f'{rows}<p style="{_MUTED}">{e(messages.label(wording, "footer"))}</p>\n'
        "</body></html>\n"
    )


def compose(
    events: Sequence[Event],
    wording: Wording,
    sender: str,
    recipients: Sequence[str],
    now: datetime,
) -> EmailMessage:
    """The email for one batch: a subject that names the customer (one event) or leads
    with the most urgent kind, a text part and an HTML part, most urgent first."""
    for max_cards, max_rows in _LAYOUTS:
        mail = _compose(
            _plan(events, wording, max_cards, max_rows), wording, sender, recipients, now
        )
        if len(mail.as_bytes()) < MAX_BYTES:
            break
    return mail


def _compose(
    batch: _Batch,
    wording: Wording,
    sender: str,
    recipients: Sequence[str],
    now: datetime,
) -> EmailMessage:
    events = batch.events
    mail = EmailMessage()
    mail["Subject"] = messages.email_subject(events, wording)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = _message_id(events, sender)
    mail.set_content(_text_body(batch, wording))
    mail.add_alternative(_html_body(batch, wording), subtype="html")
    # After set_content, which replaces the Content-* headers.
    mail["Content-Language"] = wording.language
    return mail


class EmailSink:
    """Sends each batch as one email to EMAIL_TO."""

    name = "email"
    batch_size = 1000
    """A batch is one email: take a whole cycle's events at once."""

    def __init__(
        self,
        settings: Settings,
        *,
        deadline: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._wording = Wording.from_settings(settings)
        self._sender = settings.email_from
        self._recipients = tuple(settings.email_to)
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._security = settings.smtp_security
        self._username = settings.smtp_username or None
        self._password = settings.smtp_password.get_secret_value()
        self._deadline = deadline
        self._tls_context = tls_context
        self._clock = clock

    def _smtp_options(self) -> dict[str, Any]:
        return {
            "hostname": self._host,
            "port": self._port,
            "use_tls": self._security == "tls",
            # False, not None: "none" must never upgrade on its own either.
            "start_tls": self._security == "starttls",
            "username": self._username,
            "password": self._password if self._username else None,
            "timeout": self._deadline,
            "tls_context": self._tls_context,
        }

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        if not events:
            return []
        if summary_render.mixed(events):  # daily summaries get an email of their own
            return await summary_render.send_apart(events, self.send)
        build = summary_render.compose_email if is_report(events[0]) else compose
        try:
            mail = build(events, self._wording, self._sender, self._recipients, self._clock())
            async with asyncio.timeout(self._deadline):
                await aiosmtplib.send(mail, **self._smtp_options())
        except Exception as exc:  # never raise for a delivery failure
            error = self._failure(exc)
            # Only a bug (not an SMTP or network failure) needs its traceback.
            expected = isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError)
            log.warning(
                "email_send_failed",
                error=str(error),
                count=len(events),
                exc_info=None if expected else exc,
            )
            return [error] * len(events)
        return [None] * len(events)

    async def check(self) -> CheckResult:
        where = f"{self._host}:{self._port} ({self._security})"
        client = aiosmtplib.SMTP(**self._smtp_options())
        try:
            async with asyncio.timeout(self._deadline):
                await client.connect()  # EHLO, STARTTLS and login as configured
                await client.ehlo()
                await client.quit()
        except Exception as exc:
            client.close()
            return CheckResult(self.name, False, str(self._failure(exc)))
        login = f", logged in as {self._username}" if self._username else ""
        return CheckResult(self.name, True, f"{where} answered{login}; no mail sent")

    async def aclose(self) -> None:
        """Nothing to close: each send uses its own connection."""

    def _failure(self, exc: Exception) -> SinkError:
        """A SinkError naming the server and the problem, never the password."""
        where = f"SMTP {self._host}:{self._port}"
        if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
            return SinkError(f"{where} did not finish within {self._deadline:g}s")
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return SinkError(f"{where} rejected the login of SMTP_USERNAME ({exc.code})")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return SinkError(f"{where} answered {exc.code}: {self._scrub(exc.message)[:200]}")
        if isinstance(exc, aiosmtplib.SMTPException | OSError):
            return SinkError(f"{where} failed: {type(exc).__name__}: {self._scrub(str(exc))[:200]}")
        return SinkError(f"{where} failed ({type(exc).__name__})")

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "[REDACTED]") if self._password else text
