"""Property tests (hypothesis): hostile upstream bodies, the diff engine against a reference
model, and the determinism of event ids. Business hours vs brute force is in test_hours.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier import events as ev
from notifier.clickfono.client import ClickfonoClient
from notifier.clickfono.models import Call, CallStatus
from notifier.clickfono.simulator import make_record
from notifier.config import EventFilter, load_settings
from notifier.cycle import Poller
from notifier.diff import DiffContext, Snapshot, diff_call
from notifier.errors import SourceError
from notifier.store import Store

NOW = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # Tuesday 10:00 in Santiago
TODAY = "2026-11-24"
IN_HOURS = "2026/11/24 10:00:00 -0300"
OUT_OF_HOURS = "2026/11/24 23:30:00 -0300"
SPAM = CallStatus.SPAM.value
EXHAUSTED = CallStatus.ATTEMPTS_EXHAUSTED.value
OUT_OF_HOURS_STATUS = CallStatus.OUT_OF_HOURS.value
WAITING = {CallStatus.QUEUED.value, CallStatus.SCHEDULED.value}
RUNNING_OR_CONNECTED = {CallStatus.RUNNING.value, CallStatus.CONNECTED.value}
STATUSES = [s.value for s in CallStatus] + ["Reagendada", "Estado Nuevo"]
"""The documented statuses plus unknown ones (kept and reported as status changes)."""

_prefixes = itertools.count()

# ---------------------------------------------------------------- hostile bodies

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
_record_keys = st.sampled_from(
    ["uuid", "status", "retry", "call_at", "enqueued", "caller_number", "additionals", "x"]
)
vendorish = st.dictionaries(_record_keys, json_values, max_size=8)
"""Objects with the vendor's field names and arbitrary values."""


def _seed_records() -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        make_record(rng=rng, uuid=f"seed{i}", status=status, call_at=IN_HOURS)
        for i, status in enumerate(["En cola", "Conectada", SPAM])
    ]


@dataclass
class Upstream:
    """The body the mock Clickfono answers with (always HTTP 200)."""

    body: bytes = b"[]"

    def handler(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=self.body)


async def _state(store: Store) -> dict[str, Any]:
    """Every key of the deployment except ``meta`` (where outage episodes are counted)."""
    found: dict[str, Any] = {}
    async for key in store.redis.scan_iter(match=store.key("*")):
        if key == store.key("meta"):
            continue
        kind = await store.redis.type(key)
        if kind == "hash":
            found[key] = await store.redis.hgetall(key)
        elif kind == "zset":
            found[key] = await store.redis.zrange(key, 0, -1, withscores=True)
        elif kind == "string":
            found[key] = await store.redis.get(key)
        else:
            found[key] = kind
    return found


async def _cycle_with_body(redis_url: str, body: bytes) -> tuple[BaseException | None, set[str]]:
    """Seed a deployment with a valid answer, then run one cycle on ``body``.

    Returns what the second cycle raised and which keys it changed (``meta`` aside).
    """
    prefix = f"prop{next(_prefixes)}"
    settings = load_settings(
        {
            "CLICKFONO_TOKEN": "t",
            "REDIS_URL": redis_url,
            "NOTIFIER_REDIS_PREFIX": prefix,
            "NOTIFIER_UNAVAILABLE_CYCLES": "1000000",  # no operational events to account for
        }
    )
    upstream = Upstream(json.dumps(_seed_records()).encode())
    store = Store.from_url(redis_url, prefix)
    client = ClickfonoClient(
        "http://clickfono.invalid",
        "t",
        attempts=1,
        transport=httpx.MockTransport(upstream.handler),
    )
    now = NOW
    poller = Poller(settings, client, store, {"webhook": EventFilter(("*",))}, clock=lambda: now)
    try:
        await poller.run_cycle()
        before = await _state(store)
        upstream.body = body
        now = NOW + timedelta(seconds=30)
        raised: BaseException | None = None
        try:
            await poller.run_cycle()
        except BaseException as exc:  # the property is about what may escape
            raised = exc
        after = await _state(store)
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        await store.redis.delete(*[k async for k in store.redis.scan_iter(store.key("*"))])
        return raised, changed
    finally:
        await client.aclose()
        await store.aclose()


def _is_json_list(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), list)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


def _check_hostile_body(redis_url: str, body: bytes) -> None:
    raised, changed = asyncio.run(_cycle_with_body(redis_url, body))
    snapshots_changed = any(":snap:" in key for key in changed)
    if raised is not None:
        assert isinstance(raised, SourceError), f"{type(raised).__name__} escaped the cycle"
        assert not changed, f"a failed cycle changed {sorted(changed)}"
    else:
        assert _is_json_list(body), "a body that is not a JSON list passed as a cycle"
    if snapshots_changed:
        assert _is_json_list(body), "a body that is not a JSON list changed a snapshot"


hostile = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@hostile
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_a_cycle(redis_url: str, body: bytes) -> None:
    """Random bytes as the body raise only SourceError and change no state unless a list."""
    _check_hostile_body(redis_url, body)


