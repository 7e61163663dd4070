"""The pure diff engine: tables of snapshot + call -> events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.clickfono.models import Call
from notifier.diff import (
    ALERTED_OUTSIDE_HOURS,
    ALERTED_QUEUED,
    REJECTED,
    CallIndex,
    DiffContext,
    Snapshot,
    diff_call,
)

NOW = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # 10:00 in Santiago (-03:00)
IN_HOURS = "2026/11/24 10:00:00 -0300"
OUT_OF_HOURS = "2026/11/24 23:30:00 -0300"


def business_hours(instant: datetime) -> bool:
    """09:00-18:00 at -03:00, every day (enough for these tables)."""
    local = instant.astimezone(UTC) - timedelta(hours=3)
    return 9 <= local.hour < 18


def make_call(status: str, **fields: Any) -> Call:
    record = {
        "uuid": "a93460bbf8402e15b9b0afddc05d5e8d",
        "status": status,
        "retry": "1",
        "call_at": IN_HOURS,
        "caller_number": "+56987654321",
    }
    record.update(fields)
    return Call.validate(record)


def ctx(now: datetime = NOW, **kwargs: Any) -> DiffContext:
    return DiffContext(now=now, is_open=business_hours, **kwargs)


def snap(status: str, seq: int = 1, **kwargs: Any) -> Snapshot:
    defaults: dict[str, Any] = {"since": NOW.timestamp() - 60, "retry": 1}
    defaults.update(kwargs)
    return Snapshot(status, seq, **defaults)


@pytest.mark.parametrize(
    ("previous", "status", "expected"),
    [
        (None, "En cola", ["call.created"]),
        (None, "SPAM", ["call.created", "call.spam"]),
        (None, "Intentos terminados", ["call.created", "call.attempts_exhausted"]),
        (None, "Fuera de horario", ["call.created", "call.outside_business_hours"]),
        (None, "Conectada", ["call.created"]),
        (None, "Estado Nuevo", ["call.created"]),
        ("En cola", "En cola", []),
        ("Por ejecutar", "En cola", ["call.status_changed"]),
        ("En cola", "En ejecución", ["call.status_changed"]),
        ("En ejecución", "Conectada", ["call.status_changed"]),
        ("En ejecución", "No Conectada", ["call.status_changed"]),
        ("En cola", "Intentos terminados", ["call.status_changed", "call.attempts_exhausted"]),
        ("No Conectada", "Intentos terminados", ["call.status_changed", "call.attempts_exhausted"]),
        ("Por ejecutar", "SPAM", ["call.status_changed", "call.spam"]),
        ("En cola", "Fuera de horario", ["call.status_changed", "call.outside_business_hours"]),
        ("SPAM", "SPAM", []),
        ("Conectada", "Estado Desconocido", ["call.status_changed"]),
        ("Estado Desconocido", "Conectada", ["call.status_changed"]),
    ],
)
def test_status_transitions_raise_the_events_of_spec(
    previous: str | None, status: str, expected: list[str]
) -> None:
    """Each status pair raises exactly the event types that SPEC.md's table names."""
    before = snap(previous) if previous else None
    result = diff_call(before, make_call(status), ctx())
    assert [e.type for e in result.events] == expected
    for event in result.events:
        assert event.previous_status == previous
        assert event.call is not None and event.call["status"] == status


@pytest.mark.parametrize(
    ("status", "call_at", "fires", "reason"),
    [
        ("En ejecución", OUT_OF_HOURS, True, "schedule"),
        ("Conectada", OUT_OF_HOURS, True, "schedule"),
        ("En ejecución", IN_HOURS, False, None),
        ("No Conectada", OUT_OF_HOURS, False, None),
        ("En cola", OUT_OF_HOURS, False, None),
        ("Fuera de horario", IN_HOURS, True, "status"),
    ],
)
def test_outside_business_hours_reason(
    status: str, call_at: str, fires: bool, reason: str | None
) -> None:
    """Out-of-hours fires for Fuera de horario (status) or a running call out of hours."""
    result = diff_call(snap("Por ejecutar"), make_call(status, call_at=call_at), ctx())
    matching = [e for e in result.events if e.type == "call.outside_business_hours"]
    assert bool(matching) == fires
    if fires:
        assert matching[0].reason == reason
        assert matching[0].payload()["data"]["reason"] == reason


def test_outside_business_hours_fires_once_per_call() -> None:
    """A call alerted as out of hours is not alerted again on later changes."""
    first = diff_call(snap("En cola"), make_call("En ejecución", call_at=OUT_OF_HOURS), ctx())
    assert first.snapshot is not None and first.snapshot.flags & ALERTED_OUTSIDE_HOURS
    later = diff_call(first.snapshot, make_call("Conectada", call_at=OUT_OF_HOURS), ctx())
    assert [e.type for e in later.events] == ["call.status_changed"]


