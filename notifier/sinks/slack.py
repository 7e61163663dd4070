"""Slack sink: Block Kit messages through the Web API (threads) or an incoming webhook.

With ``SLACK_BOT_TOKEN`` the first alert about a call starts a thread; later alerts
about it reply in the thread with ``reply_broadcast`` (the channel sees them too), and
the parent is brought to the latest status by a ``slack.update`` event queued in this
sink's outbox: updates are posts of their own kind, paced, retried and never folded
into a digest. More than ``SLACK_STORM_THRESHOLD`` alerts for one channel in one batch
become one digest. Sends are paced to about one per second per channel, shared through
Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    async_default_handlers,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from notifier import events as ev
from notifier import messages, summary_text
from notifier.claims import Status
from notifier.config import Settings
from notifier.errors import ConfigError, NotifierError, SinkError
from notifier.events import Event
from notifier.logs import get_logger
from notifier.messages import Wording
from notifier.sinks.base import (
    CheckResult,
    OnOutcome,
    SlackState,
    ignore_outcome,
    retry_after_from_headers,
    utcnow,
)
from notifier.sinks.slack_blocks import (
    callback_blocks,
    digest_messages,
    message_blocks,
    message_text,
    reminder_blocks,
)

log = get_logger(__name__)

PACE_SECONDS = 1.0
"""Slack allows about one message per second per channel."""
WEBHOOK_CHANNEL = "webhook"
"""Pacing and grouping key in webhook mode: the webhook decides its channel."""


def _is_callback(event_type: str) -> bool:
    known = ev.describe(event_type)
    return known is not None and known.kind is ev.Kind.CALLBACK


class BoundedRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, for short waits only.

    A long Retry-After goes back to the delivery worker as ``SinkError.retry_after``
    instead of holding the whole batch asleep.
    """

    def __init__(self, max_wait: float) -> None:
        super().__init__(max_retry_count=1)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_from_headers(response.headers)
        # The sdk parses the header with int(); anything else must not reach it.
        return wait is not None and wait == int(wait) and wait <= self.max_wait


class _Failed(Exception):
    """A Slack call failed; carries the SinkError to report (already free of secrets)."""

    def __init__(self, error: SinkError) -> None:
        super().__init__(str(error))
        self.error = error


