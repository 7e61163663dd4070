"""What the Slack sink shares between replicas: threads, message updates and pacing.

A call's first alert in a channel becomes the thread's parent message. The map goes
both ways: call to ``ts`` (to reply in the thread) and ``ts`` to call (to decode a
click on the message). Updates of the parent are queued in the Slack outbox as
``slack.update`` events, so they are paced, retried and never lost; each one renders
the latest event stored for the call, so updates delivered late never go backwards.
"""

from __future__ import annotations

from datetime import UTC, datetime

from notifier import events as ev
from notifier.events import Event
from notifier.store.connection import now_ms
from notifier.store.outbox import OutboxOps


class SlackOps(OutboxOps):
    """Implements the Slack sink's ``SlackState`` protocol."""

    async def get_thread(self, channel: str, call_uuid: str) -> str | None:
        async with self.errors():
            value = await self.redis.get(self.keys.slack_thread(channel, call_uuid))
        return str(value) if value else None

    async def save_thread(self, channel: str, call_uuid: str, ts: str) -> bool:
        """Remember the parent message of a call; False if another replica saved one first."""
        async with self.errors():
            saved = bool(
                await self.redis.set(
                    self.keys.slack_thread(channel, call_uuid), ts, nx=True, ex=self.ttl_seconds
                )
            )
            if saved:
                await self.redis.set(
                    self.keys.slack_message(channel, ts), call_uuid, ex=self.ttl_seconds
                )
        return saved

    async def call_of_message(self, channel: str, ts: str) -> str | None:
        """The call whose parent message is ``ts`` in ``channel``, if it is one of ours."""
        async with self.errors():
            value = await self.redis.get(self.keys.slack_message(channel, ts))
        return str(value) if value else None

    async def reserve_slot(self, channel: str, interval: float) -> float:
        """Reserve the next send slot for ``channel``; return seconds to wait for it."""
        wait = await self._run(
            "pace", [self.keys.slack_pace(channel)], [now_ms(), int(interval * 1000)]
        )
        return float(wait) / 1000

    async def set_latest(self, channel: str, call_uuid: str, latest: Event) -> None:
        """Make ``latest`` the event the call's parent message shows."""
        async with self.errors():
            await self.redis.set(
                self.keys.slack_latest(channel, call_uuid), latest.to_json(), ex=self.ttl_seconds
            )

    async def queue_update(self, sink: str, channel: str, call_uuid: str, latest: Event) -> None:
        """Make ``latest`` the event the parent message shows, and queue its ``chat.update``
        in ``sink``'s outbox (its id derives from ``latest``: queued once per change)."""
        update = Event(
            type=ev.SLACK_UPDATE,
            id=ev.event_id(ev.SLACK_UPDATE, channel, call_uuid, latest.id),
            detected_at=datetime.now(UTC),
            detail={"channel": channel, "call_uuid": call_uuid},
        )
        await self.set_latest(channel, call_uuid, latest)
        await self.enqueue(sink, [update])

    async def latest(self, channel: str, call_uuid: str) -> Event | None:
        """The event the call's parent message should show now."""
        async with self.errors():
            text = await self.redis.get(self.keys.slack_latest(channel, call_uuid))
        return Event.from_json(text) if text else None
