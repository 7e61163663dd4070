"""Outbound HTTP webhook, signed per the Standard Webhooks specification.

One ``POST WEBHOOK_URL`` per event. The body is ``Event.payload()`` (SPEC.md's shape)
as compact UTF-8 JSON; the headers are ``webhook-id`` (the event id, so receivers can
deduplicate), ``webhook-timestamp`` (Unix seconds of this attempt) and, when
``WEBHOOK_SECRET`` is set, ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` computed by
the ``standardwebhooks`` library, so any official Standard Webhooks library verifies it).

Messages of the errors returned here never contain the URL (it may embed a token) nor
the secret: they name only what happened (``webhook answered HTTP 500``).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from notifier import __version__
from notifier.config import Settings
from notifier.errors import ConfigError, SinkError
from notifier.events import Event
from notifier.logs import get_logger
from notifier.sinks.base import CheckResult, OnOutcome, ignore_outcome, parse_retry_after

__all__ = ["WebhookSink"]

log = get_logger(__name__)

USER_AGENT = f"clickfono-notifier/{__version__}"
# Statuses whose Retry-After is honoured (RFC 9110 §10.2.3: 503 and 3xx; RFC 6585: 429).
_RETRY_AFTER_STATUSES = frozenset({429, 503})


class WebhookSink:
    """The ``webhook`` sink: signed JSON POSTs with bounded concurrency.

    ``send`` delivers a batch with at most ``NOTIFIER_WEBHOOK_CONCURRENCY`` requests in
    flight for this sink (across concurrent ``send`` calls too). Each request has a
    deadline of ``WEBHOOK_TIMEOUT`` seconds on the whole exchange (connect, upload,
    answer), enforced with ``asyncio.timeout`` because httpx's read timeout applies per
    chunk. Any 2xx is success. Anything else, a timeout or a connection failure is a
    ``SinkError`` outcome; a 429 or 503 with ``Retry-After`` (seconds or HTTP date)
    carries it as ``retry_after``. Redirects are not followed (a 3xx is a failure), so a
    signed body never goes somewhere else.

    Connections: the bound is a set of slots, each an ``httpx.AsyncClient`` limited to
    one keep-alive connection (all sharing one TLS context), rather than one client with
    a pool of N connections. httpcore's pool does bookkeeping quadratic in its size on
    every request; one 16-connection client delivered about 2.5 times fewer events per
    second than 16 one-connection clients (``benchmarks/bench_webhook.py``). Connections
    are still reused from one event to the next. With an injected ``transport`` (the seam
    for tests, e.g. ``httpx.MockTransport``) there is one client over that transport and
    the slots only bound concurrency.

    ``check`` sends ``HEAD WEBHOOK_URL`` with the header ``webhook-test: true`` and no
    body: HEAD has no side effects, so a receiver never mistakes it for an alert. Any
    HTTP answer, even 404 or 405, proves the endpoint is reachable; a timeout or a
    connection failure does not.
    """

    name = "webhook"

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = settings.webhook_url.get_secret_value()
        if not self._url:
            raise ConfigError("WEBHOOK_URL: required for the webhook sink")
        secret = settings.webhook_secret.get_secret_value()
        self._signer: Webhook | None = None
        if secret:
            try:
                self._signer = Webhook(secret)
            except (EmptyWebhookSecretError, binascii.Error, ValueError):
                raise ConfigError(
                    "WEBHOOK_SECRET: expected a Standard Webhooks secret such as "
                    "whsec_<base64 bytes>"
                ) from None
        self._timeout = settings.webhook_timeout
        self._concurrency = settings.notifier_webhook_concurrency
        self._transport = transport
        self._clients: list[httpx.AsyncClient] = []
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()

    def _ensure_clients(self) -> None:
        """Build the keep-alive clients on first use: the TLS context and 16 clients cost
        ~60 ms, which a `once` that sends nothing should not pay."""
        if self._clients:
            return
        if self._transport is not None:
            self._clients = [self._client(transport=self._transport)]
        else:
            tls = httpx.create_ssl_context()
            self._clients = [self._client(verify=tls) for _ in range(self._concurrency)]
        for i in range(self._concurrency):
            self._free.put_nowait(self._clients[i % len(self._clients)])

    def _client(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={"user-agent": USER_AGENT},
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            transport=transport,
            verify=verify,
            follow_redirects=False,
        )

    @property
    def signed(self) -> bool:
        """True when every request carries ``webhook-signature``."""
        return self._signer is not None

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        """One outcome per event, in order: None when a 2xx answered, else a SinkError."""
        return await self.send_each(events, ignore_outcome)

    async def send_each(
        self, events: Sequence[Event], on_outcome: OnOutcome
    ) -> list[SinkError | None]:
        """``send`` that awaits ``on_outcome(index, outcome)`` as each answer arrives."""

        async def one(index: int, event: Event) -> SinkError | None:
            outcome = await self._deliver(event)
            await on_outcome(index, outcome)
            return outcome

        if not events:
            return []
        return list(await asyncio.gather(*(one(i, e) for i, e in enumerate(events))))

    async def check(self) -> CheckResult:
        """Reach the endpoint with ``HEAD`` + ``webhook-test: true``; never an alert."""
        async with self._slot() as client:
            answer = await self._exchange(client, "HEAD", headers={"webhook-test": "true"})
        if isinstance(answer, SinkError):
            return CheckResult(self.name, False, str(answer))
        signing = "signed" if self.signed else "unsigned (WEBHOOK_SECRET not set)"
        return CheckResult(
            self.name, True, f"reachable (HTTP {answer.status_code} to HEAD); {signing}"
        )

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[httpx.AsyncClient]:
        """Wait for a free slot; its client is this request's alone until released."""
        self._ensure_clients()
        client = await self._free.get()
        try:
            yield client
        finally:
            self._free.put_nowait(client)

    def _headers(self, event_id: str, body: str) -> dict[str, str]:
        seconds = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(seconds),
        }
        if self._signer is not None:
            instant = datetime.fromtimestamp(seconds, UTC)
            headers["webhook-signature"] = self._signer.sign(event_id, instant, body)
        return headers

    async def _deliver(self, event: Event) -> SinkError | None:
        body = json.dumps(event.payload(), separators=(",", ":"), ensure_ascii=False)
        async with self._slot() as client:
            # Signed inside the slot, so the timestamp is the moment of sending.
            headers = self._headers(event.id, body)
            answer = await self._exchange(client, "POST", headers=headers, content=body.encode())
        if isinstance(answer, SinkError):
            return answer
        status = answer.status_code
        if 200 <= status < 300:
            return None
        retry_after = None
        if status in _RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(answer.headers.get("retry-after"))
        return SinkError(f"webhook answered HTTP {status}", retry_after=retry_after)

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        method: str,
        *,
        headers: dict[str, str],
        content: bytes | None = None,
    ) -> httpx.Response | SinkError:
        """The answer, or the SinkError explaining why there is none (never the URL)."""
        try:
            async with asyncio.timeout(self._timeout):
                return await client.request(method, self._url, headers=headers, content=content)
        except (TimeoutError, httpx.TimeoutException):
            return SinkError(f"webhook timed out after {self._timeout:g}s")
        except httpx.HTTPError as exc:
            return SinkError(f"webhook unreachable: {type(exc).__name__}")
        except Exception as exc:  # never raise for a delivery failure
            log.error("webhook_request_crashed", error=type(exc).__name__, exc_info=exc)
            return SinkError(f"webhook request failed: {type(exc).__name__}")
