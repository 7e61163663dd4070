"""A real webhook receiver on 127.0.0.1 that verifies Standard Webhooks signatures.

``WebhookReceiver`` is a stdlib ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) in a
background thread. It records every request as a ``Delivery`` (headers, raw and parsed
body, signature verification, what it answered) and can be told at runtime to
misbehave, for the next N requests (``times=N``) or until ``heal()``, optionally only
for one ``webhook-id``:

    receiver.fail(500)                          # answer 500
    receiver.fail(429, retry_after="7")         # 429 + Retry-After (seconds or HTTP date)
    receiver.hang(5.0, times=1)                 # hold the request 5 s, then drop it
    receiver.reset(webhook_id=event.id)         # TCP reset, no answer
    receiver.respond_with(204)                  # the status of a normal answer
    receiver.latency = 0.2                      # delay before every normal answer
    receiver.heal()                             # forget every rule

``receiver.alerts`` are the POSTs without ``webhook-test: true``; ``receiver.probes``
the rest (``check()``'s HEAD). ``receiver.accepted_ids()`` are the ``webhook-id`` values
answered with a 2xx. ``stop()`` refuses connections (open keep-alive connections
included) and ``start()`` serves again on the same port, for outage stories.

The published contract is enforced on every receiver: each POST that carries a
``webhook-id`` (what the webhook sink sends) has its headers and JSON body validated with
``jsonschema`` against the OpenAPI document ``notifier.schema`` generates (the one
committed as docs/webhooks.openapi.json). Violations are kept on the ``Delivery``
(``contract_errors``), and the autouse fixture ``webhook_contract_check`` fails any test
whose receivers got a payload outside the contract; a test that sends one on purpose
takes them with ``receiver.expect_contract_violations()``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.wait import async_wait_for, wait_for

__all__ = [
    "WEBHOOK_TEST_SECRET",
    "Delivery",
    "WebhookReceiver",
    "contract_errors",
    "webhook_contract_check",
    "webhook_receiver",
]

# A valid Standard Webhooks secret: "whsec_" + base64 of 32 bytes (fixed, test-only).
WEBHOOK_TEST_SECRET = "whsec_" + base64.b64encode(
    hashlib.sha256(b"clickfono-notifier tests").digest()
).decode("ascii")

Action = Literal["fail", "hang", "reset"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request the receiver got, and what it did with it."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    payload: Any
    """The parsed JSON body, or None when empty or not JSON."""
    verified: bool | None
    """Signature check with the receiver's secret; None when it has no secret."""
    verify_error: str | None
    outcome: str
    """``answered`` (status below), ``hang`` (dropped after holding), ``reset``, or
    ``truncated`` (the sender died mid-body: not delivered)."""
    status: int | None
    """The HTTP status answered; None when no answer was sent."""
    received_at: float
    """``time.monotonic()`` at arrival."""
    contract_errors: tuple[str, ...] = ()
    """Where the request breaks the published webhook contract (empty: it conforms)."""

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    @property
    def is_probe(self) -> bool:
        """A reachability probe (``webhook-test: true`` or not a POST), never an alert."""
        return self.method != "POST" or self.headers.get("webhook-test", "") == "true"

    @property
    def accepted(self) -> bool:
        """Answered with a 2xx: the sender may count it as delivered."""
        return self.status is not None and 200 <= self.status < 300


_CONTRACT_LOCK = threading.Lock()


def _contract() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The contract, built once: the receiver's request threads would otherwise build it
    concurrently, and pydantic's schema generation (inspect, ast) is not thread-safe."""
    with _CONTRACT_LOCK:
        return _build_contract()


