"""Delivery stories with the real sinks: webhook receiver, fake Slack Web API, aiosmtpd.

The simulator is the upstream, Redis is the private test server, and events come from
driving the simulator, never from hand-built Event values. In-process stories compose
the real Poller, the real sinks (``build_sinks``) and DeliveryWorker on a settable clock;
the kill -9 story runs ``clickfono-notifier run`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier import messages
from notifier.clickfono.client import ClickfonoClient
from notifier.clickfono.simulator import Fault, Simulator, make_record
from notifier.config import Settings, load_settings
from notifier.cycle import CycleReport, Poller
from notifier.delivery import DeliveryReport, DeliveryWorker
from notifier.errors import SourceError
from notifier.events import Event
from notifier.sinks import build_sinks, sink_filters
from notifier.sinks import slack as slack_module
from notifier.sinks.base import Sink
from notifier.store import Store
from tests.integration.conftest import SANTIAGO, Clock, record
from tests.support.outbox import next_due
from tests.support.process import NotifierProcess
from tests.support.recording_sink import RecordingSink
from tests.support.slack_fixtures import FakeSlack, SlackRequest
from tests.support.smtp_fixtures import SmtpServer
from tests.support.wait import async_wait_for, wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

TEN_AM = datetime(2026, 11, 24, 10, 0, tzinfo=SANTIAGO)
NIGHT = datetime(2026, 11, 24, 23, 30, tzinfo=SANTIAGO)
EVENT_ID = re.compile(r"evt_[0-9a-f]{24}")
CHANNEL = "#alertas"
PREFIX = "stories"

ALL_TYPES = (
    "call.created",
    "call.status_changed",
    "call.spam",
    "call.attempts_exhausted",
    "call.outside_business_hours",
    "call.queued_too_long",
    "notifier.source_unauthorized",
    "notifier.source_unavailable",
    "notifier.source_recovered",
)
ALERT_TYPES = (
    "call.spam",
    "call.attempts_exhausted",
    "call.outside_business_hours",
    "call.queued_too_long",
)
CALL_TYPES = ALL_TYPES[:6]
SOURCE_TYPES = ALL_TYPES[6:]


def today() -> str:
    return datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()


def redis_run(coro_factory: Callable[[Store], Any], redis_url: str, prefix: str) -> Any:
    """Run one coroutine against a fresh Store from synchronous test code."""

    async def go() -> Any:
        store = Store.from_url(redis_url, prefix)
        try:
            return await coro_factory(store)
        finally:
            await store.aclose()

    return asyncio.run(go())


# The in-process stack: real poller, real sinks, real workers, settable clock.


@dataclass
class Stack:
    settings: Settings
    store: Store
    client: ClickfonoClient
    sinks: list[Sink]
    clock: Clock

    @property
    def poller(self) -> Poller:
        return Poller(
            self.settings,
            self.client,
            self.store,
            sink_filters(self.settings, self.sinks),
            clock=self.clock,
        )

    def worker(self, name: str) -> DeliveryWorker:
        sink = next(s for s in self.sinks if s.name == name)
        return DeliveryWorker(
            self.store, sink, retry_schedule=self.settings.retry_schedule, visibility_timeout=30
        )

    async def cycle(self, advance: float = 30) -> CycleReport | SourceError:
        """Advance the clock, then run one cycle; an upstream failure is returned."""
        self.clock.advance(seconds=advance)
        try:
            return await self.poller.run_cycle()
        except SourceError as exc:
            return exc

    async def deliver(self) -> DeliveryReport:
        """One attempt for every due event of every sink (what ``once`` does)."""
        total = DeliveryReport()
        for sink in self.sinks:
            total += await self.worker(sink.name).deliver_due_once()
        return total

    async def pending(self, name: str) -> tuple[int, int]:
        """(events queued, dead letters) of one sink."""
        return (await self.store.queue_depths([name]))[name]


@pytest.fixture
def fast_slack_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack pacing of 20 ms instead of 1 s, for stories that are not about pacing."""
    monkeypatch.setattr(slack_module, "PACE_SECONDS", 0.02)


