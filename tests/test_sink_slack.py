"""The Slack sink against a fake Slack on 127.0.0.1 and the real Redis store."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier import events as ev
from notifier import messages
from notifier.config import Settings, load_settings
from notifier.errors import SinkError, StoreError
from notifier.events import Event
from notifier.messages import Wording, format_phone
from notifier.sinks.base import Sink
from notifier.sinks.slack import SlackSink
from notifier.sinks.slack_blocks import DIGEST_MAX_MESSAGES, digest_messages
from notifier.store import Store
from tests.support.samples import SPEC_CALL
from tests.support.slack_fixtures import FakeSlack, SlackRequest

POPUP_A = "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0"
POPUP_B = "99aa0000-0000-0000-0000-000000000000"
DETECTED = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC)
EVENT_ID = "evt_25822fc3046e587e3dba822b"


def call_event(
    kind: str = ev.CALL_ATTEMPTS_EXHAUSTED,
    uuid: str = "a93460bbf8402e15b9b0afddc05d5e8d",
    status: str = "Intentos terminados",
    popup: str = POPUP_A,
    previous: str | None = "En cola",
    number: str = "+56987654321",
) -> Event:
    return Event(
        type=kind,
        id=f"evt_{kind}_{uuid}_{status}",
        detected_at=DETECTED,
        call={
            **SPEC_CALL,
            "uuid": uuid,
            "status": status,
            "call_at": "2026-11-24T10:05:03-03:00",
            "popup_uuid": popup,
            "caller_number": number,
        },
        previous_status=previous,
    )


def bot_settings(fake: FakeSlack, **env: str) -> Settings:
    base = {
        "CLICKFONO_TOKEN": "t",
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_CHANNEL": "#alertas",
        "SLACK_API_URL": fake.base_url,
    }
    return load_settings({**base, **env})


def hook_settings(fake: FakeSlack, **env: str) -> Settings:
    base = {"CLICKFONO_TOKEN": "t", "SLACK_WEBHOOK_URL": fake.webhook_url}
    return load_settings({**base, **env})


@pytest.fixture
async def make_sink(store: Store) -> AsyncIterator[Callable[..., SlackSink]]:
    """Builds SlackSinks on the real Redis store and closes them after the test."""
    sinks: list[SlackSink] = []

    def build(settings: Settings, **options: Any) -> SlackSink:
        sink = SlackSink(settings, store, **options)
        sinks.append(sink)
        return sink

    yield build
    for sink in sinks:
        await sink.aclose()


def posts(fake: FakeSlack) -> list[SlackRequest]:
    return [r for r in fake.calls("chat.postMessage") if r.ok]


def block_text(body: dict[str, Any]) -> str:
    return json.dumps(body.get("blocks"), ensure_ascii=False)


async def test_sink_protocol_and_block_kit(slack_api: FakeSlack, make_sink: Any) -> None:
    """An alert is posted as Block Kit with a plain-text fallback, in Spanish by default."""
    sink = make_sink(bot_settings(slack_api))
    assert isinstance(sink, Sink) and sink.name == "slack"
    assert await sink.send([dataclasses.replace(call_event(), id=EVENT_ID)]) == [None]
    [post] = posts(slack_api)
    assert post.body["channel"] == "#alertas"
    assert post.body["blocks"][0]["type"] == "header"
    assert "Cliente sin contactar" in post.body["blocks"][0]["text"]["text"]
    headline = post.body["blocks"][1]["text"]["text"]
    assert headline == "*Devolver la llamada a Juan Perez (+56 9 8765 4321)*"
    assert "Devolverle la llamada lo antes posible" in block_text(post.body)
    assert post.body["text"].startswith("Cliente sin contactar")
    assert "Devolverle la llamada lo antes posible" in post.body["text"]
    # The event id is only the header's invisible block_id, never text agents read.
    assert post.body["blocks"][0]["block_id"] == EVENT_ID
    assert "evt_" not in json.dumps([post.body["text"], *section_texts(post.body)])


async def test_routes_by_popup(slack_api: FakeSlack, make_sink: Any) -> None:
    """SLACK_CHANNEL_BY_POPUP picks the channel; unmapped popups go to SLACK_CHANNEL."""
    mapping = json.dumps({POPUP_B: "#ventas"})
    sink = make_sink(bot_settings(slack_api, SLACK_CHANNEL_BY_POPUP=mapping))
    batch = [call_event(uuid="c1", popup=POPUP_A), call_event(uuid="c2", popup=POPUP_B)]
    assert await sink.send(batch) == [None, None]
    channels = {p.body["channel"] for p in posts(slack_api)}
    assert channels == {"#alertas", "#ventas"}


async def test_second_alert_threads_and_updates_parent(
    slack_api: FakeSlack, make_sink: Any, store: Store
) -> None:
    """A later alert about a call replies in its thread and chat.update refreshes the parent."""
    clock = lambda: datetime(2026, 11, 24, 13, 30, tzinfo=UTC)  # noqa: E731
    sink = make_sink(bot_settings(slack_api), clock=clock)
    first = call_event(ev.CALL_QUEUED_TOO_LONG, status="En cola", previous="Por ejecutar")
    assert await sink.send([first]) == [None]
    [parent] = posts(slack_api)
    assert "thread_ts" not in parent.body
    parent_ts = await store.get_thread("#alertas", first.call_uuid or "")
    assert parent_ts is not None

    second = call_event(ev.CALL_ATTEMPTS_EXHAUSTED)
    assert await sink.send([second]) == [None]
    reply = posts(slack_api)[1]
    assert reply.body["thread_ts"] == parent_ts
    assert reply.body["reply_broadcast"] is True
    assert slack_api.calls("chat.update") == []  # queued, not sent behind the outbox's back
    [queued] = await store.take("slack", 30)
    assert queued.event.type == ev.SLACK_UPDATE
    assert await sink.send([queued.event]) == [None]
    [update] = slack_api.calls("chat.update")
    assert update.body["ts"] == parent_ts
    assert update.body["channel"] == "#alertas"
    assert "Intentos terminados" in block_text(update.body)
    assert "actualizado a las 10:30. El historial está en el hilo" in block_text(update.body)


def section_texts(body: dict[str, Any]) -> list[str]:
    texts = []
    for block in body["blocks"]:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", []) if "text" in e]
    return texts


async def test_storm_names_every_unreached_customer_within_5_calls(
    slack_api: FakeSlack, make_sink: Any
) -> None:
    """A 200-alert storm (SPAM detected first) costs at most 5 Slack API calls, within
    Block Kit's limits, and names every unreached customer by number, before the SPAM."""
    sink = make_sink(bot_settings(slack_api, SLACK_STORM_THRESHOLD="20"))
    batch = [call_event(ev.CALL_SPAM, uuid=f"spam{i:03d}", status="SPAM") for i in range(50)]
    batch += [call_event(uuid=f"call{i:03d}", number=f"+5699{i:07d}") for i in range(150)]
    outcomes = await sink.send(batch)
    assert outcomes == [None] * 200
    assert 1 <= len(slack_api.requests) <= 5
    digests = posts(slack_api)
    assert len(digests) == len(slack_api.requests)
    shown = "\n".join(block_text(d.body) for d in digests)
    for i in range(150):
        assert format_phone(f"+5699{i:07d}") in shown
    assert shown.index("150 clientes sin contactar") < shown.index("50 llamadas SPAM")
    assert shown.count("+56 9 8765 4321") == 3  # SPAM: a count and a few examples
    for digest in digests:
        assert len(digest.body["blocks"]) <= 50
        assert all(len(t) <= 3000 for t in section_texts(digest.body))
    first = digests[0].body["text"]
    assert first.startswith("200 alertas de Clickfono")
    assert "150 clientes sin contactar" in first and "50 llamadas SPAM" in first
    assert "ciclo" not in shown + first
    assert slack_api.calls("chat.update") == []


