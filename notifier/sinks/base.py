"""The Sink protocol: one small adapter module per backend implements it."""

from __future__ import annotations

from collections.abc import Sequence
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


class SlackState(Protocol):
    """What the Slack sink keeps in shared state (implemented by notifier.store.Store)."""

    async def get_thread(self, channel: str, call_uuid: str) -> str | None: ...

    async def save_thread(self, channel: str, call_uuid: str, ts: str) -> bool: ...

    async def reserve_slot(self, channel: str, interval: float) -> float: ...
