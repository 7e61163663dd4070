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
