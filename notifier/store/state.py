"""The poll lease and the cycle's state: meta, answer marks, snapshots, call indexes, and
the atomic commit that writes them together with the events it queues.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from notifier.errors import LeaseLost, StoreError
from notifier.events import Event
from notifier.store import scripts
from notifier.store.connection import StoreBase, now_ms
from notifier.store.keys import (
    META_BASELINE_AT,
    META_LAST_SUCCESS,
    META_SOURCE_FAILURES,
    META_SOURCE_STATE,
    lease_value,
)
from notifier.store.outbox import encode_record

_STAGED_TTL = 600
"""Seconds a staged call index lives if its commit fails (a successful one renames it)."""


@dataclass(frozen=True, slots=True)
class AnswerMark:
    """What the previous cycle learned about one upstream answer."""

    digest: str
    deadline: float | None
    """Epoch seconds when a timer rule (queued too long) next needs a diff, if any."""
    calls: int = 0
    index: str = ""
    """Identifies the call index committed with this mark (the cycle that wrote both),
    so a poller can tell whether the index it kept in memory is still the stored one."""
    tally: Mapping[tuple[str, str, str], int] | None = None
    """The answer's calls by (popup uuid, popup name, status), kept up to date by each
    cycle that diffs the answer, so any leader can export today's calls by status
    (``clickfono_calls_today``) without reading every call. None: not counted yet."""

    def encode(self) -> str:
        deadline = "" if self.deadline is None else repr(self.deadline)
        head = f"{self.digest}|{deadline}|{self.calls}"
        if self.tally is None:
            return f"{head}|{self.index}" if self.index else head
        counts = [[*key, n] for key, n in self.tally.items() if n]
        # Last: the JSON may hold "|" (popup names are customer text).
        return f"{head}|{self.index}|{json.dumps(counts, ensure_ascii=False)}"

    @classmethod
    def decode(cls, text: str) -> AnswerMark | None:
        parts = text.split("|", 4)
        if len(parts) not in (3, 4, 5):
            return None
        try:
            deadline = float(parts[1]) if parts[1] else None
            tally = _decode_tally(parts[4]) if len(parts) == 5 else None
            return cls(parts[0], deadline, int(parts[2]), parts[3] if len(parts) > 3 else "", tally)
        except ValueError:
            return None


def _decode_tally(text: str) -> dict[tuple[str, str, str], int] | None:
    """The tally part of a mark; None (count again) when it is not one."""
    try:
        rows = json.loads(text)
        return {(str(u), str(n), str(s)): int(c) for u, n, s, c in rows}
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class CycleState:
    meta: Mapping[str, str]
    answers: Mapping[str, Mapping[str, AnswerMark]]
    """Per date, per answer key."""

    @property
    def initialized(self) -> bool:
        return META_BASELINE_AT in self.meta

    @property
    def source_state(self) -> str:
        """``ok``, ``unavailable`` or ``unauthorized``: Clickfono's current episode."""
        return self.meta.get(META_SOURCE_STATE) or "ok"

    @property
    def source_failures(self) -> int:
        """Failed cycles in the current episode (0 when Clickfono answers)."""
        try:
            return int(self.meta.get(META_SOURCE_FAILURES) or 0)
        except ValueError:
            return 0

    @property
    def last_success(self) -> float | None:
        value = self.meta.get(META_LAST_SUCCESS)
        return float(value) if value else None


@dataclass(frozen=True, slots=True)
class DayChanges:
    snapshots: Mapping[str, str]
    answers: Mapping[str, AnswerMark]
    indexes: Mapping[str, str] = field(default_factory=dict)
    """Answer key -> encoded CallIndex of the answer just diffed."""


