"""A tiny HTTP server on the event loop: /healthz, /readyz and /metrics.

It runs on the daemon's own loop on purpose: if the loop is wedged, /healthz stops
answering and the orchestrator restarts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from notifier import metrics


def _never_alive() -> bool:
    return False


@dataclass
class Health:
    """What /healthz and /readyz report; the daemon's tasks keep it current."""

    alive: Callable[[], bool] = _never_alive
    """True while the poll loop runs and the event loop keeps its heartbeat fresh."""
    heartbeat: float = 0.0
    ready: bool = False
    reason: str = "no successful cycle yet"


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def _response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def route(health: Health, method: str, path: str) -> bytes:
    path = path.split("?", 1)[0]
    if method not in ("GET", "HEAD"):
        return _response(405, b"method not allowed\n")
    if path == "/healthz":
        alive = health.alive()
        return _response(200 if alive else 503, b"ok\n" if alive else b"poll loop stopped\n")
    if path == "/readyz":
        ready = health.ready
        return _response(200 if ready else 503, (health.reason + "\n").encode())
    if path == "/metrics":
        return _response(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
    return _response(404, b"not found\n")


async def _handle(
    health: Health, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        async with asyncio.timeout(5):
            request = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
        parts = request.decode("latin-1").split()
        reply = (
            route(health, parts[0], parts[1])
            if len(parts) >= 2
            else _response(405, b"bad request\n")
        )
        writer.write(reply)
        await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve_health(health: Health, host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: _handle(health, r, w), host, port)
