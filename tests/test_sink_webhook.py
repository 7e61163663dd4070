"""The signed webhook sink against a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from notifier.config import Settings, load_settings
from notifier.errors import ConfigError, SinkError
from notifier.events import CALL_ATTEMPTS_EXHAUSTED, CALL_SPAM, Event, event_id
from notifier.sinks.base import Sink, parse_retry_after
from notifier.sinks.webhook import WebhookSink
from tests.support.redis_server import free_port
from tests.support.samples import SPEC_CALL
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

# SPEC.md's example call and the webhook body it documents for call.attempts_exhausted.
SPEC_BODY: dict[str, Any] = {
    "type": "call.attempts_exhausted",
    "timestamp": "2026-11-24T13:05:09Z",
    "data": {"call": SPEC_CALL, "previous_status": "En cola"},
}
URL_TOKEN = "tok-9f8e7d6c5b4a"  # a fake token embedded in the URL

SinkFactory = Callable[..., Awaitable[WebhookSink]]


def spec_event() -> Event:
    return Event(
        type=CALL_ATTEMPTS_EXHAUSTED,
        id=event_id(CALL_ATTEMPTS_EXHAUSTED, SPEC_CALL["uuid"], "Intentos terminados"),
        detected_at=datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC),
        call=SPEC_CALL,
        previous_status="En cola",
    )


def make_events(count: int) -> list[Event]:
    return [
        Event(
            type=CALL_SPAM,
            id=event_id("test", i),
            detected_at=datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC),
            call=dict(SPEC_CALL, uuid=f"call-{i:04d}", status="SPAM"),
            previous_status="En cola",
        )
        for i in range(count)
    ]


def settings_for(url: str, secret: str | None = WEBHOOK_TEST_SECRET, **env: str) -> Settings:
    values = {"CLICKFONO_TOKEN": "test-token", "WEBHOOK_URL": url, "WEBHOOK_TIMEOUT": "5"}
    if secret:
        values["WEBHOOK_SECRET"] = secret
    values.update(env)
    return load_settings(env=values)


@pytest.fixture
async def make_sink() -> AsyncIterator[SinkFactory]:
    """Builds sinks from env-style values and closes them after the test."""
    sinks: list[WebhookSink] = []

    async def factory(
        url: str, secret: str | None = WEBHOOK_TEST_SECRET, **env: str
    ) -> WebhookSink:
        sink = WebhookSink(settings_for(url, secret, **env))
        sinks.append(sink)
        return sink

    yield factory
    for sink in sinks:
        await sink.aclose()


def assert_no_leak(text: str, url: str) -> None:
    assert url not in text
    assert URL_TOKEN not in text
    assert WEBHOOK_TEST_SECRET not in text
    assert WEBHOOK_TEST_SECRET.removeprefix("whsec_") not in text
    assert "127.0.0.1" not in text


async def test_is_a_sink_named_webhook(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """WebhookSink satisfies the Sink protocol under the name 'webhook'."""
    sink = await make_sink(webhook_receiver.url)
    assert isinstance(sink, Sink)
    assert sink.name == "webhook"


async def test_body_is_spec_payload(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """The body of a call.attempts_exhausted POST is SPEC.md's example, compact JSON."""
    sink = await make_sink(webhook_receiver.url)
    assert await sink.send([spec_event()]) == [None]
    [delivery] = webhook_receiver.alerts
    assert delivery.method == "POST"
    assert delivery.path == "/hooks/in"
    assert delivery.payload == SPEC_BODY
    compact = json.dumps(SPEC_BODY, separators=(",", ":"), ensure_ascii=False).encode()
    assert delivery.body == compact