@functools.cache
def _build_contract() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Per event type a body validator, and the header parameters, from notifier.schema."""
    from jsonschema import Draft202012Validator

    from notifier.schema import DIALECT, build_document

    document = build_document()
    bodies: dict[str, Any] = {}
    for event_type, operation in document["webhooks"].items():
        post = operation["post"]
        ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        root = {"$schema": DIALECT, "components": document["components"], "$ref": ref}
        bodies[event_type] = Draft202012Validator(
            root, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    headers = list(document["components"]["parameters"].values())
    header_checks = {h["name"]: Draft202012Validator(h["schema"]) for h in headers}
    return bodies, header_checks, headers


def contract_errors(headers: dict[str, str], body: bytes) -> tuple[str, ...]:
    """Where a webhook request (lower-cased headers, raw body) breaks the published
    contract: one line per problem, empty when it conforms."""
    bodies, header_checks, parameters = _contract()
    problems: list[str] = []
    for parameter in parameters:
        name = parameter["name"]
        value = headers.get(name)
        if value is None:
            if parameter["required"]:
                problems.append(f"header {name}: missing")
            continue
        for error in header_checks[name].iter_errors(value):
            problems.append(f"header {name}: {error.message}")
    try:
        payload = json.loads(body)
    except ValueError:
        return (*problems, "body: not JSON")
    event_type = payload.get("type") if isinstance(payload, dict) else None
    validator = bodies.get(event_type) if isinstance(event_type, str) else None
    if validator is None:
        return (*problems, f"body: type {event_type!r} is not in the contract")
    if validator.is_valid(payload):
        return tuple(problems)
    for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        problems.append(f"{event_type} {where}: {error.message}")
    return tuple(problems)


_VIOLATIONS: list[str] = []
"""Contract violations seen by any receiver during the current test."""
_VIOLATIONS_LOCK = threading.Lock()


@pytest.fixture(autouse=True)
def webhook_contract_check() -> Iterator[None]:
    """Fails a test whose webhook receivers got a payload outside the published contract."""
    with _VIOLATIONS_LOCK:
        _VIOLATIONS.clear()
    yield
    with _VIOLATIONS_LOCK:
        found = list(_VIOLATIONS)
        _VIOLATIONS.clear()
    if found:
        shown = "; ".join(found[:5]) + (f"; … {len(found) - 5} more" if len(found) > 5 else "")
        pytest.fail(f"webhook payloads outside docs/webhooks.openapi.json: {shown}")


@dataclass(slots=True)
class _Rule:
    action: Action
    remaining: int | None
    webhook_id: str | None
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0

    def matches(self, webhook_id: str | None) -> bool:
        return self.webhook_id is None or self.webhook_id == webhook_id


@dataclass(slots=True)
class _Behaviour:
    action: Action | Literal["answer"]
    status: int
    retry_after: str | None = None
    seconds: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 makes a 6th simultaneous sender wait for a SYN retransmit.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender killed or timed out mid-request is what these tests do on purpose.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read deliveries, not access logs."""

    def do_POST(self) -> None:
        self.server.receiver._handle(self)

    def do_HEAD(self) -> None:
        self.server.receiver._handle(self)

    def do_PUT(self) -> None:
        self.server.receiver._handle(self)

    def do_GET(self) -> None:
        self.server.receiver._handle(self)


