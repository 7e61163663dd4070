"""Redis state. The only module that builds keys or runs Redis commands.

Every key is ``{prefix}:…`` — the braces are a Cluster hash tag, so one deployment's
keys live in one slot and Lua scripts may touch them all.

Layout::

    {p}:lease            "token|holder" with a TTL: the poll lease
    {p}:fence            INCR counter; each lease acquisition gets a larger token
    {p}:meta             hash: baseline_at, last_success, source-episode fields
    {p}:snap:{date}      hash call uuid -> encoded Snapshot        (TTL: state days)
    {p}:answers:{date}   hash answer key -> "digest|deadline|calls" (TTL: state days)
    {p}:index:{date}:{answer}   CallIndex of the answer last diffed: a fingerprint per
                         call, so unchanged calls skip loading and diffing. TTL one day
                         (at most the state TTL): a date is polled for at most a day and
                         the rollover grace, and a missing index only costs a full diff.
                         Staged by the commit under ``…:staged:{random}`` (TTL 10 min)
                         and renamed into place by the commit script, so the megabytes
                         never pass through Lua.
    {p}:outbox:{sink}    zset event id -> due time (ms); a claimed entry is pushed
                         into the future by the claim timeout, so a crashed
                         consumer's entries become due again by themselves
    {p}:payload:{sink}   hash event id -> {"event", "attempts", "error"}
    {p}:done:{sink}      zset event id -> delivered at (ms): idempotency records
    {p}:dead:{sink}      hash event id -> dead letter
    {p}:slack:thread:{channel}:{call}   Slack thread ts
    {p}:slack:pace:{channel}            next free send slot (ms)

The outbox is a visibility-timeout queue rather than a Stream: the due-time score
gives retry scheduling, crash reclaim (the role of XAUTOCLAIM) and sharing between
replicas in one structure, and entries are only removed once acknowledged or
dead-lettered, so nothing is ever trimmed while pending.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError

from notifier.errors import LeaseLost, StoreError
from notifier.events import Event

SINK_NAMES = ("slack", "email", "webhook", "console")

_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if string.sub(cur, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(cur, 1, sep - 1))
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
return token
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease, meta, then per date (snap, answers, then per index: staged, final), then
#       per sink (outbox, payload, done, dead)
# ARGV: lease value, now ms, ttl s, n_dates, n_sinks, n_meta, meta pairs...,
#       per date: n_snap, pairs..., n_answers, pairs..., n_index;
#       per sink: n_events, (id, record)...
# Hash pairs go to Redis in HSETs of up to 1,000 pairs rather than one call per pair: a
# baseline of 100,000 snapshots is then 100 calls into Redis instead of 100,000.
# Call indexes (megabytes each) arrive as staged keys SET in the same MULTI/EXEC: they are
# renamed into place here, once the lease is checked, instead of passing through Lua.
_COMMIT = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LEASELOST the poll lease is held by another replica')
end
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local n_dates, n_sinks, n_meta = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function hset_pairs(key, first, n)
  local done = 0
  while done < n do
    local m = math.min(n - done, 1000)
    local from = first + 2 * done
    redis.call('HSET', key, unpack(ARGV, from, from + 2 * m - 1))
    done = done + m
  end
end
-- Find every date's parts first, and check the staged indexes exist: nothing is written
-- unless the whole commit can be.
local dates = {}
local a, k = 7 + 2 * n_meta, 3
for d = 1, n_dates do
  local date = {snap = KEYS[k], answers = KEYS[k + 1]}
  date.n_snap = tonumber(ARGV[a])
  date.snap_at = a + 1
  a = a + 1 + 2 * date.n_snap
  date.n_answers = tonumber(ARGV[a])
  date.answers_at = a + 1
  a = a + 1 + 2 * date.n_answers
  date.n_index = tonumber(ARGV[a])
  date.index_at = k + 2
  a = a + 1
  for i = 0, date.n_index - 1 do
    if redis.call('EXISTS', KEYS[date.index_at + 2 * i]) == 0 then
      return redis.error_reply('ERR staged call index missing: ' .. KEYS[date.index_at + 2 * i])
    end
  end
  k = k + 2 + 2 * date.n_index
  dates[d] = date
end
hset_pairs(KEYS[2], 7, n_meta)
for _, date in ipairs(dates) do
  hset_pairs(date.snap, date.snap_at, date.n_snap)
  hset_pairs(date.answers, date.answers_at, date.n_answers)
  for i = 0, date.n_index - 1 do
    local final = KEYS[date.index_at + 2 * i + 1]
    redis.call('RENAME', KEYS[date.index_at + 2 * i], final)
    redis.call('EXPIRE', final, math.min(ttl, 86400))
  end
  if date.n_snap + date.n_answers + date.n_index > 0 then
    redis.call('EXPIRE', date.snap, ttl)
    redis.call('EXPIRE', date.answers, ttl)
  end
end
local queued = 0
for s = 1, n_sinks do
  local outbox, payload, done, dead = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local n = tonumber(ARGV[a])
  a = a + 1
  for i = 1, n do
    local id = ARGV[a]
    if not redis.call('ZSCORE', done, id) and not redis.call('ZSCORE', outbox, id)
        and redis.call('HEXISTS', dead, id) == 0 then
      redis.call('ZADD', outbox, now, id)
      redis.call('HSET', payload, id, ARGV[a + 1])
      queued = queued + 1
    end
    a = a + 2
  end
  k = k + 4
end
return queued
"""

