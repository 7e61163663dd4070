"""The callback loop's shared state: claims, reminders and callers' numbers, across replicas.

A callback's claim is one hash (``Keys.callback``): the ``claims.ClaimState`` fields and
what the loop knows of the alert (channel, type, when first seen, the caller number's
keyed hash, the call as last seen). ``transition`` is the one way a claim changes: a Lua
script compares the state the caller decided on with the stored one, writes the new
state and queues the events that announce it (``callback.*`` to every sink whose filter
admits them, the ``slack.update`` of the message) in the same step. Two clicks on two
replicas therefore give one owner, and a crash can't change a claim without its events.

Caller numbers are never stored. Each is keyed by ``HMAC-SHA256(secret, digits)``, where
the secret is 32 random bytes created once per deployment in Redis (``SET NX``). Not a
hash derived from the prefix: Chilean numbers are ~10^9 candidates, so anyone who knew
the prefix (it is in every key name) could reverse a derived hash in seconds. With a
random key, reversing needs the key, which lives only in Redis; someone who reads Redis
can still do it, but no more than the snapshots and alerts already there let them. If
the key is lost (Redis wiped), a new one is made: same-day matching restarts, nothing
else depends on it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from notifier.claims import ClaimState
from notifier.errors import StoreError
from notifier.events import Event
from notifier.store.connection import StoreBase, now_ms
from notifier.store.outbox import encode_record

NUMBER_TTL_SECONDS = 2 * 86400
_KEY_REREAD_SECONDS = 60.0
"""A number's requests of a day are only compared within that day."""

_STATE_FIELDS = ("status", "user", "at")


@dataclass(frozen=True, slots=True)
class AlertNote:
    """What the callback loop records of an alert that needs a person (``note_alerts``)."""

    call_uuid: str
    alert_type: str
    since: float
    call: Mapping[str, Any]
    channel: str
    day: str
    number_hash: str | None
    call_at: float | None
    due_at: float | None


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    """What the store holds for one callback."""

    state: ClaimState
    fields: Mapping[str, str]
    """Everything in the hash (channel, alert, since, day, number, call_at, call)."""

    @property
    def call(self) -> dict[str, Any] | None:
        text = self.fields.get("call")
        if not text:
            return None
        value = json.loads(text)
        return value if isinstance(value, dict) else None

    def number(self, name: str) -> float | None:
        text = self.fields.get(name)
        try:
            return float(text) if text else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class CallbackView:
    """What a Slack message shows of its callback: the claim and the caller's request count."""

    state: ClaimState
    requests_today: int
    """This call's place among its caller number's requests that day (1 = the first)."""


def _state_args(state: ClaimState) -> list[str]:
    fields = state.to_fields()
    return [fields.get(name, "") for name in _STATE_FIELDS]


