"""What each command does. cli.py maps their results and errors to exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from notifier.clickfono.client import ClickfonoClient
from notifier.config import Settings
from notifier.cycle import Poller, polled_dates
from notifier.daily import DailySummaries
from notifier.delivery import DeliveryReport, DeliveryWorker, SinkWatch, replica_id
from notifier.errors import LeaseLost, NotifierError, SourceError, StoreError
from notifier.logs import get_logger
from notifier.sinks import build_sinks, sink_filters, sink_names
from notifier.sinks.base import Sink
from notifier.store import Store, Topology
from notifier.store.keys import lease_value

log = get_logger("notifier.commands")

EXIT_OK, EXIT_FAILURE = 0, 1


@dataclass
class App:
    settings: Settings
    store: Store
    client: ClickfonoClient
    sinks: list[Sink]


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings, *, sinks: Sequence[Sink] | None = None
) -> AsyncIterator[App]:
    store = Store.connect(
        Topology(
            settings.redis_url.get_secret_value(),
            cluster=settings.redis_cluster,
            sentinels=settings.redis_sentinels,
            master=settings.redis_sentinel_master,
            tls_ca=settings.redis_tls_ca,
        ),
        settings.notifier_redis_prefix,
        settings.notifier_state_ttl_days,
    )
    client = ClickfonoClient(
        settings.clickfono_base_url,
        settings.clickfono_token.get_secret_value(),
        popups=settings.clickfono_popup_uuids,
        timeout=settings.clickfono_timeout,
        keepalive=settings.notifier_poll_interval + 30,
    )
    built = list(sinks) if sinks is not None else build_sinks(settings, store)
    try:
        yield App(settings, store, client, built)
    finally:
        for sink in built:
            with contextlib.suppress(Exception):
                await sink.aclose()
        await client.aclose()
        with contextlib.suppress(Exception):
            await store.aclose()


# once


async def once(settings: Settings, *, sinks: Sequence[Sink] | None = None) -> int:
    """One cycle, then one delivery attempt for every due event. Exit 1 on any failure."""
    async with open_app(settings, sinks=sinks) as app:
        error: NotifierError | None = None
        if settings.callbacks_enabled:
            # The callback bookkeeping rides the outbox in once as in run (no listener:
            # clicks need a running `run`).
            from notifier import callbacks

            book = callbacks.CallbackLoop(settings, app.store, sink_filters(settings, app.sinks))
            app.sinks.append(callbacks.CallbackBook(book))
        poller = Poller(settings, app.client, app.store, sink_filters(settings, app.sinks))
        holder = replica_id()
        token = await app.store.acquire_lease(holder, max(settings.notifier_lease_ttl, 60.0))
        if token is None:
            log.warning("poll_skipped", reason="another replica holds the poll lease")
        else:
            try:
                report = await poller.run_cycle(lease_value(token, holder))
                log.info("cycle", **report.log_fields())
                # After the summary time, the first successful once of the day sends it.
                summaries = DailySummaries(settings, app.client, app.store, poller.filters)
                await summaries.run_if_due(lease_value(token, holder))
                if summaries.failed:
                    error = NotifierError("the daily summary could not be computed (see the log)")
            except (SourceError, LeaseLost) as exc:
                log.error("cycle_failed", error=str(exc))
                error = exc
            finally:
                with contextlib.suppress(StoreError):
                    await app.store.release_lease(holder, token)
        total = DeliveryReport()
        watch = SinkWatch(
            app.store,
            sink_filters(settings, app.sinks),
            settings.notifier_sink_failing_minutes * 60,
        )
        for sink in app.sinks:
            worker = DeliveryWorker(
                app.store,
                sink,
                retry_schedule=settings.retry_schedule,
                visibility_timeout=settings.notifier_claim_timeout,
                replica=holder,
                watch=watch,
            )
            total += await worker.deliver_due_once()
        log.info(
            "delivery", delivered=total.delivered, retrying=total.retrying, dead_letters=total.dead
        )
        if error is not None:
            raise error
        if total.retrying or total.dead:
            raise NotifierError(
                f"{total.retrying + total.dead} deliveries failed "
                f"({total.dead} moved to dead letters)"
            )
        return EXIT_OK


# run


async def run(settings: Settings) -> int:
    """The daemon; SIGTERM or SIGINT stops it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from notifier.daemon import Daemon  # the health server, metrics and Socket Mode

    async with open_app(settings) as app:
        daemon = Daemon(settings, app.store, app.client, app.sinks)
        await daemon.run(stop)
        return EXIT_FAILURE if daemon.crashed else EXIT_OK


