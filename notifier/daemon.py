"""The daemon: composes the poll loop, the lease, delivery workers and health/metrics."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence

from notifier import metrics
from notifier.callbacks import CallbackBook, CallbackLoop
from notifier.clickfono.client import ClickfonoClient
from notifier.config import Settings
from notifier.cycle import Poller
from notifier.daily import DailySummaries
from notifier.delivery import DeliveryWorker, SinkWatch, replica_id
from notifier.errors import LeaseLost, SourceError, SourceUnauthorized, StoreError
from notifier.health import Health, serve_health
from notifier.logs import get_logger
from notifier.sinks.base import Sink
from notifier.store import Store
from notifier.store.keys import lease_token, lease_value

log = get_logger("notifier.daemon")

HEALTH_REDIS_TIMEOUT = 5.0
"""Seconds the health watch waits for Redis before reporting it unavailable."""
PRUNE_EVERY = 600.0
"""Seconds between two sweeps of expired dead letters (the first sweep runs at start)."""
HEALTH_HOST = "0.0.0.0"  # noqa: S104  # nosec B104: probes and scrapes come from outside
"""/healthz, /readyz and /metrics listen on every interface: the orchestrator's probes and
Prometheus reach the container from outside (NOTIFIER_HTTP_PORT=0 turns them off)."""


async def poll(
    interval: float, stop: asyncio.Event, extra_delay: Callable[[], float] = lambda: 0.0
) -> AsyncIterator[int]:
    """Yield once per ``interval``, start to start, without drift or overlap.

    A tick that overran skips the ticks it missed instead of bunching them up;
    ``extra_delay`` lets the caller back off after failures. Ends when ``stop`` is set.
    """
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    tick = 0
    while not stop.is_set():
        yield tick
        tick += 1
        next_at += interval
        now = loop.time()
        if next_at <= now:
            next_at += ((now - next_at) // interval + 1) * interval
        wait = next_at - now + max(0.0, extra_delay())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


class Daemon:
    """``clickfono-notifier run``: one replica. Several may share one Redis."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: ClickfonoClient,
        sinks: Sequence[Sink],
        *,
        holder: str | None = None,
    ) -> None:
        from notifier.sinks import sink_filters

        self.settings = settings
        self.store = store
        self.client = client
        self.sinks = list(sinks)
        self.holder = holder or replica_id()
        self._wake = asyncio.Event()
        self.callbacks: CallbackLoop | None = None
        """The Slack callback loop, with Socket Mode configured (every replica listens)."""
        if settings.callbacks_enabled:
            self.callbacks = CallbackLoop(
                settings, store, sink_filters(settings, self.sinks), on_queued=self._wake.set
            )
            # Its bookkeeping rides the outbox: queued with the cycle's commit.
            self.sinks.append(CallbackBook(self.callbacks))
        self.poller = Poller(settings, client, store, sink_filters(settings, self.sinks))
        self.summaries = DailySummaries(settings, client, store, self.poller.filters)
        watch = SinkWatch(
            store,
            sink_filters(settings, self.sinks),
            settings.notifier_sink_failing_minutes * 60,
        )
        self.workers = [
            DeliveryWorker(
                store,
                sink,
                retry_schedule=settings.retry_schedule,
                visibility_timeout=settings.notifier_claim_timeout,
                replica=self.holder,
                watch=watch,
                count=metrics.count_deliveries,
            )
            for sink in self.sinks
        ]
        self.health = Health(alive=self.alive)
        self.lease_value: str | None = None
        self.failures = 0
        if self.callbacks is not None:
            self.summaries.callbacks = self.callbacks  # claims in summaries and the gauge
        self._prune_at = 0.0
        self._lease_tried = asyncio.Event()
        """Set once the first lease attempt is done, so the first poll runs at once."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._lease_pause_until = 0.0
        self.http_port: int | None = None
        self.crashed = False

    # Lease

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        ttl = self.settings.notifier_lease_ttl
        while not stop.is_set():
            if time.monotonic() < self._lease_pause_until:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), ttl / 3)
                continue
            try:
                token = await self.store.acquire_lease(self.holder, ttl)
            except StoreError as exc:
                log.warning("lease_unavailable", error=str(exc))
                token = None
            value = None if token is None else lease_value(token, self.holder)
            if value != self.lease_value:
                log.info("leader" if value else "follower", replica=self.holder, fence=token)
            self.lease_value = value
            metrics.LEADER.set(1 if value else 0)
            self._lease_tried.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ttl / 3)

    # Polling

    def _backoff(self) -> float:
        if not self.failures:
            return 0.0
        interval = self.settings.notifier_poll_interval
        ceiling = max(interval, 300.0)
        jitter = random.uniform(0.5, 1.0)  # noqa: S311 - not cryptographic
        delay = min(interval * 2.0 ** (self.failures - 1), ceiling) * jitter
        return max(0.0, delay - interval)

    async def cycle_once(self) -> bool:
        """Run one cycle if this replica leads; True when it succeeded."""
        lease = self.lease_value
        if lease is None:
            return False
        started = time.perf_counter()
        try:
            report = await self.poller.run_cycle(lease)
        except asyncio.CancelledError:
            raise
        except SourceUnauthorized as exc:
            self.failures += 1
            metrics.POLLS.labels("unauthorized").inc()
            self.health.ready, self.health.reason = False, "Clickfono rejected the token"
            log.error("cycle_failed", error=str(exc), failures=self.failures)
            await self._step_aside()
            return False
        except SourceError as exc:
            self.failures += 1
            metrics.POLLS.labels("unavailable").inc()
            log.error("cycle_failed", error=str(exc), failures=self.failures)
            return False
        except LeaseLost:
            self.lease_value = None
            metrics.POLLS.labels("lease_lost").inc()
            log.warning("lease_lost", replica=self.holder)
            return False
        except StoreError as exc:
            self.failures += 1
            metrics.POLLS.labels("store_error").inc()
            log.error("cycle_failed", error=str(exc))
            return False
        except Exception as exc:  # a bug must not stop the alerts; nothing was committed
            self.failures += 1
            metrics.POLLS.labels("error").inc()
            log.error("cycle_crashed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            return False
        self.failures = 0
        elapsed = time.perf_counter() - started
        metrics.POLLS.labels("ok").inc()
        metrics.CYCLE_SECONDS.observe(elapsed)
        metrics.CALLS_SEEN.set(report.calls_seen)
        metrics.record_last_success(time.time())
        metrics.RECORDS_REJECTED.inc(report.records_rejected)
        for event in report.events:
            metrics.EVENTS.labels(event.type).inc()
        log.info("cycle", **report.log_fields(), seconds=round(elapsed, 3))
        self.health.ready, self.health.reason = True, "ok"
        # The business gauges, and once a day the summaries (never fail the cycle).
        await self.summaries.record_gauges(report.calls_today)
        if await self.summaries.run_if_due(lease):
            self._wake.set()
        if report.queued:
            self._wake.set()
        return True

    async def _step_aside(self) -> None:
        """Give the lease up after a rejected token, so a replica rolled out with a fixed
        token can take over instead of waiting behind this one."""
        lease, self.lease_value = self.lease_value, None
        metrics.LEADER.set(0)
        self._lease_pause_until = time.monotonic() + 2 * self.settings.notifier_lease_ttl
        if lease:
            with contextlib.suppress(StoreError):
                await self.store.release_lease(self.holder, lease_token(lease))

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        # Poll at start, not one interval later: wait only for the first lease attempt.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lease_tried.wait(), HEALTH_REDIS_TIMEOUT * 3)
        async for _ in poll(self.settings.notifier_poll_interval, stop, self._backoff):
            self.health.heartbeat = time.monotonic()
            await self.cycle_once()

    # Delivery

    async def _deliver_loop(self, worker: DeliveryWorker, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                report = await worker.deliver_batch()
            except StoreError as exc:
                log.warning("delivery_paused", sink=worker.sink.name, error=str(exc))
                report = None
            if report is None or report.taken == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

    # Health

    async def _watch_health(self, stop: asyncio.Event) -> None:
        interval = self.settings.notifier_poll_interval
        names = [s.name for s in self.sinks]
        metrics.record_poll_interval(interval)
        metrics.declare_sinks(names)
        metrics.bind_readiness(lambda: self.health.ready)
        while not stop.is_set():
            self.health.heartbeat = time.monotonic()
            try:
                # Bounded: a partitioned Redis holds a command for its socket timeout
                # (times the client's retries), and this loop must keep reporting.
                async with asyncio.timeout(HEALTH_REDIS_TIMEOUT):
                    state = await self.store.load_cycle_state([])
                    depths = await self.store.queue_depths(names)
                    episodes = await self.store.sink_episodes(names)
                    await self.store.follow_failover()
                    if time.monotonic() >= self._prune_at:
                        await self._prune_dead_letters(names)
            except (StoreError, TimeoutError):
                self.health.ready, self.health.reason = False, "Redis unavailable"
            else:
                metrics.record_queue_depths(depths)
                metrics.record_sink_failing(
                    {n: n in episodes and episodes[n].announced for n in names}
                )
                metrics.record_source_state(state.source_state, state.source_failures)
                last = state.last_success
                if last is not None:
                    metrics.record_last_success(last)  # followers report the leader's cycles
                if state.source_state == "unauthorized":
                    self.health.ready, self.health.reason = False, "Clickfono rejected the token"
                elif last is None:
                    self.health.ready, self.health.reason = False, "no successful cycle yet"
                elif time.time() - last > 3 * interval:
                    self.health.ready, self.health.reason = False, "last success is too old"
                else:
                    self.health.ready, self.health.reason = True, "ok"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(5.0, interval))

    async def _prune_dead_letters(self, names: Sequence[str]) -> None:
        """Drop dead letters older than NOTIFIER_DEAD_LETTER_DAYS (logged and counted)."""
        cutoff = time.time() - self.settings.notifier_dead_letter_days * 86400
        for name in names:
            dropped = await self.store.prune_dead_letters(name, cutoff)
            if dropped:
                metrics.DEAD_LETTERS_DROPPED.labels(name).inc(dropped)
                log.warning(
                    "dead_letters_dropped",
                    sink=name,
                    count=dropped,
                    older_than_days=self.settings.notifier_dead_letter_days,
                )
        self._prune_at = time.monotonic() + PRUNE_EVERY

    def alive(self) -> bool:
        """Alive while the poll task runs and the event loop keeps its heartbeat fresh."""
        poll_task = self._tasks.get("poll")
        if poll_task is None or poll_task.done():
            return False
        return time.monotonic() - self.health.heartbeat < 30.0

    # Lifecycle

    def _on_task_done(self, name: str, task: asyncio.Task[None], *, stop: asyncio.Event) -> None:
        if task.cancelled() or task.exception() is None:
            return
        # A task died of a bug: stop the replica so the orchestrator restarts it.
        exc = task.exception()
        log.error("task_crashed", task=name, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        self.crashed = True
        stop.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down within a few seconds."""
        self.health.heartbeat = time.monotonic()
        server = None
        if self.settings.notifier_http_port:
            server = await serve_health(self.health, HEALTH_HOST, self.settings.notifier_http_port)
            self.http_port = server.sockets[0].getsockname()[1]
        log.info(
            "started",
            replica=self.holder,
            sinks=[s.name for s in self.sinks],
            interval=self.settings.notifier_poll_interval,
            http_port=self.http_port,
        )
        self._tasks = {
            "lease": asyncio.create_task(self._keep_lease(stop)),
            "poll": asyncio.create_task(self._poll_loop(stop)),
            "health": asyncio.create_task(self._watch_health(stop)),
            **{
                f"deliver-{w.sink.name}": asyncio.create_task(self._deliver_loop(w, stop))
                for w in self.workers
            },
        }
        listener = None
        if self.callbacks is not None:
            listener = self.callbacks.make_listener()
            await listener.start()
            self._tasks["remind"] = asyncio.create_task(
                self.callbacks.remind_loop(stop, lambda: self.lease_value is not None)
            )
        for name, task in self._tasks.items():
            task.add_done_callback(functools.partial(self._on_task_done, name, stop=stop))
        tasks = list(self._tasks.values())
        try:
            await stop.wait()
        finally:
            log.info("stopping", replica=self.holder)
            # In-flight deliveries get a few seconds to finish; then they are handed back.
            _, pending = await asyncio.wait(tasks, timeout=6.0)
            for task in pending:
                task.cancel()
            if pending:
                # Bounded too: a library can drop a cancel (Python 3.11's wait_for does).
                _, stuck = await asyncio.wait(pending, timeout=5.0)
                if stuck:
                    names = sorted(n for n, t in self._tasks.items() if t in stuck)
                    log.warning("tasks_not_stopped", tasks=names)
            if listener is not None:
                await listener.stop(drain=2.0)
            if self.lease_value:
                with contextlib.suppress(StoreError):
                    token = lease_token(self.lease_value)
                    await self.store.release_lease(self.holder, token)
            metrics.LEADER.set(0)
            if server is not None:
                server.close()
                await server.wait_closed()
            log.info("stopped", replica=self.holder)