class CallbackOps(StoreBase):
    """Claims, escalation reminders and the keyed index of callers' numbers."""

    # Caller numbers

    async def number_hash(self, number: str) -> str:
        """The keyed hash a caller number is stored under (digits only, so formats agree).

        The key is read again every minute, so that after a Redis wipe (a new key) every
        replica soon hashes alike."""
        cached: tuple[bytes, float] | None = getattr(self, "_number_key", None)
        if cached is None or time.monotonic() - cached[1] > _KEY_REREAD_SECONDS:
            name = self.keys.callback_secret()
            async with self.errors():
                await self.redis.set(name, secrets.token_hex(32), nx=True)
                stored = await self.redis.get(name)
            try:
                key = bytes.fromhex(str(stored))
            except ValueError:
                raise StoreError("Redis lost the callback key as it was made; try again") from None
            cached = (key, time.monotonic())
            self._number_key = cached
        digits = "".join(ch for ch in number if ch.isdigit()) or number
        return hmac.new(cached[0], digits.encode(), hashlib.sha256).hexdigest()[:32]

    async def register_requests(self, requests: Sequence[tuple[str, str, str, float]]) -> None:
        """Count calls among their number's requests of a day, ``(day, number hash, call
        uuid, call_at)`` each, in one script call (repeating one changes nothing)."""
        if not requests:
            return
        by_key: dict[str, list[Any]] = {}
        for day, number_hash, call_uuid, call_at in requests:
            by_key.setdefault(self.keys.callback_number(day, number_hash), []).extend(
                (repr(call_at), call_uuid)
            )
        args: list[Any] = [NUMBER_TTL_SECONDS]
        for pairs in by_key.values():
            args += [len(pairs) // 2, *pairs]
        await self._run("register", list(by_key), args)

    async def number_requests(self, day: str, number_hash: str) -> list[tuple[str, float]]:
        """The number's requests of ``day`` as ``(call uuid, call_at)``, oldest first."""
        async with self.errors():
            pairs = await self.redis.zrange(
                self.keys.callback_number(day, number_hash), 0, -1, withscores=True
            )
        return [(str(uuid), float(score)) for uuid, score in pairs]

    # Claims

    async def callback_record(self, call_uuid: str) -> CallbackRecord:
        async with self.errors():
            fields = await self.redis.hgetall(self.keys.callback(call_uuid))
        return CallbackRecord(
            ClaimState.from_fields({k: v for k, v in fields.items() if k in _STATE_FIELDS}),
            fields,
        )

    async def callback_records(self, call_uuids: Sequence[str]) -> dict[str, CallbackRecord]:
        """The records of these calls that have one (one round trip)."""
        async with self.errors(), self.redis.pipeline(transaction=False) as pipe:
            for call_uuid in call_uuids:
                pipe.hgetall(self.keys.callback(call_uuid))
            answers = await pipe.execute()
        return {
            call_uuid: CallbackRecord(
                ClaimState.from_fields({k: v for k, v in fields.items() if k in _STATE_FIELDS}),
                fields,
            )
            for call_uuid, fields in zip(call_uuids, answers, strict=True)
            if fields
        }

    async def callbacks_of_day(self, day: str) -> dict[str, CallbackRecord]:
        """Every callback that opened on ``day`` (local date, ISO)."""
        async with self.errors():
            members = await self.redis.smembers(self.keys.callback_day(day))
        return await self.callback_records(sorted(str(m) for m in members))

    async def claim_state(self, call_uuid: str) -> ClaimState:
        return (await self.callback_record(call_uuid)).state

    async def callback_view(self, call_uuid: str) -> CallbackView:
        """The claim and the request count a call's Slack message shows."""
        record = await self.callback_record(call_uuid)
        day, number = record.fields.get("day"), record.fields.get("number")
        requests = 1
        if day and number:
            async with self.errors():
                rank = await self.redis.zrank(self.keys.callback_number(day, number), call_uuid)
            requests = int(rank) + 1 if rank is not None else 1
        return CallbackView(record.state, requests)

    async def transition(
        self,
        call_uuid: str,
        expected: ClaimState,
        new: ClaimState,
        events: Mapping[str, Sequence[Event]],
        fields: Mapping[str, str] | None = None,
        once: Mapping[str, str] | None = None,
    ) -> bool:
        """Move the claim from ``expected`` to ``new`` and queue ``events`` per sink, in one
        atomic step; False (nothing written, nothing queued) when it was not ``expected``.
        ``fields`` are set too; ``once`` only where absent (the first claim's time)."""
        extra = dict(fields or {})
        keys = [self.keys.callback(call_uuid)]
        args: list[Any] = [
            *_state_args(expected),
            *_state_args(new),
            self.ttl_seconds,
            now_ms(),
            len(extra),
        ]
        for name, value in extra.items():
            args += [name, value]
        first = dict(once or {})
        args.append(len(first))
        for name, value in first.items():
            args += [name, value]
        for sink, sink_events in events.items():
            keys += self.keys.sink(sink)
            args.append(len(sink_events))
            for event in sink_events:
                args += [event.id, encode_record(event.to_json())]
        return bool(await self._run("transition", keys, args))

    async def note_alert(
        self,
        call_uuid: str,
        *,
        alert_type: str,
        since: float,
        call: Mapping[str, Any],
        channel: str,
        day: str,
        number_hash: str | None,
        call_at: float | None,
        due_at: float | None,
    ) -> None:
        """Record (once) that a call's alert needs a person, and when its reminder is due.

        The first alert's time, channel and number are kept; the type and the call data
        follow the latest alert. ``due_at`` (epoch seconds) schedules the reminder once.
        """
        await self.note_alerts(
            [
                AlertNote(
                    call_uuid, alert_type, since, call, channel, day, number_hash, call_at, due_at
                )
            ]
        )

    async def note_alerts(self, notes: Sequence[AlertNote]) -> None:
        """``note_alert`` for a whole batch, in one round trip (one MULTI/EXEC)."""
        if not notes:
            return
        async with self.errors(), self.redis.pipeline(transaction=True) as pipe:
            for note in notes:
                key = self.keys.callback(note.call_uuid)
                once = {"since": repr(note.since), "channel": note.channel, "day": note.day}
                if note.number_hash:
                    once["number"] = note.number_hash
                if note.call_at is not None:
                    once["call_at"] = repr(note.call_at)
                for name, value in once.items():
                    pipe.hsetnx(key, name, value)
                pipe.hset(
                    key,
                    mapping={
                        "alert": note.alert_type,
                        "call": json.dumps(dict(note.call), ensure_ascii=False, default=str),
                    },
                )
                pipe.expire(key, self.ttl_seconds)
                pipe.sadd(self.keys.callback_day(note.day), note.call_uuid)
                pipe.expire(self.keys.callback_day(note.day), self.ttl_seconds)
                if note.due_at is not None:
                    pipe.zadd(
                        self.keys.callback_due(), {note.call_uuid: note.due_at * 1000}, nx=True
                    )
            await pipe.execute()

    async def request_places(self, requests: Sequence[tuple[str, str, str]]) -> list[int]:
        """Each ``(day, number hash, call uuid)``'s place among its number's requests that
        day (1 = the first), in one round trip."""
        if not requests:
            return []
        async with self.errors(), self.redis.pipeline(transaction=False) as pipe:
            for day, number_hash, call_uuid in requests:
                pipe.zrank(self.keys.callback_number(day, number_hash), call_uuid)
            ranks = await pipe.execute()
        return [int(rank) + 1 if rank is not None else 1 for rank in ranks]

    # Escalation

    async def due_reminders(self, now: float, limit: int = 100) -> list[str]:
        """Calls whose reminder is due at ``now`` (epoch seconds), oldest first."""
        async with self.errors():
            ids = await self.redis.zrangebyscore(
                self.keys.callback_due(), "-inf", now * 1000, start=0, num=limit
            )
        return [str(i) for i in ids]

    async def postpone_reminder(self, call_uuid: str, due_at: float) -> None:
        async with self.errors():
            await self.redis.zadd(self.keys.callback_due(), {call_uuid: due_at * 1000}, xx=True)

    async def drop_reminder(self, call_uuid: str) -> None:
        async with self.errors():
            await self.redis.zrem(self.keys.callback_due(), call_uuid)

    async def reminder_sent(self, call_uuid: str) -> bool:
        async with self.errors():
            return bool(await self.redis.exists(self.keys.callback_reminded(call_uuid)))

    async def mark_reminded(self, call_uuid: str) -> bool:
        """Set the call's set-once reminder marker; False when it was already set."""
        async with self.errors():
            return bool(
                await self.redis.set(
                    self.keys.callback_reminded(call_uuid), "1", nx=True, ex=self.ttl_seconds
                )
            )
