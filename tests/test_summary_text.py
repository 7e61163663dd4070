"""The daily summary in words: console line, Slack Block Kit, email HTML, escaping, masking."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.config import load_settings
from notifier.daily import summary_events
from notifier.events import Event
from notifier.messages import Wording
from notifier.sinks import slack as slack_module
from notifier.sinks.console import ConsoleSink
from notifier.sinks.email import EmailSink
from notifier.sinks.slack import SlackSink
from notifier.sinks.summary_render import compose_email, mixed, send_apart
from notifier.store import Store
from notifier.summary import summarise
from notifier.summary_text import is_report, one_line, render, slack_posts
from tests.support.samples import SPEC_CALL
from tests.support.slack_fixtures import FakeSlack
from tests.support.smtp_fixtures import SmtpServer

SANTIAGO = ZoneInfo("America/Santiago")
NOW = datetime(2026, 11, 24, 21, 30, 5, tzinfo=UTC)  # 18:30:05 in Santiago
HOSTILE = "<!channel> & <script>alert(1)</script>"
ES = Wording("es")
EN = Wording("en")


def _call(uuid: str, status: str, hour: int, popup: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        **SPEC_CALL,
        "uuid": uuid,
        "status": status,
        "call_at": datetime(2026, 11, 24, hour, 5, tzinfo=SANTIAGO).isoformat(),
        "popup_uuid": popup,
        "popup_name": name,
        "caller_number": f"+5698765{hash(uuid) % 10000:04d}",
        **extra,
    }


def events_for(calls: list[dict[str, Any]], *, late: bool = False) -> list[Event]:
    summaries = summarise(
        date(2026, 11, 24),
        calls,
        zone=SANTIAGO,
        is_open=lambda at: 9 <= at.astimezone(SANTIAGO).hour < 18,
        waits={calls[0]["uuid"]: 1260.0} if calls else {},
        late=late,
    )
    return summary_events(summaries, NOW)


def big_day() -> list[dict[str, Any]]:
    calls = [_call(f"c{i}", "Conectada", 10, "p1", "Ventas Web") for i in range(45)]
    calls += [
        _call("x1", "Intentos terminados", 11, "p1", "Ventas Web", additionals={"Nombre": HOSTILE}),
        _call("x2", "SPAM", 12, "p1", "Ventas Web"),
        _call("x3", "Fuera de horario", 20, "p1", "Ventas Web"),
    ]
    return calls


def test_every_summary_event_is_a_report_with_a_stable_id() -> None:
    """Events are REPORT kind, one per popup, with the same id when computed again."""
    first, again = events_for(big_day()), events_for(big_day()[:-1])
    assert [e.type for e in first] == ["report.daily_summary"]
    assert is_report(first[0]) and first[0].id == again[0].id
    assert first[0].call is None and first[0].popup_uuid == "p1"


def test_the_webhook_payload_carries_the_counts_of_spec() -> None:
    """data has popup, date, total, statuses, rate, waiting calls and late."""
    [event] = events_for(big_day(), late=True)
    data = event.payload()["data"]
    assert data["popup_uuid"] == "p1" and data["date"] == "2026-11-24"
    assert data["total"] == 48 and data["calls_by_status"]["Conectada"] == 45
    assert data["connected_rate"] == round(45 / 47, 4)
    assert [c["uuid"] for c in data["waiting_callback"]] == ["x1", "x3"]
    assert data["late"] is True and data["longest_wait_seconds"] == 1260
    json.dumps(data)  # JSON-ready


def test_console_prints_one_line_with_the_counts() -> None:
    """The console sink prints one line per popup: counts, rate, waiting, [late]."""
    stream = io.StringIO()
    sink = ConsoleSink(load_settings({"CLICKFONO_TOKEN": "t"}), stream, colour=False)
    [event] = events_for(big_day(), late=True)
    line = sink.format(event)
    assert "\n" not in line
    assert line.startswith("18:30:05  report.daily_summary")
    for part in ("Ventas Web 2026-11-24", "48 llamadas", "96 % conectadas", "1 SPAM"):
        assert part in line
    assert "2 esperando devolución" in line and "espera máx. 21 min" in line
    assert line.endswith("[late]")


def test_slack_message_of_a_big_popup_has_no_buttons_and_escapes_customer_text() -> None:
    """One Block Kit message: header, facts, statuses, the waiting customers, escaped."""
    [event] = events_for(big_day())
    [post] = slack_posts([event], ES)
    assert post.indexes == (0,)
    kinds = [b["type"] for b in post.blocks]
    assert kinds[0] == "header" and "actions" not in kinds
    text = json.dumps(post.blocks, ensure_ascii=False) + post.text
    assert "<!channel>" not in text and "<script>" not in text
    assert "&lt;!channel&gt; &amp; &lt;script&gt;" in text
    assert "Resumen del día: Ventas Web" in post.blocks[0]["text"]["text"]
    assert "Clientes esperando que los llamen de vuelta (2)" in text


def test_several_small_popups_share_one_slack_message() -> None:
    """Small popups go in one message; a big one keeps its own."""
    calls = big_day()
    calls += [
        _call("s1", "Conectada", 10, "p2", "Soporte"),
        _call("s2", "SPAM", 10, "p2", "Soporte"),
    ]
    calls += [_call("k1", "Intentos terminados", 10, "p3", "Cobranzas")]
    events = events_for(calls)
    posts = slack_posts(events, ES)
    by_popup = {e.detail["popup_name"]: i for i, e in enumerate(events)}
    assert {frozenset(p.indexes) for p in posts} == {
        frozenset({by_popup["Ventas Web"]}),
        frozenset({by_popup["Soporte"], by_popup["Cobranzas"]}),
    }
    combined = next(p for p in posts if len(p.indexes) == 2)
    body = json.dumps(combined.blocks, ensure_ascii=False)
    assert "*Cobranzas*" in body and "*Soporte*" in body and "Esperan que los llamen" in body


def test_email_is_an_html_table_per_popup_with_escaped_customer_text() -> None:
    """The email has a facts table, a status table and a table of waiting customers."""
    events = events_for(big_day())
    mail = compose_email(events, ES, "a@example.com", ["b@x.cl"], NOW)
    assert mail["Subject"] == "[Clickfono] Resumen del día martes 24-11-2026: Ventas Web"
    html_part, plain = mail.get_body(("html",)), mail.get_body(("plain",))
    assert html_part is not None and plain is not None
    html = html_part.get_content()
    assert html.count("<table") == 3  # facts, statuses, waiting customers
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Cliente</th>" in html and "Teléfono</th>" in html
    assert "Conectadas: 45 (96 %)" in plain.get_content()


def test_email_masks_customers_under_mask_pii() -> None:
    """NOTIFIER_MASK_PII hides the waiting customers' numbers in the email."""
    events = events_for(big_day())
    number = events[0].detail["waiting_callback"][0]["caller_number"]
    masked = compose_email(events, Wording("es", mask_pii=True), "a@x.cl", ["b@x.cl"], NOW)
    html_part = masked.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "+56 9 ****" in html and number[-8:-4] not in html


