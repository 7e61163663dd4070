"""Write docs/alerts.md (and the email picture) from the real code.

    .venv/bin/python docs/render_alerts.py          # docs/alerts.md
    .venv/bin/python docs/render_alerts.py --png    # and docs/alerts-email.png

``--png`` needs Chromium (Debian: ``apt-get install chromium``), run headless.

Events come from the real diff engine (``notifier.diff.diff_call``) applied to vendor
records, so ids, payloads and wording are exactly what a deployment produces. The
``notifier.*`` events are built with the same fields as ``notifier.cycle``. Nothing is
sent anywhere. Not part of the package or of ``make test``.
"""

# ruff: noqa: E501

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notifier import events as ev
from notifier.clickfono.models import Call
from notifier.config import load_settings
from notifier.cycle import Poller
from notifier.diff import DiffContext, Snapshot, diff_call
from notifier.events import REGISTRY, Event, event_id, format_timestamp
from notifier.messages import Wording, digest, render, thread_note
from notifier.sinks.console import ConsoleSink
from notifier.sinks.email import compose
from notifier.sinks.slack_blocks import digest_messages, message_blocks, message_text

DOCS = Path(__file__).resolve().parent
PICTURE = "alerts-email.png"

# Tuesday 24 November 2026, 10:05:09 in Santiago (UTC-3, summer time).
NOW = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC)
SETTINGS = load_settings(
    {"CLICKFONO_TOKEN": "example", "NOTIFIER_HOLIDAYS": "CL", "NOTIFIER_CONSOLE": "true"}
)
ES = Wording.from_settings(SETTINGS)
EN = Wording("en", False, SETTINGS.zone, SETTINGS.notifier_queue_alert_minutes)
MASKED = Wording("es", True, SETTINGS.zone, SETTINGS.notifier_queue_alert_minutes)


def vendor(uuid: str, status: str, **fields: Any) -> dict[str, Any]:
    """A record as Clickfono sends it (strings for numbers, its own date format)."""
    record = {
        "uuid": uuid,
        "status": status,
        "call_number_company": "56223456789",
        "retry": "3",
        "duration_company": "117",
        "duration_customer": "95",
        "call_at": "2026/11/24 09:40:12 -0300",
        "enqueued": False,
        "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
        "popup_name": "Ventas Web",
        "additionals": {"Nombre": "Juan Pérez", "Rut": "11.111.111-1"},
        "caller_number": "+56987654321",
    }
    record.update(fields)
    return record


def ctx(now: datetime = NOW) -> DiffContext:
    return DiffContext(
        now=now,
        is_open=SETTINGS.calendar.is_open,
        queue_alert_seconds=SETTINGS.notifier_queue_alert_minutes * 60,
    )


def seen(status: str, minutes_ago: float = 10, *, waiting: bool = False) -> Snapshot:
    since = (NOW - timedelta(minutes=minutes_ago)).timestamp()
    return Snapshot(status, 1, since, wait_since=since if waiting else None, wait_seq=1)


def detect(previous: Snapshot | None, record: dict[str, Any]) -> dict[str, Event]:
    return {e.type: e for e in diff_call(previous, Call.validate(record), ctx()).events}


def source_event(kind: str, detail: dict[str, Any], since: datetime) -> Event:
    return Event(
        type=kind,
        id=event_id("source", kind, repr(since.timestamp())),
        detected_at=NOW,
        detail={**detail, "since": format_timestamp(since)},
    )


