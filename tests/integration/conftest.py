"""Integration harness: the real simulator, a real Redis, the real cycle and delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.clickfono.client import ClickfonoClient
from notifier.clickfono.simulator import Simulator, make_record
from notifier.config import EventFilter, Settings, load_settings
from notifier.cycle import CycleReport, Poller
from notifier.delivery import DeliveryWorker
from notifier.store import Store
from tests.support.process import NotifierProcess
from tests.support.recording_sink import RecordingSink

SANTIAGO = ZoneInfo("America/Santiago")


@dataclass
class Clock:
    """A settable clock for the notifier (the simulator's manual mode needs none)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    @property
    def today(self) -> str:
        return self.now.astimezone(SANTIAGO).date().isoformat()


@dataclass
class Deployment:
    """One notifier deployment (one prefix) with a recording sink behind its outbox."""

    settings: Settings
    store: Store
    client: ClickfonoClient
    clock: Clock
    sink: RecordingSink = field(default_factory=RecordingSink)

    @property
    def poller(self) -> Poller:
        return Poller(
            self.settings,
            self.client,
            self.store,
            {"webhook": EventFilter(("*",))},
            clock=self.clock,
        )

    async def cycle(self, lease: str = "") -> CycleReport:
        return await self.poller.run_cycle(lease)

    async def deliver(self) -> list[str]:
        """Deliver everything due and return the types delivered by this call."""
        worker = DeliveryWorker(self.store, self.sink, retry_schedule=(0,))
        before = len(self.sink.received)
        await worker.deliver_due_once()
        return [e.type for e in self.sink.received[before:]]

    async def step(self) -> list[str]:
        """One cycle then delivery: the event types this step produced."""
        await self.cycle()
        return await self.deliver()


def record(uuid: str, status: str, call_at: datetime, **fields: Any) -> dict[str, Any]:
    """A vendor-shaped record with a fixed uuid."""
    return make_record(uuid=uuid, status=status, call_at=call_at, **fields)


@pytest.fixture
def clock() -> Clock:
    """Tuesday 2026-11-24 10:00 in Santiago (13:00 UTC), inside business hours."""
    return Clock(datetime(2026, 11, 24, 13, 0, tzinfo=UTC))


@pytest.fixture
async def deployment_factory(
    simulator: Simulator, redis_url: str, clock: Clock
) -> AsyncIterator[Callable[..., Deployment]]:
    """Builds deployments against the fixture simulator and the private Redis."""
    made: list[Deployment] = []

    def factory(prefix: str = "it", **env: str) -> Deployment:
        settings = load_settings(
            {
                "CLICKFONO_TOKEN": "test-token",
                "CLICKFONO_BASE_URL": simulator.base_url,
                "REDIS_URL": redis_url,
                "NOTIFIER_REDIS_PREFIX": prefix,
                "NOTIFIER_HTTP_PORT": "0",
                **env,
            }
        )
        deployment = Deployment(
            settings,
            Store.from_url(redis_url, prefix),
            ClickfonoClient(
                simulator.base_url,
                "test-token",
                timeout=2,
                attempts=2,
                backoff=(0.01, 0.02),
                popups=settings.clickfono_popup_uuids,
            ),
            clock,
        )
        made.append(deployment)
        return deployment

    yield factory
    for deployment in made:
        await deployment.client.aclose()
        await deployment.store.aclose()


@pytest.fixture
def deployment(deployment_factory: Callable[..., Deployment]) -> Deployment:
    """The default deployment (prefix ``it``, silent baseline)."""
    return deployment_factory()


@pytest.fixture
def processes() -> Iterator[list[NotifierProcess]]:
    """Notifier subprocesses started by a test; every one is killed at its end."""
    started: list[NotifierProcess] = []
    yield started
    for process in started:
        process.kill()
