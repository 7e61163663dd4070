"""Moves events from the outbox to one sink: takes, sends, acknowledges, retries.

At-least-once: an event leaves the outbox only when its sink accepted it (then an
idempotency record stops a redelivery) or when its retries are exhausted (then it is a
dead letter). Taking an event hides it for the visibility timeout (NOTIFIER_CLAIM_TIMEOUT, the
"delivery claim"); a crashed worker's events become due again by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stamina

from notifier import events as ev
from notifier.config import EventFilter
from notifier.errors import SinkError, StoreError
from notifier.events import Event, format_timestamp
from notifier.logs import get_logger
from notifier.sinks.base import IncrementalSink, OnOutcome, Sink
from notifier.store import QueuedEvent, Store

log = get_logger("notifier.delivery")


def replica_id() -> str:
    """This process, for leases and the outbox's owner tags: host, pid and a random tag."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    taken: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.taken + other.taken,
            self.delivered + other.delivered,
            self.retrying + other.retrying,
            self.dead + other.dead,
        )


def retry_delay(
    schedule: Sequence[float], attempts: int, retry_after: float | None
) -> float | None:
    """Seconds before the next try after ``attempts`` failures, or None: dead letter."""
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1]
    if not retry_after:
        return delay
    # Honour Retry-After, but a hostile or broken value must not park an event for years.
    return max(delay, min(retry_after, max(schedule)))


def _order(item: QueuedEvent) -> tuple[float, str, int]:
    event = item.event
    return (event.detected_at.timestamp(), event.call_uuid or "", ev.delivery_rank(event.type))


@dataclass
class _Hold:
    """How long this replica still holds a taken batch, and how it lets go of it."""

    until: float
    """``time.monotonic()`` until which the batch is ours (the heartbeat moves it)."""
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    send: asyncio.Task[Sequence[SinkError | None]] | None = None
    accepted: list[str] = field(default_factory=list)
    """Events the sink accepted after the hold ran out: acknowledged on the way out."""

    def stale(self) -> bool:
        return time.monotonic() > self.until

    def give_up(self) -> None:
        """Stop sending at once: cancelling the send cancels every request not yet made."""
        self.lost.set()
        if self.send is not None:
            self.send.cancel()


SHARED_BATCH = 100
"""Events taken at once by a sink that sends them one by one (the webhook)."""


