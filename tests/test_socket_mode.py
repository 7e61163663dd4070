"""SocketModeListener against the fake Slack: decode, ack fast, reconnect, watchdog."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier import socket_mode
from notifier.socket_mode import Click, SocketModeListener, decode_click
from tests.support.slack_socket import FakeSlackSocket
from tests.support.wait import async_wait_for

AT = datetime(2026, 11, 24, 13, 42, tzinfo=UTC)
UUID = "a93460bbf8402e15b9b0afddc05d5e8d"


@asynccontextmanager
async def running(
    slack_socket: FakeSlackSocket,
    on_click: Callable[[Click], Any] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[SocketModeListener, list[Click], list[bool]]]:
    """A started listener on the fake (fast timers), the clicks it handed over, its states."""
    clicks: list[Click] = []
    states: list[bool] = []

    async def record(click: Click) -> None:
        clicks.append(click)

    settings: dict[str, Any] = {"ping_interval": 1.0, "check_interval": 0.05}
    settings.update(options)
    listener = SocketModeListener(
        settings.pop("app_token", slack_socket.app_token),
        slack_socket.token,
        on_click or record,
        api_url=slack_socket.base_url,
        on_state=states.append,
        **settings,
    )
    await listener.start()
    try:
        yield listener, clicks, states
    finally:
        await listener.stop()


async def connected(listener: SocketModeListener, timeout: float = 10.0) -> None:
    await async_wait_for(lambda: listener.connected, timeout=timeout, message="connected")


def payload(
    slack_socket: FakeSlackSocket, action_id: str = "clickfono.claim", value: str = UUID
) -> Any:
    return slack_socket.block_actions_payload(
        action_id, value, "U0AGENT1", "1700000000.000042", "C0ALERTS"
    )


# decode_click


def test_decode_click_takes_what_the_claim_needs(slack_socket: FakeSlackSocket) -> None:
    """A click on one of our buttons decodes to action, call, user, channel and message."""
    click = decode_click(payload(slack_socket, "clickfono.done"), AT)
    assert click == Click(
        action="done",
        call_uuid=UUID,
        user_id="U0AGENT1",
        channel="C0ALERTS",
        message_ts="1700000000.000042",
        response_url=click.response_url if click else "",
        received_at=AT,
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"type": "view_submission"}, "not a block action"),
        ({"actions": [{"action_id": "other.app", "value": UUID}]}, "not our button"),
        ({"actions": []}, "no action"),
        ({"actions": [{"action_id": "clickfono.claim", "value": "<!channel>"}]}, "hostile value"),
        ({"actions": [{"action_id": "clickfono.claim", "value": "x" * 65}]}, "value too long"),
        ({"user": {"id": "<@U1>"}}, "hostile user id"),
        ({"user": None}, "no user"),
        ({"container": {"channel_id": "C1", "message_ts": "now"}}, "bad message ts"),
    ],
)
def test_decode_click_refuses_what_is_not_ours(
    slack_socket: FakeSlackSocket, change: dict[str, Any], why: str
) -> None:
    """Payloads that are not a well-formed click on our buttons decode to None."""
    assert decode_click({**payload(slack_socket), **change}, AT) is None, why


def test_decode_click_falls_back_to_channel_and_message(slack_socket: FakeSlackSocket) -> None:
    """Without a container, the channel and message fields still locate the alert."""
    raw = {**payload(slack_socket), "container": None}
    click = decode_click(raw, AT)
    assert click is not None
    assert (click.channel, click.message_ts) == ("C0ALERTS", "1700000000.000042")


def test_socket_mode_client_is_imported_lazily() -> None:
    """Importing the module does not load slack-sdk's Socket Mode client."""
    code = "import sys, notifier.socket_mode; print('slack_sdk.socket_mode.aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_app_token_is_required() -> None:
    """A listener without SLACK_APP_TOKEN is a programming error, said in one line."""
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        SocketModeListener("", "xoxb-1", lambda click: asyncio.sleep(0))


# Against the fake


