"""An in-memory sink at the Protocol boundary, for stories about what reaches a sink."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from notifier.errors import SinkError
from notifier.events import Event
from notifier.sinks.base import CheckResult


class RecordingSink:
    """Records every delivered event; fails while ``failing`` is set."""

    def __init__(self, name: str = "webhook") -> None:
        self.name = name
        self.received: list[Event] = []
        self.failing: SinkError | None = None
        self.delay = 0.0
        self.raises = False
        self.sending = asyncio.Event()

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        self.sending.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.raises:
            raise RuntimeError("bug in sink")
        if self.failing is not None:
            return [self.failing] * len(events)
        self.received.extend(events)
        return [None] * len(events)

    async def check(self) -> CheckResult:
        return CheckResult(self.name, True, "memory")

    async def aclose(self) -> None:
        return None

    def types(self) -> list[str]:
        return [e.type for e in self.received]

    def take(self) -> list[Event]:
        """The events received so far, forgetting them."""
        taken, self.received = self.received, []
        return taken
