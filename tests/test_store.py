"""The Redis store against a real private redis-server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.errors import LeaseLost, StoreError
from notifier.events import Event, event_id
from notifier.store import AnswerMark, DayChanges, Store
from tests.support.wait import async_wait_for

DAY = "2026-11-24"


def make_event(n: int, kind: str = "call.spam") -> Event:
    return Event(
        type=kind,
        id=event_id("call", n, kind),
        detected_at=datetime.now(UTC),
        call={"uuid": f"call-{n}", "status": "SPAM"},
        previous_status=None,
    )


async def queue(store: Store, events: list[Event], sink: str = "webhook") -> int:
    return await store.commit("", {}, {}, {sink: events})


async def test_every_key_carries_the_prefix_hash_tag(store: Store) -> None:
    """All keys written by a cycle and a delivery share the ``{prefix}`` hash tag."""
    await store.commit(
        "",
        {"last_success": "1"},
        {DAY: DayChanges({"c1": "x"}, {"*": AnswerMark("d", None, 1)})},
        {"webhook": [make_event(1)]},
    )
    claimed = await store.take("webhook", 30)
    await store.ack("webhook", [claimed[0].event.id])
    keys = await store.redis.keys("*")
    assert keys and all(k.startswith("{test}:") for k in keys)


async def test_commit_writes_snapshots_marks_meta_and_outbox_together(store: Store) -> None:
    """One commit stores snapshots, answer marks and meta, and queues the events."""
    queued = await store.commit(
        "",
        {"baseline_at": "1.0", "last_success": "2.0"},
        {DAY: DayChanges({"c1": "snap-1", "c2": "snap-2"}, {"*": AnswerMark("abc", 9.5, 2)})},
        {"webhook": [make_event(1), make_event(2)], "slack": [make_event(1)]},
    )
    assert queued == 3
    state = await store.load_cycle_state([DAY])
    assert state.initialized and state.last_success == 2.0
    assert state.answers[DAY]["*"] == AnswerMark("abc", 9.5, 2)
    snaps = await store.load_snapshots({DAY: ["c1", "c2", "c3"]})
    assert snaps[DAY] == {"c1": "snap-1", "c2": "snap-2"}
    assert await store.queue_depths(["webhook", "slack"]) == {"webhook": (2, 0), "slack": (1, 0)}
    ttl = await store.redis.ttl(store.key("snap", DAY))
    assert 3 * 86400 - 5 < ttl <= 3 * 86400


async def test_commit_with_a_stale_lease_writes_nothing(store: Store) -> None:
    """A paused old leader whose lease was taken over cannot commit (fencing)."""
    old = await store.acquire_lease("old", 0.2)
    assert old is not None
    new = await async_wait_for(
        lambda: store.acquire_lease("new", 10), timeout=5, message="the old lease to expire"
    )
    assert new > old
    with pytest.raises(LeaseLost):
        await store.commit(
            f"{old}|old",
            {"last_success": "1"},
            {DAY: DayChanges({"c1": "x"}, {})},
            {"webhook": [make_event(1)]},
        )
    assert await store.load_snapshots({DAY: ["c1"]}) == {DAY: {}}
    assert await store.queue_depths(["webhook"]) == {"webhook": (0, 0)}
    assert await store.commit(f"{new}|new", {}, {}, {"webhook": [make_event(1)]}) == 1


async def test_lease_is_exclusive_and_renewable(store: Store) -> None:
    """Only one holder gets the lease; the holder renews it and can release it."""
    token = await store.acquire_lease("a", 5)
    assert token is not None
    assert await store.acquire_lease("b", 5) is None
    assert await store.acquire_lease("a", 5) == token  # re-acquire renews, same token
    assert await store.renew_lease("a", token, 5)
    assert not await store.renew_lease("b", token, 5)
    await store.release_lease("a", token)
    assert await store.acquire_lease("b", 5) == token + 1


async def test_queueing_is_idempotent_per_sink(store: Store) -> None:
    """Queueing an event that is pending, delivered or dead is a no-op for that sink."""
    event = make_event(1)
    assert await queue(store, [event]) == 1
    assert await queue(store, [event]) == 0  # still pending
    claimed = await store.take("webhook", 30)
    await store.ack("webhook", [event.id])
    assert await queue(store, [event]) == 0  # delivered: idempotency record
    assert await queue(store, [event], sink="slack") == 1  # other sinks are independent
    assert claimed[0].event == event


async def test_claim_hides_events_until_the_claim_times_out(store: Store) -> None:
    """A claimed event is invisible to other workers, then due again if never acked."""
    await queue(store, [make_event(1)])
    assert len(await store.take("webhook", 0.3)) == 1
    assert await store.take("webhook", 0.3) == []
    again = await async_wait_for(
        lambda: store.take("webhook", 30), timeout=5, message="the claim to time out"
    )
    assert [q.event.id for q in again] == [make_event(1).id]


async def test_failures_are_retried_then_dead_lettered(store: Store) -> None:
    """fail() reschedules with the attempt count, and a None delay moves to dead letters."""
    await queue(store, [make_event(1)])
    item = (await store.take("webhook", 30))[0]
    await store.fail([(item, "webhook answered HTTP 500", 0.0)])
    item = (await store.take("webhook", 30))[0]
    assert item.attempts == 1 and item.last_error == "webhook answered HTTP 500"
    await store.fail([(item, "webhook answered HTTP 502", None)])
    assert await store.take("webhook", 30) == []
    letters = await store.dead_letters(["webhook"])
    assert [(d.sink, d.event.id, d.attempts, d.error) for d in letters] == [
        ("webhook", item.event.id, 2, "webhook answered HTTP 502")
    ]
    assert await store.queue_depths(["webhook"]) == {"webhook": (0, 1)}


async def test_replay_queues_dead_letters_again(store: Store) -> None:
    """replay() moves dead letters back to the outbox with a fresh attempt count."""
    await queue(store, [make_event(1), make_event(2)])
    items = await store.take("webhook", 30)
    await store.fail([(i, "down", None) for i in items])
    assert await store.replay("webhook", [items[0].event.id]) == 1
    assert [q.event.id for q in await store.take("webhook", 30)] == [items[0].event.id]
    assert await store.replay("webhook") == 1
    claimed = await store.take("webhook", 30)
    assert [(q.event.id, q.attempts) for q in claimed] == [(items[1].event.id, 0)]


async def test_ack_of_an_event_reclaimed_elsewhere_is_harmless(store: Store) -> None:
    """A late fail() for an event another worker already acked does not resurrect it."""
    await queue(store, [make_event(1)])
    item = (await store.take("webhook", 30))[0]
    await store.ack("webhook", [item.event.id])
    await store.fail([(item, "late failure", 0.0)])
    assert await store.queue_depths(["webhook"]) == {"webhook": (0, 0)}


async def test_two_prefixes_never_interfere(redis_url: str) -> None:
    """Deployments with different prefixes keep separate state on one Redis."""
    a = Store.from_url(redis_url, "alpha")
    b = Store.from_url(redis_url, "beta")
    try:
        await a.commit(
            "",
            {"baseline_at": "1"},
            {DAY: DayChanges({"c": "a"}, {})},
            {"webhook": [make_event(1)]},
        )
        assert not (await b.load_cycle_state([DAY])).initialized
        assert await b.load_snapshots({DAY: ["c"]}) == {DAY: {}}
        assert await b.take("webhook", 30) == []
        assert await a.acquire_lease("x", 5) is not None
        assert await b.acquire_lease("y", 5) is not None
    finally:
        await a.aclose()
        await b.aclose()


async def test_slack_pacing_spaces_slots_per_channel(store: Store) -> None:
    """Reserved slots for one channel are one interval apart; channels are independent."""
    waits = [await store.reserve_slot("#a", 1.0) for _ in range(3)]
    other = await store.reserve_slot("#b", 1.0)
    assert waits[0] == 0 and 0.9 < waits[1] <= 1.0 and 1.9 < waits[2] <= 2.0
    assert other == 0


async def test_thread_ts_is_saved_once(store: Store) -> None:
    """The first saved thread ts wins; a second replica's save is refused."""
    assert await store.save_thread("#a", "call-1", "111.1")
    assert not await store.save_thread("#a", "call-1", "222.2")
    assert await store.get_thread("#a", "call-1") == "111.1"