# check


async def check(settings: Settings) -> int:
    """Reach Clickfono, Redis and every sink without alerting anyone; print a table."""
    rows: list[tuple[str, bool, str]] = [("configuration", True, "valid")]
    async with open_app(settings) as app:
        try:
            summary, warnings = await app.store.describe()
            rows.append(("redis", True, summary))
            rows += [("redis", True, f"warning: {w}") for w in warnings]
        except StoreError as exc:
            rows.append(("redis", False, str(exc)))
        try:
            day = polled_dates(datetime.now(UTC), settings)[0]
            answers = await app.client.fetch(day)
            missing = [a.key for a in answers if a.popup_not_found]
            detail = f"token accepted, {len(answers)} answer(s) for {day.isoformat()}"
            if missing:
                rows.append(("clickfono", False, f"popup not found: {', '.join(missing)}"))
            else:
                rows.append(("clickfono", True, detail))
        except SourceError as exc:
            rows.append(("clickfono", False, str(exc)))
        for sink in app.sinks:
            try:
                result = await sink.check()
                rows.append((f"sink {result.name}", result.ok, result.detail))
            except Exception as exc:  # a probe failing in an unexpected way is still a row
                log.error("check_probe_crashed", sink=sink.name, exc_info=exc)
                rows.append((f"sink {sink.name}", False, f"{type(exc).__name__}"))
        if settings.callbacks_enabled:  # Socket Mode: the app token opens connections
            from notifier import callbacks

            ok, detail = await callbacks.check_app_token(settings)
            rows.append(("slack socket", ok, detail))
        if not app.sinks:
            rows.append(
                (
                    "sinks",
                    False,
                    "none configured (set SLACK_*, SMTP_*/EMAIL_*, "
                    "WEBHOOK_URL or NOTIFIER_CONSOLE)",
                )
            )
    width = max(len(name) for name, _, _ in rows)
    for name, ok, detail in rows:
        print(f"{name:<{width}}  {'ok  ' if ok else 'FAIL'}  {detail}")
    # The table reaches the file before the error line, even when both share one file.
    sys.stdout.flush()
    failed = [name for name, ok, _ in rows if not ok]
    if failed:
        raise NotifierError(f"check failed: {', '.join(failed)}")
    return EXIT_OK


# dead letters


async def dead_letters_list(settings: Settings) -> int:
    async with open_app(settings, sinks=[]) as app:
        letters = await app.store.dead_letters(sink_names(settings))
    if not letters:
        print("no dead letters")
        return EXIT_OK
    # Sink names vary in length (apprise-<scheme>-<id>): size that column to fit.
    width = max(len("SINK"), *(len(letter.sink) for letter in letters))
    print(
        f"{'ID':<28} {'SINK':<{width}} {'TYPE':<30} {'CALL':<34} {'TRIES':>5}  "
        f"{'FAILED AT':<20}  LAST ERROR"
    )
    for letter in letters:
        failed_at = datetime.fromtimestamp(letter.failed_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(
            f"{letter.event.id:<28} {letter.sink:<{width}} {letter.event.type:<30} "
            f"{letter.event.call_uuid or '-':<34} {letter.attempts:>5}  {failed_at:<20}  "
            f"{letter.error}"
        )
    return EXIT_OK


async def dead_letters_replay(settings: Settings, ids: Sequence[str]) -> int:
    async with open_app(settings, sinks=[]) as app:
        letters = await app.store.dead_letters(sink_names(settings))
        wanted = set(ids)
        unknown = wanted - {d.event.id for d in letters}
        if unknown:  # nothing is replayed: a typo must not half-do the job
            raise NotifierError(f"no dead letter with id {', '.join(sorted(unknown))}")
        by_sink: dict[str, list[str]] = {}
        for letter in letters:
            if not wanted or letter.event.id in wanted:
                by_sink.setdefault(letter.sink, []).append(letter.event.id)
        replayed = 0
        for sink, sink_ids in by_sink.items():
            replayed += await app.store.replay(sink, sink_ids)
    print(f"queued {replayed} dead letter(s) for delivery")
    return EXIT_OK