async def test_updates_are_never_folded_into_a_digest(
    slack_api: FakeSlack, make_sink: Any, store: Store
) -> None:
    """A storm batch that also holds message updates posts one digest and still sends
    each call's update, one chat.update per call however many updates it had."""
    sink = make_sink(bot_settings(slack_api, SLACK_STORM_THRESHOLD="3"))
    parents = [call_event(uuid=f"p{i}") for i in range(2)]
    assert await sink.send(parents) == [None, None]
    for parent in parents:
        follow_up = call_event(ev.CALL_SPAM, uuid=parent.call_uuid or "", status="SPAM")
        await store.queue_update("slack", "#alertas", parent.call_uuid or "", follow_up)
    # A second update of p0 (a later change) must collapse with the first.
    later = call_event(ev.CALL_SPAM, uuid="p0", status="Conectada")
    await store.queue_update("slack", "#alertas", "p0", later)
    updates = [q.event for q in await store.take("slack", 30)]
    assert len(updates) == 3
    storm = [call_event(uuid=f"s{i}") for i in range(5)]
    assert await sink.send([*storm, *updates]) == [None] * 8
    assert len(posts(slack_api)) == 3  # two parents, one digest
    calls = slack_api.calls("chat.update")
    assert len(calls) == 2 and all(c.ok for c in calls)
    edited = {c.body["ts"]: block_text(c.body) for c in calls}
    p0_ts = await store.get_thread("#alertas", "p0")
    assert p0_ts is not None and "Conectada" in edited[p0_ts]  # the latest, not the first