# KEYS: outbox, payload, done. ARGV: now ms, claim timeout ms, limit
_CLAIM = """
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  if redis.call('ZSCORE', KEYS[3], id) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  else
    local record = redis.call('HGET', KEYS[2], id)
    if record then
      redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), id)
      out[#out + 1] = id
      out[#out + 1] = record
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
return out
"""

# KEYS: outbox, payload, done. ARGV: now ms, keep ms, ids...
_ACK = """
local now = tonumber(ARGV[1])
for i = 3, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('ZADD', KEYS[3], now, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[2]))
return #ARGV - 2
"""

# KEYS: outbox, payload, dead. ARGV: id, due ms or 'dead', record
_FAIL = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if ARGV[2] == 'dead' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
else
  redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 1
"""

# KEYS: outbox, payload, dead. ARGV: now ms, ids... (none: all)
_REPLAY = """
local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('HKEYS', KEYS[3])
end
local n = 0
for _, id in ipairs(ids) do
  local letter = redis.call('HGET', KEYS[3], id)
  if letter then
    local event = cjson.decode(letter)['event']
    redis.call('HSET', KEYS[2], id, cjson.encode({event = event, attempts = 0}))
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), id)
    redis.call('HDEL', KEYS[3], id)
    n = n + 1
  end
end
return n
"""

# KEYS: pace key. ARGV: now ms, interval ms. Returns ms to wait before sending.
_PACE = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], slot + interval, 'PX', slot - now + interval * 10)
return slot - now
"""


_STAGED_TTL = 600
"""Seconds a staged call index lives if its commit fails (a successful one renames it)."""


@contextlib.contextmanager
def _redis_unavailable() -> Iterator[None]:
    """Turn redis-py's errors into our StoreError at the boundary (no URL, no arguments)."""
    try:
        yield
    except RedisError as exc:
        raise StoreError(f"Redis unavailable ({type(exc).__name__})") from None


def now_ms() -> int:
    return int(time.time() * 1000)


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

    def encode(self) -> str:
        deadline = "" if self.deadline is None else repr(self.deadline)
        index = f"|{self.index}" if self.index else ""
        return f"{self.digest}|{deadline}|{self.calls}{index}"

    @classmethod
    def decode(cls, text: str) -> AnswerMark | None:
        parts = text.split("|")
        if len(parts) not in (3, 4):
            return None
        try:
            deadline = float(parts[1]) if parts[1] else None
            return cls(parts[0], deadline, int(parts[2]), parts[3] if len(parts) == 4 else "")
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class CycleState:
    meta: Mapping[str, str]
    answers: Mapping[str, Mapping[str, AnswerMark]]
    """Per date, per answer key."""

    @property
    def initialized(self) -> bool:
        return "baseline_at" in self.meta

    @property
    def last_success(self) -> float | None:
        value = self.meta.get("last_success")
        return float(value) if value else None