def test_flapping_statuses_give_distinct_events() -> None:
    """A→B→A→B raises a status_changed each time, each with its own id."""
    snapshot: Snapshot | None = None
    ids: list[str] = []
    for status in ["En cola", "SPAM", "En cola", "SPAM"]:
        result = diff_call(snapshot, make_call(status), ctx())
        ids += [e.id for e in result.events]
        snapshot = result.snapshot or snapshot
    assert snapshot is not None and snapshot.seq == 4
    assert len(ids) == len(set(ids)) == 1 + 2 + 1 + 2  # created, (changed+spam), changed, ...


def test_same_change_gets_same_id_when_detected_again() -> None:
    """Diffing the same snapshot and call twice (a replay after a crash) yields equal ids."""
    before = snap("En cola", seq=3)
    first = diff_call(before, make_call("Intentos terminados"), ctx())
    again = diff_call(before, make_call("Intentos terminados"), ctx(now=NOW + timedelta(1)))
    assert [e.id for e in first.events] == [e.id for e in again.events]


def test_unchanged_call_writes_nothing() -> None:
    """A call identical to its snapshot returns no snapshot to store and no event."""
    before = snap("Conectada", retry=1, enqueued=None)
    result = diff_call(before, make_call("Conectada"), ctx())
    assert result.snapshot is None and result.events == ()


def test_field_change_without_status_change_updates_snapshot_silently() -> None:
    """A new retry count is remembered without raising an event."""
    result = diff_call(snap("En cola", retry=1), make_call("En cola", retry="2"), ctx())
    assert result.events == ()
    assert result.snapshot is not None and result.snapshot.retry == 2


@pytest.mark.parametrize(
    ("waited_minutes", "threshold_minutes", "fires"),
    [(14, 15, False), (16, 15, True), (600, 0, False), (1, 0.5, True)],
)
def test_queued_too_long(waited_minutes: float, threshold_minutes: float, fires: bool) -> None:
    """A wait longer than the threshold raises queued_too_long; threshold 0 disables it."""
    start = NOW - timedelta(minutes=waited_minutes)
    before = snap("En cola", since=start.timestamp(), wait_since=start.timestamp(), wait_seq=1)
    result = diff_call(
        before, make_call("En cola"), ctx(queue_alert_seconds=threshold_minutes * 60)
    )
    assert [e.type for e in result.events] == (["call.queued_too_long"] if fires else [])


def test_queued_too_long_once_per_wait_and_again_for_a_new_wait() -> None:
    """One alert per wait; leaving the queue and coming back starts a new wait."""
    start = (NOW - timedelta(minutes=20)).timestamp()
    before = snap("Por ejecutar", since=start, wait_since=start, wait_seq=1)
    first = diff_call(before, make_call("En cola"), ctx())  # still waiting: same wait
    assert [e.type for e in first.events] == ["call.status_changed", "call.queued_too_long"]
    waiting_since = first.events[1].payload()["data"]["waiting_since"]
    assert waiting_since == (NOW - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first.snapshot is not None and first.snapshot.flags & ALERTED_QUEUED
    second = diff_call(first.snapshot, make_call("En cola"), ctx(now=NOW + timedelta(hours=1)))
    assert second.events == ()
    running = diff_call(first.snapshot, make_call("En ejecución"), ctx())
    assert running.snapshot is not None and running.snapshot.wait_since is None
    back = diff_call(running.snapshot, make_call("En cola"), ctx())
    later = diff_call(back.snapshot, make_call("En cola"), ctx(now=NOW + timedelta(minutes=16)))
    assert [e.type for e in later.events] == ["call.queued_too_long"]
    assert later.events[0].id != first.events[1].id


def test_silent_baseline_records_without_events_and_marks_one_shots() -> None:
    """The silent baseline stores the call, raises nothing, and marks one-shot alerts seen."""
    result = diff_call(None, make_call("Conectada", call_at=OUT_OF_HOURS), ctx(silent=True))
    assert result.events == ()
    assert result.snapshot is not None and result.snapshot.flags & ALERTED_OUTSIDE_HOURS
    later = diff_call(result.snapshot, make_call("Conectada", call_at=OUT_OF_HOURS), ctx())
    assert later.events == ()


def test_observed_late_is_carried_to_payload() -> None:
    """Events of a catch-up cycle carry observed_late in their payload."""
    result = diff_call(snap("En cola"), make_call("SPAM"), ctx(observed_late=True))
    assert all(e.payload()["data"]["observed_late"] is True for e in result.events)


def test_payload_shape_matches_spec() -> None:
    """The payload has type, a Z timestamp, the normalised call and previous_status."""
    result = diff_call(snap("En cola"), make_call("Intentos terminados", retry="3"), ctx())
    payload = result.events[-1].payload()
    assert payload["type"] == "call.attempts_exhausted"
    assert payload["timestamp"] == "2026-11-24T13:00:00Z"
    assert payload["data"]["previous_status"] == "En cola"
    call = payload["data"]["call"]
    assert call["retry"] == 3 and call["call_at"] == "2026-11-24T10:00:00-03:00"
    assert "reason" not in payload["data"] and "observed_late" not in payload["data"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '[0, "x", 1, 0, null, null, null, null, null, 0, 0]',
        '[1, "x", 1, 0]',
        "{}",
        "[1, 5, 1, 0, null, null, null, null, null, 0, 0]",
    ],
)
def test_corrupt_snapshot_text_is_rejected(text: str) -> None:
    """Snapshot.decode refuses text it did not write instead of guessing."""
    with pytest.raises(ValueError, match="corrupt snapshot"):
        Snapshot.decode(text)