def sample_events() -> list[tuple[str, Event]]:
    new = detect(None, vendor("0c1d3a57e2b94f0a8d6e5b4c3a291807", "En cola", retry="0"))
    spam = detect(
        None,
        vendor(
            "5e8f1b2c3d4a49f0b7c6d5e4f3a2b1c0",
            "SPAM",
            retry="0",
            duration_company="0",
            duration_customer="0",
            caller_number="+56911111111",
            additionals={"Nombre": "asdf", "Rut": ""},
        ),
    )
    changed = detect(
        seen("En cola"), vendor("a93460bbf8402e15b9b0afddc05d5e8d", "Intentos terminados")
    )
    out_status = detect(
        seen("Por ejecutar"),
        vendor(
            "d45d347218b49a967a283c7bab360e5b",
            "Fuera de horario",
            retry="0",
            call_at="2026/11/23 21:12:40 -0300",
            popup_name="Soporte Técnico",
            additionals={"Nombre": "Jorge Tapia", "Rut": "12.345.678-5", "Motivo": "Boleta"},
            caller_number="+56223456700",
        ),
    )
    out_schedule = detect(
        seen("En cola"),
        vendor(
            "7f3e9a1b2c4d4e5f8a6b7c8d9e0f1a2b",
            "En ejecución",
            retry="1",
            call_at="2026/11/21 11:30:00 -0300",
            popup_name="Cobranzas",
            additionals={"Nombre": "Camila Rojas", "Rut": "9.876.543-3"},
            caller_number="+56322123456",
        ),
    )
    queued = detect(
        seen("En cola", minutes_ago=42, waiting=True),
        vendor(
            "b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0",
            "En cola",
            retry="1",
            enqueued=True,
            call_at="2026/11/24 09:23:09 -0300",
            additionals={"Nombre": "María González", "Rut": "15.555.555-0"},
            caller_number="+56955512345",
        ),
    )
    outage_since = NOW - timedelta(minutes=3)
    return [
        ("call.created", new[ev.CALL_CREATED]),
        ("call.status_changed", changed[ev.CALL_STATUS_CHANGED]),
        ("call.spam", spam[ev.CALL_SPAM]),
        ("call.attempts_exhausted", changed[ev.CALL_ATTEMPTS_EXHAUSTED]),
        ("call.outside_business_hours (reason status)", out_status[ev.CALL_OUTSIDE_BUSINESS_HOURS]),
        (
            "call.outside_business_hours (reason schedule)",
            out_schedule[ev.CALL_OUTSIDE_BUSINESS_HOURS],
        ),
        ("call.queued_too_long", queued[ev.CALL_QUEUED_TOO_LONG]),
        (
            "notifier.source_unauthorized",
            source_event(
                ev.SOURCE_UNAUTHORIZED,
                {"error": "Clickfono rejected the token (HTTP 401)", "failures": 1},
                NOW,
            ),
        ),
        (
            "notifier.source_unavailable",
            source_event(
                ev.SOURCE_UNAVAILABLE,
                {"error": "Clickfono answered HTTP 503 (all popups)", "failures": 3},
                outage_since,
            ),
        ),
        (
            "notifier.source_recovered",
            Poller._recovery_events(
                {
                    "source_announced": "unavailable",
                    "source_since": repr(outage_since.timestamp()),
                    "source_failures": "7",
                },
                NOW,
            )[0],
        ),
        (
            "notifier.sink_failing",
            source_event(
                ev.SINK_FAILING,
                {
                    "sink": "email",
                    "pending": 4,
                    "dead_letters": 0,
                    "error": "SMTP smtp.example.cl:587 did not finish within 30s",
                },
                NOW - timedelta(minutes=6),
            ),
        ),
    ]


def slack_text(blocks: list[dict[str, Any]]) -> str:
    """Block Kit as a reader sees it in Slack, in plain text (emoji codes left as codes)."""
    lines: list[str] = []
    for block in blocks:
        if block["type"] == "header":
            lines.append(block["text"]["text"])
        elif block["type"] == "section" and "fields" in block:
            for f in block["fields"]:
                label, _, value = f["text"].partition("\n")
                lines.append(f"{label:<22} {value}")
        elif block["type"] == "section":
            lines.append(block["text"]["text"])
        elif block["type"] == "context":
            lines += [e["text"] for e in block["elements"]]
    return "\n".join(lines)