@pytest.fixture
async def stack_factory(
    simulator: Simulator, redis_url: str, clock: Clock
) -> AsyncIterator[Callable[..., Stack]]:
    """Builds stacks against the simulator and the private Redis; ``extra`` sinks are
    appended after the configured ones (a RecordingSink named ``console`` sees all)."""
    made: list[Stack] = []

    def factory(*extra: Sink, **env: str) -> Stack:
        settings = load_settings(
            {
                "CLICKFONO_TOKEN": "test-token",
                "CLICKFONO_BASE_URL": simulator.base_url,
                "REDIS_URL": redis_url,
                "NOTIFIER_REDIS_PREFIX": PREFIX,
                "NOTIFIER_HTTP_PORT": "0",
                "NOTIFIER_UNAVAILABLE_CYCLES": "1",
                **env,
            }
        )
        store = Store.from_url(redis_url, PREFIX)
        client = ClickfonoClient(simulator.base_url, "test-token", timeout=2, attempts=1)
        stack = Stack(settings, store, client, [*build_sinks(settings, store), *extra], clock)
        made.append(stack)
        return stack

    yield factory
    for stack in made:
        for sink in stack.sinks:
            await sink.aclose()
        await stack.client.aclose()
        await stack.store.aclose()


def webhook_env(receiver: WebhookReceiver, **extra: str) -> dict[str, str]:
    return {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET, **extra}


def slack_env(fake: FakeSlack, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_CHANNEL": CHANNEL,
        "SLACK_API_URL": fake.base_url,
        **extra,
    }


def email_env(server: SmtpServer, **extra: str) -> dict[str, str]:
    return {
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "none",
        "EMAIL_FROM": "alertas@example.com",
        "EMAIL_TO": "ops@example.com",
        **extra,
    }


def posts(fake: FakeSlack) -> list[SlackRequest]:
    """The chat.postMessage requests Slack accepted."""
    return [r for r in fake.calls("chat.postMessage") if r.ok]


def event_key(event: Event, settings: Settings) -> str:
    """What tells events apart in agent-facing text, which never shows evt_ ids: the
    message's title and its reference (the call uuid)."""
    message = messages.render(event, messages.Wording.from_settings(settings))
    return f"{message.title} | {message.reference}"


def text_keys(text: str) -> list[str]:
    """The event_key of each message in a Slack post's text or an email's text part."""
    keys = []
    for block in html.unescape(text).replace("\r\n", "\n").split("\n\n"):
        lines = block.strip().splitlines()
        if any(line.startswith("Qué hacer:") for line in lines):
            reference = lines[-1] if lines[-1].startswith("Llamada ") else ""
            keys.append(f"{lines[0]} | {reference}")
    return keys


def slack_ids(fake: FakeSlack) -> list[str]:
    """Event keys of the accepted Slack posts (each post's text is one message)."""
    return [k for r in posts(fake) for k in text_keys(str(r.body.get("text")))]


def email_ids(server: SmtpServer) -> list[str]:
    """Event keys in the plain-text parts of every mail received."""
    keys: list[str] = []
    for mail in server.messages:
        part = mail.message.get_body(("plain",))
        assert part is not None
        keys += text_keys(part.get_content())
    return keys


def webhook_ids(receiver: WebhookReceiver) -> list[str]:
    """``webhook-id`` of every accepted alert whose Standard Webhooks signature verified."""
    accepted = [a for a in receiver.alerts if a.accepted]
    assert all(a.verified for a in accepted), [a.verify_error for a in accepted]
    return [a.webhook_id or "" for a in accepted]


# Every event type, through each sink whose filter admits it.


async def drive_every_event_type(simulator: Simulator, stack: Stack, clock: Clock) -> None:
    """Drive the simulator through changes that raise all nine event types, delivering
    after every cycle."""
    simulator.set_calls(
        clock.today,
        [
            record("q1", "En cola", TEN_AM),
            record("q2", "En cola", TEN_AM),
            record("n1", "En cola", NIGHT),
            record("w1", "Por ejecutar", TEN_AM),
        ],
    )
    assert isinstance(await stack.cycle(advance=0), CycleReport)  # silent baseline
    simulator.upsert(record("s1", "SPAM", TEN_AM))  # created + spam
    simulator.set_status("q1", "Intentos terminados", retry="3")  # changed + exhausted
    simulator.set_status("n1", "En ejecución")  # changed + outside hours (schedule)
    simulator.set_status("q2", "Fuera de horario")  # changed + outside hours (status)
    steps: list[tuple[float, Fault | None]] = [
        (30, None),
        (16 * 60, None),  # w1 has waited too long
        (30, Fault.http(401)),  # source_unauthorized
        (30, Fault.http(500)),  # source_unavailable
        (30, None),  # source_recovered
    ]
    for advance, fault in steps:
        if fault is not None:
            simulator.inject(fault)
        outcome = await stack.cycle(advance)
        assert isinstance(outcome, SourceError) == (fault is not None), outcome
        report = await stack.deliver()
        assert report.retrying == report.dead == 0, report