def test_version_1_snapshots_keep_decoding() -> None:
    """A snapshot written by version 1 (as stored in Redis today) decodes field by field."""
    v1 = f'[1,"En cola",7,1.5,2,true,10,20,3.5,6,{ALERTED_QUEUED}]'
    assert Snapshot.decode(v1) == Snapshot(
        "En cola", 7, 1.5, 2, True, 10, 20, 3.5, 6, ALERTED_QUEUED
    )


def test_a_newer_snapshot_with_an_appended_field_is_not_a_new_call() -> None:
    """A later version's extra field is ignored, so a rollback never re-announces the day."""
    v2 = '[2,"Conectada",3,9.0,1,false,60,50,null,0,0,{"future":"field"}]'
    assert Snapshot.decode(v2) == Snapshot("Conectada", 3, 9.0, 1, False, 60, 50, None, 0, 0)


def test_snapshot_round_trips() -> None:
    """encode/decode preserves every field."""
    original = Snapshot("En cola", 7, 1.5, 2, True, 10, 20, 3.5, 6, ALERTED_QUEUED)
    assert Snapshot.decode(original.encode()) == original


def test_event_ids_cannot_collide_through_separator_characters() -> None:
    """Parts are encoded unambiguously: shifting text between uuid and status changes the id."""
    from notifier.events import event_id

    assert event_id("u", 1, "call.created", "S1\x1f1") != event_id(
        "u\x1f1", 1, "call.created", "S1"
    )
    assert event_id("a", "b") != event_id("a,b") != event_id('a", "b')


def test_a_finished_wait_is_remembered_as_the_calls_longest() -> None:
    """Leaving the queue records the wait's length; a shorter later wait does not lower it."""
    start = NOW.timestamp()
    waiting = diff_call(None, make_call("En cola"), ctx(now=NOW)).snapshot
    assert waiting is not None and waiting.longest_wait == 0
    running = diff_call(
        waiting, make_call("En ejecución"), ctx(now=NOW + timedelta(minutes=20))
    ).snapshot
    assert running is not None and running.longest_wait == 1200
    again = diff_call(running, make_call("En cola"), ctx(now=NOW + timedelta(minutes=21)))
    assert again.snapshot is not None and again.snapshot.wait_since == start + 1260
    done = diff_call(again.snapshot, make_call("Conectada"), ctx(now=NOW + timedelta(minutes=23)))
    assert done.snapshot is not None and done.snapshot.longest_wait == 1200
    assert Snapshot.decode(done.snapshot.encode()) == done.snapshot


# --------------------------------------------------------------------------- call index

PRINTS = [bytes([n]) * 20 for n in range(1, 6)]


def fp(n: int) -> bytes:
    """A fingerprint-sized value of its own for each ``n``."""
    return n.to_bytes(20, "big")


def test_call_index_round_trips_fingerprints_and_waits() -> None:
    """An encoded index decodes to the same packed fingerprints and pending waits."""
    waits = {"c1": 1700000000.5, "c2": 1700000000.5, "c3": 1700000090.0}
    index = CallIndex.decode(CallIndex.encode(b"".join(PRINTS), waits))
    assert index == CallIndex(b"".join(PRINTS), waits)


def test_an_empty_call_index_round_trips() -> None:
    """An answer with no valid record stores an index with no fingerprint."""
    assert CallIndex.decode(CallIndex.encode(b"", {})) == CallIndex(b"", {})


def test_call_index_packs_fingerprints_in_base64_after_a_json_header() -> None:
    """The stored form is one JSON header line, then 20 bytes per fingerprint in base64:
    about 27 characters a call (a version-1 line took 41)."""
    text = CallIndex.encode(b"".join(PRINTS), {})
    header, packed = text.split("\n")
    assert header == '{"v":2,"waits":[]}'
    assert base64.b64decode(packed) == b"".join(PRINTS)


