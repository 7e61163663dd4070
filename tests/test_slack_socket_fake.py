"""The fake Slack's Socket Mode, proven with slack-sdk's own asyncio SocketModeClient.

What these tests show about ``slack_sdk.socket_mode.aiohttp.SocketModeClient``
(slack-sdk 3.47, aiohttp 3.14), which notifier/socket_mode.py relies on:

- ``connect()`` calls ``apps.connections.open`` with the app token, opens the websocket
  with ``autoping=False, heartbeat=ping_interval`` and sends one ping of its own
  (``sdk-ping-pong:<time>``); a pong updates ``last_ping_pong_time``.
- A close frame from the server: ``receive_messages`` gets CLOSE and, with
  ``auto_reconnect_enabled``, reconnects at once (a new URL, a new websocket): a few ms.
- A connection reset without a close frame: the receiver only sees CLOSED and sleeps;
  the monitor task (one tick every ``ping_interval``) sees ``session.closed`` and
  reconnects: up to one ``ping_interval``.
- A silent connection (TCP open, no pongs, nothing sent): aiohttp's heartbeat pings
  after ``ping_interval`` without data and closes the session when no pong comes within
  ``ping_interval / 2``; the monitor then reconnects on its next tick: about 1.5 to 2.5
  ``ping_interval``. The SDK's own staleness rule (no pong for ``4 * ping_interval``)
  is a second net behind it.
- ``{"type": "disconnect"}``: ``connect_to_new_endpoint(force=True)`` opens a new one
  and closes the old one.
- Failing ``apps.connections.open`` during a reconnect is logged and retried on the
  monitor's next tick; the client heals once the API answers.

What it cannot see (python-slack-sdk#1446, #1701, bolt-python#1529): its monitor and
receiver are tasks that an unexpected exception, a cancelled task or a wedged
reconnect can leave dead while ``is_connected()`` still looks fine, or a connection that
answers pings but that Slack no longer routes envelopes to. That is what the watchdog in
notifier/socket_mode.py is for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.slack_socket import FakeSlackSocket
from tests.support.wait import async_wait_for


@asynccontextmanager
async def sdk_client(
    slack_socket: FakeSlackSocket, ping_interval: float = 1.0, ack: bool = True
) -> AsyncIterator[tuple[SocketModeClient, list[SocketModeRequest]]]:
    """A connected SDK client whose listener records requests and (maybe) acks them."""
    web = AsyncWebClient(token=slack_socket.token, base_url=slack_socket.base_url)
    client = SocketModeClient(
        app_token=slack_socket.app_token, web_client=web, ping_interval=ping_interval
    )
    received: list[SocketModeRequest] = []

    async def listener(c: Any, request: SocketModeRequest) -> None:
        received.append(request)
        if ack:
            await c.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    client.socket_mode_request_listeners.append(listener)
    try:
        await client.connect()
        yield client, received
    finally:
        await client.close()


async def test_connect_click_ack(slack_socket: FakeSlackSocket) -> None:
    """The SDK opens a connection with the app token, gets hello, and acks a click fast."""
    async with sdk_client(slack_socket) as (_client, received):
        conn = await slack_socket.wait_for_connection()
        latency = await slack_socket.click("clickfono.claim", "a93460bb", user="U0AAA", ts="1.2")
    [opened] = slack_socket.calls("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {slack_socket.app_token}"
    assert conn.sent[0]["type"] == "hello"
    assert latency < 1.0
    [request] = received
    assert request.type == "interactive"
    payload = request.payload
    assert payload["type"] == "block_actions"
    assert payload["actions"][0] == {**payload["actions"][0], "action_id": "clickfono.claim"}
    assert payload["actions"][0]["value"] == "a93460bb"
    assert payload["user"]["id"] == "U0AAA"
    assert payload["container"]["message_ts"] == "1.2"
    [ack] = slack_socket.acks
    assert ack.envelope_id == request.envelope_id and ack.connection_id == conn.id


async def test_hundred_clicks_are_acked_within_deadline(slack_socket: FakeSlackSocket) -> None:
    """100 clicks in a row are each acked well within Slack's 3 seconds."""
    async with sdk_client(slack_socket) as (_client, received):
        await slack_socket.wait_for_connection()
        latencies = [await slack_socket.click("clickfono.done", f"call{i}") for i in range(100)]
    assert len(received) == 100
    assert max(latencies) < 1.0


async def test_app_token_is_required(slack_socket: FakeSlackSocket) -> None:
    """apps.connections.open refuses the bot token and unknown tokens, as Slack does."""
    web = AsyncWebClient(token=slack_socket.token, base_url=slack_socket.base_url)
    with pytest.raises(SlackApiError) as bot:
        await web.apps_connections_open(app_token=slack_socket.token)
    with pytest.raises(SlackApiError) as other:
        await web.apps_connections_open(app_token="xapp-1-wrong")
    assert bot.value.response["error"] == "not_allowed_token_type"
    assert other.value.response["error"] == "invalid_auth"