def fence(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text}\n```\n"


def hostile_event() -> Event:
    name = "<!channel> Ana <https://evil.example|pincha aquí>"
    record = vendor(
        "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c",
        "Intentos terminados",
        additionals={"Nombre": name, "Rut": "1-9"},
    )
    return detect(seen("En cola"), record)[ev.CALL_ATTEMPTS_EXHAUSTED]


def storm(samples: dict[str, Event]) -> list[Event]:
    """A storm as it arrives: SPAM first, then customers to call back (25 alerts)."""
    spam = samples["call.spam"]
    out = [spam] * 8
    names = ["Juan Pérez", "Ana Muñoz", "Pedro Soto", "Carla Díaz", "Luis Rojas", "Rosa Vera"]
    for i, name in enumerate(names):
        record = vendor(
            f"{i:032x}",
            "Intentos terminados",
            call_at=f"2026/11/24 09:{10 + 5 * i:02d}:00 -0300",
            caller_number=f"+569{87654321 - 1111 * i}",
            additionals={"Nombre": name, "Rut": "1-9"},
        )
        out.append(detect(seen("En cola"), record)[ev.CALL_ATTEMPTS_EXHAUSTED])
    out += [samples["call.queued_too_long"]] * 3
    out += [samples["call.outside_business_hours (reason status)"]] * 4
    out += [samples["call.outside_business_hours (reason schedule)"]] * 4
    return out


def email_batch(by_type: dict[str, Event]) -> list[Event]:
    return [
        by_type["call.spam"],
        by_type["call.outside_business_hours (reason status)"],
        by_type["call.attempts_exhausted"],
        by_type["call.queued_too_long"],
    ]


def email_picture(html: str, target: Path) -> None:
    """Screenshot the HTML part as Chromium renders it (headless)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("--png needs Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as work:
        page = Path(work) / "email.html"
        page.write_text(html, encoding="utf-8")
        subprocess.run(  # noqa: S603 (our own Chromium and temporary file)
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={work}/profile",
                "--window-size=760,1390",
                f"--screenshot={target}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def document() -> tuple[str, str]:
    """docs/alerts.md, and the HTML part of the example email."""
    samples = sample_events()
    by_type = dict(samples)
    out: list[str] = []
    w = out.append

    w(
        """# What the alerts look like

Every example on this page was produced by the real code: the diff engine
(`notifier/diff.py`), the wording (`notifier/messages.py`), Block Kit
(`notifier/sinks/slack_blocks.py`), and the email and console sinks
(`notifier/sinks/`). [`render_alerts.py`](render_alerts.py) writes this page from
vendor-shaped records; after changing the wording, run it again:

```sh
.venv/bin/python docs/render_alerts.py --png   # also retakes the email picture
```

The sample moment is Tuesday 24 November 2026, 10:05:09 in Santiago (13:05:09 UTC),
with the default settings, `NOTIFIER_HOLIDAYS=CL`, and business hours
`mon-fri 09:00-18:00`.

## How a message is built

An alert must be actionable in under a minute. Each event becomes a **title** (what
happened), a **headline** naming the action and the customer ("Devolver la llamada a
Juan Pérez (+56 9 8765 4321)"), the **facts**, a **"what to do"** line, and small print
(notes, the technical detail for support, the call uuid), in `NOTIFIER_LANGUAGE` (`es`
by default, or `en`):

| fact (es / en) | source |
|---|---|
| Cliente / Customer | `additionals.Nombre` |
| Teléfono / Phone | `caller_number`, in Chilean format (`+56 9 8765 4321`, `+56 2 2345 6789`, `+56 32 212 3456`); other numbers as sent. In email it is a `tel:` link |
| Popup | `popup_name` |
| Solicitó / Requested | `call_at` in `NOTIFIER_TIMEZONE` and how long ago: `09:40 (hace 24 min)`, `ayer 21:12 (hace 12 h 52 min)`, `sábado 21-11 11:30 (hace 2 días)` |
| Espera / Waiting | `call.queued_too_long` only: the time since the notifier first saw the call waiting |
| Intentos / Attempts | `retry`, as Clickfono reports it |
| Estado / Status | `status`, or `previous → status` when it changed (one row; a status change's title already says both). In English the translation is followed by the original, e.g. `Queued (En cola)` |
| Duración / Duration | connected calls only: `duration_customer` (`1 min 35 s`) |
| Motivo del aviso / Why this alert | `call.outside_business_hours` only: the notifier's reason |
| Formulario / Form | the customer's own form fields (`additionals` but the name), under their own names, in one row: `RUT: 11.111.111-1 · Motivo: Boleta`; up to 8, each value clipped at 200 characters |

Empty facts are left out. Agent-facing text never shows event ids (`evt_…`); the call
uuid, small, is the reference to search in Clickfono's panel. The `notifier.*` events
have no call: their facts say since when (or how long the outage lasted), and the
technical error goes in a small "Para soporte" line, summarised in Spanish when the
message is Spanish.

Customer text is hostile: anyone can fill in the web form. In Slack, `&`, `<` and `>`
are escaped in every text of every request (`text`, blocks, updates), so a name can
never mention `<!channel>` or disguise a link; in email every value is HTML-escaped.
See [hostile text](#hostile-text).

With `NOTIFIER_MASK_PII=true`, names become initials (`J. P.`, which do not reveal how
long the name is), phone numbers keep only their last 4 digits, form values are hidden
(`RUT: oculto`), nothing is a `tel:` link, and a note says where the full record is: the
popup, the time and the call uuid to search in Clickfono's panel. See
[the masked example](#masked-notifier_mask_piitrue). The webhook payload is never masked.

Urgency orders digests, email batches and subjects (1 act now … 4 information); the
severity sets the email colour (red only for act-now alerts; out of hours, a task for
the next morning, is amber):

| event | urgency | Slack emoji | severity (email colour) |
|---|---|---|---|
"""
    )
    colour = {"alert": "red", "warning": "amber", "info": "blue", "ok": "green"}
    for name, known in REGISTRY.items():
        if not known.public:
            continue
        event = by_type.get(name) or by_type.get(f"{name} (reason status)")
        if name == ev.CALL_OUTSIDE_BUSINESS_HOURS:
            severity = "warning (amber), both reasons"
        elif event is not None:
            sev = render(event, ES).severity
            severity = f"{sev} ({colour[sev]})"
        else:
            sev = render(Event(name, "x", NOW, detail={}), ES).severity
            severity = f"{sev} ({colour[sev]})"
        w(f"| `{name}` | {known.urgency} | `{known.emoji}` | {severity} |\n")
    w(
        f"""
By default `SLACK_EVENTS` and `EMAIL_EVENTS` are
`{SETTINGS.slack_events}`: the four alerts, and Clickfono's episodes, because agents
must know when alerts have stopped (`report.*` is sent only when the daily summary is
enabled). The other types are shown below for when you enable them.

## Slack

A Slack message is Block Kit: a header (emoji and title), the headline in bold, the
facts as a two-column grid of fields, the "what to do" line, and a context line in
small grey type. Below, each message is written as text, one block element per line,
in the order Slack shows them. `*…*` is bold, `_…_` is italic, and `` `…` `` is code.
The `text` of every post holds a plain-text version of the same message, escaped the
same way (see [below](#plain-text-fallback)); Slack uses it in notifications.
"""
    )
    for name, event in samples:
        w(f"\n### `{name}`\n\n")
        w(fence(slack_text(message_blocks(render(event, ES)))))

    w("\n### In English (`NOTIFIER_LANGUAGE=en`)\n\n")
    for name in ("call.attempts_exhausted", "call.queued_too_long", "notifier.source_unavailable"):
        w(fence(slack_text(message_blocks(render(by_type[name], EN)))))
        w("\n")

    w("### Masked (`NOTIFIER_MASK_PII=true`)\n\n")
    w(fence(slack_text(message_blocks(render(by_type["call.attempts_exhausted"], MASKED)))))

    w(
        "\n### Block Kit JSON\n\nThe `blocks` of the `call.attempts_exhausted` message above, "
        "exactly as sent to `chat.postMessage` (or to the incoming webhook):\n\n"
    )
    blocks = message_blocks(render(by_type["call.attempts_exhausted"], ES))
    w(fence(json.dumps(blocks, indent=2, ensure_ascii=False), "json"))
    w(
        """
The header is clipped at 150 characters, each field at 2,000, and each section at
3,000. More than 10 facts are split over several field sections. The header's
`block_id` is the event id: agents never see it, but tools (and the chaos soak test)
can find an event's post by it.

### Threads (bot token only)

With `SLACK_BOT_TOKEN`, the first alert about a call is posted to the channel and
starts a thread. Later alerts about the same call are posted as replies in that thread,
broadcast to the channel. The parent message is then edited (`chat.update`, through
the outbox) to show the latest alert, with a note:

"""
    )
    note = thread_note(NOW, ES)
    w(
        fence(
            slack_text(
                message_blocks(render(by_type["call.attempts_exhausted"], ES), extra_note=note)
            )
        )
    )
    w(
        """
With `SLACK_APP_TOKEN` as well, alerts that need a person also carry the callback
buttons and who has the call (SPEC's "The callback loop"). With `SLACK_WEBHOOK_URL`
there are no threads: every alert is a new message in the webhook's channel.

### Digest (alert storms)

When one delivery batch holds more than `SLACK_STORM_THRESHOLD` (default 20) alerts for
one channel, they are grouped. The digest is ordered by urgency and names **every**
customer to call back, one line each (name, number, popup, time; the oldest request
first), then out of hours; SPAM and information are a count with 3 examples. It is
split into at most 4 posts, each within Slack's 50 blocks and 3,000 characters a
section (90 to 140 customers a post); whatever still does not fit is counted at the end
("… y N más: revisen el panel de Clickfono."). A 200-alert storm costs at most 5 Slack
API calls (`tests/test_sink_slack.py`). The example is a storm of 25 alerts that
arrived SPAM first:

"""
    )
    for _, blocks in digest_messages(digest(storm(by_type), ES)):
        w(fence(slack_text(blocks)))

    w(
        """
### Plain-text fallback

Each post's `text` (shown in notifications and by clients without Block Kit) is the
title, the headline, one `label: value` line per fact, the action and the reference,
escaped like the blocks:

"""
    )
    w(fence(message_text(render(by_type["call.spam"], ES))))

    w(
        """
### Hostile text

A customer who types `<!channel> Ana <https://evil.example|pincha aquí>` as their name
reaches Slack as text, never as a mention or a link (the fallback `text`):

