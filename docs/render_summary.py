"""Write docs/daily-summary.md (and the email picture) from the real code.

    .venv/bin/python docs/render_summary.py          # docs/daily-summary.md
    .venv/bin/python docs/render_summary.py --png    # and docs/daily-summary-email.png

``--png`` needs Chromium (Debian: ``apt-get install chromium``), run headless.

The day is the simulator's generated day (seed 7, Tuesday 24 November 2026) as listed
at 18:30 in Santiago, validated by the real ``Call`` model; the waits are the
simulator's own. The summaries come from ``notifier.summary.summarise`` and are rendered
by the sinks' own code. Nothing is sent anywhere. Not part of the package or of
``make test``.
"""

# ruff: noqa: E501

from __future__ import annotations

import html
import io
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_alerts import email_picture, fence, slack_text

from notifier.clickfono.models import Call
from notifier.clickfono.simulator import SimulatedCalls
from notifier.config import load_settings
from notifier.daily import summary_events
from notifier.diff import WAITING
from notifier.events import Event
from notifier.messages import Wording
from notifier.sinks.console import ConsoleSink
from notifier.sinks.summary_render import compose_email
from notifier.summary import summarise
from notifier.summary_text import slack_posts

DOCS = Path(__file__).resolve().parent
PICTURE = "daily-summary-email.png"
DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 21, 30, 4, tzinfo=UTC)  # 18:30:04 in Santiago
SETTINGS = load_settings(
    {
        "CLICKFONO_TOKEN": "example",
        "NOTIFIER_CONSOLE": "true",
        "NOTIFIER_DAILY_SUMMARY_AT": "18:30",
    }
)
ES = Wording.from_settings(SETTINGS)


def the_day(now: datetime = NOW) -> list[Event]:
    simulator = SimulatedCalls(seed=7, clock=lambda: now)
    calls = [Call.validate(r) for r in simulator.records(DAY)]
    started: dict[str, datetime] = {}
    waits: dict[str, float] = {}
    for change in simulator.history:
        if change.day != DAY:
            continue
        if change.new in WAITING:
            started.setdefault(change.uuid, change.at)
        elif change.uuid in started:
            wait = (change.at - started.pop(change.uuid)).total_seconds()
            waits[change.uuid] = max(waits.get(change.uuid, 0.0), wait)
    summaries = summarise(
        DAY,
        [c.payload() for c in calls],
        zone=SETTINGS.zone,
        is_open=SETTINGS.calendar.is_open,
        waits=waits,
    )
    return summary_events(summaries, now)