def test_english_wording() -> None:
    """NOTIFIER_LANGUAGE=en words the summary in English, statuses with the original."""
    [event] = events_for(big_day())
    text = render(summaries(event), EN, event.id)
    assert text.title == "Daily summary: Ventas Web"
    assert ("Attempts exhausted (Intentos terminados)", 1) in text.statuses
    assert "Customers waiting for a call back (2)" in text.plain_text()
    assert one_line(summaries(event), EN).startswith(
        "Ventas Web 2026-11-24: 48 calls, 96% connected"
    )


def summaries(event: Event) -> Any:
    from notifier.summary import PopupSummary

    return PopupSummary.from_detail(event.detail)


async def test_a_batch_mixing_summaries_and_alerts_is_sent_as_two() -> None:
    """send_apart sends alerts and summaries separately and keeps the outcomes in order."""
    [report] = events_for(big_day())
    alert = Event("call.spam", "evt_a", NOW, call=SPEC_CALL)
    batches: list[list[str]] = []

    async def send(events: Any) -> list[Any]:
        batches.append([e.id for e in events])
        return [None if is_report(e) else "failed" for e in events]

    assert mixed([alert, report]) and not mixed([report]) and not mixed([alert])
    outcomes = await send_apart([report, alert], send)
    assert batches == [["evt_a"], [report.id]]
    assert outcomes == [None, "failed"]


