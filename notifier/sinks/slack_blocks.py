"""Block Kit rendering of messages.py's messages for Slack, within Slack's limits.

Everything taken from call data is escaped (``&``, ``<``, ``>``) in every text object,
plain or mrkdwn, and in the fallback ``text``: a customer's text can never mention
(``<!channel>``), link or format anything. A storm digest becomes at most
``DIGEST_MAX_MESSAGES`` messages of at most ``_BLOCKS_MAX`` blocks, each section under
``_TEXT_MAX`` characters, and still names every customer to call back.
"""

from __future__ import annotations

import re
from typing import Any

from notifier import claims
from notifier import events as ev
from notifier.claims import ClaimState
from notifier.messages import Digest, DigestGroup, Message, Wording

_HEADER_MAX = 150  # Block Kit limits
_TEXT_MAX = 3000
_FIELDS_MAX = 10
_FIELD_MAX = 2000
_BLOCKS_MAX = 50
_SECTION_BUDGET = 2900
"""Characters a digest section is filled to, leaving room under _TEXT_MAX."""
_MESSAGE_BUDGET = 12000
"""Characters of a digest message: long enough for ~140 calls, short enough to read."""
_BLOCK_ID = re.compile(r"evt_[0-9a-f]{1,64}")
DIGEST_MAX_MESSAGES = 4
"""A storm is at most this many posts; beyond, the last says how many more."""


def _escape(text: str) -> str:
    """mrkdwn escaping: no links, mentions or @channel from call data."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never cut an escape in half (``&am…`` would show as text, harmlessly but oddly).
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:] and amp > limit - 6:
        cut = cut[:amp]
    return cut + "…"


def _header(text: str) -> dict[str, Any]:
    """A header; ``text`` must already be escaped."""
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(text, _HEADER_MAX), "emoji": True},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, _TEXT_MAX)}}


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip(t, _TEXT_MAX)} for t in texts[:10]],
    }


def _emoji(event_type: str) -> str:
    known = ev.describe(event_type)
    return known.emoji if known else ":bell:"


def message_blocks(message: Message, *, extra_note: str | None = None) -> list[dict[str, Any]]:
    """One event as Block Kit: header, who to call and what to do, facts, small print."""
    blocks = [_header(f"{_emoji(message.event_type)} {_escape(message.title)}")]
    if _BLOCK_ID.fullmatch(message.event_id):
        # Invisible to agents; lets tools (and the soak test) find an event's post.
        blocks[0]["block_id"] = message.event_id
    if message.headline:
        blocks.append(_section(f"*{_escape(message.headline)}*"))
    fields = [
        {"type": "mrkdwn", "text": _clip(f"*{_escape(k)}*\n{_escape(v)}", _FIELD_MAX)}
        for k, v in message.facts
    ]
    for start in range(0, len(fields), _FIELDS_MAX):
        blocks.append({"type": "section", "fields": fields[start : start + _FIELDS_MAX]})
    blocks.append(_section(f"*{_escape(message.action_label)}:* {_escape(message.action)}"))
    small = [_escape(n) for n in message.notes]
    if extra_note:
        small.insert(0, f"_{_escape(extra_note)}_")
    if message.ops:
        small.append(_escape(message.ops))
    if message.reference:
        small.append(f"`{_escape(message.reference)}`")
    if small:
        blocks.append(_context(*small))
    return blocks


def message_text(message: Message) -> str:
    """The post's ``text`` (notifications, screen readers): escaped like the blocks."""
    return _escape(message.plain_text())


def _line(who: str, rest: str) -> str:
    head = f"• *{_escape(who)}*"
    return f"{head} · {_escape(rest)}" if rest else head


def _group_sections(group: DigestGroup) -> list[str]:
    """A group as section texts, each within _SECTION_BUDGET."""
    heading = f"{_emoji(group.event_type)} *{_escape(group.heading)}*"
    lines = [_line(who, rest) for who, rest in group.lines]
    if group.hidden_note:
        lines.append(f"_{_escape(group.hidden_note)}_")
    sections: list[str] = []
    current = heading
    for line in lines:
        line = _clip(line, _SECTION_BUDGET - 10)
        if len(current) + 1 + len(line) > _SECTION_BUDGET:
            sections.append(current)
            current = line
        else:
            current += "\n" + line
    sections.append(current)
    return sections


