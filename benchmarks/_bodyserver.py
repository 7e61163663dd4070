"""A tiny calls/list server in its own process, for the cycle benchmarks.

It holds vendor-shaped records per popup (``_records.record``) and serves each popup's
body as pre-encoded bytes over HTTP/1.1 keep-alive on 127.0.0.1, so the figures measure
the notifier and not the server. A control endpoint changes a fraction of the calls
(status, retry and durations, as Clickfono does while a call runs) and re-encodes the
bodies before it answers, so nothing of that work falls inside a timed cycle:

    GET  /calls/list?date=…[&popup_uuid=…]   the popup's body (all calls without popup_uuid)
    POST /_mutate?fraction=0.01&round=N      change that fraction of calls, seeded by N

Being a separate process, the server does not compete with the cycle for the GIL.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _records import STATUSES, record


def popup_uuid(index: int) -> str:
    return f"14f1cc88-6ce8-11e9-b8f9-{index:012d}"


class _State:
    def __init__(self, calls: int, popups: int) -> None:
        self.popups = max(popups, 1)
        self.records: list[list[dict[str, Any]]] = [[] for _ in range(self.popups)]
        for n in range(calls):
            self.records[n % self.popups].append(record(n, popup=n % self.popups))
        self.bodies: dict[str, bytes] = {}
        self.encode(range(self.popups))

    def encode(self, which: Any) -> None:
        for p in which:
            self.bodies[popup_uuid(p)] = json.dumps(self.records[p], ensure_ascii=False).encode()
        if self.popups == 1:
            self.bodies["*"] = self.bodies[popup_uuid(0)]

    def mutate(self, fraction: float, seed: int) -> int:
        rng = random.Random(seed)
        flat = [(p, i) for p in range(self.popups) for i in range(len(self.records[p]))]
        chosen = rng.sample(flat, round(len(flat) * fraction))
        for p, i in chosen:
            rec = self.records[p][i]
            rec["status"] = rng.choice([s for s in STATUSES if s != rec["status"]])
            rec["retry"] = str(int(str(rec["retry"])) + 1)
            rec["duration_company"] = str(rng.randrange(300))
            rec["duration_customer"] = str(rng.randrange(300))
        self.encode(sorted({p for p, _ in chosen}))
        return len(chosen)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: _State

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        body = self.state.bodies.get(query.get("popup_uuid", "*"))
        if url.path != "/calls/list" or body is None:
            self._send(404, b'{"error":"not found"}')
            return
        self._send(200, body)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        if url.path != "/_mutate":
            self._send(404, b"{}")
            return
        changed = self.state.mutate(float(query["fraction"]), int(query["round"]))
        self._send(200, json.dumps({"changed": changed}).encode())


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 drops SYNs when 20 popups reconnect at once (httpx
    # closes keep-alive connections idle for 5 s), and each dropped SYN costs the 1 s
    # retransmission timeout: a server artifact, not a cost of the notifier.
    request_queue_size = 128
    daemon_threads = True


def _serve(calls: int, popups: int, ready: Connection) -> None:
    _Handler.state = _State(calls, popups)
    server = _Server(("127.0.0.1", 0), _Handler)
    ready.send(server.server_address[1])
    ready.close()
    server.serve_forever()


class BodyServer:
    """Starts the server process; ``base_url`` is its address; ``stop()`` ends it."""

    def __init__(self, calls: int, popups: int = 1) -> None:
        self.popups = tuple(popup_uuid(p) for p in range(popups)) if popups > 1 else ()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_serve, args=(calls, popups, child), daemon=True)
        self.process.start()
        child.close()
        if not parent.poll(300):
            self.stop()
            raise RuntimeError("the body server did not start")
        self.port = int(parent.recv())
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