class WebhookReceiver:
    """A real HTTP webhook endpoint on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        secret: str | None = None,
        *,
        port: int = 0,
        path: str = "/hooks/in",
        check_contract: bool = True,
    ):
        self.secret = secret
        self.check_contract = check_contract
        """Validate webhook POSTs against the contract (about 0.5 ms each); benchmarks
        that measure throughput may turn it off."""
        self.path = path
        self.latency = 0.0
        self._verifier = Webhook(secret) if secret else None
        self._port = port
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._rules: list[_Rule] = []
        self._success_status = 200
        self._in_flight = 0
        self._max_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._released = threading.Event()

    # Lifecycle.

    def start(self) -> WebhookReceiver:
        """Serve (again) on the same port; the first start picks a free one."""
        if self._server is not None:
            return self
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", self._port), self)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webhook-receiver-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Refuse new connections, drop open ones and release hanging requests."""
        server, self._server = self._server, None
        if server is None:
            return
        self._released.set()
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The endpoint to put in WEBHOOK_URL (append a query string if you like)."""
        return f"http://127.0.0.1:{self._port}{self.path}"

    # Behaviour.

    def respond_with(self, status: int) -> None:
        """The status of a normal answer (200 by default; e.g. 202 or 204)."""
        self._success_status = status

    def fail(
        self,
        status: int = 500,
        *,
        times: int | None = None,
        retry_after: str | None = None,
        webhook_id: str | None = None,
    ) -> None:
        """Answer ``status`` (with ``Retry-After`` when given) to the next ``times``
        matching requests, or until ``heal()`` when ``times`` is None."""
        self._add(_Rule("fail", times, webhook_id, status=status, retry_after=retry_after))

    def hang(
        self, seconds: float, *, times: int | None = None, webhook_id: str | None = None
    ) -> None:
        """Hold matching requests ``seconds`` without answering, then drop the connection."""
        self._add(_Rule("hang", times, webhook_id, seconds=seconds))

    def reset(self, *, times: int | None = None, webhook_id: str | None = None) -> None:
        """Reset the connection (TCP RST) of matching requests without answering."""
        self._add(_Rule("reset", times, webhook_id))

    def heal(self) -> None:
        """Forget every failure rule; requests are answered normally again."""
        with self._lock:
            self._rules.clear()

    def _add(self, rule: _Rule) -> None:
        if rule.remaining is not None and rule.remaining < 1:
            raise ValueError("times must be 1 or more (or None for 'until heal()')")
        with self._lock:
            self._rules.append(rule)

    # What was received.

    @property
    def deliveries(self) -> list[Delivery]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._deliveries)

    @property
    def alerts(self) -> list[Delivery]:
        """POSTs that are not probes: what a real receiver would treat as events."""
        return [d for d in self.deliveries if not d.is_probe]

    @property
    def probes(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.is_probe]

    def accepted_ids(self) -> list[str]:
        """``webhook-id`` of every alert answered with a 2xx, in arrival order."""
        return [d.webhook_id or "" for d in self.alerts if d.accepted]

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being handled at the same time."""
        with self._lock:
            return self._max_in_flight

    def clear(self) -> None:
        """Forget recorded deliveries and the concurrency high-water mark."""
        with self._lock:
            self._deliveries.clear()
            self._max_in_flight = self._in_flight

    def expect_contract_violations(self) -> list[str]:
        """The contract violations this receiver saw, taken off the end-of-test check."""
        mine = [e for d in self.deliveries for e in d.contract_errors]
        with _VIOLATIONS_LOCK:
            for error in mine:
                if error in _VIOLATIONS:
                    _VIOLATIONS.remove(error)
        return mine

    def wait_for_alerts(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Block until at least ``count`` alerts arrived (fails after ``timeout``)."""
        wait_for(lambda: len(self.alerts) >= count, timeout, message=f"{count} webhook alerts")
        return self.alerts

    async def async_wait_for_alerts(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Async twin of ``wait_for_alerts`` that keeps the event loop running."""
        await async_wait_for(
            lambda: len(self.alerts) >= count, timeout, message=f"{count} webhook alerts"
        )
        return self.alerts

    # Request handling (runs in the server's threads).

    def _choose(self, webhook_id: str | None) -> _Behaviour:
        with self._lock:
            for rule in self._rules:
                if rule.matches(webhook_id):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining == 0:
                            self._rules.remove(rule)
                    return _Behaviour(rule.action, rule.status, rule.retry_after, rule.seconds)
            return _Behaviour("answer", self._success_status, None, self.latency)

    def _verify(self, body: bytes, headers: dict[str, str]) -> tuple[bool | None, str | None]:
        if self._verifier is None:
            return None, None
        try:
            self._verifier.verify(body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError) as exc:
            return False, str(exc) or type(exc).__name__
        return True, None

    def _handle(self, handler: _Handler) -> None:
        arrived = time.monotonic()
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            length = int(handler.headers.get("content-length") or 0)
            body = handler.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in handler.headers.items()}
            if len(body) < length:
                # The sender died mid-request (kill -9): nothing was delivered, and there
                # is nobody left to answer. Recorded, never accepted nor contract-checked.
                self._record(
                    Delivery(
                        handler.command, handler.path, headers, body, None, False,
                        "truncated body", "truncated", None, arrived, (),
                    )
                )  # fmt: skip
                return
            try:
                payload = json.loads(body) if body else None
            except ValueError:
                payload = None
            verified, error = self._verify(body, headers)
            checked: tuple[str, ...] = ()
            if self.check_contract and handler.command == "POST" and "webhook-id" in headers:
                checked = contract_errors(headers, body)
                if checked:
                    with _VIOLATIONS_LOCK:
                        _VIOLATIONS.extend(checked)
            behaviour = self._choose(headers.get("webhook-id"))
            status: int | None = None
            outcome = "answered"
            if behaviour.action in ("fail", "answer"):
                status = behaviour.status
            else:
                outcome = behaviour.action
            self._record(
                Delivery(
                    handler.command, handler.path, headers, body, payload, verified, error,
                    outcome, status, arrived, checked,
                )
            )  # fmt: skip
            self._act(handler, behaviour)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def _act(self, handler: _Handler, behaviour: _Behaviour) -> None:
        if behaviour.action == "hang":
            self._released.wait(behaviour.seconds)
            self._abort(handler, rst=False)
            return
        if behaviour.action == "reset":
            self._abort(handler, rst=True)
            return
        if behaviour.seconds > 0:
            self._released.wait(behaviour.seconds)
        answer = b"" if behaviour.status in (204, 304) else b'{"ok":true}'
        if behaviour.action == "fail":
            answer = json.dumps({"error": f"simulated HTTP {behaviour.status}"}).encode()
        try:
            handler.send_response(behaviour.status)
            if answer:
                handler.send_header("content-type", "application/json")
            if behaviour.retry_after is not None:
                handler.send_header("retry-after", behaviour.retry_after)
            if behaviour.status != 204:
                handler.send_header("content-length", str(len(answer)))
            handler.end_headers()
            if handler.command != "HEAD" and answer:
                handler.wfile.write(answer)
        except OSError:
            handler.close_connection = True

    @staticmethod
    def _abort(handler: _Handler, *, rst: bool) -> None:
        handler.close_connection = True
        conn = handler.connection
        try:
            if rst:  # linger 0: close() sends RST instead of FIN
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        except OSError:
            pass


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running receiver that verifies signatures with ``WEBHOOK_TEST_SECRET``."""
    receiver = WebhookReceiver(WEBHOOK_TEST_SECRET).start()
    try:
        yield receiver
    finally:
        receiver.stop()
