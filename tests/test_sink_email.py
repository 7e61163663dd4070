"""The email sink against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from notifier import events as ev
from notifier.config import Settings, load_settings
from notifier.errors import SinkError
from notifier.events import Event
from notifier.sinks.base import Sink
from notifier.sinks.email import EmailSink
from tests.support.redis_server import free_port
from tests.support.samples import SPEC_CALL
from tests.support.smtp_fixtures import SmtpServer

DETECTED = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC)
PASSWORD = "pw-that-must-never-leak"


def call_event(
    kind: str = ev.CALL_ATTEMPTS_EXHAUSTED,
    uuid: str = "a93460bbf8402e15b9b0afddc05d5e8d",
    status: str = "Intentos terminados",
    name: str = "Juan Perez",
) -> Event:
    return Event(
        type=kind,
        id=f"evt_{kind}_{uuid}",
        detected_at=DETECTED,
        call={
            **SPEC_CALL,
            "uuid": uuid,
            "status": status,
            "call_at": "2026-11-24T10:05:03-03:00",
            "additionals": {"Nombre": name, "Rut": "11.111.111-1"},
        },
        previous_status="En cola",
    )


def settings_for(server: SmtpServer | None, port: int | None = None, **env: str) -> Settings:
    base = {
        "CLICKFONO_TOKEN": "t",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port or (server.port if server else 25)),
        "SMTP_SECURITY": server.security if server else "none",
        "EMAIL_FROM": "alertas@clickfono.test",
        "EMAIL_TO": "ana@example.cl, luis@example.cl",
    }
    return load_settings({**base, **env})


def client_context(server: SmtpServer) -> ssl.SSLContext:
    """Trusts the test server's self-signed certificate (verification stays on)."""
    return ssl.create_default_context(cafile=server.cafile)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def batch() -> list[Event]:
    return [
        call_event(uuid="c1"),
        call_event(ev.CALL_SPAM, uuid="c2", status="SPAM"),
        call_event(uuid="c3", name="María Soto"),
    ]


async def test_one_mail_groups_the_batch(smtp_server: SmtpServer) -> None:
    """A batch becomes one mail to every recipient, with a subject naming count and kinds."""
    sink = EmailSink(settings_for(smtp_server))
    assert isinstance(sink, Sink) and sink.name == "email"
    assert await sink.send(batch()) == [None, None, None]
    [mail] = smtp_server.wait_for(1)
    assert mail.sender == "alertas@clickfono.test"
    assert mail.recipients == ["ana@example.cl", "luis@example.cl"]
    message = mail.message
    assert message["Subject"] == "[Clickfono] 3 alertas: 2 llamadas sin contactar, 1 SPAM"
    assert message["To"] == "ana@example.cl, luis@example.cl"
    text, html = parts(message)
    for body in (text, html):
        assert body.count("Cliente sin contactar") == 2
        assert "Llamada marcada como SPAM" in body
        assert "Llamar de vuelta al cliente" in body
        assert "María Soto" in body
        assert "+56 9 8765 4321" in body
    assert '<html lang="es">' in html


async def test_english(smtp_server: SmtpServer) -> None:
    """NOTIFIER_LANGUAGE=en writes the subject and both parts in English."""
    sink = EmailSink(settings_for(smtp_server, NOTIFIER_LANGUAGE="en"))
    assert await sink.send([call_event(ev.CALL_SPAM, status="SPAM")]) == [None]
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "[Clickfono] 1 alert: 1 SPAM"
    text, html = parts(mail.message)
    assert "Call marked as SPAM" in text and "What to do" in text
    assert '<html lang="en">' in html and "Call marked as SPAM" in html
    assert mail.message["Content-Language"] == "en"


async def test_masking(smtp_server: SmtpServer) -> None:
    """NOTIFIER_MASK_PII keeps only the last 4 digits and hides additionals in both parts."""
    sink = EmailSink(settings_for(smtp_server, NOTIFIER_MASK_PII="true"))
    assert await sink.send([call_event()]) == [None]
    [mail] = smtp_server.wait_for(1)
    raw = mail.message.as_string()
    for body in parts(mail.message):
        assert "+56 9 **** 4321" in body
    for secret in ("8765", "Perez", "11.111.111"):
        assert secret not in raw


