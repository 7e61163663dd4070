"""The delivery worker: claims, acknowledgements, retries and dead letters, on real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.delivery import DeliveryWorker, retry_delay
from notifier.errors import SinkError
from notifier.events import Event, event_id
from notifier.store import Store
from tests.support.outbox import next_due
from tests.support.recording_sink import RecordingSink


def make_event(n: int, kind: str = "call.spam", seconds: int = 0) -> Event:
    at = datetime(2026, 11, 24, 13, 0, tzinfo=UTC) + timedelta(seconds=seconds)
    return Event(
        type=kind,
        id=event_id("call", n, kind),
        detected_at=at,
        call={"uuid": f"call-{n}", "status": "SPAM"},
    )


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def worker(store: Store, sink: RecordingSink, schedule: Sequence[float] = (0, 0)) -> DeliveryWorker:
    return DeliveryWorker(store, sink, retry_schedule=schedule, visibility_timeout=30)


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"),
    [
        (1, None, 5.0),
        (2, None, 30.0),
        (3, None, None),
        (1, 20.0, 20.0),
        (2, 1.0, 30.0),
        (1, 999_999_999.0, 30.0),
    ],
)
def test_retry_delay_follows_schedule_and_retry_after(
    attempts: int, retry_after: float | None, expected: float | None
) -> None:
    """The n-th failure waits schedule[n-1], or a longer Retry-After capped at the schedule's
    longest step; past the end of the schedule the event is a dead letter."""
    assert retry_delay((5.0, 30.0), attempts, retry_after) == expected


async def test_delivers_in_detection_order_and_acknowledges(
    store: Store, sink: RecordingSink
) -> None:
    """Due events are sent oldest first, created before spam, and leave the outbox."""
    events = [
        make_event(2, "call.spam", 5),
        make_event(2, "call.created", 5),
        make_event(1, "call.spam", 0),
    ]
    await store.commit("", {}, {}, {"webhook": events})
    report = await worker(store, sink).deliver_batch()
    assert report.delivered == 3
    assert [(e.call_uuid, e.type) for e in sink.received] == [
        ("call-1", "call.spam"),
        ("call-2", "call.created"),
        ("call-2", "call.spam"),
    ]
    assert await store.queue_depths(["webhook"]) == {"webhook": (0, 0)}


async def test_failed_events_are_retried_then_dead_lettered(
    store: Store, sink: RecordingSink
) -> None:
    """With a two-step schedule an event gets three attempts, then becomes a dead letter."""
    await store.commit("", {}, {}, {"webhook": [make_event(1)]})
    sink.failing = SinkError("webhook answered HTTP 500")
    w = worker(store, sink, schedule=(0, 0))
    reports = [await w.deliver_batch() for _ in range(4)]
    assert [(r.retrying, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    letters = await store.dead_letters(["webhook"])
    assert [(d.event.id, d.attempts, d.error) for d in letters] == [
        (make_event(1).id, 3, "webhook answered HTTP 500")
    ]
    sink.failing = None
    assert await store.replay("webhook") == 1
    assert (await w.deliver_batch()).delivered == 1
    assert [e.id for e in sink.received] == [make_event(1).id]


async def test_retry_waits_for_the_schedule(store: Store, sink: RecordingSink) -> None:
    """A failed event is not due again before its scheduled delay."""
    await store.commit("", {}, {}, {"webhook": [make_event(1)]})
    sink.failing = SinkError("down", retry_after=None)
    w = worker(store, sink, schedule=(3600,))
    await w.deliver_batch()
    sink.failing = None
    assert (await w.deliver_batch()).taken == 0
    due = await next_due(store, "webhook")
    assert due is not None and due > datetime.now(UTC).timestamp() + 3500


async def test_retry_after_postpones_beyond_the_schedule(store: Store, sink: RecordingSink) -> None:
    """A server's Retry-After longer than the schedule's delay wins."""
    await store.commit("", {}, {}, {"webhook": [make_event(1)]})
    sink.failing = SinkError("HTTP 429", retry_after=900)
    await worker(store, sink, schedule=(5, 3600)).deliver_batch()
    due = await next_due(store, "webhook")
    assert due is not None and due > datetime.now(UTC).timestamp() + 890


async def test_a_crashing_sink_loses_nothing(store: Store, sink: RecordingSink) -> None:
    """An exception out of a sink counts as a failed attempt; the event stays queued."""
    await store.commit("", {}, {}, {"webhook": [make_event(1)]})
    sink.raises = True
    report = await worker(store, sink).deliver_batch()
    assert report.retrying == 1
    sink.raises = False
    assert (await worker(store, sink).deliver_batch()).delivered == 1


async def test_once_makes_at_most_one_attempt_per_event(store: Store, sink: RecordingSink) -> None:
    """deliver_due_once tries each due event once even when retries are due immediately."""
    await store.commit("", {}, {}, {"webhook": [make_event(1), make_event(2)]})
    sink.failing = SinkError("down")
    report = await worker(store, sink, schedule=(0, 0, 0)).deliver_due_once()
    assert report.taken == 2 and report.retrying == 2
    queued = await store.take("webhook", 30)
    assert sorted(q.attempts for q in queued) == [1, 1]


async def test_claims_are_extended_during_a_slow_send(store: Store, sink: RecordingSink) -> None:
    """A send slower than the claim timeout keeps its events hidden from other workers."""
    await store.commit("", {}, {}, {"webhook": [make_event(1)]})
    sink.delay = 0.6
    slow = DeliveryWorker(store, sink, retry_schedule=(0,), visibility_timeout=0.3)
    other_sink = RecordingSink()
    other = DeliveryWorker(store, other_sink, retry_schedule=(0,), visibility_timeout=0.3)
    task = asyncio.create_task(slow.deliver_batch())
    await asyncio.wait_for(sink.sending.wait(), 5)
    stolen = 0
    while not task.done():
        stolen += (await other.deliver_batch()).taken
        await asyncio.sleep(0.05)
    assert (await task).delivered == 1
    assert stolen == 0 and other_sink.received == []


async def test_a_heartbeat_that_misses_its_cancel_still_lets_the_batch_finish(
    store: Store, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A heartbeat whose cancel is dropped inside a Redis call (Python 3.11's wait_for
    does that) still ends with its failed send: the worker settles the batch (a retry)
    and delivers the event on its next pass."""
    await store.commit("", {}, {}, {"webhook": [make_event(1)]})
    sent = asyncio.Event()
    send = sink.send

    async def send_then_say(events: Sequence[Event]) -> list[SinkError | None]:
        await asyncio.sleep(0.5)  # the heartbeat (every 0.2 s) is inside extend by then
        outcomes = await send(events)
        sent.set()
        return outcomes

    extend = store.extend

    async def extend_dropping_cancels(*args: Any, **kwargs: Any) -> list[str]:
        gone = await extend(*args, **kwargs)
        while not sent.is_set():  # hold the heartbeat here across the end of the send
            with contextlib.suppress(asyncio.CancelledError):
                await sent.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)  # the worker's cancel lands here and is dropped
        return gone

    monkeypatch.setattr(sink, "send", send_then_say)
    monkeypatch.setattr(store, "extend", extend_dropping_cancels)
    # A failed send: its event stays taken, so the heartbeat has a reason to go on.
    sink.failing = SinkError("webhook timed out after 1s")
    worker = DeliveryWorker(store, sink, retry_schedule=(0, 0), visibility_timeout=0.6)
    task = asyncio.create_task(worker.deliver_batch())
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done, "the worker waited for a heartbeat that had missed its cancel"
    report = await task
    assert (report.taken, report.delivered, report.retrying) == (1, 0, 1)
    sink.failing = None
    assert (await worker.deliver_batch()).delivered == 1


async def test_two_workers_share_the_outbox_without_duplicates(store: Store) -> None:
    """Concurrent workers (replicas) deliver every event exactly once between them."""
    events = [make_event(n) for n in range(200)]
    await store.commit("", {}, {}, {"webhook": events})
    sinks = [RecordingSink(), RecordingSink()]
    workers = [DeliveryWorker(store, s, retry_schedule=(0,), batch_size=7) for s in sinks]

    async def drain(w: DeliveryWorker) -> None:
        while (await w.deliver_batch()).taken:
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(w) for w in workers))
    ids = [e.id for s in sinks for e in s.received]
    assert sorted(ids) == sorted(e.id for e in events)
    assert all(s.received for s in sinks)


async def test_a_cancelled_send_hands_its_batch_back(store: Store, sink: RecordingSink) -> None:
    """Cancelling a worker mid-send (shutdown) makes its events due again at once."""
    await store.commit("", {}, {}, {"webhook": [make_event(1)]})
    sink.delay = 30
    task = asyncio.create_task(worker(store, sink).deliver_batch())
    await asyncio.wait_for(sink.sending.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [q.event.id for q in await store.take("webhook", 30)] == [make_event(1).id]
