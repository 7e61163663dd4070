"""The Sink protocol: one small adapter module per backend implements it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from notifier.errors import SinkError
from notifier.events import Event


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