"""
    )
    w(fence(message_text(render(hostile_event(), ES)).split("\nTeléfono")[0]))
    w(
        """
`tests/test_hostile_text.py` sends such a value in every field (name, form keys and
values, popup, status, previous status, number) through posts, thread replies,
`chat.update`, digests, the incoming webhook and email, and finds it escaped.

## Email

One email is sent per delivery batch, to every address in `EMAIL_TO`. A batch normally
holds one cycle's alerts. The email is `multipart/alternative`, with a plain-text part
and an HTML part carrying the same content. For one alert the subject names the action
and the customer; for a batch it counts the alerts by kind, most urgent kind first:

"""
    )
    batch = email_batch(by_type)
    subjects = [
        compose([by_type[n]], ES, "alertas@example.cl", ["x@example.cl"], NOW)["Subject"]
        for n in ("call.attempts_exhausted", "call.queued_too_long", "call.spam")
    ]
    subjects.append(compose(batch, ES, "alertas@example.cl", ["x@example.cl"], NOW)["Subject"])
    subjects.append(compose(batch, EN, "alertas@example.cl", ["x@example.cl"], NOW)["Subject"])
    w(fence("\n".join(subjects)))
    mail = compose(batch, ES, "alertas@example.cl", ["ventas@example.cl"], NOW)
    w(
        f"""
