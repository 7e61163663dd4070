"""Sink failing episodes, shared by replicas: when a sink's current streak of failed
deliveries began, and whether it was announced (``notifier.sink_failing``).

The announcement itself is queued before it is marked (the event ids are stable), so a
crash between the two repeats the queueing, which the outbox deduplicates, rather than
losing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from notifier.store.connection import StoreBase


@dataclass(frozen=True, slots=True)
class SinkEpisode:
    since: float
    """Epoch seconds of the first failure of the streak."""
    announced: bool

    def encode(self) -> str:
        return f"{self.since!r}|{int(self.announced)}"

    @classmethod
    def decode(cls, text: str) -> SinkEpisode | None:
        since, _, announced = text.partition("|")
        try:
            return cls(float(since), announced == "1")
        except ValueError:
            return None


class EpisodeOps(StoreBase):
    """Start, announce and end a sink's failing streak."""

    async def sink_failed(self, sink: str, now: float) -> SinkEpisode:
        """Record a failed delivery; returns the streak (started now if none was open)."""
        key = self.keys.sink_health()
        async with self.errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, sink, SinkEpisode(now, False).encode())
            pipe.hget(key, sink)
            _, text = await pipe.execute()
        return SinkEpisode.decode(str(text or "")) or SinkEpisode(now, False)

    async def mark_announced(self, sink: str, episode: SinkEpisode) -> None:
        async with self.errors():
            await self.redis.hset(
                self.keys.sink_health(), sink, SinkEpisode(episode.since, True).encode()
            )

    async def sink_delivered(self, sink: str) -> SinkEpisode | None:
        """Record a successful delivery; returns the streak it ended, if one was open."""
        key = self.keys.sink_health()
        async with self.errors():
            text = await self.redis.hget(key, sink)
        if text is None:
            return None
        return SinkEpisode.decode(str(text))

    async def end_episode(self, sink: str) -> None:
        async with self.errors():
            await self.redis.hdel(self.keys.sink_health(), sink)

    async def sink_episodes(self, sinks: Iterable[str]) -> dict[str, SinkEpisode]:
        """The open streak of each of ``sinks`` that has one."""
        async with self.errors():
            raw = await self.redis.hgetall(self.keys.sink_health())
        wanted = set(sinks)
        return {
            sink: episode
            for sink, text in raw.items()
            if sink in wanted and (episode := SinkEpisode.decode(str(text))) is not None
        }