async def test_html_escapes_call_data(smtp_server: SmtpServer) -> None:
    """Values from Clickfono are escaped in the HTML part, never interpreted as markup."""
    sink = EmailSink(settings_for(smtp_server))
    assert await sink.send([call_event(name="<script>alert(1)</script>")]) == [None]
    [mail] = smtp_server.wait_for(1)
    _, html = parts(mail.message)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


async def test_starttls_with_login(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    """SMTP_SECURITY=starttls upgrades the connection, logs in, and delivers."""
    server = smtp_server_factory("starttls", auth=("ana", PASSWORD))
    settings = settings_for(server, SMTP_USERNAME="ana", SMTP_PASSWORD=PASSWORD)
    sink = EmailSink(settings, tls_context=client_context(server))
    assert await sink.send([call_event()]) == [None]
    [mail] = server.wait_for(1)
    assert mail.tls
    assert server.logins == ["ana"]


async def test_implicit_tls(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    """SMTP_SECURITY=tls speaks TLS from the first byte and delivers."""
    server = smtp_server_factory("tls")
    sink = EmailSink(settings_for(server), tls_context=client_context(server))
    assert await sink.send([call_event()]) == [None]
    [mail] = server.wait_for(1)
    assert mail.tls


async def test_starttls_is_not_silently_dropped(smtp_server: SmtpServer) -> None:
    """With SMTP_SECURITY=starttls a server without STARTTLS gets no mail: it is a failure."""
    sink = EmailSink(settings_for(smtp_server, SMTP_SECURITY="starttls"))
    [outcome] = await sink.send([call_event()])
    assert isinstance(outcome, SinkError)
    assert smtp_server.messages == []


async def test_server_down_fails_every_event() -> None:
    """An unreachable SMTP server yields one SinkError per event of the batch."""
    sink = EmailSink(settings_for(None, port=free_port()))
    outcomes = await sink.send(batch())
    assert len(outcomes) == 3
    assert all(isinstance(o, SinkError) and "127.0.0.1" in str(o) for o in outcomes)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections but never says a word (a hung SMTP server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


async def test_deadline(silent_port: int) -> None:
    """A server that never answers is given up at the per-send deadline."""
    sink = EmailSink(settings_for(None, port=silent_port), deadline=0.5)
    started = time.monotonic()
    [outcome] = await sink.send([call_event()])
    assert isinstance(outcome, SinkError) and "0.5s" in str(outcome)
    assert time.monotonic() - started < 5


async def test_wrong_password_never_appears(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    """A rejected login fails the send and the check without printing the password."""
    server = smtp_server_factory("starttls", auth=("ana", "the-right-one"))
    settings = settings_for(server, SMTP_USERNAME="ana", SMTP_PASSWORD=PASSWORD)
    sink = EmailSink(settings, tls_context=client_context(server))
    [outcome] = await sink.send([call_event()])
    check = await sink.check()
    assert isinstance(outcome, SinkError) and not check.ok
    for text in (str(outcome), check.detail):
        assert "ana" in text or "login" in text
        assert PASSWORD not in text
    assert server.messages == []


async def test_check_connects_without_sending(
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    """check() does EHLO, STARTTLS and login, and sends no mail."""
    server = smtp_server_factory("starttls", auth=("ana", PASSWORD))
    settings = settings_for(server, SMTP_USERNAME="ana", SMTP_PASSWORD=PASSWORD)
    result = await EmailSink(settings, tls_context=client_context(server)).check()
    assert result.ok and result.name == "email", result.detail
    assert server.ehlos >= 1 and server.logins == ["ana"]
    assert server.messages == []


async def test_check_reports_an_unreachable_server() -> None:
    """check() is not ok when nothing listens on SMTP_HOST:SMTP_PORT."""
    result = await EmailSink(settings_for(None, port=free_port())).check()
    assert not result.ok and "127.0.0.1" in result.detail


async def test_empty_batch_sends_nothing(smtp_server: SmtpServer) -> None:
    """An empty batch returns no outcomes and sends no mail."""
    assert await EmailSink(settings_for(smtp_server)).send([]) == []
    assert smtp_server.messages == [] and smtp_server.ehlos == 0
