"""The apprise sink with the real Apprise library against real receivers on 127.0.0.1.

``json://`` and ``form://`` URLs point at ``WebhookReceiver``s this test starts; each URL
carries a fake token in its path or credentials, so the tests can prove it never leaks.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from notifier import logs
from notifier.config import DEFAULT_EVENTS, load_settings
from notifier.delivery import DeliveryWorker
from notifier.errors import ConfigError, SinkError
from notifier.events import Event, event_id
from notifier.messages import Wording
from notifier.sinks import build_sinks, sink_filters, sink_names
from notifier.sinks.apprise import (
    CONCURRENCY,
    STORM_THRESHOLD,
    AppriseSink,
    escape_markdown,
    parse_targets,
)
from notifier.store import Store
from tests.support.samples import SPEC_CALL
from tests.support.webhook_fixtures import WebhookReceiver

TOKEN = "tok3nS3cretValue9f8e7d6c5b4a"
PASSWORD = "pa55wordS3cretXyZ42"


def make_event(n: int = 1, kind: str = "call.attempts_exhausted", **call: object) -> Event:
    at = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC) + timedelta(seconds=n)
    body = {**SPEC_CALL, "uuid": f"call-{n:04d}", **call}
    return Event(kind, event_id("apprise-test", n, kind), at, body, previous_status="En cola")


def json_url(receiver: WebhookReceiver) -> str:
    return f"json://127.0.0.1:{receiver.port}/hooks/{TOKEN}"


def form_url(receiver: WebhookReceiver) -> str:
    return f"form://agent:{PASSWORD}@127.0.0.1:{receiver.port}/in"


def sink_for(url: str, language: str = "es") -> AppriseSink:
    (target,) = parse_targets(url)
    return AppriseSink(target, Wording(language=language), timeout=5)  # type: ignore[arg-type]


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    """Two independent receivers (two destinations), no signature checking."""
    first, second = WebhookReceiver().start(), WebhookReceiver().start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_json_url_delivers_the_spanish_wording_as_markdown(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """A json:// URL gets one POST per event with the messages.py title and a Markdown body."""
    receiver, _ = receivers
    sink = sink_for(json_url(receiver))
    try:
        outcomes = await sink.send([make_event(1)])
    finally:
        await sink.aclose()
    assert outcomes == [None]
    (delivery,) = receiver.alerts
    assert delivery.path == f"/hooks/{TOKEN}"
    payload = delivery.payload
    assert payload["title"] == "Cliente sin contactar"
    assert payload["type"] == "failure"
    assert "Devolverle la llamada lo antes posible." in payload["message"]
    assert "Juan Perez" in payload["message"]


