"""Email sink: one message per batch (HTML + plain text) through SMTP with aiosmtplib."""

from __future__ import annotations

import asyncio
import hashlib
import html
import ssl
from collections.abc import Callable, Sequence
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
from notifier.messages import Message, Wording
from notifier.sinks.base import CheckResult, utcnow

log = get_logger(__name__)

MAX_DETAILED = 200
"""Events shown in full in one email; the rest are counted in the summary only."""

_COLOURS = {"alert": "#c62828", "warning": "#ef6c00", "info": "#1565c0", "ok": "#2e7d32"}
_MUTED = "color:#6b7280;font-size:12px"


def _message_id(events: Sequence[Event], sender: str) -> str:
    # The same batch retried gets the same Message-ID, so mail systems can drop the copy.
    digest = hashlib.blake2b("\n".join(e.id for e in events).encode(), digest_size=12)
    domain = sender.rpartition("@")[2] or "clickfono-notifier.invalid"
    return f"<{digest.hexdigest()}.{len(events)}@{domain}>"


def _text_body(events: Sequence[Event], rendered: list[Message], wording: Wording) -> str:
    parts = [messages.batch_title(events, wording)]
    if len(events) > 1:
        parts.append(messages.count_phrase(events, wording))
    parts += [m.plain_text() for m in rendered]
    hidden = len(events) - len(rendered)
    if hidden:
        parts.append(messages.label(wording, "digest.more").format(n=hidden))
    parts.append("-- \n" + messages.label(wording, "footer"))
    return "\n\n".join(parts) + "\n"


def _html_message(message: Message) -> str:
    e = html.escape
    rows = "".join(
        f'<tr><td style="padding:2px 12px 2px 0;color:#4b5563;vertical-align:top">'
        f'{e(k)}</td><td style="padding:2px 0">{e(v)}</td></tr>'
        for k, v in message.facts
    )
    notes = "".join(f'<p style="{_MUTED}">{e(n)}</p>' for n in message.notes)
    colour = _COLOURS[message.severity]
    return (
        f'<div style="border-left:4px solid {colour};padding:4px 16px;margin:20px 0">'
        f'<h3 style="margin:4px 0 8px;color:{colour}">{e(message.title)}</h3>'
        f'<table style="border-collapse:collapse;font-size:14px">{rows}</table>'
        f'<p style="margin:10px 0 4px"><strong>{e(message.action_label)}:</strong> '
        f"{e(message.action)}</p>{notes}"
        f'<p style="{_MUTED};margin:4px 0">{e(message.reference)}</p></div>'
    )


def _html_body(events: Sequence[Event], rendered: list[Message], wording: Wording) -> str:
    e = html.escape
    summary = ""
    if len(events) > 1:
        items = "".join(f"<li>{n} {e(noun)}</li>" for noun, n in messages.counts(events, wording))
        summary = f"<ul>{items}</ul>"
    hidden = len(events) - len(rendered)
    more = f"<p>{e(messages.label(wording, 'digest.more').format(n=hidden))}</p>" if hidden else ""
    return (
        f'<!DOCTYPE html><html lang="{wording.language}"><head><meta charset="utf-8">'
        f"<title>{e(messages.email_subject(events, wording))}</title></head>"
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#1f2933;max-width:720px">'
        f"<h2>{e(messages.batch_title(events, wording))}</h2>{summary}"
        + "".join(_html_message(m) for m in rendered)
        + f'{more}<p style="{_MUTED}">{e(messages.label(wording, "footer"))}</p>'
        "</body></html>"
    )


def compose(
    events: Sequence[Event],
    wording: Wording,
    sender: str,
    recipients: Sequence[str],
    now: datetime,
) -> EmailMessage:
    """The email for one batch: subject with counts and kinds, a text part and an HTML part."""
    rendered = [messages.render(e, wording) for e in events[:MAX_DETAILED]]
    mail = EmailMessage()
    mail["Subject"] = messages.email_subject(events, wording)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = _message_id(events, sender)
    mail.set_content(_text_body(events, rendered, wording))
    mail.add_alternative(_html_body(events, rendered, wording), subtype="html")
    # After set_content, which replaces the Content-* headers.
    mail["Content-Language"] = wording.language
    return mail


class EmailSink:
    """Sends each batch as one email to EMAIL_TO."""

    name = "email"

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
        try:
            mail = compose(events, self._wording, self._sender, self._recipients, self._clock())
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