The cards are ordered by urgency, whatever order the alerts arrived in. The HTML part,
as Chromium renders it (headless; `render_alerts.py --png`):

![The example email as a browser renders it]({PICTURE})

Each card has a left border in the severity colour, the title, the headline, a table of
facts (the phone number is a `tel:` link), the "what to do" line and, in small grey
type, the call uuid. The headers and text part of the same email:

"""
    )
    lines = [f"{h}: {mail[h]}" for h in ("Subject", "From", "To", "Date", "Message-ID")]
    for header in ("MIME-Version", "Content-Type"):
        lines.append(f"{header}: " + re.sub(r'boundary=".*"', 'boundary="…"', str(mail[header])))
    text_part = mail.get_body(("plain",))
    html_part = mail.get_body(("html",))
    assert text_part is not None and html_part is not None
    w(fence("\n".join(lines) + "\n\n" + str(text_part.get_content()).rstrip()))
    w(
        """
Gmail clips messages above about 102 KB, so a batch stays under 100 KB: the 20 most
urgent alerts are shown in full, the rest as one line each grouped by kind (every
customer to call back listed, with a `tel:` link; SPAM and information as a count with
3 examples), and beyond 300 lines, or whenever the mail would still be too big, fewer
cards and lines are shown and the rest counted ("… y N más: revisen el panel de
Clickfono."). A 200-event batch is asserted under 100 KB in
`tests/test_sink_email.py`. A retried batch keeps its `Message-ID`, so mail systems can
drop a duplicate.

## Console

With `NOTIFIER_CONSOLE=true`, and always in `clickfono-notifier demo`, every event is
printed as one line on stdout: detection time, type, status change, popup, customer and
number (masked as in Slack and email: `J. P.`, `+56 9 **** 4321`). The sample events:

"""
    )
    stream = io.StringIO()
    console = ConsoleSink(SETTINGS, stream=stream, colour=False)
    w(fence("\n".join(console.format(event) for _, event in samples)))
    w(
        """
## Webhook

The webhook receives the JSON payload, not a rendered message. See
[webhooks.md](webhooks.md).
"""
    )
    return "".join(out), str(html_part.get_content())


def main() -> None:
    page, html = document()
    (DOCS / "alerts.md").write_text(page, encoding="utf-8")
    if "--png" in sys.argv[1:]:
        email_picture(html, DOCS / PICTURE)


if __name__ == "__main__":
    main()
