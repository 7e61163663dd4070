"""Slack Socket Mode: receive button clicks, acknowledge them at once, keep the socket alive.

``SocketModeListener`` wraps slack-sdk's asyncio client
(``slack_sdk.socket_mode.aiohttp.SocketModeClient``, imported only when a listener is
started, so a deployment without ``SLACK_APP_TOKEN`` never loads it). It only decodes
and acknowledges: for each ``interactive`` envelope it hands a ``Click`` to the
``on_click`` callback in its own task and sends the ack when that work is done, or
after ``ACK_WAIT_SECONDS`` (Slack shows the agent an error after 3 seconds without an
ack). A replica killed before the claim is stored therefore never acks: the agent sees
Slack's error and clicks again, rather than a click acked and silently lost. Whether the
click may take, release or close a callback is not decided here (notifier/claims.py).
Envelopes of other types, and clicks on buttons that are not ours, are acked and
dropped. If ``on_click`` raises (Redis down, say), the agent is told with an ephemeral
message (``failure_text``) instead of being left to think it worked.

Watchdog design
---------------
What the SDK already does (measured against tests/support/slack_socket.py; see
tests/test_slack_socket_fake.py): with ``auto_reconnect_enabled`` its receiver reconnects
at once on a close frame; its monitor task, one tick per ``ping_interval``, pings with
``sdk-ping-pong:<time>`` and reconnects when the session is closed or no pong came for
``4 * ping_interval``; aiohttp's heartbeat (``heartbeat=ping_interval``) closes a
session that sends nothing for ``1.5 * ping_interval``; ``{"type": "disconnect"}``
makes it open a new connection. Measured with ``ping_interval=5``: a closed connection
is replaced in a few ms, a reset one in 5 s (the monitor's tick), a silent one in 10 s.

What it does not cover, and so what this watchdog checks every ``check_interval``:

1. Its machinery dying. The receiver, monitor and processor are bare tasks. In
   python-slack-sdk#1446 an exception during a reconnect left ``auto_reconnect_enabled``
   False for good: no task noticed, the process lived on deaf. Here: any of the three
   tasks finished while the client is not closed, or ``is_connected()`` false for longer
   than ``stuck_timeout`` (3 ping intervals: the SDK's own reconnect takes at most
   about 2.5), means the SDK is not going to heal it.
2. Silence. Every healthy session answers the SDK's pings, so the newest of "last pong"
   (``client.last_ping_pong_time``, the send time of the last answered ping) and "last
   frame received" is at most about one ``ping_interval`` old. Older than
   ``silence_timeout`` (4 ping intervals) means nobody is listening, whatever the
   session object says.
3. A session without ``hello``. Slack greets every new connection; bolt-python#1529
   reports sessions "established" after an idle reconnect that then never delivered
   anything. A current session that got no hello within ``hello_timeout`` is replaced.

The remedy is the one the SDK maintainers give for a wedged client
(python-slack-sdk#1110): close it and build a new ``SocketModeClient`` (new aiohttp
session, new tasks, new ``apps.connections.open`` URL), never poke at its internals.
Failed attempts back off (1, 2, 4 … 30 s). After every new connection the listener
makes one ``auth.test`` call with the bot token: python-slack-sdk#1701 and
bolt-python#1529 both report that a Web API call from the app brought delivery back
after a reconnect, and it costs one request.

What no client-side check can see: a connection that answers pings but to which Slack
routes nothing. Slack hands each envelope to one of the app's connections, so with
several replicas a click that lands there is lost and the agent sees Slack's error and
clicks again; Slack's periodic ``refresh_requested`` disconnects bound how long that
lasts. ``connected`` (for the ``clickfono_slack_socket_connected`` gauge, through
``on_state``) is true when the current session is connected and was greeted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from notifier.logs import get_logger

if TYPE_CHECKING:
    from slack_sdk.socket_mode.aiohttp import SocketModeClient
    from slack_sdk.web.async_client import AsyncWebClient

log = get_logger(__name__)

Action = Literal["claim", "done", "release"]

ACTION_IDS: Mapping[str, Action] = {
    "clickfono.claim": "claim",
    "clickfono.done": "done",
    "clickfono.release": "release",
}
"""The SPEC's button ``action_id``s and the claim action each one asks for."""

