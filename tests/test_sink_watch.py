"""Sink failing episodes: announced once to the other sinks, then their end, via Redis."""

from __future__ import annotations

from datetime import UTC, datetime

from notifier import events as ev
from notifier.config import EventFilter
from notifier.delivery import DeliveryWorker, SinkWatch
from notifier.errors import SinkError
from notifier.events import Event, event_id
from notifier.store import Store
from tests.support.recording_sink import RecordingSink


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def spam(n: int) -> Event:
    return Event(ev.CALL_SPAM, event_id("spam", n), datetime.now(UTC), call={"uuid": f"c{n}"})


async def test_a_failing_sink_is_announced_once_to_the_others_then_its_recovery(
    store: Store,
) -> None:
    """After the failing threshold the other sinks get one notifier.sink_failing with the
    backlog, however many batches fail, and one notifier.sink_recovered when it delivers;
    a sink whose filter refuses the type gets neither."""
    clock = Clock()
    broken, email, quiet = RecordingSink("webhook"), RecordingSink("email"), RecordingSink("slack")
    filters = {
        "webhook": EventFilter(("*",)),
        "email": EventFilter(("notifier.*",)),
        "slack": EventFilter(("call.*",)),
    }
    watch = SinkWatch(store, filters, failing_after=300, clock=clock)
    workers = {
        s.name: DeliveryWorker(store, s, retry_schedule=(0,) * 50, watch=watch)
        for s in (broken, email, quiet)
    }
    broken.failing = SinkError("webhook answered HTTP 503")
    for n in range(3):
        await store.commit("", {}, {}, {"webhook": [spam(n)]})
    for minute in range(12):  # twelve failing batches over eleven minutes
        clock.now += 60 * bool(minute)
        await workers["webhook"].deliver_batch()
    await workers["email"].deliver_batch()
    await workers["slack"].deliver_batch()
    [failing] = email.take()
    assert failing.type == ev.SINK_FAILING and quiet.received == []
    assert failing.detail["sink"] == "webhook" and failing.detail["pending"] == 3
    assert failing.detail["dead_letters"] == 0 and "503" in failing.detail["error"]

    broken.failing = None
    await workers["webhook"].deliver_batch()
    await workers["webhook"].deliver_batch()  # a second success announces nothing more
    await workers["email"].deliver_batch()
    [recovered] = email.take()
    assert recovered.type == ev.SINK_RECOVERED
    assert recovered.detail["duration_seconds"] == 660
    assert await store.sink_episodes(["webhook"]) == {}


async def test_a_short_outage_is_not_announced(store: Store) -> None:
    """Failures that end before the threshold announce nothing, start or end."""
    clock = Clock()
    broken, email = RecordingSink("webhook"), RecordingSink("email")
    watch = SinkWatch(
        store, {"webhook": EventFilter(("*",)), "email": EventFilter(("*",))}, 300, clock
    )
    worker = DeliveryWorker(store, broken, retry_schedule=(0,) * 5, watch=watch)
    await store.commit("", {}, {}, {"webhook": [spam(1)]})
    broken.failing = SinkError("down")
    await worker.deliver_batch()
    clock.now += 120
    broken.failing = None
    await worker.deliver_batch()
    await DeliveryWorker(store, email, retry_schedule=(0,)).deliver_batch()
    assert email.received == []
