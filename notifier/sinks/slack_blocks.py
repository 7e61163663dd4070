"""Block Kit rendering of messages.py's messages for Slack, within Slack's limits.

Everything taken from call data is escaped (``&``, ``<``, ``>``) so a customer's text
can never mention (``<!channel>``), link or format anything.
"""

from __future__ import annotations

from typing import Any

from notifier import events as ev
from notifier.messages import Digest, Message

_HEADER_MAX = 150  # Block Kit limits
_TEXT_MAX = 3000
_FIELDS_MAX = 10


def _escape(text: str) -> str:
    """mrkdwn escaping: no links, mentions or @channel from call data."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(text, _HEADER_MAX), "emoji": True},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, _TEXT_MAX)}}


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip(t, _TEXT_MAX)} for t in texts],
    }


def message_blocks(message: Message, *, extra_note: str | None = None) -> list[dict[str, Any]]:
    """One event as Block Kit: header, facts as fields, what to do, notes."""
    known = ev.describe(message.event_type)
    blocks = [_header(f"{known.emoji if known else ':bell:'} {message.title}")]
    fields = [
        {"type": "mrkdwn", "text": _clip(f"*{_escape(k)}*\n{_escape(v)}", 2000)}
        for k, v in message.facts
    ]
    for start in range(0, len(fields), _FIELDS_MAX):
        blocks.append({"type": "section", "fields": fields[start : start + _FIELDS_MAX]})
    blocks.append(_section(f"*{_escape(message.action_label)}:* {_escape(message.action)}"))
    notes = [_escape(n) for n in message.notes]
    if extra_note:
        notes.insert(0, f"_{_escape(extra_note)}_")
    blocks.append(_context(*notes, f"`{_escape(message.reference)}`"))
    return blocks


def digest_blocks(digest: Digest) -> list[dict[str, Any]]:
    """Many alerts as Block Kit: counts by kind, the first calls, why it is grouped."""
    counts = "\n".join(f"• *{n}* {_escape(kind)}" for kind, n in digest.counts)
    sample = "\n".join(f"• {_escape(line)}" for line in digest.sample)
    blocks = [
        _header(f":rotating_light: {digest.title}"),
        _section(counts),
        _section(f"*{_escape(digest.sample_label)}*\n{sample}"),
    ]
    notes = [_escape(digest.more)] if digest.more else []
    blocks.append(_context(*notes, _escape(digest.note)))
    return blocks


def message_text(message: Message) -> str:
    """The post's ``text`` (notifications, screen readers): escaped like the blocks."""
    return _escape(message.plain_text())