FILTER_TABLE = [
    pytest.param(
        {},
        # SPEC's default: the alerts and Clickfono's episodes (agents must know when
        # alerts have stopped).
        {
            "slack": ALERT_TYPES + SOURCE_TYPES,
            "email": ALERT_TYPES + SOURCE_TYPES,
            "webhook": ALL_TYPES,
        },
        id="defaults",
    ),
    pytest.param(
        {
            "SLACK_EVENTS": "call.*",
            "EMAIL_EVENTS": "notifier.*",
            "WEBHOOK_EVENTS": "call.spam, call.attempts_exhausted",
        },
        {
            "slack": CALL_TYPES,
            "email": SOURCE_TYPES,
            "webhook": ("call.spam", "call.attempts_exhausted"),
        },
        id="globs-and-list",
    ),
    pytest.param(
        {
            "SLACK_EVENTS": "*",
            "EMAIL_EVENTS": "call.status_changed",
            "WEBHOOK_EVENTS": "notifier.source_un*",
        },
        {
            "slack": ALL_TYPES,
            "email": ("call.status_changed",),
            "webhook": ("notifier.source_unauthorized", "notifier.source_unavailable"),
        },
        id="star-single-prefix",
    ),
    pytest.param(
        {
            "SLACK_EVENTS": "call.created,notifier.source_recovered",
            "EMAIL_EVENTS": "*",
            "WEBHOOK_EVENTS": "call.*_hours,call.queued_*",
        },
        {
            "slack": ("call.created", "notifier.source_recovered"),
            "email": ALL_TYPES,
            "webhook": ("call.outside_business_hours", "call.queued_too_long"),
        },
        id="mixed",
    ),
]


@pytest.mark.parametrize(("filters", "expected"), FILTER_TABLE)
@pytest.mark.usefixtures("fast_slack_pacing")
async def test_every_event_type_reaches_exactly_the_sinks_that_admit_it(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    webhook_receiver: WebhookReceiver,
    slack_api: FakeSlack,
    smtp_server: SmtpServer,
    filters: dict[str, str],
    expected: dict[str, tuple[str, ...]],
) -> None:
    """Each of the nine event types reaches, once, every sink whose *_EVENTS filter
    admits it and no other sink."""
    witness = RecordingSink("console")  # the console's filter is "*": it sees every event
    stack = stack_factory(
        witness,
        **webhook_env(webhook_receiver),
        **slack_env(slack_api),
        **email_env(smtp_server),
        **filters,
    )
    assert [s.name for s in stack.sinks] == ["slack", "email", "webhook", "console"]
    await drive_every_event_type(simulator, stack, clock)

    assert sorted({e.type for e in witness.received}) == sorted(ALL_TYPES)
    assert len(witness.received) == 12
    received = {
        "slack": slack_ids(slack_api),
        "email": email_ids(smtp_server),
        "webhook": webhook_ids(webhook_receiver),
    }
    for sink, types in expected.items():
        key = (lambda e: e.id) if sink == "webhook" else (lambda e: event_key(e, stack.settings))
        wanted = sorted(key(e) for e in witness.received if e.type in types)
        assert sorted(received[sink]) == wanted, f"{sink} got the wrong events"
        assert max(Counter(received[sink]).values(), default=1) == 1
        assert await stack.pending(sink) == (0, 0)


# A receiver that is down for a while.


