"""Redis state: the only package that builds keys or runs Redis commands.

One module per job, composed into ``Store``:

- ``keys``: every key, meta field and the lease value format (the layout is there);
- ``connection``: the client and the translation of redis-py's errors into ours;
- ``scripts``: the Lua scripts;
- ``state``: the poll lease, cycle state and the atomic commit;
- ``outbox``: queue, take, acknowledge, retry and dead-letter events per sink;
- ``callbacks``: claims, escalation reminders and callers' keyed numbers;
- ``slack``: Slack threads, message updates and pacing, shared by replicas;
- ``episodes``: each sink's failing streak, announced once per episode.
"""

from __future__ import annotations

from notifier.store.callbacks import AlertNote, CallbackOps, CallbackRecord, CallbackView
from notifier.store.connection import StoreBase, Topology, connect, now_ms
from notifier.store.episodes import EpisodeOps, SinkEpisode
from notifier.store.outbox import DeadLetter, OutboxOps, QueuedEvent
from notifier.store.slack import SlackOps
from notifier.store.state import AnswerMark, CycleState, DayChanges, StateOps

__all__ = [
    "AlertNote",
    "AnswerMark",
    "CallbackRecord",
    "CallbackView",
    "CycleState",
    "DayChanges",
    "DeadLetter",
    "QueuedEvent",
    "SinkEpisode",
    "Store",
    "Topology",
    "now_ms",
]


class Store(StateOps, SlackOps, OutboxOps, EpisodeOps, CallbackOps, StoreBase):
    """Typed operations over one deployment's keys."""

    @classmethod
    def from_url(cls, url: str, prefix: str, ttl_days: int = 3) -> Store:
        """A store on one server (tests, the demo)."""
        return cls.connect(Topology(url), prefix, ttl_days)

    @classmethod
    def connect(cls, topology: Topology, prefix: str, ttl_days: int = 3) -> Store:
        """A store on ``topology`` (one server, a Cluster or a Sentinel-managed primary)."""
        return cls(connect(topology), prefix, ttl_days, topology)