async def test_form_url_delivers_in_english(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """A form:// URL (credentials in the URL) gets a form POST with the English wording."""
    receiver, _ = receivers
    sink = sink_for(form_url(receiver), language="en")
    try:
        assert await sink.send([make_event(1, "call.spam", status="SPAM")]) == [None]
    finally:
        await sink.aclose()
    (delivery,) = receiver.alerts
    assert delivery.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(delivery.body.decode())
    assert form["title"] == ["Call marked as SPAM"]
    assert form["type"] == ["warning"]
    assert "Juan Perez" in form["message"][0]


async def test_customer_text_cannot_format_link_or_mention(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """Hostile additionals arrive escaped: no Markdown link, bold, HTML or live @everyone."""
    receiver, _ = receivers
    hostile = "**x** [clic](http://evil.example) <b>@everyone</b>\n# title"
    sink = sink_for(json_url(receiver))
    try:
        await sink.send([make_event(1, additionals={"Nombre": hostile})])
    finally:
        await sink.aclose()
    message = receiver.alerts[0].payload["message"]
    assert "[clic](" not in message and "**x**" not in message and "<b>" not in message
    assert "@everyone" not in message and "\n# title" not in message
    assert escape_markdown(hostile) in message


async def test_a_500_is_a_sink_error_that_names_no_token(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """A failing receiver gives a SinkError with the HTTP status, the host, and no token."""
    receiver, _ = receivers
    receiver.fail(500)
    sink = sink_for(json_url(receiver))
    try:
        (outcome,) = await sink.send([make_event(1)])
    finally:
        await sink.aclose()
    assert isinstance(outcome, SinkError)
    assert str(outcome) == f"apprise json://127.0.0.1:{receiver.port} answered HTTP 500"


async def test_a_refused_connection_is_a_sink_error(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """A receiver that is down gives a one-line SinkError, not an exception."""
    receiver, _ = receivers
    receiver.stop()
    sink = sink_for(json_url(receiver))
    try:
        (outcome,) = await sink.send([make_event(1)])
    finally:
        await sink.aclose()
    assert isinstance(outcome, SinkError)
    assert "not delivered" in str(outcome) and TOKEN not in str(outcome)


async def test_failure_then_recovery_through_the_outbox_loses_nothing(
    store: Store, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    """Two URLs, one answering 500 once: the real worker retries only that URL, and the
    healthy URL gets each event exactly once."""
    healthy, flaky = receivers
    sinks = [sink_for(json_url(healthy)), sink_for(form_url(flaky))]
    assert sinks[0].name != sinks[1].name
    events = [make_event(1), make_event(2)]
    await store.commit("", {}, {}, {s.name: events for s in sinks})
    flaky.fail(500, times=1)
    workers = [
        DeliveryWorker(store, s, retry_schedule=(0, 0), visibility_timeout=30) for s in sinks
    ]
    try:
        first = [await w.deliver_batch() for w in workers]
        assert [(r.delivered, r.retrying) for r in first] == [(2, 0), (1, 1)]
        second = [await w.deliver_batch() for w in workers]
        assert [(r.taken, r.delivered) for r in second] == [(0, 0), (1, 1)]
    finally:
        for s in sinks:
            await s.aclose()
    assert len(healthy.alerts) == 2
    assert [d.status for d in flaky.alerts] == [500, 200, 200]
    depths = await store.queue_depths([s.name for s in sinks])
    assert depths == {s.name: (0, 0) for s in sinks}


async def test_a_url_that_keeps_failing_ends_in_dead_letters(
    store: Store, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    """After the schedule is exhausted the event is a dead letter of that URL's sink only,
    with an error that names no token."""
    healthy, broken = receivers
    broken.fail(503)
    sinks = [sink_for(json_url(healthy)), sink_for(json_url(broken))]
    event = make_event(1)
    await store.commit("", {}, {}, {s.name: [event] for s in sinks})
    workers = [DeliveryWorker(store, s, retry_schedule=(0,), visibility_timeout=30) for s in sinks]
    try:
        for _ in range(3):
            for w in workers:
                await w.deliver_batch()
    finally:
        for s in sinks:
            await s.aclose()
    letters = await store.dead_letters([s.name for s in sinks])
    assert [(d.sink, d.event.id, d.attempts) for d in letters] == [(sinks[1].name, event.id, 2)]
    assert letters[0].error == f"apprise json://127.0.0.1:{broken.port} answered HTTP 503"
    assert len(healthy.alerts) == 1 and len(broken.alerts) == 2


async def test_secrets_never_reach_logs_errors_or_check(
    store: Store,
    receivers: tuple[WebhookReceiver, WebhookReceiver],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With our logging at debug and the root logger at debug, a failing delivery through
    the real worker shows no token in stdout, stderr, dead letters, errors or check."""
    receiver, _ = receivers
    receiver.fail(500)
    logs.configure("debug", "json")
    root = logging.getLogger()
    level, root.level = root.level, logging.DEBUG
    sinks = [sink_for(json_url(receiver)), sink_for(form_url(receiver))]
    try:
        await store.commit("", {}, {}, {s.name: [make_event(1)] for s in sinks})
        for s in sinks:
            await DeliveryWorker(store, s, retry_schedule=(), visibility_timeout=30).deliver_batch()
        checks = [await s.check() for s in sinks]
    finally:
        root.setLevel(level)
        for s in sinks:
            await s.aclose()
    captured = capsys.readouterr()
    letters = await store.dead_letters([s.name for s in sinks])
    shown = [d.error or "" for d in letters] + [c.detail for c in checks]
    everything = "\n".join([*shown, captured.out, captured.err])
    assert len(letters) == 2 and captured.err.count('"delivery_failed"') == 2
    assert TOKEN not in everything and PASSWORD not in everything
    assert f"json://127.0.0.1:{receiver.port}" in checks[0].detail


async def test_check_parses_without_sending_and_hides_token_hosts(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """check reports each URL as parsing, sends nothing, and for a service whose 'host' is
    a token (Telegram) shows only the scheme and the service name."""
    receiver, _ = receivers
    bot = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    sinks = [sink_for(json_url(receiver)), sink_for(f"tgram://{bot}/987654321")]
    try:
        checks = [await s.check() for s in sinks]
    finally:
        for s in sinks:
            await s.aclose()
    assert all(c.ok for c in checks)
    assert checks[1].detail.startswith("tgram:// (Telegram): parses as Telegram")
    assert bot not in checks[1].detail and "987654321" not in checks[1].detail
    assert receiver.deliveries == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bogus://abc/def", "URL #1 (bogus://…) is not a valid Apprise URL"),
        (
            "json://127.0.0.1/x, msteams://tEnant0kenAbc123/xyz",
            "Teams connectors (msteams://) are retired: use a workflows:// URL",
        ),
    ],
)
def test_unparseable_urls_are_named_by_position_never_shown(text: str, expected: str) -> None:
    """A URL Apprise cannot parse is reported by position and scheme, with no token."""
    with pytest.raises(ValueError, match="not a valid Apprise URL") as info:
        parse_targets(text)
    assert expected in str(info.value)
    assert "abc/def" not in str(info.value) and "tEnant0kenAbc123" not in str(info.value)


def test_workflows_urls_parse_and_names_are_stable() -> None:
    """A Teams workflows:// URL parses; names follow each URL, not its position, and a URL
    listed twice is one sink."""
    teams = (
        "workflows://prod-27.westus.logic.azure.com:443/abcdef0123456789/?signature=s1gnatureXyz"
    )
    other = "json://127.0.0.1:9/x"
    first = parse_targets(f"{teams},{other}")
    second = parse_targets(f"{other}, {teams}, {other}")
    assert {t.name for t in first} == {t.name for t in second}
    assert len(second) == 2
    (workflow,) = [t for t in first if t.scheme == "workflows"]
    assert workflow.shown == "workflows://prod-27.westus.logic.azure.com:443"
    assert workflow.name.startswith("apprise-workflows-")


async def test_a_storm_is_one_digest_but_operational_events_stay_apart(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """More than STORM_THRESHOLD call events in one batch are one digest message; an
    operational event in the same batch is still its own message."""
    receiver, _ = receivers
    calls = [make_event(n) for n in range(STORM_THRESHOLD + 5)]
    outage = Event(
        "notifier.source_recovered",
        event_id("apprise-test", "recovered"),
        datetime(2026, 11, 24, 13, 0, tzinfo=UTC),
        detail={"failures": 4, "since": "2026-11-24T12:55:00Z"},
    )
    events = [*calls[:3], outage, *calls[3:]]
    sink = sink_for(json_url(receiver))
    try:
        assert await sink.send(events) == [None] * len(events)
    finally:
        await sink.aclose()
    digest, single = receiver.alerts
    assert str(len(calls)) in digest.payload["title"]
    assert single.payload["title"].startswith("Clickfono volvió a responder")


async def test_a_hostile_status_cannot_format_the_title(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """A status Clickfono made up reaches the title escaped: no Markdown link."""
    receiver, _ = receivers
    event = make_event(1, "call.status_changed", status="[clic](http://evil.example)")
    sink = sink_for(json_url(receiver))
    try:
        await sink.send([event])
    finally:
        await sink.aclose()
    title = receiver.alerts[0].payload["title"]
    assert "[clic](" not in title and "clic" in title


async def test_plugins_run_off_the_loop_with_bounded_concurrency(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """Slow receivers do not block the event loop, and no more than CONCURRENCY
    notifications are in flight across all apprise sinks."""
    receiver, _ = receivers
    receiver.latency = 0.3
    urls = [f"json://127.0.0.1:{receiver.port}/hooks/{n}" for n in range(CONCURRENCY + 3)]
    sinks = [sink_for(u) for u in urls]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    clock = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(s.send([make_event(1)]) for s in sinks))
    finally:
        clock.cancel()
        for s in sinks:
            await s.aclose()
    assert results == [[None]] * len(sinks)
    assert receiver.max_in_flight == CONCURRENCY
    assert ticks >= 30  # ≥ 0.6 s of sends, the loop ticked all along


def test_apprise_urls_build_one_sink_per_url_with_apprise_events(
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    """APPRISE_URLS gives one sink per URL through the registry, each filtered by
    APPRISE_EVENTS (default: SLACK_EVENTS' default), and every name is listed for dead
    letters."""
    first, second = receivers
    settings = load_settings(
        {"CLICKFONO_TOKEN": "t0ken-value", "APPRISE_URLS": f"{json_url(first)}, {form_url(second)}"}
    )
    assert settings.apprise_events == DEFAULT_EVENTS
    sinks = build_sinks(settings, None)  # type: ignore[arg-type]
    try:
        names = [s.name for s in sinks]
        assert len(names) == 2 and all(n.startswith("apprise-") for n in names)
        filters = sink_filters(settings, sinks)
        assert all(f.admits("call.spam") and not f.admits("call.created") for f in filters.values())
        assert set(names) <= set(sink_names(settings))
        custom = load_settings(
            {"CLICKFONO_TOKEN": "t0ken-value", "APPRISE_URLS": json_url(first),
             "APPRISE_EVENTS": "call.*"}
        )  # fmt: skip
        assert sink_filters(custom, sinks[:1])[names[0]].admits("call.created")
    finally:
        for s in sinks:
            asyncio.run(s.aclose())  # type: ignore[arg-type]


def test_an_invalid_apprise_url_is_a_configuration_error_without_its_token() -> None:
    """load_settings rejects an unparseable URL naming APPRISE_URLS, its position and
    scheme, and never its token."""
    with pytest.raises(ConfigError) as info:
        load_settings(
            {"CLICKFONO_TOKEN": "t0ken-value",
             "APPRISE_URLS": f"json://127.0.0.1/{TOKEN},msteams://{TOKEN}/x"}
        )  # fmt: skip
    text = str(info.value)
    assert text.startswith("APPRISE_URLS: URL #2 (msteams://…) is not a valid Apprise URL")
    assert "workflows://" in text and TOKEN not in text


def test_apprise_is_imported_only_when_configured() -> None:
    """Without APPRISE_URLS, loading settings and building sinks never imports apprise."""
    code = (
        "import sys\n"
        "from notifier.config import load_settings\n"
        "from notifier.sinks import build_sinks, sink_names\n"
        "s = load_settings({'CLICKFONO_TOKEN': 't', 'WEBHOOK_URL': 'http://127.0.0.1:9/x'})\n"
        "build_sinks(s, None); sink_names(s)\n"
        "print('apprise' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
