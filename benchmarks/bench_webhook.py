"""Delivery throughput of ``WebhookSink.send`` against a fast local receiver.

    .venv/bin/python benchmarks/bench_webhook.py [--events 2000] [--concurrency 16]

The receiver is a minimal asyncio HTTP/1.1 server in a separate process on 127.0.0.1
(keep-alive, answers ``200`` with an empty body) that verifies every Standard Webhooks
signature, so the figure is the sink's cost (JSON, signing, httpx) rather than the
receiver's. It exits when told to, or by itself after ``--max-seconds``. The run is
bounded by ``--events``; the script prints events/s and the ratio to the 500 events/s
target, and exits non-zero if any delivery failed or a signature did not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import multiprocessing
import statistics
import sys
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

TARGET_EVENTS_PER_SECOND = 500.0
SECRET = "whsec_" + base64.b64encode(hashlib.sha256(b"bench").digest()).decode()
_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


# The receiver (child process).


class _Receiver(asyncio.Protocol):
    """Parses pipelined HTTP/1.1 requests with Content-Length bodies; answers 200."""

    def __init__(self, stats: dict[str, int], verifier: Any) -> None:
        self.stats = stats
        self.verifier = verifier
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.stats["requests"] += 1
            try:
                self.verifier.verify(body, headers, json_parse=False)
            except Exception:
                self.stats["bad_signatures"] += 1
            assert self.transport is not None
            self.transport.write(_RESPONSE)


def _serve(conn: Connection, max_seconds: float) -> None:
    """Child process: serve on a free loopback port until told to stop (or timed out)."""
    from standardwebhooks.webhooks import Webhook

    async def main() -> None:
        stats = {"requests": 0, "bad_signatures": 0}
        verifier = Webhook(SECRET)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Receiver(stats, verifier), "127.0.0.1", 0, backlog=1024
        )
        conn.send(server.sockets[0].getsockname()[1])
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            if await asyncio.to_thread(conn.poll, 0.2):
                command = conn.recv()
                if command == "stats":
                    conn.send(dict(stats))
                    continue
                break
        server.close()
        conn.send(dict(stats))

    asyncio.run(main())


# The benchmark (parent process).


def _events(count: int, offset: int) -> list[Any]:
    from notifier.events import CALL_ATTEMPTS_EXHAUSTED, Event, event_id

    now = datetime.now(UTC)
    call = {
        "uuid": "",
        "status": "Intentos terminados",
        "call_number_company": "56223456789",
        "retry": 3,
        "duration_company": 117,
        "duration_customer": 95,
        "call_at": "2019-04-02T10:05:03-03:00",
        "enqueued": False,
        "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
        "popup_name": "Pruebas Clickfono",
        "additionals": {"Nombre": "Juan Perez", "Rut": "11.111.111-1"},
        "caller_number": "+56987654321",
    }
    return [
        Event(
            type=CALL_ATTEMPTS_EXHAUSTED,
            id=event_id("bench", offset + i),
            detected_at=now,
            call=dict(call, uuid=f"{offset + i:032x}"),
            previous_status="En cola",
        )
        for i in range(count)
    ]


async def _measure(port: int, events: int, concurrency: int | None, rounds: int) -> list[float]:
    from notifier.config import load_settings
    from notifier.sinks.webhook import WebhookSink

    env = {
        "CLICKFONO_TOKEN": "bench",
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
        "WEBHOOK_SECRET": SECRET,
    }
    if concurrency is not None:
        env["NOTIFIER_WEBHOOK_CONCURRENCY"] = str(concurrency)
    sink = WebhookSink(load_settings(env=env))
    try:
        warmup = await sink.send(_events(100, 0))
        if any(warmup):
            raise SystemExit(f"warm-up failed: {next(o for o in warmup if o)}")
        rates = []
        for r in range(rounds):
            batch = _events(events, (r + 1) * events)
            started = time.perf_counter()
            outcomes = await sink.send(batch)
            elapsed = time.perf_counter() - started
            failed = [o for o in outcomes if o is not None]
            if failed:
                raise SystemExit(f"{len(failed)} deliveries failed, e.g. {failed[0]}")
            rates.append(events / elapsed)
        return rates
    finally:
        await sink.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median shown)")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="default: NOTIFIER_WEBHOOK_CONCURRENCY's"
    )
    parser.add_argument("--max-seconds", type=float, default=120.0, help="receiver lifetime")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    receiver = context.Process(target=_serve, args=(child, args.max_seconds), daemon=True)
    receiver.start()
    try:
        if not parent.poll(30):
            raise SystemExit("the receiver did not start within 30 s")
        port = int(parent.recv())
        rates = asyncio.run(_measure(port, args.events, args.concurrency, args.rounds))
        parent.send("stop")
        stats = parent.recv() if parent.poll(10) else {}
    finally:
        receiver.join(10)
        if receiver.is_alive():
            receiver.terminate()
            receiver.join(5)

    from notifier.config import Settings

    concurrency = args.concurrency or Settings.model_fields["notifier_webhook_concurrency"].default
    expected = 100 + args.events * args.rounds
    median = statistics.median(rates)
    print(
        f"webhook sink: {args.events} signed events x {args.rounds} rounds, "
        f"concurrency {concurrency}, loopback receiver in a separate process"
    )
    print("  rounds: " + ", ".join(f"{r:,.0f}" for r in rates) + " events/s")
    print(
        f"  median: {median:,.0f} events/s = {median / TARGET_EVENTS_PER_SECOND:.1f}x "
        f"the {TARGET_EVENTS_PER_SECOND:.0f} events/s target"
    )
    print(
        f"  receiver: {stats.get('requests', '?')} requests (expected {expected}), "
        f"{stats.get('bad_signatures', '?')} bad signatures"
    )
    ok = stats.get("requests") == expected and stats.get("bad_signatures") == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