async def test_storm_is_per_channel(slack_api: FakeSlack, make_sink: Any) -> None:
    """Only the channel over the threshold gets a digest; the other gets normal messages."""
    mapping = json.dumps({POPUP_B: "#ventas"})
    sink = make_sink(
        bot_settings(slack_api, SLACK_STORM_THRESHOLD="3", SLACK_CHANNEL_BY_POPUP=mapping)
    )
    batch = [call_event(uuid=f"a{i}") for i in range(4)] + [call_event(uuid="b0", popup=POPUP_B)]
    assert await sink.send(batch) == [None] * 5
    by_channel = {p.body["channel"]: p.body["text"] for p in posts(slack_api)}
    assert len(posts(slack_api)) == 2
    assert by_channel["#alertas"].startswith("4 alertas")
    assert by_channel["#ventas"].startswith("Cliente sin contactar")


async def test_short_429_is_retried_by_the_handler(slack_api: FakeSlack, make_sink: Any) -> None:
    """A 429 with a short Retry-After delays the post, which the sdk's handler then delivers."""
    sink = make_sink(bot_settings(slack_api))
    slack_api.rate_limit(1, retry_after=1)
    assert await sink.send([call_event()]) == [None]
    limited, delivered = slack_api.calls("chat.postMessage")
    assert (limited.status, delivered.status) == (429, 200)
    assert delivered.at - limited.at >= 0.95


async def test_long_429_returns_retry_after(slack_api: FakeSlack, make_sink: Any) -> None:
    """A long Retry-After comes back as SinkError.retry_after, and the channel is not hammered."""
    sink = make_sink(bot_settings(slack_api))
    slack_api.rate_limit(5, retry_after=30)
    outcomes = await sink.send([call_event(uuid="c1"), call_event(uuid="c2")])
    assert all(isinstance(o, SinkError) and o.retry_after == 30 for o in outcomes)
    assert len(slack_api.calls("chat.postMessage")) == 1


async def test_api_error_fails_only_that_event(slack_api: FakeSlack, make_sink: Any) -> None:
    """A Slack error becomes that event's SinkError; the rest of the batch is delivered."""
    sink = make_sink(bot_settings(slack_api, SLACK_CHANNEL_BY_POPUP=json.dumps({POPUP_B: "#b"})))
    slack_api.fail(1, error="channel_not_found")
    outcomes = await sink.send([call_event(uuid="c1"), call_event(uuid="c2", popup=POPUP_B)])
    failed = [o for o in outcomes if o is not None]
    assert len(failed) == 1 and "channel_not_found" in str(failed[0])
    assert len(posts(slack_api)) == 1