async def test_webhook_outage_then_every_event_exactly_once(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    webhook_receiver: WebhookReceiver,
) -> None:
    """A receiver that refuses, answers 500, hangs, then resets gets every event exactly
    once, signed, when it recovers within NOTIFIER_RETRY_SCHEDULE."""
    receiver = webhook_receiver
    stack = stack_factory(
        **webhook_env(
            receiver,
            WEBHOOK_TIMEOUT="0.3",
            NOTIFIER_RETRY_SCHEDULE="0,0,0,0",
            # The receiver's listen backlog is 5: more simultaneous connects than that
            # wait for a SYN retransmission (1 s), longer than this short timeout.
            NOTIFIER_WEBHOOK_CONCURRENCY="4",
        )
    )
    uuids = [f"c{n}" for n in range(5)]
    simulator.set_calls(clock.today, [record(u, "En cola", TEN_AM) for u in uuids])
    await stack.cycle(advance=0)
    for uuid in uuids:
        simulator.set_status(uuid, "SPAM")
    await stack.cycle()
    worker = stack.worker("webhook")

    receiver.stop()  # connection refused
    assert (await worker.deliver_batch()).retrying == 10
    receiver.start()
    receiver.fail(500, times=10)
    receiver.hang(1.0, times=10)
    receiver.reset(times=10)
    for outcome in ("answered", "hang", "reset"):
        report = await worker.deliver_batch()
        assert (report.retrying, report.delivered) == (10, 0), outcome
        assert [d.outcome for d in receiver.alerts[-10:]] == [outcome] * 10
    report = await worker.deliver_batch()
    assert (report.delivered, report.retrying, report.dead) == (10, 0, 0)

    ids = webhook_ids(receiver)
    assert len(ids) == len(set(ids)) == 10
    assert {
        (a.payload["type"], a.payload["data"]["call"]["uuid"])
        for a in receiver.alerts
        if a.accepted
    } == {(t, u) for u in uuids for t in ("call.status_changed", "call.spam")}
    attempts = Counter(a.webhook_id for a in receiver.alerts)
    assert set(attempts.values()) == {4}  # 500, hang, reset, then the 2xx
    assert await stack.pending("webhook") == (0, 0)
    assert await worker.deliver_batch() == DeliveryReport()


async def test_webhook_events_are_acknowledged_as_each_is_accepted(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    webhook_receiver: WebhookReceiver,
) -> None:
    """While one request of a batch hangs, the batch's accepted events already left the
    outbox, so a crash then would repeat only the hanging one."""
    stack = stack_factory(**webhook_env(webhook_receiver, WEBHOOK_TIMEOUT="5"))
    simulator.set_calls(clock.today, [])
    await stack.cycle(advance=0)
    simulator.set_calls(clock.today, [record(f"c{n}", "SPAM", TEN_AM) for n in range(2)])
    await stack.cycle()  # four events: created + spam per call
    webhook_receiver.hang(1.5, times=1)
    task = asyncio.create_task(stack.worker("webhook").deliver_batch())
    await async_wait_for(
        lambda: len(webhook_ids(webhook_receiver)) == 3 and webhook_receiver.in_flight == 1,
        message="three answered, one hanging",
    )
    await async_wait_for(
        lambda: _equals(stack.pending("webhook"), (1, 0)),
        message="the outbox to hold only the hanging one",
    )
    assert not task.done()
    report = await task
    assert (report.delivered, report.retrying) == (3, 1)


async def test_slack_posts_are_acknowledged_one_by_one(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    slack_api: FakeSlack,
) -> None:
    """A paced Slack batch acknowledges each post as it is made, not when the batch ends."""
    stack = stack_factory(**slack_env(slack_api))
    simulator.set_calls(clock.today, [])
    await stack.cycle(advance=0)
    simulator.set_calls(clock.today, [record(f"c{n}", "SPAM", TEN_AM) for n in range(2)])
    await stack.cycle()
    task = asyncio.create_task(stack.worker("slack").deliver_batch())
    await async_wait_for(lambda: len(posts(slack_api)) == 1, message="the first post")
    await async_wait_for(
        lambda: _equals(stack.pending("slack"), (1, 0)), message="the first acknowledgement"
    )
    assert not task.done()  # the second post waits for its pacing slot (1 s)
    assert (await task).delivered == 2
    assert await stack.pending("slack") == (0, 0)


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


# Slack: rate limits, storms, threads.


@pytest.mark.usefixtures("fast_slack_pacing")
async def test_slack_429_with_a_short_retry_after_waits_and_delivers(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    slack_api: FakeSlack,
) -> None:
    """A 429 with Retry-After: 1 delays the alert by a second and it is still posted once."""
    stack = stack_factory(**slack_env(slack_api))
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await stack.cycle(advance=0)
    simulator.set_status("c1", "SPAM")
    await stack.cycle()
    slack_api.rate_limit(1, retry_after=1)
    report = await stack.deliver()
    assert (report.delivered, report.retrying) == (1, 0)
    limited, ok = slack_api.calls("chat.postMessage")
    assert (limited.status, ok.ok) == (429, True)
    assert ok.at - limited.at >= 0.9
    assert len(slack_ids(slack_api)) == 1
    assert await stack.pending("slack") == (0, 0)


