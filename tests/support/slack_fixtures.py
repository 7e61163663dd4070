"""A fake Slack on 127.0.0.1: the Web API methods the notifier uses and an incoming webhook.

It is a real HTTP server in a thread, so sync tests, async tests and subprocesses can
all point ``SLACK_API_URL`` / ``SLACK_WEBHOOK_URL`` at it. Every request is recorded.

    slack_api.base_url             # for SLACK_API_URL
    slack_api.webhook_url          # for SLACK_WEBHOOK_URL
    slack_api.token                # the bot token it accepts (others get invalid_auth)
    slack_api.rate_limit(n, retry_after=1)   # the next n requests answer 429
    slack_api.fail(n, error="internal_error", status=200)   # the next n fail (the
                                   # webhook answers 500 with that text when status is 200)
    slack_api.requests             # every SlackRequest so far (copy)
    slack_api.calls("chat.postMessage")      # only those of one method ("webhook" too)
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

__all__ = ["FakeSlack", "SlackRequest", "slack_api"]

WEBHOOK_PATH = "/hooks/services/T0000/B0000/fake-webhook-secret"


@dataclass(frozen=True)
class SlackRequest:
    """One request as the fake received it, and how it answered."""

    method: str
    """Web API method (``chat.postMessage``) or ``webhook``."""
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    """``time.monotonic()`` when it arrived."""
    status: int
    ok: bool
    """Whether the fake accepted it (HTTP 200 and, for the Web API, ``"ok": true``)."""


@dataclass
class _Fault:
    remaining: int
    status: int
    error: str
    retry_after: int | None = None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed or timed out mid-request is what these tests do on purpose.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


@dataclass
class FakeSlack:
    token: str = "xoxb-fake-bot-token-0123456789"
    _requests: list[SlackRequest] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None

    # Control

    def start(self) -> FakeSlack:
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def rate_limit(self, n: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``n`` requests with 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._faults.append(_Fault(n, 429, "ratelimited", retry_after))

    def fail(self, n: int = 1, error: str = "internal_error", status: int = 200) -> None:
        """Fail the next ``n`` requests: ``{"ok": false, "error": error}`` with ``status``."""
        with self._lock:
            self._faults.append(_Fault(n, status, error))

    @property
    def requests(self) -> list[SlackRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[SlackRequest]:
        return [r for r in self.requests if r.method == method]

    # Answers

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            while self._faults and self._faults[0].remaining <= 0:
                self._faults.pop(0)
            if not self._faults:
                return None
            self._faults[0].remaining -= 1
            return self._faults[0]

    def answer(
        self, method: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        fault = self._next_fault()
        status, extra, payload = self._answer(method, headers, body, fault)
        ok = status == 200 and (method == "webhook" or json.loads(payload).get("ok") is True)
        with self._lock:
            self._requests.append(SlackRequest(method, headers, body, time.monotonic(), status, ok))
        return status, extra, payload

    def _answer(
        self, method: str, headers: dict[str, str], body: dict[str, Any], fault: _Fault | None
    ) -> tuple[int, dict[str, str], bytes]:
        webhook = method == "webhook"
        if fault is not None:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            if webhook:
                return fault.status if fault.status != 200 else 500, extra, fault.error.encode()
            return fault.status, extra, _json({"ok": False, "error": fault.error})
        if webhook:
            if not body.get("text") and not body.get("blocks"):
                return 400, {}, b"no_text"
            return 200, {}, b"ok"
        if headers.get("authorization") != f"Bearer {self.token}":
            return 200, {}, _json({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return (
                200,
                {},
                _json(
                    {
                        "ok": True,
                        "url": "https://fake.slack.com/",
                        "team": "Fake",
                        "user": "clickfono-bot",
                        "team_id": "T0000",
                        "user_id": "U0000",
                        "bot_id": "B0000",
                    }
                ),
            )
        if method in ("chat.postMessage", "chat.update"):
            channel = body.get("channel")
            if not channel:
                return 200, {}, _json({"ok": False, "error": "channel_not_found"})
            if method == "chat.update" and not body.get("ts"):
                return 200, {}, _json({"ok": False, "error": "message_not_found"})
            ts = body["ts"] if method == "chat.update" else f"1700000000.{next(self._ts):06d}"
            return (
                200,
                {},
                _json(
                    {
                        "ok": True,
                        "channel": channel,
                        "ts": ts,
                        "message": {"text": body.get("text"), "ts": ts},
                    }
                ),
            )
        return 200, {}, _json({"ok": False, "error": "unknown_method"})


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _decode(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        decoded = json.loads(raw)
        return decoded if isinstance(decoded, dict) else {"_": decoded}
    body: dict[str, Any] = dict(parse_qsl(raw.decode()))
    for key in ("blocks", "attachments"):  # form-encoded clients send these as JSON text
        if isinstance(body.get(key), str):
            body[key] = json.loads(body[key])
    return body


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if path == WEBHOOK_PATH:
                method = "webhook"
            elif path.startswith("/api/"):
                method = path.removeprefix("/api/")
            else:
                self._reply(404, {}, b"not_found", "text/plain")
                return
            body = _decode(headers.get("content-type", ""), raw)
            body.update(dict(parse_qsl(urlsplit(self.path).query)))
            status, extra, payload = fake.answer(method, headers, body)
            kind = "text/plain" if method == "webhook" else "application/json; charset=utf-8"
            self._reply(status, extra, payload, kind)

        def _reply(self, status: int, extra: dict[str, str], payload: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def slack_api() -> Iterator[FakeSlack]:
    """A fake Slack (Web API + incoming webhook) on a free port of 127.0.0.1."""
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()