async def test_pacing_spaces_posts_one_second_apart(slack_api: FakeSlack, make_sink: Any) -> None:
    """Posts to one channel are spaced about one second apart through Redis slots."""
    sink = make_sink(bot_settings(slack_api))
    batch = [call_event(uuid=f"c{i}") for i in range(3)]
    assert await sink.send(batch) == [None] * 3
    times = [p.at for p in posts(slack_api)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 2
    assert all(0.9 <= gap <= 1.6 for gap in gaps), gaps


async def test_webhook_mode(slack_api: FakeSlack, make_sink: Any) -> None:
    """Without a bot token the incoming webhook gets Block Kit, and nothing is threaded."""
    sink = make_sink(hook_settings(slack_api, NOTIFIER_LANGUAGE="en"))
    assert await sink.send([call_event()]) == [None]
    assert await sink.send([call_event(ev.CALL_SPAM, status="SPAM")]) == [None]
    first, second = slack_api.calls("webhook")
    assert first.body["text"].startswith("Customer not reached")
    assert first.body["blocks"][0]["type"] == "header"
    assert "thread_ts" not in second.body
    assert slack_api.calls("chat.postMessage") == slack_api.calls("chat.update") == []


async def test_webhook_failure_hides_the_url(slack_api: FakeSlack, make_sink: Any) -> None:
    """A failing webhook becomes a SinkError whose text does not contain the webhook URL."""
    sink = make_sink(hook_settings(slack_api))
    slack_api.fail(1, error="no_service", status=404)
    [outcome] = await sink.send([call_event()])
    assert isinstance(outcome, SinkError)
    assert "404" in str(outcome)
    assert slack_api.webhook_url not in str(outcome)
    assert "fake-webhook-secret" not in str(outcome)


async def test_masking_reaches_slack(slack_api: FakeSlack, make_sink: Any) -> None:
    """Under NOTIFIER_MASK_PII the posted message keeps only the last 4 digits and hides values."""
    sink = make_sink(bot_settings(slack_api, NOTIFIER_MASK_PII="true"))
    assert await sink.send([call_event()]) == [None]
    body = json.dumps(posts(slack_api)[0].body, ensure_ascii=False)
    assert "+56 9 **** 4321" in body
    assert "8765" not in body and "Perez" not in body and "11.111.111" not in body


async def test_check_uses_auth_test(slack_api: FakeSlack, make_sink: Any) -> None:
    """check() calls auth.test with the bot token and posts nothing."""
    result = await make_sink(bot_settings(slack_api)).check()
    assert result.ok and result.name == "slack"
    assert "#alertas" in result.detail
    [probe] = slack_api.calls("auth.test")
    assert probe.headers["authorization"] == f"Bearer {slack_api.token}"
    assert posts(slack_api) == []


async def test_check_does_not_post_to_a_webhook(slack_api: FakeSlack, make_sink: Any) -> None:
    """check() in webhook mode reports the webhook as configured without sending anything."""
    result = await make_sink(hook_settings(slack_api)).check()
    assert result.ok and "not probed" in result.detail
    assert slack_api.requests == []


async def test_token_never_appears_in_errors(slack_api: FakeSlack, make_sink: Any) -> None:
    """A rejected token and an unreachable Slack produce errors that do not contain the token."""
    secret = "xoxb-secret-token-that-must-not-leak"
    rejected = make_sink(bot_settings(slack_api, SLACK_BOT_TOKEN=secret))
    [outcome] = await rejected.send([call_event()])
    check = await rejected.check()
    assert isinstance(outcome, SinkError) and "invalid_auth" in str(outcome)
    assert not check.ok and "invalid_auth" in check.detail
    down = make_sink(bot_settings(slack_api, SLACK_BOT_TOKEN=secret))
    slack_api.stop()
    [unreachable] = await down.send([call_event(uuid="other")])
    assert isinstance(unreachable, SinkError)
    for text in (str(outcome), check.detail, str(unreachable)):
        assert secret not in text


class BrokenState:
    """A SlackState whose Redis is down."""

    async def get_thread(self, channel: str, call_uuid: str) -> str | None:
        raise StoreError("Redis unavailable (ConnectionError)")

    async def save_thread(self, channel: str, call_uuid: str, ts: str) -> bool:
        raise StoreError("Redis unavailable (ConnectionError)")

    async def set_latest(self, channel: str, call_uuid: str, latest: Event) -> None:
        raise StoreError("Redis unavailable (ConnectionError)")

    async def latest(self, channel: str, call_uuid: str) -> Event | None:
        raise StoreError("Redis unavailable (ConnectionError)")

    async def queue_update(self, sink: str, channel: str, call_uuid: str, latest: Event) -> None:
        raise StoreError("Redis unavailable (ConnectionError)")

    async def reserve_slot(self, channel: str, interval: float) -> float:
        raise StoreError("Redis unavailable (ConnectionError)")


async def test_state_outage_is_a_sink_error(slack_api: FakeSlack) -> None:
    """When Redis is down the events come back as SinkErrors and nothing is posted."""
    sink = SlackSink(bot_settings(slack_api), BrokenState())
    try:
        outcomes = await sink.send([call_event(uuid="c1"), call_event(uuid="c2")])
    finally:
        await sink.aclose()
    assert all(isinstance(o, SinkError) and "Redis" in str(o) for o in outcomes)
    assert slack_api.requests == []


def test_a_huge_storm_is_split_into_a_few_posts_within_block_kit_limits() -> None:
    """600 unreached customers with long names: at most 4 posts, each within 50 blocks and
    3,000 characters a section, listing customers most urgent first and counting the rest."""
    batch = [
        Event(
            type=ev.CALL_ATTEMPTS_EXHAUSTED,
            id=f"evt_{i}",
            detected_at=DETECTED,
            call={
                **SPEC_CALL,
                "uuid": f"u{i}",
                "caller_number": f"+5699{i:07d}",
                "popup_name": "Ventas Web Región Metropolitana",
                "additionals": {"Nombre": f"María José {i} Fernández de la Fuente Larraín"},
            },
        )
        for i in range(600)
    ]
    posts = digest_messages(messages.digest(batch, Wording()))
    assert 2 <= len(posts) <= DIGEST_MAX_MESSAGES
    for text, blocks in posts:
        assert text and len(blocks) <= 50
        assert all(len(t) <= 3000 for t in section_texts({"blocks": blocks}))
    shown = json.dumps([b for _, b in posts], ensure_ascii=False)
    listed = shown.count("+56 9 9000 ")
    assert format_phone("+56990000000") in shown
    assert f"… y {600 - listed} más: revisen el panel de Clickfono." in shown
    assert posts[1][0] == f"600 alertas de Clickfono (2/{len(posts)})"