@pytest.mark.usefixtures("fast_slack_pacing")
async def test_slack_429_with_a_long_retry_after_is_retried_later_not_lost(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    slack_api: FakeSlack,
) -> None:
    """A Retry-After too long to wait in place postpones the channel's alerts (capped by
    the retry schedule) and they are posted afterwards, each once."""
    stack = stack_factory(**slack_env(slack_api, NOTIFIER_RETRY_SCHEDULE="0.2,1"))
    simulator.set_calls(clock.today, [record(f"c{n}", "En cola", TEN_AM) for n in range(2)])
    await stack.cycle(advance=0)
    for n in range(2):
        simulator.set_status(f"c{n}", "SPAM")
    await stack.cycle()
    slack_api.rate_limit(1, retry_after=30)
    worker = stack.worker("slack")
    report = await worker.deliver_batch()
    assert (report.retrying, report.delivered, report.dead) == (2, 0, 0)
    assert len(slack_api.calls("chat.postMessage")) == 1  # no hammering after the 429
    limited_at = slack_api.calls("chat.postMessage")[0].at
    due = await next_due(stack.store, "slack")
    assert due is not None and due - time.time() > 0.7  # Retry-After, capped at 1 s
    assert (await worker.deliver_batch()).taken == 0

    async def delivered() -> int:
        return (await worker.deliver_batch()).delivered

    assert await async_wait_for(delivered, timeout=5, message="the postponed alerts") == 2
    assert posts(slack_api)[0].at - limited_at >= 0.9
    assert len(slack_ids(slack_api)) == len(set(slack_ids(slack_api))) == 2
    assert await stack.pending("slack") == (0, 0)


@pytest.mark.usefixtures("fast_slack_pacing")
async def test_two_hundred_spam_calls_make_one_slack_digest(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    slack_api: FakeSlack,
) -> None:
    """200 SPAM calls in one cycle become one Slack digest, not 200 messages."""
    stack = stack_factory(**slack_env(slack_api))
    simulator.set_calls(clock.today, [])
    await stack.cycle(advance=0)
    simulator.set_calls(clock.today, [record(f"s{n:03d}", "SPAM", TEN_AM) for n in range(200)])
    cycle = await stack.cycle()
    assert isinstance(cycle, CycleReport) and len(cycle.events) == 400  # created + spam
    report = await stack.deliver()
    assert (report.delivered, report.retrying) == (200, 0)
    (digest,) = slack_api.calls("chat.postMessage")
    assert digest.ok and "thread_ts" not in digest.body
    assert "200" in str(digest.body["text"]).splitlines()[0]
    assert await stack.pending("slack") == (0, 0)


@pytest.mark.usefixtures("fast_slack_pacing")
async def test_a_second_alert_threads_under_the_first_and_updates_it(
    simulator: Simulator,
    clock: Clock,
    stack_factory: Callable[..., Stack],
    slack_api: FakeSlack,
) -> None:
    """The second alert about a call replies in the first one's thread and chat.update
    brings the parent to the latest status; another call starts its own thread."""
    stack = stack_factory(**slack_env(slack_api))
    simulator.set_calls(
        clock.today, [record("c1", "En cola", TEN_AM), record("c2", "En cola", TEN_AM)]
    )
    await stack.cycle(advance=0)
    simulator.set_status("c1", "SPAM")
    await stack.cycle()
    await stack.deliver()
    simulator.set_status("c1", "Intentos terminados")
    simulator.set_status("c2", "SPAM")
    await stack.cycle()
    # Two posts, then the parent's update that the follow-up queued in the outbox.
    assert (await stack.deliver()).delivered == 3

    first, second, other = posts(slack_api)
    assert all(p.body["channel"] == CHANNEL for p in (first, second, other))
    assert "thread_ts" not in first.body and "c1" in str(first.body["text"])
    assert "c1" in str(second.body["text"]) and "c2" in str(other.body["text"])
    parent_ts = "1700000000.000001"  # the fake numbers its messages
    assert second.body.get("thread_ts") == parent_ts
    assert second.body.get("reply_broadcast") is True
    assert "thread_ts" not in other.body
    (update,) = slack_api.calls("chat.update")
    assert update.ok and update.body["ts"] == parent_ts
    assert update.body["text"] == second.body["text"]