FAILURE_TEXT = {
    "es": "No pudimos registrar tu clic. Inténtalo de nuevo en un momento.",
    "en": "We could not record your click. Please try again in a moment.",
}

_CALL_UUID = re.compile(r"[A-Za-z0-9-]{1,64}")
_SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{1,31}")
"""A person's id (U…, or W… on Enterprise Grid), as the webhook contract publishes it."""
_MESSAGE_TS = re.compile(r"\d{1,12}\.\d{1,9}")


ACK_WAIT_SECONDS = 2.0
"""How long a click's work may run before the ack goes anyway (Slack allows 3 s)."""


@dataclass(frozen=True, slots=True)
class Click:
    """One click on one of our buttons, as decoded from a ``block_actions`` payload."""

    action: Action
    call_uuid: str
    """The button's ``value``: the call's uuid (SPEC)."""
    user_id: str
    """Who clicked (``U…``), for ``<@U…>`` and the claim."""
    channel: str
    message_ts: str
    """The alert message that carries the button: what ``chat.update`` rewrites."""
    response_url: str
    received_at: datetime


def decode_click(payload: Mapping[str, Any], received_at: datetime) -> Click | None:
    """The click in a ``block_actions`` payload, or None when it is not one of ours.

    The payload comes from Slack over an authenticated socket, but every field is still
    checked for shape, since it ends up in Redis keys and in messages.
    """
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return None
    action = ACTION_IDS.get(str(actions[0].get("action_id", "")))
    value = actions[0].get("value")
    user = payload.get("user")
    container = payload.get("container")
    channel = payload.get("channel")
    user_id = user.get("id") if isinstance(user, dict) else None
    if isinstance(container, dict):
        channel_id = container.get("channel_id")
        message_ts = container.get("message_ts")
    else:
        channel_id = message_ts = None
    if channel_id is None and isinstance(channel, dict):
        channel_id = channel.get("id")
    if message_ts is None and isinstance(payload.get("message"), dict):
        message_ts = payload["message"].get("ts")
    response_url = payload.get("response_url")
    if (
        action is None
        or not _full(_CALL_UUID, value)
        or not _full(_SLACK_USER, user_id)
        or not _full(_SLACK_ID, channel_id)
        or not _full(_MESSAGE_TS, message_ts)
    ):
        return None
    return Click(
        action=action,
        call_uuid=str(value),
        user_id=str(user_id),
        channel=str(channel_id),
        message_ts=str(message_ts),
        response_url=response_url if isinstance(response_url, str) else "",
        received_at=received_at,
    )