async def test_headers_and_signature(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Each POST has JSON content type, webhook-id = event id, a current timestamp, a
    user-agent, and a signature the receiver verifies with standardwebhooks."""
    event = spec_event()
    sink = await make_sink(webhook_receiver.url)
    before = int(time.time())
    assert await sink.send([event]) == [None]
    [delivery] = webhook_receiver.alerts
    headers = delivery.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == event.id
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert headers["user-agent"].startswith("clickfono-notifier/")
    assert headers["webhook-signature"].startswith("v1,")
    assert delivery.verified is True, delivery.verify_error
    # Independently of the receiver: the official library accepts it too.
    assert Webhook(WEBHOOK_TEST_SECRET).verify(delivery.body, headers) == SPEC_BODY


async def test_receiver_rejects_wrong_secret(make_sink: SinkFactory) -> None:
    """A signature made with another secret fails the receiver's verification."""
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    with WebhookReceiver(WEBHOOK_TEST_SECRET) as receiver:
        sink = await make_sink(receiver.url, other)
        assert await sink.send([spec_event()]) == [None]
        [delivery] = receiver.alerts
        assert delivery.verified is False
        assert delivery.verify_error == "No matching signature found"


async def test_no_signature_without_secret(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Without WEBHOOK_SECRET there is no webhook-signature header, but id and timestamp."""
    sink = await make_sink(webhook_receiver.url, secret=None)
    assert not sink.signed
    assert await sink.send([spec_event()]) == [None]
    [delivery] = webhook_receiver.alerts
    assert "webhook-signature" not in delivery.headers
    assert delivery.headers["webhook-id"] == spec_event().id
    assert "webhook-timestamp" in delivery.headers
    assert delivery.verified is False


def test_invalid_secret_is_a_config_error() -> None:
    """Settings whose secret decodes to nothing make the sink raise a ConfigError naming
    WEBHOOK_SECRET (defence in depth: load_settings rejects it first)."""
    valid = settings_for("http://127.0.0.1:9/x")
    broken = valid.model_copy(update={"webhook_secret": SecretStr("whsec_")})
    with pytest.raises(ConfigError, match=r"^WEBHOOK_SECRET: expected a Standard Webhooks"):
        WebhookSink(broken)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_any_2xx_is_success(
    status: int, webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Any 2xx answer counts as delivered."""
    webhook_receiver.respond_with(status)
    sink = await make_sink(webhook_receiver.url)
    assert await sink.send(make_events(3)) == [None, None, None]
    assert [d.status for d in webhook_receiver.alerts] == [status] * 3


async def test_empty_batch_sends_nothing(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """An empty batch returns no outcomes and makes no request."""
    sink = await make_sink(webhook_receiver.url)
    assert await sink.send([]) == []
    assert webhook_receiver.deliveries == []


@pytest.mark.parametrize("status", [301, 400, 404, 410, 500, 502])
async def test_failure_status_is_a_sink_error_for_that_event_only(
    status: int, webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """A non-2xx answer for one event is its SinkError; the rest of the batch succeeds."""
    events = make_events(5)
    webhook_receiver.fail(status, webhook_id=events[2].id)
    sink = await make_sink(webhook_receiver.url + f"?token={URL_TOKEN}")
    outcomes = await sink.send(events)
    assert [o is None for o in outcomes] == [True, True, False, True, True]
    error = outcomes[2]
    assert isinstance(error, SinkError)
    assert str(error) == f"webhook answered HTTP {status}"
    assert error.retry_after is None
    assert sorted(webhook_receiver.accepted_ids()) == sorted(
        e.id for i, e in enumerate(events) if i != 2
    )


async def test_timeout_is_a_sink_error_for_that_event_only(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """A receiver that hangs past the deadline yields a timeout SinkError, in about the
    deadline; the rest of the batch succeeds."""
    events = make_events(4)
    webhook_receiver.hang(30, webhook_id=events[1].id)
    sink = await make_sink(webhook_receiver.url, WEBHOOK_TIMEOUT="0.5")
    started = time.monotonic()
    outcomes = await sink.send(events)
    elapsed = time.monotonic() - started
    assert outcomes[0] is None and outcomes[2] is None and outcomes[3] is None
    assert isinstance(outcomes[1], SinkError)
    assert str(outcomes[1]) == "webhook timed out after 0.5s"
    assert 0.4 < elapsed < 5


async def test_deadline_covers_a_slow_trickling_answer(make_sink: SinkFactory) -> None:
    """The deadline bounds the whole exchange, even when every chunk arrives in time."""

    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(50):
            await asyncio.sleep(0.05)
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    sink = WebhookSink(
        settings_for("http://hooks.invalid/x", WEBHOOK_TIMEOUT="0.3"),
        transport=httpx.MockTransport(handler),
    )
    try:
        started = time.monotonic()
        [outcome] = await sink.send(make_events(1))
        assert isinstance(outcome, SinkError)
        assert str(outcome) == "webhook timed out after 0.3s"
        assert time.monotonic() - started < 2
    finally:
        await sink.aclose()


async def test_connection_reset_is_a_sink_error_for_that_event_only(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """A connection reset without an answer is 'webhook unreachable: …' for that event."""
    events = make_events(3)
    webhook_receiver.reset(webhook_id=events[0].id)
    sink = await make_sink(webhook_receiver.url)
    outcomes = await sink.send(events)
    assert outcomes[1:] == [None, None]
    assert isinstance(outcomes[0], SinkError)
    assert str(outcomes[0]).startswith("webhook unreachable: ")


async def test_refused_connection_is_a_sink_error_per_event(make_sink: SinkFactory) -> None:
    """Nothing listening: every event gets 'webhook unreachable: ConnectError'."""
    sink = await make_sink(f"http://127.0.0.1:{free_port()}/hooks?token={URL_TOKEN}")
    outcomes = await sink.send(make_events(3))
    assert [str(o) for o in outcomes] == ["webhook unreachable: ConnectError"] * 3
    assert all(isinstance(o, SinkError) and o.retry_after is None for o in outcomes)


async def test_recovers_after_receiver_restart(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Pooled connections to a receiver that went away do not poison later sends."""
    sink = await make_sink(webhook_receiver.url)
    assert await sink.send(make_events(2)) == [None, None]
    webhook_receiver.stop()
    down = await sink.send(make_events(2))
    assert all(isinstance(o, SinkError) for o in down)
    webhook_receiver.start()
    assert await sink.send(make_events(2)) == [None, None]


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_honoured(
    status: int, webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """A 429/503 with Retry-After in seconds becomes SinkError.retry_after."""
    webhook_receiver.fail(status, retry_after="7", times=1)
    sink = await make_sink(webhook_receiver.url)
    [outcome] = await sink.send(make_events(1))
    assert isinstance(outcome, SinkError)
    assert str(outcome) == f"webhook answered HTTP {status}"
    assert outcome.retry_after == 7.0
    assert await sink.send(make_events(1)) == [None]  # times=1 has run out


async def test_retry_after_http_date_is_honoured(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """A 503 with Retry-After as an HTTP date becomes the seconds until that date."""
    when = datetime.now(UTC) + timedelta(seconds=120)
    webhook_receiver.fail(503, retry_after=format_datetime(when, usegmt=True))
    sink = await make_sink(webhook_receiver.url)
    [outcome] = await sink.send(make_events(1))
    assert isinstance(outcome, SinkError)
    assert outcome.retry_after is not None
    assert 110 <= outcome.retry_after <= 121


async def test_retry_after_ignored_on_other_statuses(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Retry-After on a 500 is not honoured (only 429 and 503 carry it)."""
    webhook_receiver.fail(500, retry_after="7")
    sink = await make_sink(webhook_receiver.url)
    [outcome] = await sink.send(make_events(1))
    assert isinstance(outcome, SinkError)
    assert outcome.retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("  30 ", 30.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Wed, 25 Nov 2026 13:07:09 GMT", 120.0),
        ("Tue, 24 Nov 2026 00:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After parses as delay-seconds or an HTTP date; garbage gives None."""
    now = datetime(2026, 11, 25, 13, 5, 9, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


async def test_concurrency_is_bounded(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """With NOTIFIER_WEBHOOK_CONCURRENCY=3 the receiver sees 3 requests at once, no more."""
    webhook_receiver.latency = 0.3
    sink = await make_sink(webhook_receiver.url, NOTIFIER_WEBHOOK_CONCURRENCY="3")
    outcomes = await sink.send(make_events(12))
    assert outcomes == [None] * 12
    assert webhook_receiver.max_in_flight == 3


async def test_concurrency_bound_spans_concurrent_sends(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Two send() calls at once share the bound of one sink."""
    webhook_receiver.latency = 0.3
    sink = await make_sink(webhook_receiver.url, NOTIFIER_WEBHOOK_CONCURRENCY="2")
    first, second = await asyncio.gather(sink.send(make_events(4)), sink.send(make_events(4)))
    assert first + second == [None] * 8
    assert webhook_receiver.max_in_flight == 2


async def test_concurrency_is_bounded_with_injected_transport() -> None:
    """With an injected transport the slots still bound requests in flight."""
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return httpx.Response(202)

    sink = WebhookSink(
        settings_for("http://hooks.invalid/x", NOTIFIER_WEBHOOK_CONCURRENCY="4"),
        transport=httpx.MockTransport(handler),
    )
    try:
        assert await sink.send(make_events(20)) == [None] * 20
    finally:
        await sink.aclose()
    assert peak == 4


async def test_outcomes_keep_batch_order(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Outcomes are in event order even when answers arrive out of order."""
    events = make_events(8)
    for event in events[::2]:
        webhook_receiver.fail(500, webhook_id=event.id)
    sink = await make_sink(webhook_receiver.url)
    outcomes = await sink.send(events)
    assert [o is None for o in outcomes] == [False, True] * 4


async def test_errors_never_contain_url_or_secret(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """No outcome or check detail names the URL, its token or the secret."""
    url = webhook_receiver.url + f"?token={URL_TOKEN}"
    events = make_events(4)
    webhook_receiver.fail(500, webhook_id=events[0].id)
    webhook_receiver.fail(429, retry_after="3", webhook_id=events[1].id)
    webhook_receiver.reset(webhook_id=events[2].id)
    webhook_receiver.hang(30, webhook_id=events[3].id)
    sink = await make_sink(url, WEBHOOK_TIMEOUT="0.5")
    outcomes = await sink.send(events)
    assert all(isinstance(o, SinkError) for o in outcomes)
    refused_url = f"http://127.0.0.1:{free_port()}/hooks?token={URL_TOKEN}"
    refused = await make_sink(refused_url)
    outcomes += await refused.send(events[:1])
    check = await refused.check()
    texts = [str(o) for o in outcomes] + [repr(o) for o in outcomes] + [check.detail]
    for text in texts:
        assert_no_leak(text, url)
        assert_no_leak(text, refused_url)


async def test_check_reaches_without_alerting(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """check() sends a HEAD marked webhook-test and reports reachable; no alert arrives."""
    sink = await make_sink(webhook_receiver.url)
    result = await sink.check()
    assert result.name == "webhook"
    assert result.ok, result.detail
    assert result.detail == "reachable (HTTP 200 to HEAD); signed"
    assert webhook_receiver.alerts == []
    [probe] = webhook_receiver.probes
    assert probe.method == "HEAD"
    assert probe.headers["webhook-test"] == "true"
    assert probe.body == b""


@pytest.mark.parametrize("status", [404, 405, 500])
async def test_check_counts_any_http_answer_as_reachable(
    status: int, webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """Any HTTP answer to the probe, even 4xx/5xx, means the endpoint is reachable."""
    webhook_receiver.fail(status)
    sink = await make_sink(webhook_receiver.url, secret=None)
    result = await sink.check()
    assert result.ok
    assert result.detail == (
        f"reachable (HTTP {status} to HEAD); unsigned (WEBHOOK_SECRET not set)"
    )


async def test_check_fails_when_unreachable(make_sink: SinkFactory) -> None:
    """A refused connection makes check() not ok, with a one-line reason."""
    sink = await make_sink(f"http://127.0.0.1:{free_port()}/hooks")
    result = await sink.check()
    assert not result.ok
    assert result.detail == "webhook unreachable: ConnectError"


async def test_check_fails_on_timeout(
    webhook_receiver: WebhookReceiver, make_sink: SinkFactory
) -> None:
    """A probe that gets no answer within the deadline makes check() not ok."""
    webhook_receiver.hang(30)
    sink = await make_sink(webhook_receiver.url, WEBHOOK_TIMEOUT="0.3")
    result = await sink.check()
    assert not result.ok
    assert result.detail == "webhook timed out after 0.3s"


async def test_unexpected_transport_error_is_an_outcome() -> None:
    """An unexpected exception inside the transport becomes a SinkError, never a raise."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"boom {request.url}")

    sink = WebhookSink(
        settings_for(f"http://hooks.invalid/x?token={URL_TOKEN}"),
        transport=httpx.MockTransport(handler),
    )
    try:
        [outcome] = await sink.send(make_events(1))
    finally:
        await sink.aclose()
    assert str(outcome) == "webhook request failed: RuntimeError"