class SlackSink:
    """Delivers events to Slack. See the module docstring for threads, storms and pacing."""

    name = "slack"
    batch_size = 1000
    """A cycle's alerts for a channel in one batch: a storm becomes one digest."""

    def __init__(
        self,
        settings: Settings,
        state: SlackState,
        *,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = 10.0,
        max_retry_wait: float = 10.0,
    ) -> None:
        self._state = state
        self._clock = clock
        self._wording = Wording.from_settings(settings)
        self._threshold = settings.slack_storm_threshold
        self._default_channel = settings.slack_channel.strip()
        self._channel_by_popup = settings.channel_by_popup
        self._timeout = timeout
        token = settings.slack_bot_token.get_secret_value().strip()
        hook_url = settings.slack_webhook_url.get_secret_value().strip()
        self._secrets = tuple(s for s in (token, hook_url) if s)
        # The 429 handler is not among slack-sdk's defaults: add it explicitly.
        handlers: list[AsyncRetryHandler] = [
            *async_default_handlers(),
            BoundedRateLimitHandler(max_retry_wait),
        ]
        self._web: AsyncWebClient | None = None
        self._hook: AsyncWebhookClient | None = None
        if token:
            self._web = AsyncWebClient(
                token=token,
                base_url=settings.slack_api_url,
                timeout=int(timeout),
                retry_handlers=handlers,
            )
        elif hook_url:
            self._hook = AsyncWebhookClient(hook_url, timeout=int(timeout), retry_handlers=handlers)
        else:
            raise ConfigError("SLACK_BOT_TOKEN: the Slack sink needs it or SLACK_WEBHOOK_URL")
        self._session: aiohttp.ClientSession | None = None
        # Buttons only when someone receives the clicks (Socket Mode), on Web API posts.
        self._buttons = bool(settings.slack_app_token.get_secret_value().strip()) and bool(
            self._web
        )

    # Sink protocol

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        return await self.send_each(events, ignore_outcome)

    async def send_each(
        self, events: Sequence[Event], on_outcome: OnOutcome
    ) -> list[SinkError | None]:
        """``send`` that awaits ``on_outcome(index, outcome)`` after each post."""
        outcomes: list[SinkError | None] = [None] * len(events)
        by_channel: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            channel = self._channel_for(event)
            if channel is None:
                outcomes[index] = SinkError(
                    f"no Slack channel for popup {event.popup_uuid}: set SLACK_CHANNEL "
                    "or add it to SLACK_CHANNEL_BY_POPUP"
                )
            else:
                by_channel.setdefault(channel, []).append(index)
        self._ensure_session()
        # Channels are paced independently, so they are delivered concurrently.
        results = await asyncio.gather(
            *(
                self._deliver_channel(ch, [events[i] for i in idx], idx, on_outcome)
                for ch, idx in by_channel.items()
            )
        )
        for indexes, channel_outcomes in zip(by_channel.values(), results, strict=True):
            for index, outcome in zip(indexes, channel_outcomes, strict=True):
                outcomes[index] = outcome
        return outcomes

    async def check(self) -> CheckResult:
        if self._web is None:
            # Probing a webhook would post a message in the channel.
            return CheckResult(self.name, True, "incoming webhook configured (not probed)")
        self._ensure_session()
        try:
            response = await self._web.auth_test()
        except Exception as exc:
            return CheckResult(self.name, False, str(self._failure("auth.test", exc)))
        who = f"{response.get('user', '?')} in {response.get('team', '?')}"
        channels = sorted({self._default_channel, *self._channel_by_popup.values()} - {""})
        return CheckResult(
            self.name, True, f"auth.test ok as {who}; channels: " + ", ".join(channels)
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # Routing and delivery

    def _channel_for(self, event: Event) -> str | None:
        if ev.is_update(event.type):
            channel = event.detail.get("channel")
            return str(channel) if channel else None
        if self._web is None:
            return WEBHOOK_CHANNEL
        popup = event.popup_uuid
        channel = self._channel_by_popup.get(popup) if popup else None
        return channel or self._default_channel or None

    def _ensure_session(self) -> None:
        # One keep-alive session, created inside the running loop (aiohttp requires it).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        for client in (self._web, self._hook):
            if client is not None:
                client.session = self._session

    async def _deliver_channel(
        self, channel: str, batch: list[Event], indexes: list[int], on_outcome: OnOutcome
    ) -> list[SinkError | None]:
        outcome_of: dict[int, SinkError | None] = {}

        async def settle(index: int, outcome: SinkError | None) -> None:
            outcome_of[index] = outcome
            await on_outcome(index, outcome)

        posts = [(e, i) for e, i in zip(batch, indexes, strict=True) if not ev.is_update(e.type)]
        # Daily summaries: messages of their own, never a digest, a thread or buttons.
        reports = [(e, i) for e, i in posts if summary_text.is_report(e)]
        posts = [(e, i) for e, i in posts if not summary_text.is_report(e)]
        updates = [
            (e, i)
            for e, i in zip(batch, indexes, strict=True)
            if ev.is_update(e.type) and e.type != ev.SLACK_REMINDER
        ]
        reminders = [
            (e, i) for e, i in zip(batch, indexes, strict=True) if e.type == ev.SLACK_REMINDER
        ]
        limited: SinkError | None = None
        if len(posts) > self._threshold:
            error = await self._guarded(channel, self._post_digest(channel, [e for e, _ in posts]))
            limited = error if error is not None and error.retry_after is not None else None
            for _, index in posts:
                await settle(index, error)
        else:
            for event, index in posts:
                # After a 429 the rest of this channel would be refused too: don't hammer.
                outcome = limited or await self._guarded(channel, self._post_event(channel, event))
                if outcome is not None and outcome.retry_after is not None:
                    limited = outcome
                await settle(index, outcome)
        if reports:
            done = await self._post_reports(channel, [e for e, _ in reports], limited)
            for (_, index), outcome in zip(reports, done, strict=True):
                if outcome is not None and outcome.retry_after is not None:
                    limited = outcome
                await settle(index, outcome)
        # Updates of one call's message collapse into one chat.update of its latest state.
        by_call: dict[str, list[int]] = {}
        for event, index in updates:
            by_call.setdefault(str(event.detail.get("call_uuid", "")), []).append(index)
        for call_uuid, call_indexes in by_call.items():
            outcome = limited or await self._guarded(
                channel, self._update_message(channel, call_uuid)
            )
            if outcome is not None and outcome.retry_after is not None:
                limited = outcome
            for index in call_indexes:
                await settle(index, outcome)
        for event, index in reminders:
            outcome = limited or await self._guarded(channel, self._post_reminder(channel, event))
            if outcome is not None and outcome.retry_after is not None:
                limited = outcome
            await settle(index, outcome)
        return [outcome_of[i] for i in indexes]

    async def _guarded(
        self, channel: str, attempt: Coroutine[Any, Any, SinkError | None]
    ) -> SinkError | None:
        """Run one post; an unexpected exception fails that post only, never the batch."""
        try:
            return await attempt
        except Exception as exc:
            log.error("slack_send_crashed", channel=channel, error=type(exc).__name__, exc_info=exc)
            return SinkError(f"Slack sink error ({type(exc).__name__})")

    async def _post_reports(
        self, channel: str, batch: list[Event], limited: SinkError | None
    ) -> list[SinkError | None]:
        """Daily summaries: a message per popup, several small popups in one (no thread)."""
        outcomes: list[SinkError | None] = [limited] * len(batch)
        for post in [] if limited else summary_text.slack_posts(batch, self._wording):
            outcome = limited or await self._guarded(
                channel, self._post_report(channel, post.text, post.blocks)
            )
            if outcome is not None and outcome.retry_after is not None:
                limited = outcome
            for index in post.indexes:
                outcomes[index] = outcome
        return outcomes

    async def _post_report(
        self, channel: str, text: str, blocks: list[dict[str, Any]]
    ) -> SinkError | None:
        return await self._post_paced(channel, [(text, blocks)])

    async def _post_digest(self, channel: str, batch: list[Event]) -> SinkError | None:
        # A few posts at most (digest_messages bounds them), so every customer to call
        # back is named. A failure part-way retries the whole digest.
        error = await self._post_paced(
            channel, digest_messages(messages.digest(batch, self._wording))
        )
        if error is None:
            log.info("slack_digest_sent", channel=channel, count=len(batch))
        return error

    async def _post_paced(
        self, channel: str, posts: Iterable[tuple[str, list[dict[str, Any]]]]
    ) -> SinkError | None:
        """Post each (text, blocks) in turn at the channel's pace; the first error, or None."""
        try:
            for text, blocks in posts:
                await self._pace(channel)
                await self._post(channel, text, blocks)
        except _Failed as failed:
            return failed.error
        except NotifierError as exc:  # StoreError: Redis is down, nothing was posted
            return SinkError(f"Slack state unavailable: {exc}")
        return None

    async def _post_event(self, channel: str, event: Event) -> SinkError | None:
        message = messages.render(event, self._wording)
        blocks = message_blocks(message)
        text = message_text(message)
        call_uuid = event.call_uuid if self._web is not None else None
        try:
            parent = await self._state.get_thread(channel, call_uuid) if call_uuid else None
            if call_uuid and parent is None and self._buttons and event.type in ev.PERSON_TYPES:
                view = await self._state.callback_view(call_uuid)
                blocks += callback_blocks(call_uuid, view.state, self._wording, view.requests_today)
            await self._pace(channel)
            # callback.* (when SLACK_EVENTS admits them) stay in the thread: the parent's
            # claim line already tells the channel.
            broadcast = not _is_callback(event.type)
            ts = await self._post(channel, text, blocks, thread_ts=parent, broadcast=broadcast)
        except _Failed as failed:
            return failed.error
        except NotifierError as exc:  # StoreError: Redis is down, nothing was posted
            return SinkError(f"Slack state unavailable: {exc}")
        if call_uuid and ts:
            # The alert is delivered; thread bookkeeping failing only costs cosmetics,
            # and reporting it as a failure would post the alert twice.
            await self._after_post(channel, call_uuid, parent, ts, event)
        return None

    async def _after_post(
        self, channel: str, call_uuid: str, parent: str | None, ts: str, event: Event
    ) -> None:
        try:
            if parent is None:
                if await self._state.save_thread(channel, call_uuid, ts):
                    await self._state.set_latest(channel, call_uuid, event)
                else:
                    log.info("slack_thread_raced", channel=channel, call=call_uuid)
                return
            if _is_callback(event.type):
                return  # the parent keeps showing the alert, with its claim line
            # A follow-up: the parent must show it too, through the outbox.
            await self._state.queue_update(self.name, channel, call_uuid, event)
        except Exception as exc:
            log.warning(
                "slack_thread_bookkeeping_failed",
                channel=channel,
                error=type(exc).__name__,
                exc_info=True,
            )

    async def _update_message(self, channel: str, call_uuid: str) -> SinkError | None:
        """Bring a call's parent message to the latest event stored for it."""
        try:
            ts = await self._state.get_thread(channel, call_uuid)
            latest = await self._state.latest(channel, call_uuid)
            if ts is None or latest is None:
                return None  # no parent was posted (or it expired): nothing to update
            message = messages.render(latest, self._wording)
            note = messages.thread_note(self._clock(), self._wording)
            blocks = message_blocks(message, extra_note=note)
            if self._buttons:
                view = await self._state.callback_view(call_uuid)
                if latest.type in ev.PERSON_TYPES or view.state.status is not Status.UNCLAIMED:
                    blocks += callback_blocks(
                        call_uuid, view.state, self._wording, view.requests_today
                    )
            await self._pace(channel)
            if self._web is None:
                raise RuntimeError("no Slack client for this mode")
            await self._web.chat_update(
                channel=channel,
                ts=ts,
                text=message_text(message),
                blocks=blocks,
            )
        except NotifierError as exc:  # StoreError: Redis is down, nothing was updated
            return SinkError(f"Slack state unavailable: {exc}")
        except Exception as exc:
            return self._failure("chat.update", exc)
        return None

    async def _post_reminder(self, channel: str, event: Event) -> SinkError | None:
        """The one escalation reminder, in the call's thread and broadcast to the channel."""
        call_uuid = str(event.detail.get("call_uuid", ""))
        text = str(event.detail.get("text", ""))
        try:
            parent = await self._state.get_thread(channel, call_uuid)
            if parent is None or not text:
                return None  # the thread expired: there is nothing left to remind about
            if self._buttons:
                view = await self._state.callback_view(call_uuid)
                if view.state.status is not Status.UNCLAIMED:
                    return None  # taken or closed since the reminder was queued
            await self._pace(channel)
            await self._post(channel, text, reminder_blocks(text), thread_ts=parent, broadcast=True)
        except _Failed as failed:
            return failed.error
        except NotifierError as exc:  # StoreError: Redis is down, nothing was posted
            return SinkError(f"Slack state unavailable: {exc}")
        log.info("slack_reminder_sent", channel=channel, call=call_uuid)
        return None

    async def _pace(self, channel: str) -> None:
        await asyncio.sleep(await self._state.reserve_slot(channel, PACE_SECONDS))

    async def _post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str | None:
        """Post one message; return its ``ts`` (Web API) or None (webhook)."""
        try:
            if self._web is not None:
                response = await self._web.chat_postMessage(
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    thread_ts=thread_ts,
                    reply_broadcast=bool(thread_ts) and broadcast,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                ts = response.get("ts")
                return str(ts) if ts else None
            if self._hook is None:
                raise RuntimeError("no Slack client for this mode")
            answer = await self._hook.send(text=text, blocks=blocks)
        except Exception as exc:
            raise _Failed(self._failure("chat.postMessage", exc)) from None
        if answer.status_code != 200:
            raise _Failed(
                SinkError(
                    f"Slack webhook answered HTTP {answer.status_code}: "
                    f"{self._scrub(str(answer.body))[:100]}",
                    retry_after=retry_after_from_headers(answer.headers)
                    if answer.status_code == 429
                    else None,
                )
            )
        return None

    # Errors

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

    def _failure(self, method: str, exc: Exception) -> SinkError:
        """A SinkError that names what failed, never the token or the webhook URL."""
        if isinstance(exc, SlackApiError):
            response = exc.response
            data = response.data if isinstance(response.data, dict) else {}
            reason = data.get("error") or f"HTTP {response.status_code}"
            retry_after = (
                retry_after_from_headers(dict(response.headers))
                if response.status_code == 429
                else None
            )
            return SinkError(
                f"Slack {method} failed: {self._scrub(str(reason))}", retry_after=retry_after
            )
        if isinstance(exc, TimeoutError):
            return SinkError(f"Slack {method} timed out after {self._timeout:g}s")
        if isinstance(exc, aiohttp.ClientError | OSError):
            return SinkError(f"Slack unreachable ({type(exc).__name__})")
        return SinkError(f"Slack {method} failed ({type(exc).__name__})")
