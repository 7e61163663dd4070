"""What the sinks share to deliver ``report.daily_summary`` (kind REPORT) events.

The words and layouts live in ``notifier.summary_text``; this module holds the sink-side
glue: splitting a batch that mixes summaries and alerts, and the summary email.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from notifier import summary_text
from notifier.errors import SinkError
from notifier.events import Event
from notifier.messages import Wording

Send = Callable[[Sequence[Event]], Awaitable[list[SinkError | None]]]


def mixed(events: Sequence[Event]) -> bool:
    """The batch holds both summaries and other events."""
    reports = sum(1 for e in events if summary_text.is_report(e))
    return 0 < reports < len(events)


async def send_apart(events: Sequence[Event], send: Send) -> list[SinkError | None]:
    """Send the summaries and the other events as two batches; outcomes in batch order."""
    outcomes: list[SinkError | None] = [None] * len(events)
    reports = [i for i, e in enumerate(events) if summary_text.is_report(e)]
    others = [i for i, e in enumerate(events) if not summary_text.is_report(e)]
    for part in (others, reports):
        if part:
            results = await send([events[i] for i in part])
            for index, outcome in zip(part, results, strict=True):
                outcomes[index] = outcome
    return outcomes


def compose_email(
    events: Sequence[Event],
    wording: Wording,
    sender: str,
    recipients: Sequence[str],
    now: datetime,
) -> EmailMessage:
    """One email with the batch's summaries: an HTML table per popup and a text part."""
    content = summary_text.email(events, wording)
    mail = EmailMessage()
    mail["Subject"] = content.subject
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(now)
    # The same summaries retried get the same Message-ID, so mail systems drop the copy.
    digest = hashlib.blake2b("\n".join(e.id for e in events).encode(), digest_size=12)
    domain = sender.rpartition("@")[2] or "clickfono-notifier.invalid"
    mail["Message-ID"] = f"<{digest.hexdigest()}.summary@{domain}>"
    mail.set_content(content.text)
    mail.add_alternative(content.html, subtype="html")
    mail["Content-Language"] = wording.language
    return mail
