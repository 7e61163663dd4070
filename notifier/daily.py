"""The daily summary's schedule, and the business gauges the leader sets after each cycle.

``DailySummaries.run_if_due`` is called by the poll leader after each successful cycle
(``run``), and by ``once`` after its cycle. From ``NOTIFIER_DAILY_SUMMARY_AT`` (local
time in ``NOTIFIER_TIMEZONE``) until midnight, the first call of the day:

1. fetches the day's list once more through the ``ClickfonoClient`` and validates it
   whole. The cycle no longer holds the day's calls (it validates only the records that
   changed, and drops the bodies once planned), and the snapshots keep statuses and
   times but not who called; one more GET per popup once a day costs what one cycle's
   fetch costs, far less than keeping every parsed call in memory or in Redis all day;
2. loads the day's snapshots (the observed waits) and the callbacks' states;
3. computes one summary per popup (``summary.summarise``, pure) and commits, in one
   atomic step fenced by the poll lease, the ``report.daily_summary`` events to every
   sink whose filter admits them together with ``summary_day`` in meta.

Exactly once per popup and day: each event's id is ``event_id(type, popup, date)`` and
the outbox never queues an id it already holds, delivered or dead-lettered. So a leader
that crashes between computing and committing, or two leaders in a row, queue each
summary once. ``summary_day`` (and a copy in memory) spare the next cycles the work.

A notifier that was down at the scheduled time sends the summary when it comes back,
the same day, with ``late: true``: late means more than three poll intervals after the
scheduled time (the threshold of ``observed_late``). After midnight the missed day is
not sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from notifier import events as ev
from notifier.clickfono.client import ClickfonoClient
from notifier.clickfono.models import Call, parse_calls
from notifier.config import EventFilter, Settings
from notifier.diff import WAITING, Snapshot
from notifier.errors import LeaseLost, NotifierError
from notifier.events import Event, event_id
from notifier.logs import get_logger
from notifier.store import Store
from notifier.store.keys import META_SUMMARY_DAY
from notifier.summary import NO_CALLBACKS, CallbackSource, PopupSummary, summarise
from notifier.tally import Key

log = get_logger("notifier.daily")

Clock = Callable[[], datetime]
RETRY_AFTER = timedelta(minutes=1)
"""A summary that failed (Clickfono or Redis down, a bug) is tried again after this."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def scheduled_at(settings: Settings, day: date) -> datetime | None:
    """When ``day``'s summary is due (aware), or None when summaries are off."""
    text = settings.notifier_daily_summary_at
    if not text:
        return None
    hour, minute = (int(part) for part in text.split(":"))
    # A wall time skipped by a DST change maps forward, like every zoneinfo time.
    local = datetime.combine(day, time(hour, minute), settings.zone)
    return local.astimezone(UTC).astimezone(settings.zone)


def due_day(settings: Settings, now: datetime) -> date | None:
    """The local date whose summary is due at ``now``: today once its time has passed."""
    today = now.astimezone(settings.zone).date()
    at = scheduled_at(settings, today)
    return today if at is not None and now >= at else None


def is_late(settings: Settings, day: date, now: datetime) -> bool:
    """Sent more than three poll intervals after the scheduled time."""
    at = scheduled_at(settings, day)
    return at is not None and now - at > timedelta(seconds=3 * settings.notifier_poll_interval)


def observed_waits(
    calls: Sequence[Call], snapshots: Mapping[str, str], now: datetime
) -> dict[str, float]:
    """Call uuid -> the longest wait in queue the notifier observed for it (seconds)."""
    waits: dict[str, float] = {}
    for call in calls:
        text = snapshots.get(call.uuid)
        if text is None:
            continue
        try:
            snapshot = Snapshot.decode(text)
        except ValueError:
            continue
        wait = snapshot.longest_wait
        if snapshot.wait_since is not None and snapshot.status in WAITING:
            wait = max(wait, now.timestamp() - snapshot.wait_since)
        if wait > 0:
            waits[call.uuid] = wait
    return waits


def summary_events(summaries: Sequence[PopupSummary], now: datetime) -> list[Event]:
    """One ``report.daily_summary`` per popup, with the id of (type, popup, date)."""
    return [
        Event(
            type=ev.DAILY_SUMMARY,
            id=event_id(ev.DAILY_SUMMARY, s.popup_uuid, s.date),
            detected_at=now.astimezone(UTC),
            detail=s.detail(),
        )
        for s in summaries
    ]