def test_an_index_of_an_earlier_version_is_not_read() -> None:
    """A version-1 index (hex lines) decodes to None: its calls are all diffed once."""
    v1 = '{"v":1,"waits":[]}\n' + "\n".join(p.hex() for p in PRINTS)
    assert CallIndex.decode(v1) is None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("not json\nAAAA", id="header"),
        pytest.param('{"v":3,"waits":[]}\n', id="newer-version"),
        pytest.param('{"v":"2","waits":[]}\n', id="version-text"),
        pytest.param('{"waits":[]}\n', id="no-version"),
        pytest.param('{"v":2,"waits":[[1,2,3]]}\n', id="waits"),
        pytest.param('{"v":2,"waits":[]}\nnot base64!', id="not-base64"),
        pytest.param('{"v":2,"waits":[]}\n' + base64.b64encode(b"x" * 21).decode(), id="short"),
    ],
)
def test_a_corrupt_call_index_is_rejected(text: str) -> None:
    """Anything but an index this version wrote raises ValueError (logged; all calls diffed)."""
    with pytest.raises(ValueError, match="corrupt call index"):
        CallIndex.decode(text)


def test_fingerprints_of_another_size_are_refused_when_encoding() -> None:
    """Packing needs fixed-size fingerprints: a wrong one fails loudly, not silently."""
    with pytest.raises(ValueError, match="20 bytes"):
        CallIndex.encode(b"short", {})


OLD = list(range(1, 201))  # the answer last cycle: 200 calls, fingerprints 1..200


@pytest.mark.parametrize(
    ("now", "unseen"),
    [
        pytest.param(OLD, [], id="unchanged"),
        pytest.param([*OLD[:10], 1010, *OLD[11:150], 1150, *OLD[151:]], [10, 150], id="changed"),
        pytest.param([*OLD, 1201, 1202], [200, 201], id="added-at-the-end"),
        pytest.param([1301, *OLD[:50], 1050, *OLD[51:]], [0, 51], id="added-at-the-start"),
        pytest.param(OLD[::-1], [], id="reversed"),
        pytest.param([1401, *OLD[100:], 1402, *OLD[:100]], [0, 101], id="moved"),
        pytest.param(OLD[1:], [], id="one-left"),
        pytest.param([n + 1000 for n in OLD], list(range(200)), id="all-changed"),
        pytest.param([*OLD[:100], *(n + 1000 for n in OLD[100:])], list(range(100, 200)),
                     id="half-changed"),
        pytest.param([], [], id="empty-now"),
    ],
)  # fmt: skip
def test_unseen_gives_exactly_the_records_not_seen_before(
    now: list[int], unseen: list[int]
) -> None:
    """Whether the answer kept its order (compared in place) or not (looked up in a set),
    the positions returned are those of the fingerprints the index does not hold."""
    index = CallIndex(b"".join(map(fp, OLD)), {})
    assert index.unseen([fp(n) for n in now]) == unseen


def test_a_rejected_record_is_unseen_every_cycle() -> None:
    """An invalid record is indexed as REJECTED, so it is validated and reported again."""
    stored = [fp(n) for n in OLD]
    stored[5] = REJECTED
    index = CallIndex(b"".join(stored), {})
    assert index.unseen([fp(n) for n in OLD]) == [5]
    assert index.unseen([fp(n) for n in reversed(OLD)]) == [194]  # the set decides


@given(
    old=st.lists(st.integers(1, 400), max_size=300),
    edits=st.lists(st.tuples(st.sampled_from("ciam"), st.integers(0, 400)), max_size=12),
)
def test_unseen_is_exactly_the_records_the_index_did_not_see(
    old: list[int], edits: list[tuple[str, int]]
) -> None:
    """Whatever was changed, inserted, moved or removed, the records returned are exactly
    those whose fingerprint the index does not hold; only a record listed twice (never
    two calls: uuids differ) may be returned as well."""
    now = list(old)
    for op, n in edits:
        at = n % (len(now) + 1)
        if op == "c" and now:
            now[at % len(now)] = n + 1000
        elif op == "i":
            now.insert(at, n + 2000)
        elif op == "m" and now:
            now.insert(at % len(now), now.pop(n % len(now)))
        elif now:
            del now[at % len(now)]
    index = CallIndex(b"".join(map(fp, old)), {})
    returned = index.unseen([fp(n) for n in now])
    exact = [i for i, n in enumerate(now) if n not in old]
    assert returned == sorted(set(returned))
    assert set(exact) <= set(returned)
    if len(set(now)) == len(now):
        assert returned == exact
