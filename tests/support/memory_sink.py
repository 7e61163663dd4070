"""A sink that lives in a test, added the way any sink is: this module and one SinkSpec."""

from __future__ import annotations

from collections.abc import Sequence

from notifier.config import Settings
from notifier.errors import SinkError
from notifier.events import Event
from notifier.sinks.base import CheckResult

RECEIVED: list[Event] = []
FAILING: list[str] = []
"""While it holds a message, every send fails with it."""


class MemorySink:
    name = "memory"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        if FAILING:
            return [SinkError(FAILING[0])] * len(events)
        RECEIVED.extend(events)
        return [None] * len(events)

    async def check(self) -> CheckResult:
        return CheckResult(self.name, True, "in memory")

    async def aclose(self) -> None:
        return None