def digest_messages(digest: Digest) -> list[tuple[str, list[dict[str, Any]]]]:
    """A storm as ``(text, blocks)`` posts: counts, then every customer to call back.

    At most ``DIGEST_MAX_MESSAGES`` posts, each within Slack's 50 blocks and 3,000
    characters a section; what does not fit is counted in the last post.
    """
    counts = "\n".join(f"• *{n}* {_escape(kind)}" for kind, n in digest.counts)
    first: list[dict[str, Any]] = [
        _header(f":rotating_light: {_escape(digest.title)}"),
        _section(counts),
    ]
    sections = [s for group in digest.groups for s in _group_sections(group)]
    lines_in = [s.count("\n• ") + (1 if s.startswith("• ") else 0) for s in sections]
    posts: list[list[dict[str, Any]]] = [first]
    size = len(counts)
    overflow = 0
    for index, text in enumerate(sections):
        blocks = posts[-1]
        # Room for the closing context block in every post.
        if len(blocks) + 2 > _BLOCKS_MAX or size + len(text) > _MESSAGE_BUDGET:
            if len(posts) == DIGEST_MAX_MESSAGES:
                overflow = sum(lines_in[index:])
                break
            posts.append([])
            size = 0
        posts[-1].append(_section(text))
        size += len(text)
    total = len(posts)
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for number, blocks in enumerate(posts, start=1):
        title = digest.title if number == 1 else f"{digest.title} ({number}/{total})"
        if number > 1:
            blocks.insert(0, _header(f":rotating_light: {_escape(title)}"))
        small = []
        if number == total:
            if overflow:
                small.append(_escape(digest.overflow.format(n=overflow)))
            small.append(_escape(digest.note))
        if small:
            blocks.append(_context(*small))
        text = (
            title
            if number > 1
            else "\n".join([digest.title, *(f"- {n} {kind}" for kind, n in digest.counts)])
        )
        out.append((_escape(text), blocks))
    return out


def digest_blocks(digest: Digest) -> list[dict[str, Any]]:
    """The first post of ``digest_messages`` (a digest that fits in one post is all of it)."""
    return digest_messages(digest)[0][1]


def callback_blocks(
    call_uuid: str, state: ClaimState, wording: Wording, requests_today: int = 1
) -> list[dict[str, Any]]:
    """The callback part of an alert that needs a person: who has it (or "3.ª solicitud
    hoy"), and the buttons its state offers (SPEC's ``action_id``s, value = call uuid).

    Only for the thread's parent message and its updates, and only with Socket Mode
    (``SLACK_APP_TOKEN``): without it nobody would receive the clicks.
    """
    blocks: list[dict[str, Any]] = []
    lines = [
        line
        for line in (
            claims.state_line(state, wording),
            claims.repeat_line(requests_today, wording),
        )
        if line
    ]
    if lines:
        # state_line holds only <@U…> ids (claims.mention escapes anything else) and times.
        blocks.append(_context(*(f"*{line}*" for line in lines)))
    labels = claims.BUTTON_LABELS[wording.language]
    buttons = []
    for action in claims.buttons_for(state):
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"clickfono.{action}",
            "text": {"type": "plain_text", "text": labels[action], "emoji": True},
            "value": call_uuid,
        }
        if action == "claim":
            button["style"] = "primary"
        buttons.append(button)
    if buttons:
        blocks.append({"type": "actions", "block_id": "clickfono.actions", "elements": buttons})
    return blocks


def reminder_blocks(text: str) -> list[dict[str, Any]]:
    """The escalation reminder: ``text`` is ours (claims.reminder_text) with the configured
    mention, so it is not escaped (the mention must notify)."""
    return [_section(f":alarm_clock: {text}")]
