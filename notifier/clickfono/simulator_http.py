"""The simulator's HTTP server: Clickfono's ``GET /calls/list`` over real HTTP, with faults.

A faithful stand-in for the vendor's endpoint, the tests' upstream and the demo's.
``Simulator`` serves a ``SimulatedCalls`` (``simulator_calls``) from a background thread:
the documented contract (security-token header, ``date`` and ``popup_uuid``; 401, 400,
404, 204 or 200), injected misbehaviour (``Fault``: error statuses, bodies that are not
JSON or not a list, the vendor's own malformed example, hangs, trickles, resets) and a
log of every request (``RequestRecord``, never the token). ``serve`` runs a generated day
for ``clickfono-notifier simulate``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qsl, urlsplit

from notifier.clickfono.simulator_calls import SimulatedCalls
from notifier.clickfono.simulator_day import ZONE, local_midnight, vendor_time
from notifier.errors import ConfigError, NotifierError

PATH = "/calls/list"
DEMO_BURST = 8
"""Extra calls generated around the start time by ``serve``, so a demo shows changes at once."""

_ONE_DAY = timedelta(days=1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_JSON = "application/json; charset=utf-8"

# The example body exactly as the vendor's API page publishes it: an extra "}" and
# non-breaking spaces make it invalid JSON. Served by the ``vendor_example`` fault.
VENDOR_EXAMPLE_BODY = (
    "[\n"
    "{\n"
    '"uuid" :\u00a0 "a93460bbf8402e15b9b0afddc05d5e8d",\n'
    '\u00a0\u00a0\u00a0\u00a0"status": "Conectada",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_number_company": "56223456789",\n'
    '\u00a0\u00a0\u00a0\u00a0"retry": "3",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_company": "117",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_customer": "95",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_at": "2019/04/02 10:05:03 -0300",\n'
    '\u00a0\u00a0\u00a0\u00a0"enqueued": false,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0" ,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_name": "Pruebas Clickfono",\n'
    '\u00a0\u00a0\u00a0\u00a0"additionals": {\n'
    '"Nombre": "Juan Perez",\n'
    '\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0"Rut": "11.111.111-1"\n'
    "\u00a0\u00a0\u00a0\u00a0\u00a0},\n"
    '"caller_number": "+56987654321"\n'
    "},\u00a0 {\n"
    '"uuid" :\u00a0 "d45d347218b49a967a283c7bab360e5b",\n'
    '"status": "No Conectada",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_number_company": "56223456769",\n'
    '\u00a0\u00a0\u00a0\u00a0"retry": "3",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_company": "100",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_customer": "80",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_at": "2019/04/02 11:05:03 -0300",\n'
    '\u00a0\u00a0\u00a0\u00a0"enqueued": false,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0" ,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_name": "Pruebas Clickfono",\n'
    '\u00a0\u00a0\u00a0\u00a0"additionals": {\n'
    '"Nombre": "Jorge Tapia",\n'
    '\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0"Rut": "11.111.111-1"\n'
    "},\n"
    '\u00a0\u00a0\u00a0\u00a0"caller_number": "+56987654321"\n'
    "}\n"
    "\n"
    "}\n"
    "]\n"
).encode()

_NOT_JSON_BODY = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>nginx</p></body></html>"
)
_NOT_LIST_BODY = json.dumps({"error": "Servicio temporalmente no disponible"}).encode()


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the simulator received. The token is never kept, only whether it matched."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    token_sent: bool
    token_ok: bool
    started: float
    """``time.monotonic()`` when the request arrived."""
    finished: float | None = None
    """``time.monotonic()`` just before the answer's last bytes were sent (or it was dropped)."""
    status: int | None = None
    """The status answered; None while in flight, or when no complete answer was sent."""
    fault: str | None = None
    connection: int = 0
    """The client's port: requests that came on one keep-alive connection share it."""

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


class FaultKind(StrEnum):
    STATUS = "status"
    """Answer with ``Fault.status`` (500, 502, 503, 401, 204, ...)."""
    NOT_JSON = "not_json"
    """200 with an HTML error page."""
    NOT_LIST = "not_list"
    """200 with a JSON object."""
    EMPTY = "empty"
    """200 with an empty body (not JSON: "no calls" is a 204)."""
    VENDOR_EXAMPLE = "vendor_example"
    """200 with the API page's malformed example body."""
    HANG = "hang"
    """Stall ``seconds`` before answering normally."""
    TRICKLE = "trickle"
    """Send the normal answer's body a few bytes every ``interval`` over ``seconds``."""
    RESET = "reset"
    """Send headers and half the body, then reset the connection (TCP RST)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A misbehaviour for the next requests; build with the class methods."""

    kind: FaultKind
    status: int = 200
    seconds: float = 0.0
    interval: float = 0.05

    @classmethod
    def http(cls, status: int) -> Fault:
        return cls(FaultKind.STATUS, status=status)

    @classmethod
    def not_json(cls) -> Fault:
        return cls(FaultKind.NOT_JSON)

    @classmethod
    def not_list(cls) -> Fault:
        return cls(FaultKind.NOT_LIST)

    @classmethod
    def empty(cls) -> Fault:
        return cls(FaultKind.EMPTY)

    @classmethod
    def vendor_example(cls) -> Fault:
        return cls(FaultKind.VENDOR_EXAMPLE)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls(FaultKind.HANG, seconds=seconds)

    @classmethod
    def trickle(cls, seconds: float, interval: float = 0.05) -> Fault:
        return cls(FaultKind.TRICKLE, seconds=seconds, interval=interval)

    @classmethod
    def reset(cls) -> Fault:
        return cls(FaultKind.RESET)


