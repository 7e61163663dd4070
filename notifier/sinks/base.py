"""The Sink protocol: one small adapter module per backend implements it."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from notifier.errors import SinkError
from notifier.events import Event

if TYPE_CHECKING:
    from notifier.store.callbacks import CallbackView


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of reaching a sink without alerting anyone (``check`` command)."""

    name: str
    ok: bool
    detail: str


@runtime_checkable
class Sink(Protocol):
    """Delivers events to one destination.

    ``send`` gets a batch (one cycle's worth, in detection order) and returns one
    outcome per event, in the same order: None when delivered, or the SinkError that
    explains why not. It must not raise for a delivery failure; the delivery worker
    schedules retries from the outcomes.
    """

    name: str

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]: ...

    async def check(self) -> CheckResult: ...

    async def aclose(self) -> None: ...


OnOutcome = Callable[[int, SinkError | None], Awaitable[None]]
"""Called with an event's index in the batch and its outcome as soon as it is known."""


async def ignore_outcome(index: int, outcome: SinkError | None) -> None:
    """The OnOutcome of a plain ``send``: nobody acknowledges early."""
    return None


def utcnow() -> datetime:
    """The sinks' default clock."""
    return datetime.now(UTC)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date.

    None when absent or unparseable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC in RFC 5322 dates
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def retry_after_from_headers(headers: Mapping[str, Any] | None) -> float | None:
    """The Retry-After header in seconds (any case; value a string or a list of them)."""
    for key, value in (headers or {}).items():
        if str(key).lower() == "retry-after":
            text = value[0] if isinstance(value, list) and value else value
            return parse_retry_after(str(text))
    return None


@runtime_checkable
class IncrementalSink(Protocol):
    """A sink whose events succeed one by one (a request or a post each).

    ``send_each`` is ``send`` that also awaits ``on_outcome(index, outcome)`` as soon as
    each event's outcome is known, so the delivery worker acknowledges an accepted event
    at once: a crash mid-batch then repeats only the events still in flight, not every
    event the batch had already delivered.
    """

    async def send_each(
        self, events: Sequence[Event], on_outcome: OnOutcome
    ) -> list[SinkError | None]: ...


class SlackState(Protocol):
    """What the Slack sink keeps in shared state (implemented by notifier.store.Store)."""

    async def get_thread(self, channel: str, call_uuid: str) -> str | None: ...

    async def save_thread(self, channel: str, call_uuid: str, ts: str) -> bool: ...

    async def set_latest(self, channel: str, call_uuid: str, latest: Event) -> None: ...

    async def latest(self, channel: str, call_uuid: str) -> Event | None: ...

    async def queue_update(
        self, sink: str, channel: str, call_uuid: str, latest: Event
    ) -> None: ...

    async def reserve_slot(self, channel: str, interval: float) -> float: ...

    async def callback_view(self, call_uuid: str) -> CallbackView:
        """The claim and request count of a call (read only with ``SLACK_APP_TOKEN``)."""
        ...