@dataclass(frozen=True, slots=True)
class DayChanges:
    snapshots: Mapping[str, str]
    answers: Mapping[str, AnswerMark]
    indexes: Mapping[str, str] = field(default_factory=dict)
    """Answer key -> encoded CallIndex of the answer just diffed."""


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """An outbox entry claimed for delivery."""

    sink: str
    event: Event
    attempts: int
    """Failed attempts so far."""
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sink: str
    event: Event
    attempts: int
    error: str
    failed_at: float


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _record(event_json: str, attempts: int = 0, error: str | None = None) -> str:
    # The JSON of {"event": ..., "attempts": ..., "error": ...}, built without a dict and
    # a new encoder per event: a busy cycle queues thousands.
    error_part = "" if error is None else f',"error":{_ENCODER.encode(error)}'
    return f'{{"event":{_ENCODER.encode(event_json)},"attempts":{attempts:d}{error_part}}}'


class Store:
    """Typed operations over one deployment's keys."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_days: int = 3) -> None:
        self.redis = client
        self.prefix = prefix
        self.ttl_seconds = ttl_days * 86400
        self._scripts = {
            name: client.register_script(src)
            for name, src in {
                "acquire": _ACQUIRE,
                "renew": _RENEW,
                "release": _RELEASE,
                "commit": _COMMIT,
                "claim": _CLAIM,
                "ack": _ACK,
                "fail": _FAIL,
                "replay": _REPLAY,
                "pace": _PACE,
            }.items()
        }

    @classmethod
    def from_url(cls, url: str, prefix: str, ttl_days: int = 3) -> Store:
        # Brief reconnect retries only: the poll loop and workers own the long backoff,
        # and every script is safe to repeat.
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            # With one retry a command gives up within ~10 s: less than the 15 s lease.
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=1),
        )
        return cls(client, prefix, ttl_days)

    async def aclose(self) -> None:
        await self.redis.aclose()

    # Keys

    def key(self, *parts: str) -> str:
        return ":".join(("{" + self.prefix + "}", *parts))

    def _sink_keys(self, sink: str) -> list[str]:
        return [
            self.key("outbox", sink),
            self.key("payload", sink),
            self.key("done", sink),
            self.key("dead", sink),
        ]

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._scripts[script](keys=list(keys), args=list(args))
        except ResponseError as exc:
            if str(exc).startswith("LEASELOST"):
                raise LeaseLost("the poll lease is held by another replica") from None
            raise StoreError(f"Redis refused {script}: {exc}") from None
        except RedisError as exc:
            raise StoreError(f"Redis unavailable ({type(exc).__name__})") from None

    async def reset(self) -> int:
        """Delete every key of this prefix (the demo starts fresh); returns how many."""
        deleted = 0
        with _redis_unavailable():
            batch: list[str] = []
            async for key in self.redis.scan_iter(match=self.key("*"), count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += await self.redis.delete(*batch)
                    batch = []
            if batch:
                deleted += await self.redis.delete(*batch)
        return deleted

    async def ping(self) -> None:
        with _redis_unavailable():
            await self.redis.ping()

    # Lease

    async def acquire_lease(self, holder: str, ttl: float) -> int | None:
        """Take or renew the poll lease; return its fencing token, or None if held elsewhere."""
        token = await self._run(
            "acquire", [self.key("lease"), self.key("fence")], [holder, int(ttl * 1000)]
        )
        return int(token) if token else None

    async def renew_lease(self, holder: str, token: int, ttl: float) -> bool:
        return bool(
            await self._run("renew", [self.key("lease")], [f"{token}|{holder}", int(ttl * 1000)])
        )

    async def release_lease(self, holder: str, token: int) -> None:
        await self._run("release", [self.key("lease")], [f"{token}|{holder}"])

    # Cycle state

    async def load_cycle_state(self, dates: Sequence[str]) -> CycleState:
        with _redis_unavailable():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.key("meta"))
                for day in dates:
                    pipe.hgetall(self.key("answers", day))
                meta, *answers = await pipe.execute()
        marks: dict[str, dict[str, AnswerMark]] = {}
        for day, raw in zip(dates, answers, strict=True):
            marks[day] = {k: m for k, v in raw.items() if (m := AnswerMark.decode(v))}
        return CycleState(meta, marks)

    async def load_snapshots(
        self, wanted: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, str]]:
        """Per date, the stored snapshot text of each wanted call uuid (absent when none)."""
        return await self._hmget("snap", wanted)

    async def load_indexes(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
        """Per date, the stored call index of each wanted answer key (absent when none)."""
        pairs = [(day, answer) for day, answers in wanted.items() for answer in answers]
        out: dict[str, dict[str, str]] = {day: {} for day in wanted}
        if not pairs:
            return out
        with _redis_unavailable():
            texts = await self.redis.mget([self.key("index", d, a) for d, a in pairs])
        for (day, answer), text in zip(pairs, texts, strict=True):
            if text is not None:
                out[day][answer] = text if isinstance(text, str) else text.decode()
        return out

    async def _hmget(
        self, kind: str, wanted: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, str]]:
        days = [d for d, fields in wanted.items() if fields]
        out: dict[str, dict[str, str]] = {d: {} for d in wanted}
        if not days:
            return out
        with _redis_unavailable():
            async with self.redis.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hmget(self.key(kind, day), list(wanted[day]))
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
        keys = [self.key("lease"), self.key("meta")]
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
            keys += [self.key("snap", day), self.key("answers", day)]
            args.append(len(changes.snapshots))
            for pair in changes.snapshots.items():
                args += pair
            args.append(len(changes.answers))
            for answer, mark in changes.answers.items():
                args += [answer, mark.encode()]
            args.append(len(changes.indexes))
            for answer, text in changes.indexes.items():
                final = self.key("index", day, answer)
                keys += [f"{final}:staged:{stage}", final]
                staged.append((keys[-2], text))
        for sink, batch in events.items():
            keys += self._sink_keys(sink)
            args.append(len(batch))
            for event in batch:
                args += [event.id, _record(event.to_json())]
        if not staged:
            return int(await self._run("commit", keys, args))
        return int(await self._commit_staged(staged, keys, args))

    async def _commit_staged(
        self, staged: Sequence[tuple[str, str]], keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """SET the staged indexes and run the commit script in one MULTI/EXEC (one round
        trip). A failed script leaves only staged keys, which expire in 10 minutes."""
        script = self._scripts["commit"]
        for attempt in range(2):
            with _redis_unavailable():
                async with self.redis.pipeline(transaction=True) as pipe:
                    for key, text in staged:
                        pipe.set(key, text, ex=_STAGED_TTL)
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                    # Unraised, the replies keep the server's own error text.
                    replies = await pipe.execute(raise_on_error=False)
            error = next((r for r in replies if isinstance(r, Exception)), None)
            if error is None:
                return replies[-1]
            if isinstance(error, NoScriptError) and not attempt:
                with _redis_unavailable():
                    await self.redis.script_load(_COMMIT)
                continue
            if str(error).startswith("LEASELOST"):
                raise LeaseLost("the poll lease is held by another replica")
            raise StoreError(f"Redis refused commit: {error}")
        raise AssertionError("unreachable")  # pragma: no cover

    # Outbox

    async def claim(self, sink: str, hide_for: float, limit: int = 500) -> list[QueuedEvent]:
        """Take up to ``limit`` due events; they stay hidden for ``hide_for`` seconds."""
        outbox, payload, done, _ = self._sink_keys(sink)
        flat = await self._run(
            "claim", [outbox, payload, done], [now_ms(), int(hide_for * 1000), limit]
        )
        claimed = []
        for i in range(0, len(flat), 2):
            record = json.loads(flat[i + 1])
            claimed.append(
                QueuedEvent(
                    sink,
                    Event.from_json(record["event"]),
                    int(record.get("attempts", 0)),
                    record.get("error"),
                )
            )
        return claimed

    async def extend(self, sink: str, ids: Iterable[str], hide_for: float) -> None:
        """Keep claimed events hidden while a slow send is still working on them."""
        ids = list(ids)
        if ids:
            due = now_ms() + int(hide_for * 1000)
            with _redis_unavailable():
                await self.redis.zadd(self.key("outbox", sink), dict.fromkeys(ids, due), xx=True)

    async def ack(self, sink: str, ids: Sequence[str]) -> None:
        """Mark events delivered: remove them and keep an idempotency record."""
        if ids:
            outbox, payload, done, _ = self._sink_keys(sink)
            await self._run(
                "ack", [outbox, payload, done], [now_ms(), self.ttl_seconds * 1000, *ids]
            )

    async def fail(self, failures: Sequence[tuple[QueuedEvent, str, float | None]]) -> None:
        """Record failed attempts, pipelined: each (event, error, retry in seconds), where a
        retry of None moves the event to the dead letters."""
        if not failures:
            return
        script = self._scripts["fail"]
        with _redis_unavailable():
            async with self.redis.pipeline(transaction=False) as pipe:
                for item, error, retry_in in failures:
                    outbox, payload, _, dead = self._sink_keys(item.sink)
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
                        record = _record(item.event.to_json(), attempts, error)
                        due = now_ms() + int(retry_in * 1000)
                    await script(
                        keys=[outbox, payload, dead], args=[item.event.id, due, record], client=pipe
                    )
                await pipe.execute()

    async def release(self, sink: str, ids: Sequence[str]) -> None:
        """Hand claimed events back so any replica may deliver them now (shutdown)."""
        await self.extend(sink, ids, hide_for=0)

    async def dead_letters(self, sinks: Iterable[str] = SINK_NAMES) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        for sink in sinks:
            with _redis_unavailable():
                raw = await self.redis.hgetall(self.key("dead", sink))
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

    async def replay(self, sink: str, ids: Sequence[str] = ()) -> int:
        """Queue dead letters again (all of this sink's when ``ids`` is empty)."""
        outbox, payload, _, dead = self._sink_keys(sink)
        return int(await self._run("replay", [outbox, payload, dead], [now_ms(), *ids]))

    async def queue_depths(self, sinks: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Per sink: (events pending in the outbox, dead letters)."""
        sinks = list(sinks)
        with _redis_unavailable():
            async with self.redis.pipeline(transaction=False) as pipe:
                for sink in sinks:
                    pipe.zcard(self.key("outbox", sink))
                    pipe.hlen(self.key("dead", sink))
                flat = await pipe.execute()
        return {s: (int(flat[2 * i]), int(flat[2 * i + 1])) for i, s in enumerate(sinks)}

    async def next_due(self, sink: str) -> float | None:
        """Epoch seconds when the earliest queued event of ``sink`` is due."""
        with _redis_unavailable():
            first = await self.redis.zrange(self.key("outbox", sink), 0, 0, withscores=True)
        return float(first[0][1]) / 1000 if first else None

    # Slack threads and pacing (used by the Slack sink through SlackState)

    async def get_thread(self, channel: str, call_uuid: str) -> str | None:
        with _redis_unavailable():
            value = await self.redis.get(self.key("slack", "thread", channel, call_uuid))
        return str(value) if value else None

    async def save_thread(self, channel: str, call_uuid: str, ts: str) -> bool:
        """Remember the parent message of a call; False if another replica saved one first."""
        with _redis_unavailable():
            return bool(
                await self.redis.set(
                    self.key("slack", "thread", channel, call_uuid),
                    ts,
                    nx=True,
                    ex=self.ttl_seconds,
                )
            )

    async def reserve_slot(self, channel: str, interval: float) -> float:
        """Reserve the next send slot for ``channel``; return seconds to wait for it."""
        wait = await self._run(
            "pace", [self.key("slack", "pace", channel)], [now_ms(), int(interval * 1000)]
        )
        return float(wait) / 1000
