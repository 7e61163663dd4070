"""A real SMTP server for tests: aiosmtpd on a free port of 127.0.0.1, collecting mail.

smtp_server                      # plain SMTP, no auth: .host, .port, .messages
smtp_server_factory(security="starttls", auth=("user", "pw"))
                                 # "none" | "starttls" | "tls" (self-signed cert,
                                 # made with the openssl CLI; skips if missing)
server.messages                  # list[ReceivedMail] (copy)
server.wait_for(n)               # blocks until n mails arrived (deadline)
server.logins / server.ehlos     # successful AUTH logins / EHLO count
server.cafile                    # the test CA for ssl.create_default_context(cafile=)
"""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.redis_server import free_port
from tests.support.wait import wait_for

__all__ = ["ReceivedMail", "SmtpServer", "smtp_server", "smtp_server_factory"]


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    """Whether the session that delivered it was encrypted."""


@dataclass
class SmtpServer:
    security: str = "none"
    auth: tuple[str, str] | None = None
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    cafile: str | None = None
    logins: list[str] = field(default_factory=list)
    ehlos: int = 0
    _mail: list[ReceivedMail] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mail)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        return wait_for(
            lambda: len(self.messages) >= count and self.messages,
            timeout,
            message=f"{count} mail(s) on the test SMTP server",
        )

    # aiosmtpd hooks

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self._lock:
            self.ehlos += 1
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        # session.ssl is only set by STARTTLS; the transport knows about implicit TLS too.
        tls = server.transport.get_extra_info("ssl_object") is not None
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), parsed, tls)
        with self._lock:
            self._mail.append(mail)
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if self.auth and isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if (user, password) == self.auth:
                with self._lock:
                    self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    # Lifecycle

    def start(self, certs: tuple[str, str] | None = None) -> SmtpServer:
        options: dict[str, Any] = {}
        if self.security in ("starttls", "tls"):
            assert certs is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*certs)
            self.cafile = certs[0]
            if self.security == "tls":
                options["ssl_context"] = context
            else:
                options.update(tls_context=context, require_starttls=True)
        if self.auth:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.security != "none",
            )
        self._controller = Controller(self, hostname=self.host, port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def self_signed_cert(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Starts SMTP servers: ``factory(security="none"|"starttls"|"tls", auth=None)``."""
    servers: list[SmtpServer] = []
    certs: list[tuple[str, str]] = []
    workdir = Path(tempfile.mkdtemp(prefix="notifier-smtp-"))

    def start(security: str = "none", auth: tuple[str, str] | None = None) -> SmtpServer:
        if security != "none" and not certs:
            certs.append(self_signed_cert(workdir))
        server = SmtpServer(security=security, auth=auth)
        servers.append(server)
        return server.start(certs[0] if certs else None)

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain SMTP server (no TLS, no auth) on 127.0.0.1 collecting every mail."""
    return smtp_server_factory()