async def test_websocket_needs_a_ticket(slack_socket: FakeSlackSocket) -> None:
    """A websocket opened without an apps.connections.open ticket is refused."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(f"ws://127.0.0.1:{slack_socket.port}/link/")
    assert slack_socket.connections == []


async def test_drop_reconnect_click_again(slack_socket: FakeSlackSocket) -> None:
    """After a close frame and after a TCP reset the SDK reconnects, and clicks work again."""
    async with sdk_client(slack_socket, ping_interval=1.0) as (_client, received):
        first = await slack_socket.wait_for_connection()
        await slack_socket.click("clickfono.claim", "one")

        started = time.monotonic()
        await slack_socket.drop(how="close")
        second = await slack_socket.wait_for_connection(newer_than=first.id, timeout=5)
        after_close = time.monotonic() - started
        await slack_socket.click("clickfono.claim", "two")

        started = time.monotonic()
        await slack_socket.drop(how="reset")
        third = await slack_socket.wait_for_connection(newer_than=second.id, timeout=5)
        after_reset = time.monotonic() - started
        await slack_socket.click("clickfono.claim", "three")

    assert [r.payload["actions"][0]["value"] for r in received] == ["one", "two", "three"]
    assert after_close < 1.0  # the receiver reconnects on the close frame itself
    assert after_reset < 3.0  # the monitor's next tick (ping_interval 1 s)
    assert [a.connection_id for a in slack_socket.acks] == [first.id, second.id, third.id]
    assert len(slack_socket.calls("apps.connections.open")) == 3


async def test_silent_connection_is_replaced(slack_socket: FakeSlackSocket) -> None:
    """A connection that stops answering pings is abandoned by the SDK's heartbeat."""
    async with sdk_client(slack_socket, ping_interval=1.0) as (_client, received):
        first = await slack_socket.wait_for_connection()
        started = time.monotonic()
        await slack_socket.silence(first)
        second = await slack_socket.wait_for_connection(newer_than=first.id, timeout=8)
        replaced_after = time.monotonic() - started
        await slack_socket.click("clickfono.release", "four")
    assert received[-1].payload["actions"][0]["value"] == "four"
    assert replaced_after < 5.0
    assert slack_socket.connection(first.id).pings >= 1
    assert not slack_socket.connection(first.id).open
    assert second.id > first.id


async def test_disconnect_message_opens_a_new_connection(slack_socket: FakeSlackSocket) -> None:
    """Slack's refresh_requested makes the SDK open a new connection and close the old one."""
    async with sdk_client(slack_socket) as (_client, received):
        first = await slack_socket.wait_for_connection()
        await slack_socket.send_disconnect("refresh_requested")
        second = await slack_socket.wait_for_connection(newer_than=first.id, timeout=5)
        await async_wait_for(
            lambda: not slack_socket.connection(first.id).open, message="old connection closed"
        )
        await slack_socket.click("clickfono.claim", "five", connection=second)
    assert received[-1].payload["actions"][0]["value"] == "five"


async def test_reconnect_survives_failing_connections_open(slack_socket: FakeSlackSocket) -> None:
    """When apps.connections.open fails for a while after a reset, the SDK retries and heals."""
    async with sdk_client(slack_socket, ping_interval=0.5) as (_client, received):
        first = await slack_socket.wait_for_connection()
        slack_socket.fail(2, error="internal_error")
        await slack_socket.drop(how="reset")
        second = await slack_socket.wait_for_connection(newer_than=first.id, timeout=10)
        await slack_socket.click("clickfono.claim", "six", connection=second)
    assert received[-1].payload["actions"][0]["value"] == "six"
    failed = [r for r in slack_socket.calls("apps.connections.open") if not r.ok]
    assert len(failed) == 2


async def test_unacked_click_fails_at_the_deadline(slack_socket: FakeSlackSocket) -> None:
    """click() fails when the client never acks, and the envelope has no ack recorded."""
    async with sdk_client(slack_socket, ack=False) as (_client, received):
        await slack_socket.wait_for_connection()
        with pytest.raises(AssertionError, match="ack of envelope"):
            await slack_socket.click("clickfono.claim", "seven", deadline=0.3)
        await async_wait_for(lambda: received, message="the click reached the client")
    assert slack_socket.acks == []


async def test_web_api_methods_are_recorded(slack_socket: FakeSlackSocket) -> None:
    """Posts, updates, ephemerals, views and response_url calls are answered and recorded."""
    web = AsyncWebClient(token=slack_socket.token, base_url=slack_socket.base_url)
    post = await web.chat_postMessage(channel="C1", text="alerta")
    await web.chat_update(channel="C1", ts=post["ts"], text="tomada")
    await web.chat_postEphemeral(channel="C1", user="U1", text="ya la tomó <@U2>")
    await web.views_open(trigger_id="1.1", view={"type": "modal", "title": {}, "blocks": []})
    payload = slack_socket.block_actions_payload("clickfono.claim", "x", "U1", post["ts"], "C1")
    async with aiohttp.ClientSession() as session:
        await session.post(
            payload["response_url"], json={"text": "hola", "replace_original": False}
        )
    assert slack_socket.calls("chat.update")[0].body["ts"] == post["ts"]
    [ephemeral] = slack_socket.calls("chat.postEphemeral")
    assert ephemeral.body["user"] == "U1" and ephemeral.ok
    assert slack_socket.calls("views.open")[0].ok
    assert slack_socket.calls("response_url")[0].body["text"] == "hola"


async def test_pushes_are_awaitable_from_another_loop(slack_socket: FakeSlackSocket) -> None:
    """Helpers run in the fake's own loop, so a second loop in a thread can use them too."""

    async def connect_and_click() -> float:
        async with sdk_client(slack_socket) as _:
            await slack_socket.wait_for_connection()
            return await slack_socket.click("clickfono.claim", "eight")

    latency = await asyncio.to_thread(lambda: asyncio.run(connect_and_click()))
    assert 0 < latency < 1.0
