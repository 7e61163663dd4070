"""The callback loop as a service: clicks, auto-resolve and the one reminder, end to end.

::

    SocketModeListener ──► on_click ──► claims.decide ──► store.transition (atomic, with
         (ack, decode)                       │              callback.* for every sink whose
                                             ▼              filter admits it + slack.update)
                                  refusal ─► ephemeral note to the clicker

    Daemon.cycle_once ──► after_cycle(events) ──► register each request under its number's
                                                  keyed hash; note alerts that need a person
                                                  (and their reminder's due time); a
                                                  Conectada call resolves its number's open
                                                  callbacks of that day (callback.resolved)

    leader ──► remind_due (every second) ──► one slack.reminder per call in the Slack outbox

Every replica runs the listener (Slack hands a click to any of the app's connections);
``after_cycle`` runs where the cycle ran (the leader); ``remind_due`` runs on the leader
only. Everything leaves through the outbox, so it is paced, retried and survives a crash.

A click whose work fails (Redis down) has already been acked: the listener then tells
the agent with an ephemeral note that nothing was recorded (socket_mode.FAILURE_TEXT),
so a click is never acked and silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from notifier import claims
from notifier import events as ev
from notifier.claims import Decision
from notifier.config import EventFilter, Settings
from notifier.errors import NotifierError, SinkError, StoreError
from notifier.events import Event, event_id, format_timestamp
from notifier.logs import get_logger
from notifier.messages import Wording, parse_time
from notifier.sinks import CALLBACKS_OUTBOX
from notifier.sinks.base import CheckResult
from notifier.socket_mode import Click, SocketModeListener
from notifier.store import AlertNote, CallbackRecord, Store
from notifier.summary import Callback

log = get_logger("notifier.callbacks")

SLACK_SINK = "slack"
MAX_TRIES = 5
"""Compare-and-set attempts for one click before giving up (each lost race re-reads)."""
REMIND_CHECK_SECONDS = 1.0
"""How often the leader looks for due reminders (one ZRANGEBYSCORE)."""
UNPOSTED_RETRY_SECONDS = 15.0
"""A due reminder whose alert is not in Slack yet is looked at again after this."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class CallbackLoop:
    """Applies clicks and connected calls to callbacks; schedules the reminders."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        filters: Mapping[str, EventFilter],
        *,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.filters = dict(filters)
        self.clock = clock
        self.on_queued = on_queued
        """Called after events were queued (the daemon wakes its delivery workers)."""
        self.wording = Wording.from_settings(settings)
        self.listener: SocketModeListener | None = None
        self.escalate_minutes = settings.slack_escalate_minutes
        self.mention = settings.slack_escalate_mention.strip()

    # The listener

    def make_listener(self, **options: Any) -> SocketModeListener:
        """The Socket Mode listener that hands this loop its clicks."""
        from notifier import metrics

        self.listener = SocketModeListener(
            self.settings.slack_app_token.get_secret_value().strip(),
            self.settings.slack_bot_token.get_secret_value().strip(),
            self.on_click,
            api_url=self.settings.slack_api_url,
            language=self.settings.notifier_language,
            on_state=metrics.record_slack_socket,
            **options,
        )
        return self.listener

    # Clicks

    async def on_click(self, click: Click) -> None:
        """Apply one acked click. Raises StoreError when Redis fails (the listener then
        tells the agent nothing was recorded)."""
        call_uuid = click.call_uuid
        owner = await self.store.call_of_message(click.channel, click.message_ts)
        if owner is not None and owner != call_uuid:
            log.warning("slack_click_mismatch", call=call_uuid, channel=click.channel)
            return
        record = await self.store.callback_record(call_uuid)
        for _ in range(MAX_TRIES):
            decision = claims.decide(record.state, click.action, click.user_id, click.received_at)
            if not decision.changed:
                note = claims.refusal_note(decision, self.wording)
                if note is not None:
                    await self._tell(click, note)
                log.info(
                    "callback_unchanged",
                    call=call_uuid,
                    action=click.action,
                    refusal=decision.refusal,
                )
                return
            moved = await self._apply(
                call_uuid,
                record,
                decision,
                click.channel,
                user_id=click.user_id,
                at=click.received_at,
                fields={"channel": click.channel},
            )
            if moved:
                log.info("callback_changed", call=call_uuid, type=decision.event_type)
                return
            record = await self.store.callback_record(call_uuid)  # lost a race: re-read
        raise StoreError(f"the callback of call {call_uuid} kept changing; try again")

    async def _tell(self, click: Click, text: str) -> None:
        if self.listener is None:
            return
        try:
            await self.listener.tell(click, text)
        except Exception as exc:  # the click's outcome stands; only the note is lost
            log.warning("slack_note_failed", error=type(exc).__name__)

    async def _apply(
        self,
        call_uuid: str,
        record: CallbackRecord,
        decision: Decision,
        channel: str | None,
        *,
        user_id: str | None,
        at: datetime,
        fields: Mapping[str, str] | None = None,
    ) -> bool:
        """Store ``decision`` and queue what announces it, atomically; False on a lost race."""
        assert decision.event_type is not None and decision.previous is not None
        channel = channel or record.fields.get("channel") or None
        call = record.call
        if call is None and channel:
            latest = await self.store.latest(channel, call_uuid)
            call = dict(latest.call) if latest is not None and latest.call is not None else None
        when = decision.state.at or at
        ident = event_id(decision.event_type, call_uuid, user_id or "", when.isoformat())
        queued: dict[str, list[Event]] = {}
        if call is not None:
            detail: dict[str, Any] = {"at": format_timestamp(when)}
            if user_id is not None:
                detail = {"user_id": user_id, **detail}
            event = Event(
                type=decision.event_type,
                id=ident,
                detected_at=when.astimezone(UTC),
                call=call,
                detail=detail,
            )
            for sink, rule in self.filters.items():
                if rule.admits(event.type):
                    queued.setdefault(sink, []).append(event)
        else:
            log.warning("callback_without_call_data", call=call_uuid, type=decision.event_type)
        if channel and SLACK_SINK in self.filters:
            update = Event(
                type=ev.SLACK_UPDATE,
                id=event_id(ev.SLACK_UPDATE, channel, call_uuid, "callback", ident),
                detected_at=self.clock(),
                detail={"channel": channel, "call_uuid": call_uuid},
            )
            # The agents' view first: the message update leads its sink's batch.
            queued.setdefault(SLACK_SINK, []).insert(0, update)
        # The first claim's time stays when the callback is later closed (time to claim).
        once = {"claimed_at": when.isoformat()} if decision.event_type == claims.CLAIMED else None
        moved = await self.store.transition(
            call_uuid, decision.previous, decision.state, queued, fields, once
        )
        if moved:
            self.on_queued()
        return moved

    # After each cycle (on the leader)

    async def after_cycle(self, events: Sequence[Event]) -> int:
        """Register the cycle's calls by number, note alerts that need a person and resolve
        the callbacks a Conectada call closes; the number of callbacks resolved."""
        connected: list[tuple[str, str, str, float, datetime]] = []
        seen: dict[str, tuple[str, str, str, float]] = {}
        facts: list[tuple[Event, Mapping[str, Any], str, str | None, float]] = []
        for event in events:
            call = event.call
            call_uuid = event.call_uuid
            if call is None or call_uuid is None:
                continue
            when = parse_time(call.get("call_at")) or event.detected_at
            day = when.astimezone(self.wording.zone).date().isoformat()
            number = call.get("caller_number")
            hashed = await self.store.number_hash(str(number)) if number else None
            if hashed:
                seen.setdefault(call_uuid, (day, hashed, call_uuid, when.timestamp()))
            facts.append((event, call, day, hashed, when.timestamp()))
        # Every request first, in one round trip: an alert below sees its number's count.
        await self.store.register_requests(list(seen.values()))
        notes: list[AlertNote] = []
        for event, call, day, hashed, call_at in facts:
            call_uuid = str(event.call_uuid)
            if event.type in ev.PERSON_TYPES:
                due = claims.escalation_at(event.detected_at, self.escalate_minutes)
                notes.append(
                    AlertNote(
                        call_uuid,
                        alert_type=event.type,
                        since=event.detected_at.timestamp(),
                        call=call,
                        channel=self._channel_for(call),
                        day=day,
                        number_hash=hashed,
                        call_at=call_at,
                        due_at=due.timestamp()
                        if due is not None and event.type in claims.ESCALATED_ALERTS
                        else None,
                    )
                )
            if hashed and call.get("status") == claims.CONNECTED_STATUS:
                connected.append((day, hashed, call_uuid, call_at, event.detected_at))
        # The whole batch's alerts in one round trip, their request counts in another.
        await self.store.note_alerts(notes)
        await self._show_repeats(notes)
        resolved = 0
        for day, hashed, later_uuid, later_at, detected in connected:
            resolved += await self._resolve(day, hashed, later_uuid, later_at, detected)
        return resolved

    async def _show_repeats(self, notes: Sequence[AlertNote]) -> None:
        """Bring "3.ª solicitud hoy" to repeat requests' messages. Their posts may have left
        before this cycle's requests were counted; the update (after the post in the
        Slack outbox) renders the count either way, and is a no-op when nothing changed."""
        if SLACK_SINK not in self.filters:
            return
        counted = [n for n in notes if n.number_hash and n.channel]
        places = await self.store.request_places(
            [(n.day, str(n.number_hash), n.call_uuid) for n in counted]
        )
        updates = [
            Event(
                type=ev.SLACK_UPDATE,
                id=event_id(ev.SLACK_UPDATE, n.channel, n.call_uuid, "requests", place),
                detected_at=self.clock(),
                detail={"channel": n.channel, "call_uuid": n.call_uuid},
            )
            for n, place in zip(counted, places, strict=True)
            if place >= 2
        ]
        if updates and await self.store.enqueue(SLACK_SINK, updates):
            self.on_queued()

    async def _resolve(
        self, day: str, hashed: str, later_uuid: str, later_at: float, detected: datetime
    ) -> int:
        """Resolve the open callbacks of the number's earlier requests that day."""
        resolved = 0
        later = datetime.fromtimestamp(later_at, UTC)
        for call_uuid, call_at in await self.store.number_requests(day, hashed):
            if call_uuid == later_uuid:
                continue
            record = await self.store.callback_record(call_uuid)
            if not record.fields or not claims.connects_same_day(
                datetime.fromtimestamp(call_at, UTC),
                call_uuid,
                later,
                later_uuid,
                claims.CONNECTED_STATUS,
                self.wording,
            ):
                continue
            for _ in range(MAX_TRIES):
                decision = claims.resolve_on_connected(record.state, detected)
                if not decision.changed:
                    break
                if await self._apply(call_uuid, record, decision, None, user_id=None, at=detected):
                    resolved += 1
                    log.info("callback_resolved", call=call_uuid)
                    break
                record = await self.store.callback_record(call_uuid)
        return resolved

    def _channel_for(self, call: Mapping[str, Any]) -> str:
        """The Slack channel the call's alerts go to (the Slack sink's rule)."""
        popup = call.get("popup_uuid")
        chosen = self.settings.channel_by_popup.get(popup) if isinstance(popup, str) else None
        return chosen or self.settings.slack_channel.strip()

    # What the daily summary and the open-callbacks gauge read (summary.CallbackSource)

    async def callbacks(self, day: date, call_uuids: Sequence[str]) -> Mapping[str, Callback]:
        records = await self.store.callback_records(list(call_uuids))
        return {uuid: _summary_callback(record) for uuid, record in records.items()}

    async def open_by_popup(self, day: date) -> Mapping[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for record in (await self.store.callbacks_of_day(day.isoformat())).values():
            if record.state.open:
                found = _summary_callback(record)
                key = (found.popup_uuid or "", found.popup_name or "")
                counts[key] = counts.get(key, 0) + 1
        return counts

    # The one reminder (on the leader)

    async def remind_due(self) -> int:
        """Queue the reminders that are due; how many were queued."""
        now = self.clock()
        sent = 0
        for call_uuid in await self.store.due_reminders(now.timestamp()):
            record = await self.store.callback_record(call_uuid)
            since = record.number("since")
            channel = record.fields.get("channel", "")
            if since is None or not channel:
                await self.store.drop_reminder(call_uuid)
                continue
            posted = datetime.fromtimestamp(since, UTC)
            already = await self.store.reminder_sent(call_uuid)
            alert = record.fields.get("alert", "")
            if not claims.escalation_due(
                alert, record.state, posted, now, self.escalate_minutes, already
            ):
                due = claims.escalation_at(posted, self.escalate_minutes)
                waiting = record.state.status is claims.Status.UNCLAIMED and not already
                if waiting and due is not None and due > now:
                    await self.store.postpone_reminder(call_uuid, due.timestamp())
                else:  # taken, closed, already reminded or no longer an escalated alert
                    await self.store.drop_reminder(call_uuid)
                continue
            if await self.store.get_thread(channel, call_uuid) is None:
                # Not in Slack yet (the alert is still queued): nothing to reply to.
                await self.store.postpone_reminder(
                    call_uuid, now.timestamp() + UNPOSTED_RETRY_SECONDS
                )
                continue
            requested = record.number("call_at") or since
            waited = now - datetime.fromtimestamp(requested, UTC)
            reminder = Event(
                type=ev.SLACK_REMINDER,
                id=event_id(ev.SLACK_REMINDER, call_uuid),
                detected_at=now,
                detail={
                    "channel": channel,
                    "call_uuid": call_uuid,
                    "text": claims.reminder_text(self.mention, waited, self.wording),
                },
            )
            # Queued before marked: a crash in between queues the same id again, which
            # the outbox ignores. Marked, it is never queued again, on any replica.
            if SLACK_SINK in self.filters:
                await self.store.enqueue(SLACK_SINK, [reminder])
            await self.store.mark_reminded(call_uuid)
            await self.store.drop_reminder(call_uuid)
            log.info("callback_reminder_queued", call=call_uuid)
            sent += 1
        if sent:
            self.on_queued()
        return sent

    async def remind_loop(self, stop: asyncio.Event, leads: Callable[[], bool]) -> None:
        """Look for due reminders every second while this replica leads, until ``stop``."""
        while not stop.is_set():
            if leads():
                try:
                    await self.remind_due()
                except NotifierError as exc:
                    log.warning("callback_reminders_paused", error=str(exc))
                except Exception as exc:  # a bug here must not stop alerts
                    log.error("callback_reminders_crashed", error=type(exc).__name__, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REMIND_CHECK_SECONDS)


def _summary_callback(record: CallbackRecord) -> Callback:
    call = record.call or {}
    since = record.number("since")
    claimed = record.fields.get("claimed_at")
    popup_uuid, popup_name = call.get("popup_uuid"), call.get("popup_name")
    return Callback(
        state=record.state,
        alerted_at=datetime.fromtimestamp(since, UTC) if since is not None else None,
        claimed_at=datetime.fromisoformat(claimed) if claimed else None,
        popup_uuid=popup_uuid if isinstance(popup_uuid, str) else None,
        popup_name=popup_name if isinstance(popup_name, str) else None,
    )


async def check_app_token(settings: Settings) -> tuple[bool, str]:
    """``apps.connections.open`` with the app token (the ``check`` command's row).

    It hands out a websocket URL that is never opened: nothing reaches the channel.
    """
    from slack_sdk.web.async_client import AsyncWebClient

    token = settings.slack_app_token.get_secret_value().strip()
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=10)
    try:
        answer = await client.apps_connections_open(app_token=token)
    except Exception as exc:
        reason = "failed"
        data = getattr(getattr(exc, "response", None), "data", None)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            reason = data["error"]
        else:
            reason = type(exc).__name__
        return False, f"apps.connections.open failed: {reason.replace(token, '[REDACTED]')}"
    url = str(answer.get("url", ""))
    if not url.startswith(("wss://", "ws://")):
        return False, "apps.connections.open gave no websocket URL"
    return True, "apps.connections.open ok (app token accepted, Socket Mode on)"


class CallbackBook:
    """The callback loop's share of each cycle, delivered through the outbox like a sink.

    The cycle queues its call events for this internal consumer in the same atomic commit
    as the snapshots, so registering numbers, noting alerts that need a person (and their
    reminder times) and auto-resolving happen at least once, even after a crash right
    after the commit, and in ``once`` as in ``run``. Every step is idempotent: a repeat
    after a crash changes nothing.
    """

    name = CALLBACKS_OUTBOX
    batch_size = 1000
    event_patterns = ("call.*",)
    """What the cycle routes here (see sinks.sink_filters)."""

    def __init__(self, loop: CallbackLoop) -> None:
        self.loop = loop

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        try:
            await self.loop.after_cycle(events)
        except StoreError as exc:
            return [SinkError(f"callback bookkeeping failed: {exc}")] * len(events)
        self.loop.on_queued()
        return [None] * len(events)

    async def check(self) -> CheckResult:
        return CheckResult(self.name, True, "callback bookkeeping (internal)")

    async def aclose(self) -> None:
        return None
