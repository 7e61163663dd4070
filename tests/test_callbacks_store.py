"""The callback loop's store operations against a real Redis, and the Slack app manifest."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from notifier import claims
from notifier import events as ev
from notifier.callbacks import CallbackLoop
from notifier.claims import UNCLAIMED, ClaimState, Status
from notifier.config import EventFilter, load_settings
from notifier.events import Event
from notifier.store import Store

AT = datetime(2026, 11, 24, 13, 42, tzinfo=UTC)
MANIFEST = Path(__file__).resolve().parents[1] / "deploy" / "slack" / "manifest.yaml"


def claimed_event(user: str) -> Event:
    return Event(
        claims.CLAIMED,
        ev.event_id(claims.CLAIMED, "c1", user),
        AT,
        call={"uuid": "c1"},
        detail={"user_id": user, "at": "2026-11-24T13:42:00Z"},
    )


async def test_concurrent_claims_give_one_owner_and_one_event(store: Store, redis_url: str) -> None:
    """Twenty clients claiming one unclaimed callback at once: one wins, and only its
    event is queued."""
    others = [Store.from_url(redis_url, "test") for _ in range(19)]
    try:
        users = [f"U{n:03d}" for n in range(20)]
        results = await asyncio.gather(
            *(
                client.transition(
                    "c1",
                    UNCLAIMED,
                    ClaimState(Status.CLAIMED, user, AT),
                    {"webhook": [claimed_event(user)]},
                )
                for client, user in zip([store, *others], users, strict=True)
            )
        )
    finally:
        for other in others:
            await other.aclose()
    assert sum(results) == 1
    winner = users[results.index(True)]
    assert (await store.claim_state("c1")).user_id == winner
    assert (await store.queue_depths(["webhook"]))["webhook"] == (1, 0)


async def test_a_lost_compare_and_set_writes_and_queues_nothing(store: Store) -> None:
    """A transition from a state that is no longer stored changes nothing."""
    assert await store.transition("c1", UNCLAIMED, ClaimState(Status.CLAIMED, "UA", AT), {})
    stale = await store.transition(
        "c1", UNCLAIMED, ClaimState(Status.DONE, "UB", AT), {"webhook": [claimed_event("UB")]}
    )
    assert stale is False
    assert (await store.claim_state("c1")) == ClaimState(Status.CLAIMED, "UA", AT)
    assert (await store.queue_depths(["webhook"]))["webhook"] == (0, 0)


async def test_release_clears_the_holder_and_keeps_the_first_claim_time(store: Store) -> None:
    """Release goes back to unclaimed (no user, no time); the first claim's time stays."""
    held = ClaimState(Status.CLAIMED, "UA", AT)
    await store.transition("c1", UNCLAIMED, held, {}, once={"claimed_at": AT.isoformat()})
    await store.transition("c1", held, UNCLAIMED, {})
    later = ClaimState(Status.CLAIMED, "UB", AT.replace(hour=14))
    await store.transition("c1", UNCLAIMED, later, {}, once={"claimed_at": "later"})
    record = await store.callback_record("c1")
    assert record.state == later
    assert record.fields["claimed_at"] == AT.isoformat()


async def test_numbers_are_keyed_by_a_per_deployment_hmac(store: Store, redis_url: str) -> None:
    """The same number in two formats hashes alike, never contains the digits, and another
    deployment (prefix) hashes it differently."""
    one = await store.number_hash("+56 9 8765 4321")
    assert one == await store.number_hash("+56987654321")
    assert "987654321" not in one and len(one) == 32
    other = Store.from_url(redis_url, "other")
    try:
        assert await other.number_hash("+56987654321") != one
    finally:
        await other.aclose()
    fresh = Store.from_url(redis_url, "test")  # a restart reads the same key back
    try:
        assert await fresh.number_hash("+56987654321") == one
    finally:
        await fresh.aclose()


async def test_the_reminder_marker_is_set_once(store: Store) -> None:
    """Only the first mark succeeds, on any client."""
    assert not await store.reminder_sent("c1")
    assert await store.mark_reminded("c1")
    assert not await store.mark_reminded("c1")
    assert await store.reminder_sent("c1")


async def test_open_callbacks_by_popup_for_the_gauge_and_summary(store: Store) -> None:
    """Open callbacks count per popup; a done one does not; the summary sees claim times."""
    settings = load_settings(
        {"CLICKFONO_TOKEN": "t", "REDIS_URL": "redis://x", "NOTIFIER_CONSOLE": "true"}
    )
    loop = CallbackLoop(settings, store, {"console": EventFilter(("*",))})
    for uuid in ("a", "b"):
        await store.note_alert(
            uuid,
            alert_type=ev.CALL_ATTEMPTS_EXHAUSTED,
            since=AT.timestamp(),
            call={"uuid": uuid, "popup_uuid": "p1", "popup_name": "Ventas"},
            channel="C1",
            day="2026-11-24",
            number_hash=None,
            call_at=AT.timestamp(),
            due_at=None,
        )
    done = ClaimState(Status.DONE, "UA", AT)
    await store.transition("b", UNCLAIMED, done, {}, once={"claimed_at": AT.isoformat()})
    day = AT.date()
    assert await loop.open_by_popup(day) == {("p1", "Ventas"): 1}
    summary = await loop.callbacks(day, ["a", "b", "missing"])
    assert set(summary) == {"a", "b"}
    assert summary["b"].claimed_at == AT and summary["b"].alerted_at == AT


def test_slack_manifest_enables_socket_mode_and_the_scopes() -> None:
    """The app manifest turns interactivity on over Socket Mode with the bot scopes used."""
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert {"chat:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])


async def test_after_cycle_registers_a_big_cycles_requests_in_bulk(store: Store) -> None:
    """2,000 new calls from 500 numbers: every request is counted under its number's keyed
    hash, and the third alert from one number knows it is the third."""
    settings = load_settings(
        {"CLICKFONO_TOKEN": "t", "REDIS_URL": "redis://x", "NOTIFIER_CONSOLE": "true"}
    )
    loop = CallbackLoop(settings, store, {"console": EventFilter(("*",))})
    created = [
        Event(
            ev.CALL_CREATED,
            f"e{n}",
            AT,
            call={
                "uuid": f"c{n}",
                "caller_number": f"+5699000{n % 500:04d}",
                "call_at": (AT + timedelta(seconds=n)).isoformat(),
                "status": "En cola",
            },
        )
        for n in range(2000)
    ]
    started = time.perf_counter()
    await loop.after_cycle(created)
    elapsed = time.perf_counter() - started
    hashed = await store.number_hash("+56990000007")
    requests = await store.number_requests("2026-11-24", hashed)
    assert [uuid for uuid, _ in requests] == ["c7", "c507", "c1007", "c1507"]
    print(f"\nafter_cycle with 2,000 new calls: {elapsed * 1000:.0f} ms")
    alert = Event(ev.CALL_ATTEMPTS_EXHAUSTED, "x", AT, call=dict(created[1007].call or {}))
    await loop.after_cycle([alert])
    assert (await store.callback_view("c1007")).requests_today == 3