def _full(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


OnClick = Callable[[Click], Awaitable[None]]


class SocketModeListener:
    """One Socket Mode connection per replica, acked clicks out, a watchdog keeping it up.

    ``await start()`` returns at once; the first connection is opened by the watchdog
    (so a Slack outage at boot does not stop the daemon). ``await stop()`` closes it and
    waits briefly for clicks still being handled.
    """

    def __init__(
        self,
        app_token: str,
        bot_token: str,
        on_click: OnClick,
        *,
        api_url: str = "https://slack.com/api/",
        language: Literal["es", "en"] = "es",
        ping_interval: float = 5.0,
        check_interval: float = 1.0,
        stuck_timeout: float | None = None,
        silence_timeout: float | None = None,
        hello_timeout: float = 10.0,
        connect_timeout: float = 15.0,
        on_state: Callable[[bool], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not app_token:
            raise ValueError("SocketModeListener needs an app token (SLACK_APP_TOKEN)")
        self._app_token = app_token
        self._bot_token = bot_token
        self._on_click = on_click
        self._api_url = api_url
        self._failure_text = FAILURE_TEXT[language]
        self.ping_interval = ping_interval
        self.check_interval = check_interval
        self.stuck_timeout = stuck_timeout if stuck_timeout is not None else 3 * ping_interval
        self.silence_timeout = silence_timeout if silence_timeout is not None else 4 * ping_interval
        self.hello_timeout = hello_timeout
        self.connect_timeout = connect_timeout
        self._on_state = on_state
        self._clock = clock

        self._web: AsyncWebClient | None = None
        self._client: SocketModeClient | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._connected = False
        self._session: object | None = None
        """The SDK session the timers below belong to."""
        self._session_since = 0.0
        self._greeted: list[object] = []
        """The last few SDK sessions that Slack greeted with hello."""
        self._last_frame = 0.0
        self._unhealthy_since: float | None = None
        self._failures = 0
        self._next_attempt = 0.0

        self.reconnects = 0
        """Clients replaced by the watchdog (the first connection not counted)."""
        self.last_reconnect_reason: str | None = None
        self.acked = 0
        """Envelopes acknowledged, clicks or not."""

    # Lifecycle

    @property
    def connected(self) -> bool:
        """The current session is open, answers pings and was greeted by Slack."""
        return self._connected

    @property
    def client(self) -> SocketModeClient | None:
        """The SDK client in use now (for diagnostics and fault-injection tests)."""
        return self._client

    async def start(self) -> None:
        from slack_sdk.web.async_client import AsyncWebClient

        self._stopping = False
        self._web = AsyncWebClient(token=self._bot_token, base_url=self._api_url)
        self._watchdog = asyncio.create_task(self._watch(), name="slack-socket-watchdog")

    async def stop(self, drain: float = 5.0) -> None:
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await self._close_client()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=drain)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._set_connected(False)

    async def tell(self, click: Click, text: str) -> None:
        """An ephemeral note to the agent who clicked, in that channel (``chat.postEphemeral``)."""
        if self._web is None:
            raise RuntimeError("the listener is not started")
        await self._web.chat_postEphemeral(channel=click.channel, user=click.user_id, text=text)

    # The watchdog

    async def _watch(self) -> None:
        while not self._stopping:
            try:
                await self._check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watchdog itself must never die
                log.error("slack_socket_watchdog_error", error=_one_line(exc))
            await asyncio.sleep(self.check_interval)

    async def _check(self) -> None:
        now = time.monotonic()
        if now < self._next_attempt:
            return
        client = self._client
        if client is None:
            await self._replace("no connection yet" if self.reconnects == 0 else "reconnect")
            return
        session = client.current_session
        if session is not self._session:  # the SDK reconnected by itself
            self._session, self._session_since = session, now
        reason = await self._diagnose(client, session, now)
        if reason is not None:
            self.reconnects += 1
            self.last_reconnect_reason = reason
            log.warning("slack_socket_reconnect", reason=reason, reconnects=self.reconnects)
            await self._replace(reason)

    async def _diagnose(self, client: SocketModeClient, session: object, now: float) -> str | None:
        for name in ("message_receiver", "current_session_monitor", "message_processor"):
            task = getattr(client, name, None)
            if task is not None and task.done():
                self._set_connected(False)
                return f"the SDK's {name} task ended"
        healthy = await client.is_connected()
        greeted = session is not None and any(session is s for s in self._greeted)
        self._set_connected(healthy and greeted)
        if healthy:
            self._unhealthy_since = None
        elif self._unhealthy_since is None:
            self._unhealthy_since = now
        elif now - self._unhealthy_since > self.stuck_timeout:
            return f"not connected for {now - self._unhealthy_since:.0f}s"
        if not greeted and now - self._session_since > self.hello_timeout:
            return f"no hello within {self.hello_timeout:.0f}s"
        heard = max(self._last_frame, self._session_since)
        pong = client.last_ping_pong_time
        if pong is not None:
            heard = max(heard, now - (time.time() - pong))
        if now - heard > self.silence_timeout:
            return f"silent for {now - heard:.0f}s"
        return None

    async def _replace(self, reason: str) -> None:
        await self._close_client()
        try:
            self._client = await self._open()
        except Exception as exc:
            self._failures += 1
            delay = min(30.0, 2.0 ** (self._failures - 1))
            self._next_attempt = time.monotonic() + delay
            log.error(
                "slack_socket_connect_failed",
                reason=reason,
                error=_one_line(exc),
                retry_in=delay,
            )
            return
        self._failures = 0
        self._unhealthy_since = None
        self._session, self._session_since = self._client.current_session, time.monotonic()
        log.info("slack_socket_connected", reason=reason)
        if any(self._session is s for s in self._greeted):
            self._set_connected(await self._client.is_connected())
        with contextlib.suppress(Exception):  # the #1701 nudge; failing it changes nothing
            if self._web is None:
                raise RuntimeError("the listener is not started")
            await asyncio.wait_for(self._web.auth_test(), self.connect_timeout)

    async def _open(self) -> SocketModeClient:
        from slack_sdk.socket_mode.aiohttp import SocketModeClient

        if self._web is None:
            raise RuntimeError("the listener is not started")
        client = SocketModeClient(
            app_token=self._app_token,
            web_client=self._web,
            ping_interval=self.ping_interval,
            logger=logging.getLogger("notifier.slack_socket"),
        )
        client.message_listeners.append(self._on_message)
        try:
            # connect() retries forever by itself; bound it, so a bad token or an outage
            # shows up in our log and backoff instead.
            await asyncio.wait_for(client.connect(), self.connect_timeout)  # type: ignore[no-untyped-call]
        except BaseException:
            with contextlib.suppress(Exception):
                await client.close()  # type: ignore[no-untyped-call]
            raise
        if client.current_session is None:
            with contextlib.suppress(Exception):
                await client.close()  # type: ignore[no-untyped-call]
            raise ConnectionError("apps.connections.open gave no usable websocket")
        return client

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        self._set_connected(False)
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5.0)  # type: ignore[no-untyped-call]

    def _set_connected(self, value: bool) -> None:
        if value != self._connected:
            self._connected = value
            log.info("slack_socket_state", connected=value)
            if self._on_state is not None:
                self._on_state(value)

    # Messages

    async def _on_message(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        self._last_frame = time.monotonic()
        kind = message.get("type")
        if kind == "hello":
            # Sessions are remembered, not clients: the hello of a new client arrives
            # while _open() is still waiting for its connect().
            self._greeted = [*self._greeted[-3:], client.current_session]
            if client is self._client and client is not None:
                self._set_connected(await client.is_connected())
            return
        envelope_id = message.get("envelope_id")
        if not isinstance(envelope_id, str):
            return
        payload = message.get("payload")
        click = None
        if kind == "interactive" and isinstance(payload, dict):
            click = decode_click(payload, self._clock())
            if click is None:
                log.info("slack_action_ignored", action_id=_action_id(payload))
        if click is not None:
            # Do the work first and ack once it is stored, when that fits in Slack's 3 s:
            # a replica killed in between then leaves the click unacked (Slack shows the
            # agent an error, who clicks again) instead of acked and silently lost. Work
            # that takes longer finishes after the ack, and tells the agent if it fails.
            task = asyncio.create_task(self._deliver(click))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), ACK_WAIT_SECONDS)
        try:
            # Ack on the client that received it, even an old one being replaced.
            await client.send_socket_mode_response({"envelope_id": envelope_id})
        except Exception as exc:
            # Not acked: Slack shows the agent an error. Honest.
            log.warning("slack_ack_failed", error=_one_line(exc))
            return
        self.acked += 1

    async def _deliver(self, click: Click) -> None:
        log.info("slack_click", action=click.action, call=click.call_uuid, user=click.user_id)
        try:
            await self._on_click(click)
        except Exception as exc:
            log.error(
                "slack_click_failed",
                action=click.action,
                call=click.call_uuid,
                user=click.user_id,
                error=_one_line(exc),
            )
            try:
                await self.tell(click, self._failure_text)
            except Exception as note_error:
                log.error("slack_click_failure_note_failed", error=_one_line(note_error))


def _action_id(payload: Mapping[str, Any]) -> str:
    actions = payload.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return json.dumps(str(actions[0].get("action_id", "")))[:80]
    return '""'


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
