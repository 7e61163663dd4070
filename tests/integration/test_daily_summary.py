"""The daily summary on a simulated day: its content, exactly once across replicas and
restarts, and late marking. The notifier and the simulator share a settable clock, so
18:30 comes without sleeping; Redis is the suite's real server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from notifier import commands
from notifier.clickfono.client import ClickfonoClient
from notifier.clickfono.simulator import Fault, Simulator
from notifier.config import Settings, load_settings
from notifier.daemon import Daemon
from notifier.daily import DailySummaries, due_day, is_late
from notifier.delivery import DeliveryWorker
from notifier.diff import WAITING
from notifier.events import Event
from notifier.store import Store
from notifier.store.keys import lease_value
from notifier.summary import CONNECTED, SPAM, PopupSummary, is_unreached
from tests.integration.conftest import SANTIAGO, Clock, record
from tests.support.recording_sink import RecordingSink

DAY = date(2026, 11, 24)  # a Tuesday
PREFIX = "daily"


def local(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=SANTIAGO)


@pytest.fixture
def day_clock() -> Clock:
    """07:00 in Santiago on the story day."""
    return Clock(local(7).astimezone(UTC))


@pytest.fixture
def story_simulator(simulator_factory: Callable[..., Simulator], day_clock: Clock) -> Simulator:
    """A generated day (seed 7) whose time is the notifier's clock."""
    return simulator_factory(seed=7, clock=day_clock)


@dataclass
class Replica:
    """One notifier process: the real Daemon, its own store and client, a recording sink."""

    daemon: Daemon
    sink: RecordingSink

    async def lead(self) -> str:
        holder = self.daemon.holder
        token = await self.daemon.store.acquire_lease(holder, 60)
        assert token is not None, "another replica holds the lease"
        self.daemon.lease_value = lease_value(token, holder)
        return self.daemon.lease_value

    async def step_down(self) -> None:
        token = int(str(self.daemon.lease_value).split("|")[0])
        await self.daemon.store.release_lease(self.daemon.holder, token)
        self.daemon.lease_value = None

    async def deliver(self) -> list[Event]:
        worker = DeliveryWorker(self.daemon.store, self.sink, retry_schedule=(0,))
        before = len(self.sink.received)
        await worker.deliver_due_once()
        return self.sink.received[before:]


@pytest.fixture
async def replicas(
    story_simulator: Simulator, redis_url: str, day_clock: Clock
) -> AsyncIterator[Callable[..., Replica]]:
    """Builds replicas sharing the simulator, Redis and the clock."""
    made: list[Replica] = []

    def factory(**env: str) -> Replica:
        settings = load_settings(
            {
                "CLICKFONO_TOKEN": "test-token",
                "CLICKFONO_BASE_URL": story_simulator.base_url,
                "REDIS_URL": redis_url,
                "NOTIFIER_REDIS_PREFIX": PREFIX,
                "NOTIFIER_HTTP_PORT": "0",
                "NOTIFIER_POLL_INTERVAL": "120",
                "NOTIFIER_DAILY_SUMMARY_AT": "18:30",
                **env,
            }
        )
        store = Store.from_url(redis_url, PREFIX)
        client = ClickfonoClient(story_simulator.base_url, "test-token", timeout=5, attempts=2)
        sink = RecordingSink("webhook")
        daemon = Daemon(settings, store, client, [sink])
        daemon.poller.clock = day_clock
        daemon.summaries.clock = day_clock
        replica = Replica(daemon, sink)
        made.append(replica)
        return replica

    yield factory
    for replica in made:
        await replica.daemon.client.aclose()
        await replica.daemon.store.aclose()


async def run_until(replica: Replica, clock: Clock, end: datetime, step: float = 300) -> None:
    """A cycle every ``step`` simulated seconds, the last one at ``end`` (the replica leads)."""
    while clock.now < end:
        clock.now = min(clock.now + timedelta(seconds=step), end.astimezone(UTC))
        assert await replica.daemon.cycle_once(), "the cycle failed"


def reports(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type == "report.daily_summary"]


def longest_waits(simulator: Simulator) -> tuple[dict[str, float], dict[str, float]]:
    """The truth per call: its longest continuous stretch in En cola / Por ejecutar, and
    the span from its first wait to the end of its last one. A poll every few minutes
    can miss a short dial between two waits, so what it observes lies in between."""
    started: dict[str, datetime] = {}
    first: dict[str, datetime] = {}
    longest: dict[str, float] = {}
    span: dict[str, float] = {}
    for change in simulator.history:
        if change.day != DAY:
            continue
        if change.new in WAITING:
            started.setdefault(change.uuid, change.at)
            first.setdefault(change.uuid, change.at)
        elif change.uuid in started:
            wait = (change.at - started.pop(change.uuid)).total_seconds()
            longest[change.uuid] = max(longest.get(change.uuid, 0.0), wait)
            span[change.uuid] = (change.at - first[change.uuid]).total_seconds()
    return longest, span


