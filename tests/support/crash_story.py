"""kill -9 and SIGSTOP stories against real ``clickfono-notifier run`` processes.

Shared by tests/integration/test_crash_recovery.py and benchmarks/bench_crash_recovery.py.
The upstream is the simulator, the sink the signature-verifying ``WebhookReceiver`` (with
some latency), the outbox a real Redis. "In flight" is read from Redis, not guessed from
timings: after a replica is killed or stopped, the events it had sent (the receiver got
them) but not acknowledged are the ones still in the outbox, under its owner tag. Those,
and only those, may reach the receiver twice.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.clickfono.simulator import Simulator, make_record
from notifier.store import Store
from tests.support.process import NotifierProcess
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, Delivery, WebhookReceiver

SANTIAGO = ZoneInfo("America/Santiago")
SINK = "webhook"
CHANGE_TYPES = ("call.status_changed", "call.spam")


def today() -> str:
    return datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()


def redis_run(redis_url: str, prefix: str, work: Callable[[Store], Any]) -> Any:
    """Run one coroutine against a fresh Store from synchronous code."""

    async def go() -> Any:
        store = Store.from_url(redis_url, prefix)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return asyncio.run(go())


def change(delivery: Delivery) -> tuple[str, str]:
    """(event type, call uuid) of a webhook delivery: what a change is."""
    return (delivery.payload["type"], delivery.payload["data"]["call"]["uuid"])


@dataclass
class Burst:
    """``calls`` calls waiting in queue that all turn SPAM in one simulator change: two
    events each (call.status_changed and call.spam), detected in one cycle."""

    simulator: Simulator
    redis_url: str
    receiver: WebhookReceiver
    prefix: str
    calls: int
    env: dict[str, str] = field(default_factory=dict)
    started: list[NotifierProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        self.records = [
            make_record(uuid=f"b{n:05d}", status="En cola", call_at=now) for n in range(self.calls)
        ]
        self.expected = {(t, str(r["uuid"])) for r in self.records for t in CHANGE_TYPES}
        self.simulator.set_calls(today(), self.records)

    def base_env(self, **extra: str) -> dict[str, str]:
        return {
            "CLICKFONO_TOKEN": "test-token",
            "CLICKFONO_BASE_URL": self.simulator.base_url,
            "CLICKFONO_TIMEOUT": "5",
            "REDIS_URL": self.redis_url,
            "NOTIFIER_REDIS_PREFIX": self.prefix,
            "NOTIFIER_POLL_INTERVAL": "0.5",
            "NOTIFIER_RETRY_SCHEDULE": "0.2,0.5,1,1,1,1",
            "WEBHOOK_URL": self.receiver.url,
            "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
            "WEBHOOK_TIMEOUT": "10",
            **self.env,
            **extra,
        }

    def start(self, name: str, *, wait: bool = True, **extra: str) -> NotifierProcess:
        process = NotifierProcess(self.base_env(**extra), name=name)
        self.started.append(process)
        return process.start(wait=wait)

    def kill_all(self) -> None:
        """kill -9 every process this burst started (a stopped one is continued first)."""
        for process in self.started:
            if process.alive and process.proc is not None:
                process.proc.send_signal(signal.SIGCONT)
            process.kill()

    def wait_baseline(self) -> None:
        """Until the silent baseline of the ``calls`` calls is committed."""
        wait_for(
            lambda: (
                redis_run(self.redis_url, self.prefix, lambda s: s.load_cycle_state([])).initialized
            ),
            timeout=20,
            message="the silent baseline",
        )

    def turn_spam(self) -> None:
        """The one simulator change that queues ``2 * calls`` events."""
        self.simulator.set_calls(today(), [{**r, "status": "SPAM"} for r in self.records])

    # What the receiver and Redis say.

    def accepted(self) -> list[Delivery]:
        """Alerts answered 2xx whose body arrived whole (signature verified): a kill -9
        mid-request leaves a truncated body that the receiver still records."""
        return [a for a in self.receiver.alerts if a.accepted and a.verified]

    def truncated(self) -> list[Delivery]:
        return [a for a in self.receiver.alerts if not a.verified]

    def take_truncated_violations(self) -> list[str]:
        """The contract violations of truncated bodies (cut by a kill), taken off the
        end-of-test contract check; whole bodies must have none."""
        whole = [e for a in self.receiver.alerts if a.verified for e in a.contract_errors]
        assert whole == [], whole
        return self.receiver.expect_contract_violations()

    def arrived(self) -> set[tuple[str, str]]:
        return {change(a) for a in self.accepted()}

    def held(self) -> dict[str, str]:
        """Events still in the outbox that a delivery attempt holds: {id: owner}."""

        async def read(store: Store) -> dict[str, str]:
            outbox = set(await store.redis.zrange(store.keys.outbox(SINK), 0, -1))
            owners = await store.redis.hgetall(store.keys.owners(SINK))
            return {str(k): str(v) for k, v in owners.items() if k in outbox}

        return dict(redis_run(self.redis_url, self.prefix, read))

    def in_flight_of(self, process: NotifierProcess) -> set[str]:
        """Event ids ``process`` sent (the receiver got them) and has not acknowledged:
        read while it is dead or stopped, so the answer cannot change under us."""
        assert process.proc is not None
        tag = f"{socket.gethostname()}-{process.proc.pid}-"
        mine = {i for i, owner in self.held().items() if owner.startswith(tag)}
        received = {a.webhook_id for a in self.receiver.alerts}
        return mine & received

    def depths(self) -> tuple[int, int]:
        """(events in the outbox, dead letters) of the webhook sink."""
        depths = redis_run(self.redis_url, self.prefix, lambda s: s.queue_depths([SINK]))
        return tuple(depths[SINK])  # type: ignore[return-value]

    def duplicates(self) -> Counter[str]:
        """webhook-id -> extra times it was accepted (only the ids accepted twice or more)."""
        counts = Counter(a.webhook_id or "" for a in self.accepted())
        return Counter({i: n - 1 for i, n in counts.items() if n > 1})

    def ids_per_change(self) -> dict[tuple[str, str], set[str]]:
        ids: dict[tuple[str, str], set[str]] = {}
        for a in self.accepted():
            ids.setdefault(change(a), set()).add(a.webhook_id or "")
        return ids


@dataclass
class CrashReport:
    in_flight: list[set[str]]
    """Per kill: the ids sent and not acknowledged when the process died."""
    catch_up: float
    """Seconds from the final restart (before its Popen) until every event had arrived."""
    duplicates: Counter[str]
    delivered_before_restart: int


def kill_three_times(
    burst: Burst,
    *,
    kills: int = 3,
    catch_up_limit: float = 30.0,
    progress: Callable[[int], int] | None = None,
) -> CrashReport:
    """Start ``run``, let the burst start flowing, kill -9 it mid-delivery ``kills``
    times (restarting it each time), then start it once more with the environment's
    claim timeout and time how long it takes until every event has arrived."""
    total = len(burst.expected)
    progress = progress or (lambda k: total * k // (kills + 2))
    process = burst.start("first")
    burst.wait_baseline()
    burst.turn_spam()
    in_flight: list[set[str]] = []
    for k in range(1, kills + 1):
        wanted = progress(k)
        wait_for(
            lambda wanted=wanted: len(burst.accepted()) >= wanted and burst.receiver.in_flight > 0,
            timeout=60,
            interval=0.005,
            message=f"{wanted} deliveries and some in flight before kill {k}",
        )
        process.kill()
        in_flight.append(burst.in_flight_of(process))
        if k < kills:
            process = burst.start(f"after-kill-{k}")
    delivered = len(burst.arrived())
    restart = time.monotonic()
    burst.start("final", wait=False)
    wait_for(
        lambda: burst.arrived() >= burst.expected,
        timeout=catch_up_limit,
        interval=0.01,
        message=f"all {total} events within {catch_up_limit:g} s of the restart",
    )
    catch_up = time.monotonic() - restart
    wait_for(lambda: burst.depths() == (0, 0), message="an empty outbox and no dead letters")
    return CrashReport(in_flight, catch_up, burst.duplicates(), delivered)