async def test_clicks_are_acked_fast_and_handed_over(slack_socket: FakeSlackSocket) -> None:
    """100 clicks are each acked well under 3 s and reach on_click decoded, in order."""
    async with running(slack_socket) as (listener, clicks, states):
        await connected(listener)
        latencies = [
            await slack_socket.click("clickfono.claim", f"call{i}", user="U0B") for i in range(100)
        ]
        await async_wait_for(lambda: len(clicks) == 100, message="100 clicks handed over")
    assert [c.call_uuid for c in clicks] == [f"call{i}" for i in range(100)]
    assert {(c.action, c.user_id, c.channel) for c in clicks} == {("claim", "U0B", "C0ALERTS")}
    assert statistics.median(latencies) < 0.1
    assert max(latencies) < 1.0
    assert listener.acked == 100
    assert states == [True, False]
    assert len(slack_socket.calls("auth.test")) == 1  # the #1701 nudge after connecting


async def test_the_ack_follows_quick_work_and_never_waits_past_the_limit(
    slack_socket: FakeSlackSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work that finishes in time is done before the ack (a crash in between leaves the
    click unacked, never acked and lost); slow work gets the ack after ACK_WAIT_SECONDS,
    well inside Slack's 3 s, and still finishes afterwards."""
    monkeypatch.setattr(socket_mode, "ACK_WAIT_SECONDS", 0.3)
    release = asyncio.Event()
    done: list[Click] = []

    async def work(click: Click) -> None:
        if click.action == "claim":
            done.append(click)
            return
        await release.wait()
        done.append(click)

    async with running(slack_socket, work) as (listener, _clicks, _states):
        await connected(listener)
        await slack_socket.click("clickfono.claim", UUID)
        assert [c.action for c in done] == ["claim"]  # stored before the ack came back
        latency = await slack_socket.click("clickfono.done", UUID)
        assert [c.action for c in done] == ["claim"]  # acked while the slow work runs
        release.set()
        await async_wait_for(lambda: len(done) == 2, message="the slow work finished")
    assert 0.25 <= latency < 2.0


async def test_unknown_actions_are_acked_and_ignored(slack_socket: FakeSlackSocket) -> None:
    """A click on a button that is not ours is acked (no error for the user) and dropped."""
    async with running(slack_socket) as (listener, clicks, _states):
        await connected(listener)
        await slack_socket.click("someone.else", UUID)
        await slack_socket.push({"envelope_id": "e-slash", "type": "slash_commands", "payload": {}})
        await async_wait_for(lambda: slack_socket.ack_for("e-slash"), message="slash command acked")
        await slack_socket.click("clickfono.release", UUID)
        await async_wait_for(lambda: clicks, message="our click handed over")
    assert [c.action for c in clicks] == ["release"]
    assert listener.acked == 3


async def test_failed_work_tells_the_agent(slack_socket: FakeSlackSocket) -> None:
    """When on_click fails after the ack, the agent gets an ephemeral note, not silence."""

    async def broken(click: Click) -> None:
        raise ConnectionError("Redis is down")

    async with running(slack_socket, broken) as (listener, _clicks, _states):
        await connected(listener)
        await slack_socket.click("clickfono.claim", UUID, user="U0C", channel="C0X")
        [note] = await async_wait_for(
            lambda: slack_socket.calls("chat.postEphemeral"), message="the failure note"
        )
    assert note.body["user"] == "U0C" and note.body["channel"] == "C0X"
    assert note.body["text"].startswith("No pudimos registrar tu clic")


async def test_dropped_connection_is_reopened(slack_socket: FakeSlackSocket) -> None:
    """A closed or reset connection is reopened and clicks work again."""
    async with running(slack_socket) as (listener, clicks, _states):
        await connected(listener)
        first = await slack_socket.wait_for_connection()
        started = time.monotonic()
        await slack_socket.drop(how="reset")
        second = await slack_socket.wait_for_connection(newer_than=first.id)
        reopened = time.monotonic() - started
        await slack_socket.click("clickfono.claim", UUID)
        await async_wait_for(lambda: clicks, message="click after the reconnect")
        await connected(listener)
    assert reopened < 3.0  # the SDK's monitor, one ping interval (1 s here)
    assert second.id > first.id


async def test_refresh_requested_is_followed_without_the_watchdog(
    slack_socket: FakeSlackSocket,
) -> None:
    """Slack's refresh_requested is handled by the SDK itself; clicks keep working."""
    async with running(slack_socket) as (listener, clicks, _states):
        await connected(listener)
        first = await slack_socket.wait_for_connection()
        await slack_socket.send_disconnect("refresh_requested")
        second = await slack_socket.wait_for_connection(newer_than=first.id)
        await slack_socket.click("clickfono.claim", UUID, connection=second)
        await async_wait_for(lambda: clicks, message="click on the refreshed connection")
    assert listener.reconnects == 0


async def test_watchdog_replaces_a_silent_connection_the_sdk_gave_up_on(
    slack_socket: FakeSlackSocket,
) -> None:
    """With the SDK's auto-reconnect stuck off (#1446), a silent socket is still replaced."""
    async with running(slack_socket) as (listener, clicks, _states):
        await connected(listener)
        first = await slack_socket.wait_for_connection()
        client = listener.client
        assert client is not None
        client.default_auto_reconnect_enabled = client.auto_reconnect_enabled = False
        started = time.monotonic()
        await slack_socket.silence(first)
        await slack_socket.wait_for_connection(newer_than=first.id, timeout=15)
        replaced = time.monotonic() - started
        await connected(listener)
        await slack_socket.click("clickfono.claim", UUID)
        await async_wait_for(lambda: clicks, message="click after the watchdog")
    assert listener.reconnects == 1
    assert listener.last_reconnect_reason is not None
    assert listener.last_reconnect_reason.startswith(("not connected", "silent"))
    assert replaced < 8.0  # heartbeat 1.5 s + stuck_timeout 3 s + a check


async def test_watchdog_replaces_a_client_whose_tasks_died(slack_socket: FakeSlackSocket) -> None:
    """If the SDK's receiver task dies, the watchdog opens a new client."""
    async with running(slack_socket) as (listener, clicks, _states):
        await connected(listener)
        first = await slack_socket.wait_for_connection()
        client = listener.client
        assert client is not None and client.message_receiver is not None
        client.message_receiver.cancel()
        await slack_socket.wait_for_connection(newer_than=first.id, timeout=5)
        await connected(listener)
        await slack_socket.click("clickfono.done", UUID)
        await async_wait_for(lambda: clicks, message="click on the new client")
    assert listener.last_reconnect_reason == "the SDK's message_receiver task ended"
    assert listener.client is None  # stopped


async def test_a_session_never_greeted_is_replaced(slack_socket: FakeSlackSocket) -> None:
    """A connection that gets no hello is not trusted: replaced after hello_timeout."""
    slack_socket.greet = False
    async with running(slack_socket, hello_timeout=0.5) as (listener, _clicks, _states):
        await async_wait_for(
            lambda: listener.reconnects >= 1, timeout=10, message="replaced for no hello"
        )
        assert not listener.connected
        slack_socket.greet = True
        await connected(listener)
    assert listener.last_reconnect_reason == "no hello within 0s"  # 0.5 s, rounded


async def test_bad_app_token_backs_off_and_stays_disconnected(
    slack_socket: FakeSlackSocket,
) -> None:
    """A rejected app token leaves the listener disconnected, retrying with backoff."""
    options = {"app_token": "xapp-1-revoked", "connect_timeout": 0.5, "ping_interval": 0.2}
    async with running(slack_socket, **options) as (listener, _clicks, states):
        # Each attempt is SDK retries bounded by connect_timeout, then a 1 s, 2 s… pause.
        await async_wait_for(
            lambda: len(slack_socket.calls("apps.connections.open")) >= 6,
            message="a second round of attempts",
        )
        assert not listener.connected
    opens = slack_socket.calls("apps.connections.open")
    gaps = [b.at - a.at for a, b in itertools.pairwise(opens)]
    assert all(not r.ok and r.body == {} for r in opens)
    assert max(gaps) >= 0.9  # the watchdog's backoff, not a hot loop
    assert True not in states


async def test_stop_closes_the_connection(slack_socket: FakeSlackSocket) -> None:
    """stop() closes the socket and reports disconnected."""
    async with running(slack_socket) as (listener, _clicks, states):
        await connected(listener)
        conn = await slack_socket.wait_for_connection()
    await async_wait_for(lambda: not slack_socket.connection(conn.id).open, message="closed")
    assert not listener.connected
    assert states[-1] is False