@hostile
@given(value=json_values | st.lists(json_values | vendorish, max_size=6))
def test_arbitrary_json_never_escapes_a_cycle(redis_url: str, value: Any) -> None:
    """Random JSON as the body raises only SourceError and changes state only if a list."""
    _check_hostile_body(redis_url, json.dumps(value).encode())


@hostile
@given(
    body=st.sampled_from(
        [
            b"[" * 100_000,  # nesting deeper than any recursion limit
            b'[{"uuid": "a", "status": "SPAM"}',  # truncated
            b"\xef\xbb\xbf[]",  # a byte-order mark
            b"[1e99999]",
            b'{"calls": []}',
            b"null",
            b"[NaN]",
            "[\u00a0]".encode(),
            b"\x00" * 64,
        ]
    )
)
def test_pathological_bodies_never_escape_a_cycle(redis_url: str, body: bytes) -> None:
    """Known nasty bodies (deep nesting, truncation, BOM, NaN, NULs) fail cleanly or pass."""
    _check_hostile_body(redis_url, body)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    statuses=st.lists(st.sampled_from(STATUSES), min_size=1, max_size=6),
    junk=st.lists(
        json_values.filter(lambda v: not isinstance(v, dict))
        | vendorish.filter(lambda d: "uuid" not in d),
        max_size=6,
    ),
    data=st.data(),
)
def test_valid_records_survive_junk_neighbours(
    redis_url: str, statuses: list[str], junk: list[Any], data: st.DataObject
) -> None:
    """In a list mixing valid records and junk, the junk is skipped and every call is kept."""
    rng = random.Random(1)
    valid = [
        make_record(rng=rng, uuid=f"call{i}", status=s, call_at=IN_HOURS)
        for i, s in enumerate(statuses)
    ]
    items: list[Any] = [*valid, *junk]
    order = data.draw(st.permutations(range(len(items))))
    body = json.dumps([items[i] for i in order]).encode()

    async def run() -> tuple[int, dict[str, str]]:
        prefix = f"prop{next(_prefixes)}"
        settings_ = load_settings(
            {"CLICKFONO_TOKEN": "t", "REDIS_URL": redis_url, "NOTIFIER_REDIS_PREFIX": prefix}
        )
        store = Store.from_url(redis_url, prefix)
        client = ClickfonoClient(
            "http://clickfono.invalid",
            "t",
            attempts=1,
            transport=httpx.MockTransport(Upstream(body).handler),
        )
        try:
            poller = Poller(settings_, client, store, {}, clock=lambda: NOW)
            report = await poller.run_cycle()
            uuids = [r["uuid"] for r in valid]
            stored = (await store.load_snapshots({TODAY: uuids}))[TODAY]
            return report.records_rejected, {
                u: Snapshot.decode(t).status for u, t in stored.items()
            }
        finally:
            await client.aclose()
            await store.aclose()

    rejected, stored = asyncio.run(run())
    assert rejected == len(junk)
    assert stored == {r["uuid"]: r["status"] for r in valid}


# ---------------------------------------------------------------- diff engine vs a model


@dataclass(frozen=True)
class Step:
    status: str
    after: float
    """Seconds since the previous observation."""


steps = st.lists(
    st.builds(
        Step,
        st.sampled_from(STATUSES),
        st.sampled_from([0.0, 1.0, 30.0, 59.0, 61.0, 300.0, 899.0, 901.0, 3600.0]),
    ),
    min_size=1,
    max_size=14,
)
call_ats = st.sampled_from([IN_HOURS, OUT_OF_HOURS])
queue_alerts = st.sampled_from([0.0, 60.0, 900.0])


def is_open(instant: datetime) -> bool:
    """09:00-18:00 at -03:00, every day."""
    local = instant.astimezone(UTC) - timedelta(hours=3)
    return 9 <= local.hour < 18


def reference_model(
    history: list[Step], call_at: str, queue_alert: float
) -> list[tuple[str, str | None, str | None]]:
    """SPEC.md's event table, written plainly: (type, previous_status, reason) in order."""
    open_at_call = call_at == IN_HOURS
    out: list[tuple[str, str | None, str | None]] = []
    previous: str | None = None
    seen = False
    outside_alerted = False
    wait_started: float | None = None
    wait_alerted = False
    now = 0.0
    for step in history:
        now += step.after
        status = step.status
        became = not seen or previous != status
        found: list[tuple[str, str | None]] = []
        if not seen:
            found.append((ev.CALL_CREATED, None))
        elif became:
            found.append((ev.CALL_STATUS_CHANGED, None))
        if became and status == SPAM:
            found.append((ev.CALL_SPAM, None))
        if became and status == EXHAUSTED:
            found.append((ev.CALL_ATTEMPTS_EXHAUSTED, None))
        if not outside_alerted:
            if status == OUT_OF_HOURS_STATUS:
                outside_alerted = True
                found.append((ev.CALL_OUTSIDE_BUSINESS_HOURS, "status"))
            elif status in RUNNING_OR_CONNECTED and not open_at_call:
                outside_alerted = True
                found.append((ev.CALL_OUTSIDE_BUSINESS_HOURS, "schedule"))
        if status in WAITING:
            if wait_started is None:
                wait_started, wait_alerted = now, False
        else:
            wait_started, wait_alerted = None, False
        if (
            queue_alert > 0
            and wait_started is not None
            and not wait_alerted
            and now - wait_started > queue_alert
        ):
            wait_alerted = True
            found.append((ev.CALL_QUEUED_TOO_LONG, None))
        out.extend((kind, previous if seen else None, reason) for kind, reason in found)
        previous, seen = status, True
    return out