class SinkWatch:
    """Tells the other sinks when one sink has failed for several minutes
    (``notifier.sink_failing``, once per episode) and when it delivers again
    (``notifier.sink_recovered``). Episodes are shared by replicas through the store."""

    def __init__(
        self,
        store: Store,
        filters: Mapping[str, EventFilter],
        failing_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.filters = dict(filters)
        self.failing_after = failing_after
        self.clock = clock

    async def after(self, sink: str, report: DeliveryReport, error: str | None) -> None:
        """Update ``sink``'s episode after a batch; announce a start or an end once."""
        now = self.clock()
        if report.delivered:
            ended = await self.store.sink_delivered(sink)
            if ended is None:
                return
            if ended.announced:
                event = _episode_event(
                    ev.SINK_RECOVERED,
                    sink,
                    ended.since,
                    now,
                    duration_seconds=int(now - ended.since),
                )
                await self._tell_others(sink, event)
                log.info("sink_recovered", sink=sink, failed_for=round(now - ended.since))
            await self.store.end_episode(sink)
            return
        if not (report.retrying or report.dead):
            return
        episode = await self.store.sink_failed(sink, now)
        if episode.announced or now - episode.since < self.failing_after:
            return
        pending, dead = (await self.store.queue_depths([sink]))[sink]
        event = _episode_event(
            ev.SINK_FAILING,
            sink,
            episode.since,
            now,
            pending=pending,
            dead_letters=dead,
            error=error or "",
        )
        # Queued before it is marked: a crash in between repeats a deduplicated queueing.
        await self._tell_others(sink, event)
        await self.store.mark_announced(sink, episode)
        log.warning("sink_failing", sink=sink, pending=pending, dead_letters=dead)

    async def _tell_others(self, sink: str, event: Event) -> None:
        for other, accepts in self.filters.items():
            if other != sink and accepts.admits(event.type):
                await self.store.enqueue(other, [event])


def _episode_event(kind: str, sink: str, since: float, now: float, **detail: Any) -> Event:
    """``notifier.sink_failing`` or ``_recovered`` for the episode of ``sink`` that began at
    ``since``: one id per episode, so replicas announcing it at once queue it once."""
    return Event(
        kind,
        ev.event_id(kind, sink, repr(since)),
        datetime.fromtimestamp(now, UTC),
        detail={
            "sink": sink,
            "since": format_timestamp(datetime.fromtimestamp(since, UTC)),
            **detail,
        },
    )


class DeliveryWorker:
    """Delivers one sink's due events in batches."""

    def __init__(
        self,
        store: Store,
        sink: Sink,
        *,
        retry_schedule: Sequence[float],
        visibility_timeout: float = 15.0,
        batch_size: int | None = None,
        replica: str = "",
        watch: SinkWatch | None = None,
        count: Callable[[str, str, int], None] | None = None,
    ) -> None:
        """``count(sink, result, n)`` is told each batch's outcome (the daemon's metrics)."""
        self.store = store
        self.sink = sink
        self.retry_schedule = tuple(retry_schedule)
        self.visibility_timeout = visibility_timeout
        # A sink that sends a batch as one message (a Slack digest, one email) takes
        # whole cycles at once; others take small batches, so replicas share a burst.
        self.batch_size: int = batch_size or int(getattr(sink, "batch_size", SHARED_BATCH))
        # Smaller batches let replicas share a burst; the owner tag names the replica.
        self.replica = replica or replica_id()
        self.watch = watch
        self.count = count

    async def deliver_batch(self, skip: set[str] | None = None) -> DeliveryReport:
        """Take up to one batch of due events and try each once.

        Events whose id is in ``skip`` are handed back untouched (``once`` uses this to
        make at most one attempt per event). If this replica stalled past its visibility
        timeout (a SIGSTOP, a long pause) and another replica took the batch meanwhile,
        the rest of the batch is not sent: only the sends in flight can be duplicates.
        """
        owner = f"{self.replica}:{secrets.token_hex(4)}"
        taken = await self.store.take(
            self.sink.name, self.visibility_timeout, self.batch_size, owner
        )
        if skip:
            handed_back = [q.event.id for q in taken if q.event.id in skip]
            await self.store.release(self.sink.name, handed_back, owner)
            taken = [q for q in taken if q.event.id not in skip]
        if not taken:
            return DeliveryReport()
        taken.sort(key=_order)
        ids = [q.event.id for q in taken]
        acked: set[str] = set()
        hold = _Hold(time.monotonic() + self.visibility_timeout)
        send = asyncio.create_task(self._send(taken, acked, hold))
        hold.send = send
        keeper = asyncio.create_task(self._keep_hidden(ids, owner, hold, acked))
        try:
            await asyncio.wait([send, keeper], return_when=asyncio.FIRST_COMPLETED)
            # A keeper that died of a bug leaves the batch without a heartbeat: give it up
            # the same way, rather than send on while another replica may take it.
            if hold.lost.is_set() or (keeper.done() and not send.done()):
                send.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await send
                with contextlib.suppress(StoreError):  # the sink did accept these
                    await self.store.ack(self.sink.name, hold.accepted)
                acked.update(hold.accepted)
                log.warning(
                    "delivery_taken_over",
                    sink=self.sink.name,
                    sent=len(acked),
                    not_sent=len(taken) - len(acked),
                    reason="stalled past the visibility timeout; another replica took the batch",
                )
                with contextlib.suppress(StoreError):
                    await self.store.release(
                        self.sink.name, [i for i in ids if i not in acked], owner
                    )
                return DeliveryReport(len(taken), len(acked))
            outcomes = await send
        except asyncio.CancelledError:
            # Shutting down mid-send: hand the batch back so any replica delivers it now
            # rather than after the visibility timeout (a duplicate is possible if the sink
            # had already accepted some: the documented crash window).
            send.cancel()
            with contextlib.suppress(StoreError):
                await asyncio.shield(
                    self.store.release(self.sink.name, [i for i in ids if i not in acked], owner)
                )
            raise
        finally:
            keeper.cancel()
            try:
                await keeper
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # the send's outcomes still get settled below
                log.error("visibility_keeper_crashed", sink=self.sink.name, exc_info=exc)
        if skip is not None:
            skip.update(ids)
        report = await self._settle(taken, outcomes, acked)
        if self.watch is not None:
            error = next((str(o) for o in outcomes if o is not None), None)
            try:
                await self.watch.after(self.sink.name, report, error)
            except StoreError as exc:  # the next batch tries again
                log.warning("sink_episode_unrecorded", sink=self.sink.name, error=str(exc))
        return report

    async def _send(
        self, taken: Sequence[QueuedEvent], acked: set[str], hold: _Hold
    ) -> Sequence[SinkError | None]:
        events = [q.event for q in taken]
        try:
            if isinstance(self.sink, IncrementalSink):
                # Acknowledge each event as its sink accepts it, so a crash mid-batch
                # repeats only the events in flight, not the batch's earlier deliveries.
                return await self.sink.send_each(events, self._ack_early(taken, acked, hold))
            return await self.sink.send(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sink bug must not lose events: treat as a failed send
            log.error(
                "sink_crashed",
                sink=self.sink.name,
                error=f"{type(exc).__name__}: {exc}",
                exc_info=exc,
            )
            error = SinkError(f"sink raised {type(exc).__name__}")
            return [None if q.event.id in acked else error for q in taken]

    def _ack_early(self, taken: Sequence[QueuedEvent], acked: set[str], hold: _Hold) -> OnOutcome:
        async def on_outcome(index: int, outcome: SinkError | None) -> None:
            event_id = taken[index].event.id
            if hold.stale():
                # Woken past the hold (SIGSTOP, a long pause): another replica may be
                # sending this batch now. Stop before the next request leaves, here, in the
                # same step as the answer that woke us; the heartbeat would come too late.
                if outcome is None:
                    hold.accepted.append(event_id)
                hold.give_up()
                return
            if outcome is None:
                try:
                    await self.store.ack(self.sink.name, [event_id])
                except StoreError:
                    return  # _settle acknowledges it, insisting
                acked.add(event_id)

        return on_outcome

    async def _settle(
        self,
        taken: Sequence[QueuedEvent],
        outcomes: Sequence[SinkError | None],
        acked: set[str] | None = None,
    ) -> DeliveryReport:
        acked = acked or set()
        delivered = [q for q, o in zip(taken, outcomes, strict=True) if o is None]
        failures: list[tuple[QueuedEvent, str, float | None]] = []
        for item, outcome in zip(taken, outcomes, strict=True):
            if outcome is not None:
                delay = retry_delay(self.retry_schedule, item.attempts + 1, outcome.retry_after)
                failures.append((item, str(outcome), delay))
        # The sink has accepted these; a lost ack would mean a duplicate, so insist a little.
        async for attempt in stamina.retry_context(
            on=StoreError, attempts=5, wait_initial=0.2, wait_max=2.0, timeout=15.0
        ):
            with attempt:
                await self.store.ack(
                    self.sink.name, [q.event.id for q in delivered if q.event.id not in acked]
                )
        await self.store.fail(failures)
        dead = [f for f in failures if f[2] is None]
        for item, error, delay in failures:
            log.warning(
                "delivery_failed",
                sink=self.sink.name,
                event_id=item.event.id,
                type=item.event.type,
                attempt=item.attempts + 1,
                error=error,
                retry_in=delay,
                dead_letter=delay is None,
            )
        report = DeliveryReport(len(taken), len(delivered), len(failures) - len(dead), len(dead))
        if delivered:
            log.info("delivered", sink=self.sink.name, count=len(delivered))
        if self.count is not None:
            for result, n in (
                ("delivered", report.delivered),
                ("retrying", report.retrying),
                ("dead_letter", report.dead),
            ):
                if n:
                    self.count(self.sink.name, result, n)
        return report

    async def _keep_hidden(self, ids: list[str], owner: str, hold: _Hold, acked: set[str]) -> None:
        """The heartbeat: keep the batch hidden while a slow send (Slack pacing) is still
        working, every third of the visibility timeout; stop when another replica has
        taken events this one held (it stalled past the timeout).

        It also ends once the send has ended, cancelled or not: Python 3.11's
        ``asyncio.wait_for`` (which redis-py uses) drops a cancel that arrives as its
        inner await completes, and a keeper that missed its cancel held the sink's whole
        delivery loop, for good. A cancel it did receive (shutdown) is honoured through
        ``Task.cancelling()`` even when a library swallowed it."""
        current = asyncio.current_task()
        while True:
            await asyncio.sleep(self.visibility_timeout / 3)
            if hold.send is not None and hold.send.done():
                return
            if current is not None and current.cancelling():
                raise asyncio.CancelledError
            if hold.stale():
                # Stalled past the claim (SIGSTOP, a long pause): another replica may be
                # sending these now. Stop before this replica sends any more of them.
                hold.give_up()
                return
            asked = time.monotonic()
            try:
                gone = await self.store.extend(self.sink.name, ids, self.visibility_timeout, owner)
            except StoreError as exc:
                log.warning("visibility_extend_failed", sink=self.sink.name, error=str(exc))
                continue
            hold.until = asked + self.visibility_timeout
            # Events this batch delivered itself leave the outbox: not a loss.
            ids = [i for i in ids if i not in gone]
            if any(i not in acked for i in gone):
                hold.give_up()
                return

    async def deliver_due_once(self) -> DeliveryReport:
        """Every due event gets at most one attempt (the ``once`` command)."""
        attempted: set[str] = set()
        total = DeliveryReport()
        while True:
            report = await self.deliver_batch(skip=attempted)
            total += report
            if report.taken == 0:
                return total