@dataclass(slots=True)
class _PendingFault:
    fault: Fault
    remaining: int
    popup: str | None


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}, ensure_ascii=False).encode()


# --------------------------------------------------------------------------- the simulator


class Simulator(SimulatedCalls):
    """Clickfono's ``calls/list`` over real HTTP, in a background thread; thread-safe.

    ``seed=None`` is manual mode (no generated calls). Simulated time is
    ``clock()`` when given, else ``start_at + elapsed real time × speed``; ``advance``
    adds to either. ``burst`` adds that many quick calls around ``start_at``.
    """

    def __init__(
        self,
        token: str,
        *,
        seed: int | None = None,
        start_at: datetime | None = None,
        speed: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        burst: int = 0,
    ) -> None:
        super().__init__(seed=seed, start_at=start_at, speed=speed, clock=clock, burst=burst)
        self._token = token.encode()
        self._faults: list[_PendingFault] = []
        self._requests: list[RequestRecord] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Listen on ``host:port`` (0: a free port); returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        server = _Server((host, port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="clickfono-simulator",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections (stalled answers end at once)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://host:port``: what CLICKFONO_BASE_URL should be."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        host = str(self._server.server_address[0])
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"  # noqa: S104  # nosec B104 - prints a URL, binds nothing

    # ---- faults and the request log

    def inject(self, fault: Fault, times: int = 1, *, popup: str | None = None) -> None:
        """Apply ``fault`` to the next ``times`` requests (only those for ``popup`` if given)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_PendingFault(fault, times, popup))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many requests still have a fault waiting for them."""
        with self._lock:
            return sum(pending.remaining for pending in self._faults)

    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        with self._lock:
            return tuple(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- answering (called from the handler threads)

    def _answer(self, params: Mapping[str, str], token_ok: bool) -> tuple[int, bytes]:
        """The documented contract: 401, 400 (bad date), 404 (popup), 204 or 200."""
        if not token_ok:
            return 401, _error_body("Token inválido")
        with self._lock:
            now = self.now()
            self._sync(now)
            text = params.get("date", "")
            if text:
                if not _DATE.fullmatch(text):
                    return 400, _error_body("Fecha inválida, use YYYY-MM-DD")
                try:
                    day = date.fromisoformat(text)
                except ValueError:
                    return 400, _error_body("Fecha inválida, use YYYY-MM-DD")
            else:
                day = now.date()
            popup = params.get("popup_uuid") or None
            if popup is not None and popup not in self._popups:
                return 404, _error_body("Popup no encontrado")
            records = self._records(day, popup, now)
        if not records:
            return 204, b""
        return 200, json.dumps(records, ensure_ascii=False).encode()

    def _take_fault(self, popup: str | None) -> Fault | None:
        with self._lock:
            for pending in self._faults:
                if pending.popup is None or pending.popup == popup:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    return pending.fault
        return None

    def _log_start(self, entry: RequestRecord) -> None:
        with self._lock:
            self._requests.append(entry)

    def _log_end(self, entry: RequestRecord, status: int | None) -> None:
        done = replace(entry, finished=time.monotonic(), status=status)
        with self._lock:
            for index in range(len(self._requests) - 1, -1, -1):
                if self._requests[index] is entry:
                    self._requests[index] = done
                    return

    def _token_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self._token)


# --------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 stalls a 6th popup reconnecting at once for a SYN retransmit.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Tracked so stop() can end idle keep-alive connections and stalled answers.
        sock = request if isinstance(request, socket.socket) else None
        if sock is not None:
            with self._connections_lock:
                self._connections.add(sock)
        try:
            super().finish_request(request, client_address)
        finally:
            if sock is not None:
                with self._connections_lock:
                    self._connections.discard(sock)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # A client that gives up mid-answer is normal here (deadlines, fault tests).
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClickfonoSimulator/1.0"
    sys_version = ""
    _entry: RequestRecord | None = None

    @property
    def _simulator(self) -> Simulator:
        return cast(_Server, self.server).simulator

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator keeps its own request log."""

    def do_GET(self) -> None:
        simulator = self._simulator
        url = urlsplit(self.path)
        query = tuple(parse_qsl(url.query, keep_blank_values=True))
        params = dict(query)
        sent = self.headers.get("security-token")
        fault = (
            simulator._take_fault(params.get("popup_uuid") or None) if url.path == PATH else None
        )
        self._entry = RequestRecord(
            "GET",
            url.path,
            query,
            sent is not None,
            simulator._token_matches(sent),
            time.monotonic(),
            fault=fault.kind.value if fault else None,
            connection=self.client_address[1],
        )
        simulator._log_start(self._entry)
        try:
            if url.path != PATH:
                self._send(404, _error_body("Not Found"))
            else:
                self._serve(fault, params, self._entry.token_ok)
        except OSError:
            self.close_connection = True  # the client went away
        finally:
            self._answered(None)

    def _answered(self, status: int | None) -> None:
        # Logged just before the last bytes go out, so a client holding the whole answer
        # always finds it complete in the log (tests count and compare without polling).
        if self._entry is not None:
            self._simulator._log_end(self._entry, status)
            self._entry = None

    def _not_allowed(self) -> None:
        self._send(405, _error_body("Method Not Allowed"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _not_allowed

    def _serve(self, fault: Fault | None, params: Mapping[str, str], token_ok: bool) -> None:
        simulator = self._simulator
        if fault is None:
            self._send(*simulator._answer(params, token_ok))
            return
        if fault.kind is FaultKind.HANG and simulator._stopping.wait(fault.seconds):
            self.close_connection = True
            return
        content_type = _JSON
        match fault.kind:
            case FaultKind.STATUS:
                status, body = fault.status, _error_body(f"HTTP {fault.status}")
            case FaultKind.NOT_JSON:
                status, body, content_type = 200, _NOT_JSON_BODY, "text/html; charset=utf-8"
            case FaultKind.NOT_LIST:
                status, body = 200, _NOT_LIST_BODY
            case FaultKind.EMPTY:
                status, body = 200, b""
            case FaultKind.VENDOR_EXAMPLE:
                status, body = 200, VENDOR_EXAMPLE_BODY
            case _:
                status, body = simulator._answer(params, token_ok)
        if fault.kind is FaultKind.TRICKLE:
            self._trickle(status, body, fault)
        elif fault.kind is FaultKind.RESET:
            self._reset(status, body)
        else:
            self._send(status, body, content_type)

    def _send(self, status: int, body: bytes, content_type: str = _JSON) -> None:
        self.send_response(status)
        if status == 204:
            body = b""
        else:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if not body:
            self._answered(status)
        self.end_headers()
        if body:
            self._answered(status)
            self.wfile.write(body)

    def _trickle(self, status: int, body: bytes, fault: Fault) -> None:
        if status == 204:
            status, body = 200, b"[]"
        chunks = max(1, math.ceil(fault.seconds / fault.interval))
        body = body.ljust(chunks, b" ")  # JSON allows trailing whitespace
        size = math.ceil(len(body) / chunks)
        self.send_response(status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for offset in range(0, len(body), size):
            if self._simulator._stopping.wait(fault.interval):
                self.close_connection = True
                return
            if offset + size >= len(body):
                self._answered(status)
            self.wfile.write(body[offset : offset + size])

    def _reset(self, status: int, body: bytes) -> None:
        if status == 204 or len(body) < 2:
            status, body = 200, b"[]"
        body = body.ljust(64, b" ")
        self.send_response(status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self._answered(None)  # no complete answer
        # Linger 0: close() sends RST instead of FIN, as a crashed proxy would.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


# --------------------------------------------------------------------------- command line


def demo_start(
    speed: float, *, now: datetime | None = None, window: timedelta = timedelta(minutes=15)
) -> datetime:
    """Where a demo's simulated clock starts: now, or earlier today when at ``speed`` the
    simulated day would end within ``window`` of real time.

    The notifier asks for the real date, so once simulated time passes midnight the new
    calls land in a list it does not poll; starting earlier keeps the demo lively.
    """
    real = (now or datetime.now(UTC)).astimezone(ZONE)
    latest = local_midnight(real.date() + _ONE_DAY) - window * speed
    return max(local_midnight(real.date()), min(real.astimezone(UTC), latest)).astimezone(ZONE)


def serve(host: str, port: int, token: str, speed: float, seed: int) -> None:
    """Serve a generated day until Ctrl-C or SIGTERM (``clickfono-notifier simulate``)."""
    if speed < 0:
        raise ConfigError("--speed must not be negative")
    simulator = Simulator(
        token, seed=seed, speed=speed, start_at=demo_start(speed), burst=DEMO_BURST
    )
    try:
        simulator.start(host, port)
    except OSError as exc:
        raise NotifierError(
            f"simulator cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    done = threading.Event()
    restore = _stop_on_sigterm(done)
    try:
        sys.stdout.write(
            f"Clickfono simulator listening on {simulator.base_url}{PATH} "
            f"(seed {seed}, speed {speed:g}x, simulated time {vendor_time(simulator.now())}); "
            "Ctrl-C stops it\n"
        )
        sys.stdout.flush()
        while not done.wait(0.5):  # a timed wait keeps Ctrl-C responsive everywhere
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        restore()


def _stop_on_sigterm(done: threading.Event) -> Callable[[], None]:
    """Make SIGTERM (containers) stop like Ctrl-C; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    return restore