class StateOps(StoreBase):
    """The poll lease, cycle state and the commit."""

    async def acquire_lease(self, holder: str, ttl: float) -> int | None:
        """Take or renew the poll lease; return its fencing token, or None if held elsewhere."""
        token = await self._run(
            "acquire", [self.keys.lease(), self.keys.fence()], [holder, int(ttl * 1000)]
        )
        return int(token) if token else None

    async def renew_lease(self, holder: str, token: int, ttl: float) -> bool:
        return bool(
            await self._run(
                "renew", [self.keys.lease()], [lease_value(token, holder), int(ttl * 1000)]
            )
        )

    async def release_lease(self, holder: str, token: int) -> None:
        await self._run("release", [self.keys.lease()], [lease_value(token, holder)])

    async def load_cycle_state(self, dates: Sequence[str]) -> CycleState:
        async with self.errors(), self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.meta())
            for day in dates:
                pipe.hgetall(self.keys.answers(day))
            meta, *answers = await pipe.execute()
        marks: dict[str, dict[str, AnswerMark]] = {}
        for day, raw in zip(dates, answers, strict=True):
            marks[day] = {k: m for k, v in raw.items() if (m := AnswerMark.decode(v))}
        return CycleState(meta, marks)

    async def load_snapshots(
        self, wanted: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, str]]:
        """Per date, the stored snapshot text of each wanted call uuid (absent when none)."""
        return await self._hmget(self.keys.snapshots, wanted)

    async def load_indexes(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
        """Per date, the stored call index of each wanted answer key (absent when none)."""
        pairs = [(day, answer) for day, answers in wanted.items() for answer in answers]
        out: dict[str, dict[str, str]] = {day: {} for day in wanted}
        if not pairs:
            return out
        async with self.errors():
            texts = await self.redis.mget([self.keys.index(d, a) for d, a in pairs])
        for (day, answer), text in zip(pairs, texts, strict=True):
            if text is not None:
                out[day][answer] = text if isinstance(text, str) else text.decode()
        return out

    async def _hmget(
        self, key_of: Callable[[str], str], wanted: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, str]]:
        days = [d for d, fields in wanted.items() if fields]
        out: dict[str, dict[str, str]] = {d: {} for d in wanted}
        if not days:
            return out
        async with self.errors(), self.redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hmget(key_of(day), list(wanted[day]))
            results = await pipe.execute()
        for day, values in zip(days, results, strict=True):
            out[day] = {f: v for f, v in zip(wanted[day], values, strict=True) if v is not None}
        return out

    async def commit(
        self,
        lease_value: str,
        meta: Mapping[str, str],
        days: Mapping[str, DayChanges],
        events: Mapping[str, Sequence[Event]],
    ) -> int:
        """Atomically store snapshots, answer marks and meta, and queue events per sink.

        ``lease_value`` ("token|holder") must still hold the lease, or LeaseLost is
        raised and nothing is written; an empty value skips the check (single process).
        Events already queued, delivered or dead-lettered are not queued again.
        Returns how many (sink, event) entries were newly queued.
        """
        keys = [self.keys.lease(), self.keys.meta()]
        args: list[Any] = [
            lease_value,
            now_ms(),
            self.ttl_seconds,
            len(days),
            len(events),
            len(meta),
        ]
        for name, value in meta.items():
            args += [name, value]
        staged: list[tuple[str, str]] = []
        stage = secrets.token_hex(6)
        for day, changes in days.items():
            keys += [self.keys.snapshots(day), self.keys.answers(day)]
            args.append(len(changes.snapshots))
            for pair in changes.snapshots.items():
                args += pair
            args.append(len(changes.answers))
            for answer, mark in changes.answers.items():
                args += [answer, mark.encode()]
            args.append(len(changes.indexes))
            for answer, text in changes.indexes.items():
                final = self.keys.index(day, answer)
                keys += [self.keys.staged(final, stage), final]
                staged.append((keys[-2], text))
        for sink, batch in events.items():
            keys += self.keys.sink(sink)
            args.append(len(batch))
            for event in batch:
                args += [event.id, encode_record(event.to_json())]
        if not staged:
            return int(await self._run("commit", keys, args))
        return int(await self._commit_staged(staged, keys, args))

    async def _commit_staged(
        self, staged: Sequence[tuple[str, str]], keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """SET the staged indexes and run the commit script in one MULTI/EXEC (one round
        trip). A failed script leaves only staged keys, which expire in 10 minutes.

        redis-py's cluster pipeline refuses EVALSHA, so in Cluster mode the staged keys go
        in one pipelined round trip (one node: they share the hash tag) and the script in
        a second. The script checks they all exist, so it is still all or nothing."""
        script = self._scripts["commit"]
        if isinstance(self.redis, RedisCluster):
            async with self.errors(), self.redis.pipeline(transaction=False) as pipe:
                for key, text in staged:
                    pipe.set(key, text, ex=_STAGED_TTL)
                await pipe.execute()
            return await self._run("commit", keys, args)
        for attempt in range(2):
            async with self.errors(), self.redis.pipeline(transaction=True) as pipe:
                for key, text in staged:
                    pipe.set(key, text, ex=_STAGED_TTL)
                pipe.evalsha(script.sha, len(keys), *keys, *args)
                # Unraised, the replies keep the server's own error text.
                replies = await pipe.execute(raise_on_error=False)
            error = next((r for r in replies if isinstance(r, Exception)), None)
            if error is None:
                return replies[-1]
            if isinstance(error, NoScriptError) and not attempt:
                async with self.errors():
                    await self.redis.script_load(scripts.COMMIT)
                continue
            if str(error).startswith("LEASELOST"):
                raise LeaseLost("the poll lease is held by another replica")
            raise StoreError(f"Redis at {self.where} refused commit: {error}")
        raise AssertionError("unreachable")  # pragma: no cover