def document() -> tuple[str, str]:
    events = the_day()
    out: list[str] = []
    w = out.append
    w("# The daily summary\n\n")
    w(
        "With `NOTIFIER_DAILY_SUMMARY_AT=18:30`, the notifier sends supervisors one "
        "summary per popup at 18:30 local time (`NOTIFIER_TIMEZONE`): a "
        "`report.daily_summary` event, to every sink whose `*_EVENTS` filter admits it "
        "(`report.*` is in the default of `SLACK_EVENTS`, `EMAIL_EVENTS` and "
        "`APPRISE_EVENTS`; the webhook's `*` admits it). Empty (the default) turns it "
        "off.\n\n"
        "This page is written by [`render_summary.py`](render_summary.py) from the real "
        "code, on the simulator's generated day (seed 7) as Clickfono lists it at 18:30:\n\n"
        "```sh\n.venv/bin/python docs/render_summary.py --png   # also retakes the email picture\n```\n\n"
    )
    w("## What it counts\n\n")
    w(
        "| figure | meaning |\n|---|---|\n"
        "| calls, by status | every call in the day's list, by Clickfono's status |\n"
        "| connected, connection rate | `Conectada` ÷ (calls − SPAM): SPAM requests are not customers |\n"
        "| SPAM | calls in `SPAM` |\n"
        "| out of hours | calls in `Fuera de horario`, or requested outside business hours or on a holiday (SPAM excluded) |\n"
        "| longest wait in queue | the longest stretch in `En cola`/`Por ejecutar` the notifier observed today. Clickfono's records carry no queue time, so it comes from the snapshots, measured between polls (right to one poll interval) |\n"
        "| customers waiting for a call back | calls that ended unreached (`Intentos terminados`, `No Conectada` with no retry pending, or `Fuera de horario`: never dialled) with no later `Conectada` call from the same number that day. With the Slack callback loop, a callback's state wins: open (unclaimed or claimed) waits, done or resolved does not |\n"
        "| median time to claim | with the callback loop: the median time from an alert to its first claim |\n\n"
    )
    w(
        "**Once per popup and day.** Only the replica holding the poll lease sends it, "
        "after a successful cycle. The events' ids are `event_id(report.daily_summary, "
        "popup, date)`, and they are queued in the same atomic commit that records the "
        "date in Redis (`meta.summary_day`) under the lease: a restart, a new leader or a "
        "stale one never queues a second copy. `once` (cron) sends it on its first run "
        "after the time.\n\n"
        "**Late.** A notifier that was down at 18:30 sends it when it is back, the same "
        "day, with `late: true` (more than three poll intervals after the time). After "
        "midnight a missed day is not sent. If Clickfono or Redis fails at summary time, it "
        "is tried again a minute later.\n\n"
        "The list is fetched once more at summary time: each cycle validates only the "
        "calls that changed, and the snapshots keep statuses and times but not who "
        "called. One more request per popup, once a day, costs what one cycle's fetch "
        "costs.\n\n"
    )
    w("## Slack\n\n")
    w(
        "One Block Kit message per popup. Popups with at most 40 calls and 3 waiting "
        "customers share one message when there are several of them. A summary is not a "
        "call alert: no buttons, no thread. Customer text is escaped, and "
        "`NOTIFIER_MASK_PII` masks names and numbers.\n\n"
    )
    posts = slack_posts(events, ES)
    for post in posts:
        w(fence(html.unescape(slack_text(post.blocks))))
        w("\n")
    morning = datetime(2026, 11, 24, 13, 0, 4, tzinfo=UTC)  # 10:00:04 in Santiago
    combined = [p for p in slack_posts(the_day(morning), ES) if len(p.indexes) > 1]
    w(
        "Had it been set to `10:00`, the same day's two small popups would have shared "
        "one message (Ventas Web, with 6 customers waiting, keeps its own):\n\n"
    )
    w(fence(html.unescape(slack_text(combined[0].blocks))))
    w("\n<details><summary>The Block Kit JSON of the first message</summary>\n\n")
    w(fence(json.dumps(posts[0].blocks, ensure_ascii=False, indent=1), "json"))
    w("\n</details>\n\n")
    w("## Email\n\n")
    mail = compose_email(events, ES, "alertas@example.com", ["supervisores@example.com"], NOW)
    w(f"One email for the summaries of the batch; subject `{mail['Subject']}`. ")
    w(
        f"Each popup is an HTML table, as Chromium renders it:\n\n![The summary email]({PICTURE})\n\n"
    )
    w("## Console\n\n")
    stream = io.StringIO()
    console = ConsoleSink(SETTINGS, stream, colour=False)
    w(fence("\n".join(console.format(e) for e in events)))
    w("\n## Webhook\n\n")
    payload: dict[str, Any] = events[0].payload()
    waiting = payload["data"]["waiting_callback"]
    payload["data"]["waiting_callback"] = waiting[:1]
    w(
        f"The JSON counts of SPEC's payload (`waiting_callback` cut to its first of "
        f"{len(waiting)} calls here; each is a call normalised as `data.call`), plus "
        "`spam`, `out_of_hours`, `longest_wait_seconds` and `median_claim_seconds`:\n\n"
    )
    w(fence(json.dumps(payload, ensure_ascii=False, indent=1), "json"))
    w("\n## Metrics\n\n")
    w(
        "After each successful cycle the leader sets `clickfono_calls_today{popup,status}` "
        "(every popup, from the per-answer tallies kept in Redis beside the answer marks, "
        "so a new leader reports them all) and `clickfono_open_callbacks{popup}` (0 until "
        "the Slack callback loop reports open callbacks).\n"
    )
    html_part = mail.get_body(("html",))
    assert html_part is not None
    return "".join(out), str(html_part.get_content())


def main() -> None:
    text, html = document()
    (DOCS / "daily-summary.md").write_text(text, encoding="utf-8")
    if "--png" in sys.argv[1:]:
        email_picture(html, DOCS / PICTURE)


if __name__ == "__main__":
    main()
