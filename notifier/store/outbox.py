"""The outbox: a visibility-timeout queue per sink, with idempotency records and dead letters.

It is a sorted set of due times rather than a Stream: the due-time score gives retry
scheduling, crash recovery (the role of XAUTOCLAIM) and sharing between replicas in one
structure, and entries are only removed once acknowledged or dead-lettered, so nothing
pending is ever trimmed. Taking an entry pushes its due time into the future by the
visibility timeout; a crashed consumer's entries become due again by themselves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from notifier.events import Event
from notifier.store.connection import StoreBase, now_ms


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """An outbox entry taken for delivery."""

    sink: str
    event: Event
    attempts: int
    """Failed attempts so far."""
    last_error: str | None
    owner: str = "-"
    """Who took it: only that delivery attempt may extend, fail or release it."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sink: str
    event: Event
    attempts: int
    error: str
    failed_at: float


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_record(event_json: str, attempts: int = 0, error: str | None = None) -> str:
    # The JSON of {"event": ..., "attempts": ..., "error": ...}, built without a dict and
    # a new encoder per event: a busy cycle queues thousands.
    error_part = "" if error is None else f',"error":{_ENCODER.encode(error)}'
    return f'{{"event":{_ENCODER.encode(event_json)},"attempts":{attempts:d}{error_part}}}'


class OutboxOps(StoreBase):
    """Queue, take, acknowledge, retry and dead-letter events per sink."""

    async def enqueue(self, sink: str, events: Sequence[Event]) -> int:
        """Queue events for one sink outside a cycle, unless already queued, delivered or
        dead; returns how many were new."""
        if not events:
            return 0
        args: list[Any] = [now_ms()]
        for event in events:
            args += [event.id, encode_record(event.to_json())]
        return int(await self._run("enqueue", self.keys.sink(sink), args))

    async def take(
        self, sink: str, hide_for: float, limit: int = 100, owner: str = "-"
    ) -> list[QueuedEvent]:
        """Take up to ``limit`` due events for ``owner``; they stay hidden for ``hide_for``
        seconds unless the owner extends them."""
        outbox, payload, done, _ = self.keys.sink(sink)
        flat = await self._run(
            "take",
            [outbox, payload, done, self.keys.owners(sink)],
            [now_ms(), int(hide_for * 1000), limit, owner],
        )
        taken = []
        for i in range(0, len(flat), 2):
            record = json.loads(flat[i + 1])
            taken.append(
                QueuedEvent(
                    sink,
                    Event.from_json(record["event"]),
                    int(record.get("attempts", 0)),
                    record.get("error"),
                    owner,
                )
            )
        return taken

    async def extend(
        self, sink: str, ids: Iterable[str], hide_for: float, owner: str = "-"
    ) -> list[str]:
        """Keep ``owner``'s taken events hidden while a slow send still works on them;
        return the ids it no longer holds (another replica took them)."""
        ids = list(ids)
        if not ids:
            return []
        due = now_ms() + int(hide_for * 1000)
        lost = await self._run(
            "extend", [self.keys.outbox(sink), self.keys.owners(sink)], [due, owner, *ids]
        )
        return [str(i) for i in lost]

    async def ack(self, sink: str, ids: Sequence[str]) -> None:
        """Mark events delivered: remove them and keep an idempotency record."""
        if ids:
            outbox, payload, done, _ = self.keys.sink(sink)
            await self._run(
                "ack",
                [outbox, payload, done, self.keys.owners(sink)],
                [now_ms(), self.ttl_seconds * 1000, *ids],
            )

    async def fail(self, failures: Sequence[tuple[QueuedEvent, str, float | None]]) -> None:
        """Record failed attempts, pipelined: each (event, error, retry in seconds), where a
        retry of None moves the event to the dead letters."""
        if not failures:
            return
        script = self._scripts["fail"]
        async with self.errors(), self.redis.pipeline(transaction=False) as pipe:
            for item, error, retry_in in failures:
                outbox, payload, _, dead = self.keys.sink(item.sink)
                attempts = item.attempts + 1
                if retry_in is None:
                    record = json.dumps(
                        {
                            "event": item.event.to_json(),
                            "attempts": attempts,
                            "error": error,
                            "failed_at": time.time(),
                        },
                        separators=(",", ":"),
                        ensure_ascii=False,
                    )
                    due: Any = "dead"
                else:
                    record = encode_record(item.event.to_json(), attempts, error)
                    due = now_ms() + int(retry_in * 1000)
                await script(
                    keys=[outbox, payload, dead, self.keys.owners(item.sink)],
                    args=[item.event.id, due, record, item.owner],
                    client=pipe,
                )
            await pipe.execute()

    async def release(self, sink: str, ids: Sequence[str], owner: str = "-") -> None:
        """Hand ``owner``'s taken events back so any replica may deliver them now."""
        await self.extend(sink, ids, 0, owner)

    async def dead_letters(self, sinks: Iterable[str]) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        for sink in sinks:
            async with self.errors():
                raw = await self.redis.hgetall(self.keys.dead(sink))
            for text in raw.values():
                body = json.loads(text)
                letters.append(
                    DeadLetter(
                        sink,
                        Event.from_json(body["event"]),
                        int(body.get("attempts", 0)),
                        body.get("error", ""),
                        float(body.get("failed_at", 0)),
                    )
                )
        return sorted(letters, key=lambda d: d.failed_at)

    async def prune_dead_letters(self, sink: str, older_than: float) -> int:
        """Drop ``sink``'s dead letters that failed before ``older_than`` (epoch seconds)."""
        return int(await self._run("prune_dead", [self.keys.dead(sink)], [older_than]))

    async def replay(self, sink: str, ids: Sequence[str] = ()) -> int:
        """Queue dead letters again (all of this sink's when ``ids`` is empty)."""
        outbox, payload, _, dead = self.keys.sink(sink)
        return int(await self._run("replay", [outbox, payload, dead], [now_ms(), *ids]))

    async def queue_depths(self, sinks: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Per sink: (events pending in the outbox, dead letters)."""
        sinks = list(sinks)
        async with self.errors(), self.redis.pipeline(transaction=False) as pipe:
            for sink in sinks:
                pipe.zcard(self.keys.outbox(sink))
                pipe.hlen(self.keys.dead(sink))
            flat = await pipe.execute()
        return {s: (int(flat[2 * i]), int(flat[2 * i + 1])) for i, s in enumerate(sinks)}