async def test_the_summary_of_a_simulated_day_matches_the_day(
    replicas: Callable[..., Replica], story_simulator: Simulator, day_clock: Clock
) -> None:
    """Counts by status, rate, SPAM, out of hours, longest wait and the waiting customers
    agree with the simulator's own records of the day, one summary per popup."""
    replica = replicas()
    await replica.lead()
    await run_until(replica, day_clock, local(18, 29), step=600)
    assert reports(await replica.deliver()) == []  # not before 18:30
    await run_until(replica, day_clock, local(18, 31))
    summaries = {
        e.detail["popup_name"]: PopupSummary.from_detail(e.detail)
        for e in reports(await replica.deliver())
    }
    records = story_simulator.records(DAY)
    popups = {r["popup_name"] for r in records}
    assert set(summaries) == popups and len(popups) == 4

    truth_waits, truth_spans = longest_waits(story_simulator)
    for name, summary in summaries.items():
        mine = [r for r in records if r["popup_name"] == name]
        by_status = Counter(r["status"] for r in mine)
        assert summary.total == len(mine) and summary.calls_by_status == dict(by_status)
        customers = len(mine) - by_status[SPAM]
        assert summary.connected_rate == round(by_status[CONNECTED] / customers, 4)
        assert summary.spam == by_status[SPAM]
        assert summary.out_of_hours >= by_status["Fuera de horario"]
        assert summary.late is False and summary.date == "2026-11-24"
        # Observed every 10 minutes, a wait is measured between the polls that saw it
        # start and end: within a poll of the truth, a short dial between two waits
        # unseen (then up to the call's whole span of waits).
        truth = max(truth_waits.get(r["uuid"], 0.0) for r in mine)
        span = max(truth_spans.get(r["uuid"], 0.0) for r in mine)
        assert summary.longest_wait is not None
        assert truth - 600 <= summary.longest_wait <= span + 600
        # Waiting: unreached, and no later Conectada call from the same number today.
        waiting = {c["uuid"] for c in summary.waiting_callback}
        connected_at: dict[str, list[str]] = {}
        for r in records:
            if r["status"] == CONNECTED:
                connected_at.setdefault(r["caller_number"], []).append(r["call_at"])
        expected = {
            r["uuid"]
            for r in mine
            if is_unreached({"status": r["status"], "enqueued": r["enqueued"]})
            and not any(at > r["call_at"] for at in connected_at.get(r["caller_number"], []))
        }
        assert waiting == expected
    assert sum(len(s.waiting_callback) for s in summaries.values()) > 0
    assert max(s.longest_wait or 0 for s in summaries.values()) > 15 * 60


async def test_exactly_once_with_two_replicas_and_a_restart_across_the_summary_time(
    replicas: Callable[..., Replica], day_clock: Clock
) -> None:
    """A leader queues the summaries at 18:30; its restart, a new leader and a stale
    leader queue nothing more, and each popup's summary is delivered once."""
    first = replicas()
    lease = await first.lead()
    await run_until(first, day_clock, local(18, 25), step=3600)
    await run_until(first, day_clock, local(18, 30, 30))
    queued = reports(await first.deliver())
    assert len(queued) == 4 and len({e.id for e in queued}) == 4

    # The leader restarts: a fresh process (nothing in memory) leads again.
    await first.step_down()
    restarted = replicas()
    await restarted.lead()
    day_clock.advance(minutes=2)
    assert await restarted.daemon.cycle_once()
    # The other replica takes over later the same evening.
    await restarted.step_down()
    second = replicas()
    await second.lead()
    await run_until(second, day_clock, local(21, 0), step=1800)
    # The first leader wakes up with its stale lease and tries again: meta says done.
    first.daemon.summaries._done = None
    assert await first.daemon.summaries.run_if_due(lease) == 0
    # Even with the mark lost, the stale lease is fenced off and the ids dedupe.
    await second.daemon.store.redis.hdel(second.daemon.store.keys.meta(), "summary_day")
    assert await first.daemon.summaries.run_if_due(lease) is None
    second.daemon.summaries._done = None
    assert await second.daemon.summaries.run_if_due(str(second.daemon.lease_value)) == 0

    later = [*await restarted.deliver(), *await second.deliver(), *await first.deliver()]
    assert reports(later) == []
    counts = Counter(e.detail["popup_uuid"] for e in reports(first.sink.received))
    assert len(counts) == 4 and set(counts.values()) == {1}


async def test_a_notifier_down_at_the_summary_time_sends_it_late_the_same_day(
    replicas: Callable[..., Replica], day_clock: Clock
) -> None:
    """Down from 18:00 to 20:15: the summary goes out when it is back, marked late."""
    replica = replicas()
    await replica.lead()
    await run_until(replica, day_clock, local(18, 0), step=3600)
    day_clock.now = local(20, 15).astimezone(UTC)
    assert await replica.daemon.cycle_once()
    sent = reports(await replica.deliver())
    assert len(sent) == 4
    assert all(e.detail["late"] is True for e in sent)
    assert all(e.payload()["data"]["late"] is True for e in sent)