def test_apprise_markdown_of_a_summary_is_inert() -> None:
    """Through Apprise the summary is Markdown whose customer text cannot format or mention."""
    from notifier.sinks.apprise import render_summary

    calls = big_day()
    calls[45]["additionals"] = {"Nombre": "@everyone [pincha](https://evil.example) *x*"}
    [event] = events_for(calls)
    title, body = render_summary(event, ES)
    assert title == "Resumen del día: Ventas Web"
    assert "@\u200beveryone" in body and "\\[pincha\\]\\(https://evil.example\\)" in body
    assert "**Clientes esperando que los llamen de vuelta \\(2\\)**" in body
    assert "- **Llamadas:** 48" in body


async def test_the_slack_sink_posts_summaries_in_their_popups_channels_without_threads(
    slack_api: FakeSlack, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real Slack sink: a summary goes to its popup's channel, next to an alert
    in the same batch, never threaded, never with buttons."""
    monkeypatch.setattr(slack_module, "PACE_SECONDS", 0.01)
    settings = load_settings(
        {
            "CLICKFONO_TOKEN": "t",
            "SLACK_BOT_TOKEN": slack_api.token,
            "SLACK_CHANNEL": "#alertas",
            "SLACK_API_URL": slack_api.base_url,
            "SLACK_CHANNEL_BY_POPUP": json.dumps({"p1": "#ventas"}),
        }
    )
    sink = SlackSink(settings, store)
    try:
        [report] = events_for(big_day())
        alert = Event("call.spam", "evt_a", NOW, call=SPEC_CALL)
        assert await sink.send([alert, report]) == [None, None]
    finally:
        await sink.aclose()
    sent = [r for r in slack_api.calls("chat.postMessage") if r.ok]
    by_channel = {r.body["channel"]: r.body for r in sent}
    assert set(by_channel) == {"#alertas", "#ventas"}
    summary = by_channel["#ventas"]
    assert not summary.get("thread_ts")
    assert "actions" not in json.dumps(summary["blocks"])
    assert "Resumen del día: Ventas Web" in json.dumps(summary["blocks"], ensure_ascii=False)


async def test_the_email_sink_sends_summaries_apart_from_alerts(smtp_server: SmtpServer) -> None:
    """Through a real SMTP server: an alert and a summary in one batch make two emails."""
    settings = load_settings(
        {
            "CLICKFONO_TOKEN": "t",
            "SMTP_HOST": smtp_server.host,
            "SMTP_PORT": str(smtp_server.port),
            "SMTP_SECURITY": "none",
            "EMAIL_FROM": "alertas@example.com",
            "EMAIL_TO": "supervisores@example.com",
        }
    )
    [report] = events_for(big_day())
    alert = Event("call.spam", "evt_a", NOW, call=SPEC_CALL)
    assert await EmailSink(settings).send([report, alert]) == [None, None]
    subjects = [str(m.message["Subject"]) for m in smtp_server.wait_for(2)]
    summary = "[Clickfono] Resumen del día martes 24-11-2026: Ventas Web"
    assert sorted(s == summary for s in subjects) == [False, True]