async def test_unreachable_redis_is_a_store_error() -> None:
    """A Redis that refuses connections becomes our StoreError naming the host, the port and
    the cause, never the URL's password."""
    store = Store.from_url("redis://:hunter22@127.0.0.1:1/0", "test")
    try:
        with pytest.raises(StoreError) as info:
            await store.ping()
        assert str(info.value) == "Redis unavailable at 127.0.0.1:1: connection refused"
        assert "hunter22" not in str(info.value)
        with pytest.raises(StoreError):
            await store.commit("", {}, {}, {})
    finally:
        await store.aclose()


async def test_reset_deletes_only_its_own_prefix(redis_url: str) -> None:
    """reset() removes every key of its prefix and none of another deployment's."""
    mine, other = Store.from_url(redis_url, "mine"), Store.from_url(redis_url, "other")
    try:
        for store in (mine, other):
            await store.commit(
                "",
                {"baseline_at": "1"},
                {DAY: DayChanges({"c": "s"}, {})},
                {"webhook": [make_event(1)]},
            )
        assert await mine.reset() >= 3
        assert not (await mine.load_cycle_state([DAY])).initialized
        assert (await other.load_cycle_state([DAY])).initialized
        assert await other.queue_depths(["webhook"]) == {"webhook": (1, 0)}
    finally:
        await mine.aclose()
        await other.aclose()