async def test_a_day_missed_entirely_is_not_sent_the_next_day(
    replicas: Callable[..., Replica], day_clock: Clock
) -> None:
    """Back after midnight: yesterday's summary is not sent; today's waits for 18:30."""
    replica = replicas()
    await replica.lead()
    await run_until(replica, day_clock, local(18, 0), step=3600)
    day_clock.now = (local(0, 30) + timedelta(days=1)).astimezone(UTC)
    assert await replica.daemon.cycle_once()
    assert reports(await replica.deliver()) == []


@pytest.mark.parametrize(
    ("at", "now", "due", "late"),
    [
        ("18:30", local(18, 29, 59), None, False),
        ("18:30", local(18, 30), DAY, False),
        ("18:30", local(18, 35, 59), DAY, False),  # within three 2-minute intervals
        ("18:30", local(18, 36, 1), DAY, True),
        ("18:30", local(23, 59), DAY, True),
        ("00:00", local(0, 0), DAY, False),
        ("", local(23, 0), None, False),
    ],
)
def test_when_the_summary_is_due_and_late(
    at: str, now: datetime, due: date | None, late: bool
) -> None:
    """Due from the configured local time until midnight; late after three intervals."""
    settings = _settings(NOTIFIER_DAILY_SUMMARY_AT=at, NOTIFIER_POLL_INTERVAL="120")
    assert due_day(settings, now.astimezone(UTC)) == due
    if due is not None:
        assert is_late(settings, due, now) is late


def _settings(**env: str) -> Settings:
    return load_settings({"CLICKFONO_TOKEN": "t", "NOTIFIER_CONSOLE": "true", **env})


async def test_summaries_off_by_default(redis_url: str) -> None:
    """With NOTIFIER_DAILY_SUMMARY_AT empty nothing is computed, not even Redis is read."""
    settings = _settings()
    store = Store.from_url(redis_url, PREFIX)
    client = ClickfonoClient("http://127.0.0.1:9", "t", timeout=1, attempts=1)
    try:
        summaries: Any = DailySummaries(settings, client, store, {}, clock=lambda: local(23))
        assert await summaries.run_if_due() is None
    finally:
        await client.aclose()
        await store.aclose()


async def test_once_after_the_time_sends_the_summary_on_its_first_run_only(
    simulator: Simulator, redis_url: str
) -> None:
    """`once` (cron) after NOTIFIER_DAILY_SUMMARY_AT queues and delivers the summary; the
    next run sends nothing more."""
    now = datetime.now(UTC)
    today = now.astimezone(SANTIAGO).date()
    simulator.set_calls(
        today,
        [
            record("o1", "Intentos terminados", now - timedelta(minutes=1)),
            record("o2", "Conectada", now - timedelta(minutes=1), caller_number="+56911112222"),
        ],
    )
    settings = load_settings(
        {
            "CLICKFONO_TOKEN": "test-token",
            "CLICKFONO_BASE_URL": simulator.base_url,
            "REDIS_URL": redis_url,
            "NOTIFIER_REDIS_PREFIX": "once-summary",
            "NOTIFIER_HTTP_PORT": "0",
            "NOTIFIER_DAILY_SUMMARY_AT": "00:00",
        }
    )
    first, second = RecordingSink("console"), RecordingSink("console")
    assert await commands.once(settings, sinks=[first]) == 0
    [summary] = reports(first.received)
    assert summary.detail["date"] == today.isoformat()
    assert summary.detail["total"] == 2
    assert [c["uuid"] for c in summary.detail["waiting_callback"]] == ["o1"]
    assert await commands.once(settings, sinks=[second]) == 0
    assert reports(second.received) == []


async def test_a_summary_that_failed_is_tried_again_a_minute_later(
    replicas: Callable[..., Replica], story_simulator: Simulator, day_clock: Clock
) -> None:
    """Clickfono failing at 18:30 delays the summary by a minute, not by a day, and the
    cycles in between do not fetch the list again."""
    replica = replicas()
    lease = await replica.lead()
    await run_until(replica, day_clock, local(18, 29), step=3600)
    summaries = replica.daemon.summaries
    day_clock.now = local(18, 30, 10).astimezone(UTC)
    story_simulator.inject(Fault.http(500), times=2)  # both attempts of the client
    assert await summaries.run_if_due(lease) is None
    asked = len(story_simulator.requests)
    day_clock.advance(seconds=30)
    assert await summaries.run_if_due(lease) is None
    assert len(story_simulator.requests) == asked
    day_clock.advance(seconds=40)
    assert await summaries.run_if_due(lease) == 4
    sent = reports(await replica.deliver())
    assert len(sent) == 4 and not any(e.detail["late"] for e in sent)