class DailySummaries:
    """The leader's once-a-day summary and after-cycle business gauges (module doc)."""

    def __init__(
        self,
        settings: Settings,
        client: ClickfonoClient,
        store: Store,
        filters: Mapping[str, EventFilter],
        *,
        callbacks: CallbackSource = NO_CALLBACKS,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.filters = dict(filters)
        self.callbacks = callbacks
        self.clock = clock
        self._done: str | None = None
        """The last date this process knows was summarised (saves reading meta)."""
        self._retry_at: datetime | None = None
        """After a failure, the next attempt waits until then (not every cycle)."""
        self.failed = False
        """The last attempt failed (``once`` then exits 1)."""

    async def run_if_due(self, lease_value: str = "") -> int | None:
        """Queue today's summaries if they are due and not queued yet.

        Returns how many (sink, event) entries were newly queued, or None when nothing
        was due or it failed.
        A failure is logged and tried again ``RETRY_AFTER`` later. Never raises but for
        cancellation."""
        now = self.clock()
        day = due_day(self.settings, now)
        if day is None or self._done == day.isoformat():
            return None
        if self._retry_at is not None and now < self._retry_at:
            return None
        try:
            queued = await self._run(day, now, lease_value)
            self.failed = False
            return queued
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.info("daily_summary_skipped", reason="the poll lease is held by another replica")
            return None
        except NotifierError as exc:  # Clickfono or Redis failing
            log.warning("daily_summary_failed", date=day.isoformat(), error=str(exc))
        except Exception as exc:  # a bug must not stop the alerts
            log.error("daily_summary_crashed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        self.failed = True  # `once` exits 1; `run` retries below
        self._retry_at = now + RETRY_AFTER
        return None

    async def _run(self, day: date, now: datetime, lease_value: str) -> int:
        iso = day.isoformat()
        state = await self.store.load_cycle_state([])
        if state.meta.get(META_SUMMARY_DAY) == iso:
            self._done = iso
            return 0
        summaries = await self.compute(day, now)
        events = summary_events(summaries, now)
        routed = {sink: events for sink, f in self.filters.items() if f.admits(ev.DAILY_SUMMARY)}
        queued = await self.store.commit(lease_value, {META_SUMMARY_DAY: iso}, {}, routed)
        self._done = iso
        late = is_late(self.settings, day, now)
        log.info("daily_summary", date=iso, popups=len(summaries), queued=queued, late=late)
        return queued

    async def compute(self, day: date, now: datetime) -> list[PopupSummary]:
        """The summaries of ``day`` as of ``now``: the list fetched again, the observed
        waits from the snapshots, the callbacks' states."""
        calls: list[Call] = []
        for answer in await self.client.fetch(day):
            if answer.status == 200:
                # Off the event loop: deliveries go on while a big list is validated.
                parsed = await asyncio.to_thread(parse_calls, answer.body)
                calls.extend(parsed.calls)
        iso = day.isoformat()
        uuids = [c.uuid for c in calls]
        snapshots = (await self.store.load_snapshots({iso: uuids}))[iso] if uuids else {}
        callbacks = await self.callbacks.callbacks(day, uuids) if uuids else {}

        def compute() -> list[PopupSummary]:
            return summarise(
                day,
                [c.payload() for c in calls],
                zone=self.settings.zone,
                is_open=self.settings.calendar.is_open,
                waits=observed_waits(calls, snapshots, now),
                callbacks=callbacks,
                popups=self.settings.clickfono_popup_uuids,
                late=is_late(self.settings, day, now),
            )

        # A busy day takes seconds (measured: ~4 s for 100,000 calls): off the loop, so
        # deliveries and the lease keep their pace.
        return await asyncio.to_thread(compute)

    async def record_gauges(self, calls_today: Mapping[Key, int]) -> None:
        """Set ``clickfono_calls_today`` and ``clickfono_open_callbacks`` after a cycle.

        Every popup with calls today gets an open-callbacks series, 0 when none is open."""
        from notifier import metrics  # only `run` serves metrics: `once` never loads them

        counts: dict[tuple[str, str], int] = {}
        popups: dict[str, int] = {}
        for (popup, name, status), n in calls_today.items():
            label = metrics.popup_label(popup or None, name or None)
            counts[label, status] = counts.get((label, status), 0) + n
            popups.setdefault(label, 0)
        metrics.record_calls_today(counts)
        today = self.clock().astimezone(self.settings.zone).date()
        try:
            open_now = await self.callbacks.open_by_popup(today)
        except NotifierError as exc:
            log.warning("open_callbacks_unavailable", error=str(exc))
            return
        for (popup, name), n in open_now.items():
            label = metrics.popup_label(popup or None, name or None)
            popups[label] = popups.get(label, 0) + n
        metrics.record_open_callbacks(popups)
