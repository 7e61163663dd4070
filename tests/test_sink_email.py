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
from notifier.messages import format_phone
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
    assert message["Subject"] == "[Clickfono] 3 alertas: 2 clientes sin contactar, 1 llamada SPAM"
    assert message["To"] == "ana@example.cl, luis@example.cl"
    text, html = parts(message)
    for body in (text, html):
        assert body.count("Devolver la llamada a") == 2
        assert "Llamada marcada como SPAM" in body
        assert "Devolverle la llamada lo antes posible" in body
        assert "María Soto" in body
        assert "+56 9 8765 4321" in body
        # Cards by urgency: both unreached customers before the SPAM, whatever the order sent.
        assert body.index("María Soto") < body.index("Llamada marcada como SPAM")
    assert '<html lang="es">' in html
    assert '<a href="tel:+56987654321">+56 9 8765 4321</a>' in html
    assert "evt_" not in text + html


async def test_english(smtp_server: SmtpServer) -> None:
    """NOTIFIER_LANGUAGE=en writes the subject and both parts in English."""
    sink = EmailSink(settings_for(smtp_server, NOTIFIER_LANGUAGE="en"))
    assert await sink.send([call_event(ev.CALL_SPAM, status="SPAM")]) == [None]
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == (
        "[Clickfono] Review the SPAM call from Juan Perez (+56 9 8765 4321)"
    )
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
        assert "+56 9 **** 4321" in body and "J. P." in body
        assert "panel de Clickfono" in body
    assert "tel:" not in raw
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


def storm(n_unreached: int = 150, n_spam: int = 50) -> list[Event]:
    """A storm in detection order: SPAM first, as it often comes."""
    spam = [call_event(ev.CALL_SPAM, uuid=f"s{i:03d}", status="SPAM") for i in range(n_spam)]
    unreached = [
        Event(
            type=ev.CALL_ATTEMPTS_EXHAUSTED,
            id=f"evt_u{i}",
            detected_at=DETECTED,
            call={
                **SPEC_CALL,
                "uuid": f"u{i:03d}",
                "call_at": "2026-11-24T09:40:00-03:00",
                "caller_number": f"+5699{i:07d}",
                "additionals": {"Nombre": f"Cliente Número {i} González", "Rut": "1-9"},
            },
            previous_status="En cola",
        )
        for i in range(n_unreached)
    ]
    return spam + unreached


async def test_a_200_event_email_stays_under_100_kb(smtp_server: SmtpServer) -> None:
    """A 200-event batch is one mail under 100 KB (Gmail clips above ~102 KB) that still
    names every unreached customer's number, most urgent first."""
    sink = EmailSink(settings_for(smtp_server))
    assert await sink.send(storm()) == [None] * 200
    [mail] = smtp_server.wait_for(1)
    size = len(mail.message.as_bytes())
    assert size < 100_000, size
    text, html = parts(mail.message)
    assert mail.message["Subject"].startswith(
        "[Clickfono] 200 alertas: 150 clientes sin contactar, 50 llamadas SPAM"
    )
    for i in range(150):
        assert format_phone(f"+5699{i:07d}") in text
        assert f'href="tel:+5699{i:07d}"' in html
    body = html[html.index("<body") :]
    assert body.index("Cliente sin contactar") < body.index("50 llamadas SPAM: revisar")


async def test_a_huge_batch_is_summarised_under_100_kb(smtp_server: SmtpServer) -> None:
    """Beyond what fits, the mail counts the rest instead of growing past 100 KB."""
    long_form = {"Nombre": "N" * 300, **{f"Campo {k}": "v" * 300 for k in range(8)}}
    events = [
        Event(
            type=ev.CALL_QUEUED_TOO_LONG,
            id=f"evt_q{i}",
            detected_at=DETECTED,
            call={**SPEC_CALL, "uuid": f"q{i}", "status": "En cola", "additionals": long_form},
        )
        for i in range(1500)
    ]
    sink = EmailSink(settings_for(smtp_server))
    assert await sink.send(events) == [None] * 1500
    [mail] = smtp_server.wait_for(1)
    assert len(mail.message.as_bytes()) < 100_000
    text, _ = parts(mail.message)
    assert "más: revisen el panel de Clickfono" in text


async def test_colours_follow_severity(smtp_server: SmtpServer) -> None:
    """Unreached customers are red; out of hours (a next-morning task) is not."""
    out_of_hours = Event(
        type=ev.CALL_OUTSIDE_BUSINESS_HOURS,
        id="evt_o",
        detected_at=DETECTED,
        call={**SPEC_CALL, "status": "Fuera de horario"},
        reason="status",
    )
    sink = EmailSink(settings_for(smtp_server))
    assert await sink.send([out_of_hours, call_event()]) == [None, None]
    [mail] = smtp_server.wait_for(1)
    _, html = parts(mail.message)
    red = "#c62828"
    unreached = html[
        html.index("Cliente sin contactar") - 200 : html.index("Cliente sin contactar")
    ]
    out = html[html.index("Llamada recibida fuera") - 200 : html.index("Llamada recibida fuera")]
    assert red in unreached and red not in out