# kill -9 mid-delivery


KILL_LATENCY = 1.0
KILL_CONCURRENCY = 8
KILL_CALLS = 20


@pytest.mark.slow
def test_kill_9_mid_delivery_loses_nothing_and_duplicates_only_in_flight(
    simulator: Simulator,
    redis_url: str,
    webhook_receiver: WebhookReceiver,
    processes: list[NotifierProcess],
) -> None:
    """kill -9 while webhook requests are in flight: after a restart every event arrives,
    and only requests in flight at the kill are delivered twice."""
    receiver = webhook_receiver
    now = datetime.now(UTC)
    uuids = [f"k{n:02d}" for n in range(KILL_CALLS)]
    records = [make_record(uuid=u, status="En cola", call_at=now) for u in uuids]
    simulator.set_calls(today(), records)
    env = {
        "CLICKFONO_TOKEN": "test-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "CLICKFONO_TIMEOUT": "2",
        "REDIS_URL": redis_url,
        "NOTIFIER_REDIS_PREFIX": "kill",
        "NOTIFIER_POLL_INTERVAL": "0.5",
        "NOTIFIER_LEASE_TTL": "3",
        "NOTIFIER_CLAIM_TIMEOUT": "2",
        "NOTIFIER_RETRY_SCHEDULE": "0.2,0.5,1,1,1,1",
        "NOTIFIER_WEBHOOK_CONCURRENCY": str(KILL_CONCURRENCY),
        "WEBHOOK_URL": receiver.url,
        "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
        "WEBHOOK_TIMEOUT": "5",
    }
    first = NotifierProcess(env, name="before-kill").start()
    processes.append(first)
    wait_for(
        lambda: redis_run(lambda s: s.load_cycle_state([]), redis_url, "kill").initialized,
        message="the silent baseline",
    )
    receiver.latency = KILL_LATENCY
    # One atomic change, so all 40 events are detected in one cycle and sent as one batch.
    simulator.set_calls(today(), [{**r, "status": "SPAM"} for r in records])

    def mid_wave() -> bool:
        """Requests in flight, none answered in the last 0.25 s and none due within 0.25 s."""
        alerts = receiver.alerts
        if len([a for a in alerts if a.accepted]) < KILL_CONCURRENCY or receiver.in_flight == 0:
            return False
        clock = time.monotonic()
        answers = [a.received_at + KILL_LATENCY for a in alerts]
        return all(abs(t - clock) > 0.25 for t in answers)

    wait_for(mid_wave, timeout=20, interval=0.01, message="a kill moment between answers")
    killed_at = time.monotonic()
    first.kill()
    killed = time.monotonic()
    # Requests the receiver had started but not answered when the process died.
    in_flight = [a for a in receiver.alerts if killed_at - KILL_LATENCY < a.received_at <= killed]
    assert in_flight, "the kill must happen while deliveries are in flight"

    second = NotifierProcess(env, name="after-kill").start()
    processes.append(second)
    expected = {(t, u) for u in uuids for t in ("call.status_changed", "call.spam")}

    def arrived() -> set[tuple[str, str]]:
        return {
            (a.payload["type"], a.payload["data"]["call"]["uuid"])
            for a in receiver.alerts
            if a.accepted
        }

    wait_for(lambda: arrived() >= expected, timeout=30, message="every event after the restart")
    wait_for(
        lambda: (
            redis_run(lambda s: s.queue_depths(["webhook"]), redis_url, "kill")["webhook"] == (0, 0)
        ),
        message="an empty outbox and no dead letters",
    )
    accepted = [a for a in receiver.alerts if a.accepted]
    assert all(a.verified for a in accepted)
    assert arrived() == expected
    ids_by_change: dict[tuple[str, str], set[str]] = {}
    for a in accepted:
        key = (a.payload["type"], a.payload["data"]["call"]["uuid"])
        ids_by_change.setdefault(key, set()).add(a.webhook_id or "")
    assert all(len(ids) == 1 for ids in ids_by_change.values()), "one id per change"
    duplicates = len(accepted) - len({a.webhook_id for a in accepted})
    assert duplicates <= len(in_flight), (
        f"{duplicates} duplicates but only {len(in_flight)} requests were in flight at the kill"
    )
