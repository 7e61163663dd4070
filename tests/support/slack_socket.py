"""A fake Slack on 127.0.0.1 with Socket Mode: the Web API and a real websocket.

``FakeSlackSocket`` extends ``FakeSlack`` (tests/support/slack_fixtures.py): the same
recording, faults, bot token and ``chat.postMessage`` / ``chat.update`` answers, served
by aiohttp in its own event loop on a background thread, so sync tests, async tests and
``run`` subprocesses can all use it. On top it speaks Socket Mode:

    fake.base_url                 # SLACK_API_URL (also what AsyncWebClient(base_url=) takes)
    fake.app_token                # the xapp- token apps.connections.open accepts
    fake.connections              # every SocketConnection so far (copies)
    fake.open_connections()       # those open now (silent ones included)
    await fake.wait_for_connection(newer_than=0)   # an open connection that got its hello
    latency = await fake.click("clickfono.claim", call_uuid, user="U123", ts=post_ts)
                                  # push a block_actions envelope, wait for its ack (3 s
                                  # deadline), return seconds from send to ack
    envelope_id = await fake.push_click(...)       # push, don't wait (for "never acked")
    fake.acks                     # every Ack (envelope id, connection, latency)
    await fake.drop()             # close connections (how="close": a close frame;
                                  # how="reset": TCP dropped without one)
    await fake.silence()          # keep the TCP open but answer nothing, pings included
    await fake.send_disconnect("refresh_requested")   # Slack's "please reconnect"
    fake.greet = False            # new connections get no hello
    fake.calls("chat.postEphemeral"), fake.calls("views.open"), fake.calls("response_url")

Every helper takes ``connection=`` (a ``SocketConnection`` or its id) to aim at one
connection; the default is every open one (``drop``, ``silence``, ``send_disconnect``)
or the newest live, non-silent one (clicks), like Slack handing an envelope to one of
the app's connections. Times are ``time.monotonic()``. Pushing needs a live connection
(wait for one first); a click on a silent connection is never acked, like a lost one.
The ``slack_socket`` fixture below is not in conftest.py yet: import it, or register it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import parse_qsl

import pytest
from aiohttp import WSMsgType, web

from tests.support.slack_fixtures import WEBHOOK_PATH, FakeSlack, _decode, _json
from tests.support.wait import async_wait_for

__all__ = ["Ack", "FakeSlackSocket", "SocketConnection", "slack_socket"]

_SOCKET_METHODS = frozenset(
    {
        "apps.connections.open",
        "response_url",
        "chat.postEphemeral",
        "views.open",
        "views.update",
        "views.push",
        "views.publish",
    }
)

ACK_DEADLINE = 3.0
"""Slack shows the user an error when an interactive envelope is not acked in 3 s."""


@dataclass(frozen=True)
class Ack:
    """An acknowledgement the fake received for an envelope it pushed."""

    envelope_id: str
    connection_id: int
    sent_at: float
    acked_at: float
    body: dict[str, Any]
    """The whole ack frame (``{"envelope_id": …}``, maybe with ``payload``)."""

    @property
    def latency(self) -> float:
        return self.acked_at - self.sent_at


@dataclass
class SocketConnection:
    """One websocket a client opened; ``fake.connections`` hands out copies."""

    id: int
    ticket: str
    opened_at: float
    hello_at: float | None = None
    closed_at: float | None = None
    close_reason: str | None = None
    silent: bool = False
    pings: int = 0
    last_ping_at: float | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    """Every JSON frame the fake sent on it (hello, envelopes, disconnect)."""

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass
class FakeSlackSocket(FakeSlack):
    app_token: str = "xapp-1-A0000-fake-app-token-0123456789"
    team_id: str = "T0000"
    app_id: str = "A0000"
    greet: bool = True
    """Send ``hello`` on new connections; False mimics a session Slack never greets."""
    _conns: dict[int, SocketConnection] = field(default_factory=dict)
    _sockets: dict[int, web.WebSocketResponse] = field(default_factory=dict)
    _acks: list[Ack] = field(default_factory=list)
    _pending: dict[str, tuple[int, float]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None
    _port: int = 0

    # Control

    def start(self) -> FakeSlackSocket:
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_app())
            except BaseException as exc:  # reported to start()'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_app())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-slack-socket", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Slack did not start within 10 s")
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
            self._thread = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def connections(self) -> list[SocketConnection]:
        with self._lock:
            return [replace(c, sent=list(c.sent)) for c in self._conns.values()]

    def open_connections(self) -> list[SocketConnection]:
        return [c for c in self.connections if c.open]

    def connection(self, connection_id: int) -> SocketConnection:
        with self._lock:
            c = self._conns[connection_id]
            return replace(c, sent=list(c.sent))

    @property
    def acks(self) -> list[Ack]:
        with self._lock:
            return list(self._acks)

    def ack_for(self, envelope_id: str) -> Ack | None:
        with self._lock:
            return next((a for a in self._acks if a.envelope_id == envelope_id), None)

    async def wait_for_connection(
        self, newer_than: int = 0, timeout: float = 10.0
    ) -> SocketConnection:
        """An open connection with an id above ``newer_than`` that was sent its hello."""

        def ready() -> SocketConnection | None:
            live = [
                c
                for c in self.open_connections()
                if c.id > newer_than and c.hello_at is not None and not c.silent
            ]
            return live[-1] if live else None

        return await async_wait_for(
            ready, timeout=timeout, interval=0.005, message=f"a connection newer than {newer_than}"
        )

    # Socket Mode pushes (awaitable from any event loop)

    async def click(
        self,
        action_id: str,
        value: str,
        user: str = "U0AGENT1",
        ts: str = "1700000000.000001",
        channel: str = "C0ALERTS",
        connection: SocketConnection | int | None = None,
        deadline: float = ACK_DEADLINE,
    ) -> float:
        """Push one button click and wait for its ack; the seconds from send to ack.

        Fails (AssertionError) when no ack arrives within ``deadline``.
        """
        envelope_id = await self.push_click(action_id, value, user, ts, channel, connection)
        ack = await async_wait_for(
            lambda: self.ack_for(envelope_id),
            timeout=deadline,
            interval=0.002,
            message=f"the ack of envelope {envelope_id}",
        )
        return ack.latency

    async def push_click(
        self,
        action_id: str,
        value: str,
        user: str = "U0AGENT1",
        ts: str = "1700000000.000001",
        channel: str = "C0ALERTS",
        connection: SocketConnection | int | None = None,
    ) -> str:
        """Push one block_actions envelope without waiting for the ack; its envelope id."""
        envelope_id = f"env-{next(self._ids):06d}-{action_id}"
        payload = self.block_actions_payload(action_id, value, user, ts, channel)
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            "accepts_response_payload": False,
            "payload": payload,
        }
        await self.push(envelope, connection)
        return envelope_id

    def block_actions_payload(
        self, action_id: str, value: str, user: str, ts: str, channel: str
    ) -> dict[str, Any]:
        """A ``block_actions`` payload shaped like Slack's, for one button."""
        n = next(self._ids)
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0"},
            "api_app_id": self.app_id,
            "token": "verification-token-unused-in-socket-mode",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{n}.1.fake-trigger",
            "team": {"id": self.team_id, "domain": "fake"},
            "channel": {"id": channel, "name": "alertas"},
            "message": {"type": "message", "ts": ts, "text": "alert", "blocks": []},
            "response_url": f"http://127.0.0.1:{self.port}/actions/{self.team_id}/{n}/fake",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "clickfono.actions",
                    "type": "button",
                    "value": value,
                    "text": {"type": "plain_text", "text": action_id},
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    async def push(
        self, envelope: dict[str, Any], connection: SocketConnection | int | None = None
    ) -> int:
        """Send any JSON frame on one live connection; the id of that connection."""
        return await self._in_loop(self._push(envelope, connection))

    async def drop(
        self,
        connection: SocketConnection | int | None = None,
        how: Literal["close", "reset"] = "close",
    ) -> list[int]:
        """Close connections (all open ones by default); the ids closed."""
        return await self._in_loop(self._drop(connection, how))

    async def silence(self, connection: SocketConnection | int | None = None) -> list[int]:
        """Stop answering pings and sending anything on connections; TCP stays open."""
        ids = self._targets(connection)
        with self._lock:
            for i in ids:
                self._conns[i].silent = True
        return ids

    async def send_disconnect(
        self,
        reason: str = "refresh_requested",
        connection: SocketConnection | int | None = None,
    ) -> list[int]:
        """Send Slack's ``{"type": "disconnect"}``; the client should open a new one."""
        ids = self._targets(connection)
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        for i in ids:
            await self.push(frame, i)
        return ids

    # Web API answers (extends FakeSlack's)

    def _answer(
        self, method: str, headers: dict[str, str], body: dict[str, Any], fault: Any
    ) -> tuple[int, dict[str, str], bytes]:
        if fault is not None or method not in _SOCKET_METHODS:
            return super()._answer(method, headers, body, fault)
        auth = headers.get("authorization", "")
        if method == "apps.connections.open":
            if auth == f"Bearer {self.token}":
                return 200, {}, _json({"ok": False, "error": "not_allowed_token_type"})
            if auth != f"Bearer {self.app_token}":
                return 200, {}, _json({"ok": False, "error": "invalid_auth"})
            ticket = f"{next(self._ids):06d}"
            url = f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"
            return 200, {}, _json({"ok": True, "url": url})
        if method == "response_url":
            return 200, {}, _json({"ok": True})
        if auth != f"Bearer {self.token}":
            return 200, {}, _json({"ok": False, "error": "invalid_auth"})
        if method == "chat.postEphemeral":
            if not body.get("channel") or not body.get("user"):
                return 200, {}, _json({"ok": False, "error": "channel_not_found"})
            return 200, {}, _json({"ok": True, "message_ts": f"{time.time():.6f}"})
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            view = body.get("view")
            if isinstance(view, str):
                view = json.loads(view)
            return 200, {}, _json({"ok": True, "view": {"id": "V0000", **(view or {})}})
        raise AssertionError(f"unhandled method {method}")

    # Inside the server's loop

    def _targets(self, connection: SocketConnection | int | None) -> list[int]:
        if connection is not None:
            return [connection if isinstance(connection, int) else connection.id]
        with self._lock:
            return [c.id for c in self._conns.values() if c.open]

    async def _in_loop(self, coro: Any) -> Any:
        assert self._loop is not None, "the fake is not running"
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _push(
        self, envelope: dict[str, Any], connection: SocketConnection | int | None
    ) -> int:
        if connection is None:
            with self._lock:
                live = [
                    c.id
                    for c in self._conns.values()
                    if c.open and not c.silent and c.hello_at is not None
                ]
            if not live:
                raise AssertionError("no live Socket Mode connection to push to")
            target = live[-1]
        else:
            target = connection if isinstance(connection, int) else connection.id
        ws = self._sockets.get(target)
        if ws is None or ws.closed:
            raise AssertionError(f"connection {target} is closed")
        now = time.monotonic()
        if "envelope_id" in envelope:
            with self._lock:
                self._pending[envelope["envelope_id"]] = (target, now)
        with self._lock:
            self._conns[target].sent.append(envelope)
        await ws.send_str(json.dumps(envelope))
        return target

    async def _drop(self, connection: SocketConnection | int | None, how: str) -> list[int]:
        ids = self._targets(connection)
        for i in ids:
            ws = self._sockets.get(i)
            self._mark_closed(i, f"dropped ({how})")
            if ws is None:
                continue
            if how == "reset":
                transport = ws._req.transport if ws._req is not None else None
                if transport is not None:
                    transport.abort()
            else:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(message=b"dropped by the fake"), 1.0)
        return ids

    def _mark_closed(self, connection_id: int, reason: str) -> None:
        with self._lock:
            c = self._conns[connection_id]
            if c.closed_at is None:
                c.closed_at = time.monotonic()
                c.close_reason = reason

    async def _start_app(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._web_api)
        app.router.add_post(WEBHOOK_PATH, self._webhook)
        app.router.add_post("/actions/{team}/{n}/fake", self._response_url)
        app.router.add_get("/link/", self._websocket)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self._port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def _stop_app(self) -> None:
        for ws in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 0.5)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _body(self, request: web.Request) -> tuple[dict[str, str], dict[str, Any]]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = _decode(headers.get("content-type", ""), await request.read())
        body.update(dict(parse_qsl(request.query_string)))
        return headers, body

    async def _web_api(self, request: web.Request) -> web.Response:
        headers, body = await self._body(request)
        status, extra, payload = self.answer(request.match_info["method"], headers, body)
        return web.Response(
            status=status, body=payload, headers=extra, content_type="application/json"
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        headers, body = await self._body(request)
        status, extra, payload = self.answer("webhook", headers, body)
        return web.Response(status=status, body=payload, headers=extra, content_type="text/plain")

    async def _response_url(self, request: web.Request) -> web.Response:
        headers, body = await self._body(request)
        status, extra, payload = self.answer("response_url", headers, body)
        return web.Response(
            status=status, body=payload, headers=extra, content_type="application/json"
        )

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if not ticket:
            return web.Response(status=401, text="no ticket")
        # autoping off: the fake answers pings itself, so that it can stop answering.
        ws = web.WebSocketResponse(autoping=False, heartbeat=None)
        await ws.prepare(request)
        cid = next(self._ids)
        conn = SocketConnection(id=cid, ticket=ticket, opened_at=time.monotonic())
        with self._lock:
            self._conns[cid] = conn
        self._sockets[cid] = ws
        try:
            with self._lock:
                live = sum(1 for c in self._conns.values() if c.open)
            hello = {
                "type": "hello",
                "num_connections": live,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
            if self.greet:
                await ws.send_str(json.dumps(hello))
                with self._lock:
                    conn.hello_at = time.monotonic()
                    conn.sent.append(hello)
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    with self._lock:
                        conn.pings += 1
                        conn.last_ping_at = time.monotonic()
                        silent = conn.silent
                    if not silent:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    self._received(conn, msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._mark_closed(cid, "closed by the client")
            self._sockets.pop(cid, None)
        return ws

    def _received(self, conn: SocketConnection, data: str) -> None:
        now = time.monotonic()
        try:
            frame = json.loads(data)
        except ValueError:
            return
        if not isinstance(frame, dict) or "envelope_id" not in frame:
            return
        with self._lock:
            if conn.silent:
                return  # a silent connection is a black hole in both directions
            pending = self._pending.pop(str(frame["envelope_id"]), None)
            if pending is None:
                return  # an ack for an envelope never sent, or acked twice
            self._acks.append(Ack(str(frame["envelope_id"]), conn.id, pending[1], now, frame))


@pytest.fixture
def slack_socket() -> Iterator[FakeSlackSocket]:
    """A fake Slack with Socket Mode (Web API + websocket) on a free port of 127.0.0.1."""
    fake = FakeSlackSocket().start()
    try:
        yield fake
    finally:
        fake.stop()
