"""The callback bookkeeping rides the outbox: queued with the cycle, done at least once."""

from __future__ import annotations

from datetime import UTC, datetime

from notifier import events as ev
from notifier.callbacks import CallbackBook, CallbackLoop
from notifier.config import EventFilter, load_settings
from notifier.delivery import DeliveryWorker
from notifier.errors import StoreError
from notifier.events import Event, event_id
from notifier.store import Store
from tests.support.samples import SPEC_CALL


async def test_bookkeeping_lost_to_a_failure_is_redone_from_the_outbox(store: Store) -> None:
    """An alert committed with the cycle is noted for its callback even when the first
    attempt fails (Redis trouble, or a crash after the commit): the outbox retries it."""
    settings = load_settings(
        {
            "CLICKFONO_TOKEN": "t",
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "SLACK_CHANNEL": "#alertas",
        }
    )
    loop = CallbackLoop(settings, store, {"slack": EventFilter(("call.*",))})
    book = CallbackBook(loop)
    alert = Event(
        ev.CALL_ATTEMPTS_EXHAUSTED,
        event_id("book", 1),
        datetime.now(UTC),
        call=SPEC_CALL,
        previous_status="En cola",
    )
    assert await store.commit("", {}, {}, {book.name: [alert]}) == 1
    real = loop.after_cycle
    calls = 0

    async def flaky(events: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreError("Redis unavailable at 127.0.0.1:6379: connection reset")
        return await real(events)  # type: ignore[arg-type]

    loop.after_cycle = flaky  # type: ignore[method-assign]
    worker = DeliveryWorker(store, book, retry_schedule=(0,))
    assert (await worker.deliver_batch()).retrying == 1
    assert (await store.callback_record(SPEC_CALL["uuid"])).fields == {}
    assert (await worker.deliver_batch()).delivered == 1
    record = await store.callback_record(SPEC_CALL["uuid"])
    assert record.fields.get("alert") == ev.CALL_ATTEMPTS_EXHAUSTED


async def test_bookkeeping_that_keeps_failing_is_a_listed_dead_letter(store: Store) -> None:
    """After its retries, failed bookkeeping is a dead letter that `dead-letters list`
    shows (the callbacks outbox is among the listed names), never silently gone."""
    from notifier.sinks import sink_names

    settings = load_settings(
        {"CLICKFONO_TOKEN": "t", "SLACK_BOT_TOKEN": "xoxb-t", "SLACK_APP_TOKEN": "xapp-t",
         "SLACK_CHANNEL": "#a"}
    )  # fmt: skip
    loop = CallbackLoop(settings, store, {})
    book = CallbackBook(loop)
    alert = Event(ev.CALL_QUEUED_TOO_LONG, event_id("book", 2), datetime.now(UTC), call=SPEC_CALL)
    await store.commit("", {}, {}, {book.name: [alert]})

    async def broken(events: object) -> int:
        raise StoreError("Redis unavailable at 127.0.0.1:6379: timed out")

    loop.after_cycle = broken  # type: ignore[method-assign]
    assert (await DeliveryWorker(store, book, retry_schedule=()).deliver_batch()).dead == 1
    [letter] = await store.dead_letters(sink_names(settings))
    assert (letter.sink, letter.event.id) == ("callbacks", alert.id)