@pytest.mark.parametrize(
    "mark",
    [
        AnswerMark("d", None, 0),
        AnswerMark("d", 12.5, 3),
        AnswerMark("d", 1.0, 2, "cycle1"),
        AnswerMark("d", None, 2, "", {("p1", "Ventas | Web", "Conectada"): 2}),
        AnswerMark("d", 1.0, 3, "cycle1", {("", "", "SPAM"): 1, ("p", "Pé", "En cola"): 2}),
    ],
)
def test_answer_marks_round_trip(mark: AnswerMark) -> None:
    """Marks with and without an index token or a status tally decode to what was encoded
    (a popup name holding the separator included)."""
    assert AnswerMark.decode(mark.encode()) == mark


def test_a_mark_with_an_unreadable_tally_keeps_its_other_fields() -> None:
    """A tally that does not decode reads as "not counted yet", never as a lost mark."""
    assert AnswerMark.decode("d|1.5|2|c1|not json") == AnswerMark("d", 1.5, 2, "c1", None)


async def test_a_lost_lease_commits_no_call_index(store: Store) -> None:
    """With a stale lease neither snapshots nor call indexes are written."""
    old = await store.acquire_lease("old", 0.2)
    assert old is not None
    await async_wait_for(
        lambda: store.acquire_lease("new", 10), timeout=5, message="the old lease to expire"
    )
    with pytest.raises(LeaseLost):
        await store.commit(
            f"{old}|old",
            {},
            {
                DAY: DayChanges(
                    {"c1": "x"}, {"*": AnswerMark("d", None, 1, "k")}, {"*": "index-text"}
                )
            },
            {},
        )
    assert await store.load_indexes({DAY: ["*"]}) == {DAY: {}}
    assert (await store.load_cycle_state([DAY])).answers[DAY] == {}


async def test_committed_call_index_is_loaded_back(store: Store) -> None:
    """A call index written by a commit is what load_indexes returns."""
    await store.commit(
        "", {}, {DAY: DayChanges({}, {"*": AnswerMark("d", None, 1, "k")}, {"*": "index-text"})}, {}
    )
    assert await store.load_indexes({DAY: ["*"]}) == {DAY: {"*": "index-text"}}


async def test_only_the_owner_extends_fails_or_releases_a_taken_event(store: Store) -> None:
    """A replica that stalled past its visibility timeout learns it lost the event, and
    cannot reschedule or hand back what another replica now holds."""
    await queue(store, [make_event(1)])
    [stalled] = await store.take("webhook", 0.05, owner="a:1")
    await async_wait_for(
        lambda: store.take("webhook", 30, owner="b:1"), timeout=5, message="the event to be due"
    )
    assert await store.extend("webhook", [stalled.event.id], 30, "a:1") == [stalled.event.id]
    await store.fail([(stalled, "late failure", 3600.0)])  # ignored: b holds it now
    await store.release("webhook", [stalled.event.id], "a:1")  # ignored too
    assert await store.take("webhook", 30, owner="c:1") == []
    assert await store.extend("webhook", [stalled.event.id], 30, "b:1") == []


async def test_dead_letters_past_their_days_are_dropped(store: Store) -> None:
    """Pruning drops only the dead letters that failed before the cutoff."""
    await queue(store, [make_event(1), make_event(2)])
    taken = await store.take("webhook", 30)
    await store.fail([(item, "gone", None) for item in taken])
    letters = await store.dead_letters(["webhook"])
    cutoff = max(letter.failed_at for letter in letters) + 1
    assert await store.prune_dead_letters("webhook", cutoff - 3600) == 0
    assert await store.prune_dead_letters("webhook", cutoff) == 2
    assert await store.dead_letters(["webhook"]) == []
