"""Our own small exception tree. Third-party errors are translated at the boundary."""

from __future__ import annotations


class NotifierError(Exception):
    """Base of every error the notifier raises on purpose; its message is safe to print."""


class ConfigError(NotifierError):
    """The configuration is invalid; the message names the variable (exit code 2)."""


class SourceError(NotifierError):
    """Clickfono could not give a usable answer."""


class SourceUnauthorized(SourceError):
    """Clickfono rejected the token (HTTP 401). Never retried."""


class SourceUnavailable(SourceError):
    """Clickfono failed transiently: 5xx, timeout or refused connection."""


class SourceMalformed(SourceError):
    """Clickfono answered 200 with a body that is not JSON or not a list."""


class StoreError(NotifierError):
    """Redis could not be reached or refused a command."""


class LeaseLost(StoreError):
    """Another replica holds the poll lease; this replica must not commit."""


class SinkError(NotifierError):
    """A sink failed to deliver; the event stays queued and is retried.

    ``retry_after`` carries a server-requested delay in seconds (HTTP Retry-After).
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def describe_cause(exc: BaseException) -> str:
    """What went wrong on the network, in words an operator acts on: ``connection
    refused``, ``timed out``, ``DNS lookup failed``, ``TLS certificate not trusted:
    <the verification message>``. Walks the exception's causes, since libraries wrap the
    socket's error in their own; never includes a URL or credentials."""
    import socket
    import ssl

    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for error in seen:
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {error.verify_message or error.reason}"
    for error in seen:
        if isinstance(error, ssl.SSLError):
            return f"TLS error: {error.reason or type(error).__name__}"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, socket.gaierror):
            return "DNS lookup failed (unknown host)"
        if isinstance(error, TimeoutError):
            return "timed out"
        if isinstance(error, ConnectionResetError):
            return "connection reset"
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[0].lower() + error.strerror[1:]
    text = str(exc).lower()
    for needle, cause in (
        ("refused", "connection refused"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
        ("name or service not known", "DNS lookup failed (unknown host)"),
        ("certificate verify failed", "TLS certificate not trusted"),
        ("connection reset", "connection reset"),
        ("closed", "connection closed by the server"),
    ):
        if needle in text:
            return cause
    return type(exc).__name__


def host_port(url: str) -> str:
    """``host:port`` of a URL, with the scheme's default port; never its credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    default = {"https": 443, "http": 80, "rediss": 6379, "redis": 6379}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        port = default
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host