def run_engine(
    uuid: str, history: list[Step], call_at: str, queue_alert: float, start: datetime = NOW
) -> Iterator[tuple[ev.Event, Snapshot | None]]:
    """Feed the history to diff_call, persisting the snapshot as text between steps."""
    stored: str | None = None
    now = start
    for step in history:
        now += timedelta(seconds=step.after)
        call = _call(uuid, step.status, call_at)
        previous = None if stored is None else Snapshot.decode(stored)
        result = diff_call(
            previous, call, DiffContext(now=now, is_open=is_open, queue_alert_seconds=queue_alert)
        )
        if result.snapshot is not None:
            stored = result.snapshot.encode()
        for event in result.events:
            yield event, previous


@settings(max_examples=300, deadline=None)
@given(history=steps, call_at=call_ats, queue_alert=queue_alerts)
def test_diff_engine_matches_the_reference_model(
    history: list[Step], call_at: str, queue_alert: float
) -> None:
    """For any status history the engine raises exactly the model's events, in order."""
    produced = [
        (e.type, e.previous_status, e.reason)
        for e, _ in run_engine("c1", history, call_at, queue_alert)
    ]
    assert produced == reference_model(history, call_at, queue_alert)


@settings(max_examples=200, deadline=None)
@given(
    history=steps,
    call_at=call_ats,
    queue_alert=queue_alerts,
    shift=st.floats(min_value=1, max_value=10 * 86400),
)
def test_event_ids_are_stable_under_replay(
    history: list[Step], call_at: str, queue_alert: float, shift: float
) -> None:
    """Detecting the same history again later (crash, other replica) gives the same ids."""
    first = [e.id for e, _ in run_engine("c1", history, call_at, queue_alert)]
    later = NOW + timedelta(seconds=shift)
    again = [e.id for e, _ in run_engine("c1", history, call_at, queue_alert, start=later)]
    assert again == first


@settings(max_examples=200, deadline=None)
@given(
    history=steps,
    other=steps,
    call_at=call_ats,
    queue_alert=queue_alerts,
    uuids=st.lists(
        st.text(alphabet="0123456789abcdef", min_size=1, max_size=32),
        min_size=2,
        max_size=2,
        unique=True,
    ),
)
def test_event_ids_are_distinct_across_distinct_changes(
    history: list[Step], other: list[Step], call_at: str, queue_alert: float, uuids: list[str]
) -> None:
    """No two events of one call, nor of two calls, ever share an id."""
    first = [e.id for e, _ in run_engine(uuids[0], history, call_at, queue_alert)]
    second = [e.id for e, _ in run_engine(uuids[1], other, call_at, queue_alert)]
    assert len(set(first)) == len(first)
    assert len(set(second)) == len(second)
    assert not set(first) & set(second)


@settings(max_examples=200, deadline=None)
@given(history=steps, call_at=call_ats, redetect_after=st.floats(min_value=0.001, max_value=59))
def test_a_change_detected_twice_keeps_its_ids(
    history: list[Step], call_at: str, redetect_after: float
) -> None:
    """Re-diffing a step from the same snapshot moments later (a crash before the commit)
    yields the same events with the same ids."""
    *before, last = history
    stored: Snapshot | None = None
    now = NOW
    for step in before:
        now += timedelta(seconds=step.after)
        result = diff_call(stored, _call("c1", step.status, call_at), _context(now))
        stored = result.snapshot or stored
    at = now + timedelta(seconds=last.after)
    call = _call("c1", last.status, call_at)
    once = diff_call(stored, call, _context(at)).events
    twice = diff_call(stored, call, _context(at + timedelta(seconds=redetect_after))).events
    assert [(e.type, e.id) for e in once] == [(e.type, e.id) for e in twice]


def _call(uuid: str, status: str, call_at: str) -> Call:
    return Call.validate(
        make_record(rng=random.Random(0), uuid=uuid, status=status, call_at=call_at)
    )


def _context(now: datetime) -> DiffContext:
    return DiffContext(now=now, is_open=is_open, queue_alert_seconds=0)


@pytest.mark.parametrize("status", STATUSES)
def test_model_and_engine_agree_on_a_new_call(status: str) -> None:
    """Sanity anchor for the model: a call first seen in each status, both ways."""
    history = [Step(status, 0.0)]
    produced = [
        (e.type, e.previous_status, e.reason) for e, _ in run_engine("c", history, IN_HOURS, 0)
    ]
    assert produced == reference_model(history, IN_HOURS, 0)
    assert produced[0] == (ev.CALL_CREATED, None, None)
