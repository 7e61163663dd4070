"""Reading the outbox the way a test needs to, through the store's own key names."""

from __future__ import annotations

from notifier.store import Store


async def next_due(store: Store, sink: str) -> float | None:
    """Epoch seconds when the earliest queued event of ``sink`` is due."""
    first = await store.redis.zrange(store.keys.outbox(sink), 0, 0, withscores=True)
    return float(first[0][1]) / 1000 if first else None
