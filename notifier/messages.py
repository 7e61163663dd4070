"""The human wording of every event, in Spanish (default) and English.

Pure functions, no I/O: the Slack, email and Apprise sinks turn these values into Block
Kit, HTML and Markdown, and escape them there (customer text is hostile). Phone numbers
are formatted the Chilean way; under NOTIFIER_MASK_PII names become initials, numbers
keep their last 4 digits, form values are hidden, and the message says where the full
record is. Digests and batches are ordered by ``events.urgency``: the customers to call
back first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier import events as ev
from notifier.clickfono.models import NAME_FIELD, CallStatus
from notifier.events import Event
from notifier.formatting import (
    _clip,
    call_duration,
    clock_time,
    dial_number,
    duration,
    format_phone,
    local_time,
    mask_name,
    mask_phone,
    mask_text,
    parse_time,
    short_time,
    show_phone,
    technical_detail,
    time_ago,
)
from notifier.wording import (
    _COPY,
    _FORM_LABELS,
    _OUTSIDE_SCHEDULE,
    _STATUS_EN,
    Language,
    Severity,
    Wording,
    _Copy,
    _copy,
    _copy_key,
    label,
)

__all__ = [
    "DIGEST_EXAMPLES",
    "LIST_ALL_UP_TO",
    "_COPY",
    "Digest",
    "DigestGroup",
    "Language",
    "Message",
    "Severity",
    "Wording",
    "batch_title",
    "by_urgency",
    "call_duration",
    "call_line",
    "clock_time",
    "count_phrase",
    "counts",
    "customer_name",
    "dial_number",
    "digest",
    "duration",
    "email_subject",
    "format_phone",
    "label",
    "local_time",
    "mask_name",
    "mask_phone",
    "mask_text",
    "parse_time",
    "render",
    "short_time",
    "show_phone",
    "technical_detail",
    "thread_note",
    "time_ago",
    "urgency_key",
    "waited",
]
"""Also re-exported: the formatting helpers and the wording types that callers used to
import from here."""


@dataclass(frozen=True, slots=True)
class Message:
    """One event in words: a title, what to do about whom, the facts.

    ``headline`` names the action and the customer ("Devolver la llamada a Juan Pérez
    (+56 9 8765 4321)"), empty for events that are not about a customer. ``tel`` is the
    number to dial (``+56987654321``), None when masked or absent. ``ops`` is technical
    detail for whoever runs the notifier, shown small. ``reference`` is the call uuid,
    never an event id.
    """

    event_type: str
    severity: Severity
    title: str
    facts: tuple[tuple[str, str], ...]
    action_label: str
    action: str
    notes: tuple[str, ...]
    reference: str
    headline: str = ""
    tel: str | None = None
    ops: str | None = None
    urgency: int = 4
    event_id: str = ""
    """For machines only (Slack's block_id): never shown to agents."""

    def plain_text(self) -> str:
        lines = [self.title]
        if self.headline:
            lines.append(self.headline)
        lines += [f"{label}: {value}" for label, value in self.facts]
        lines.append(f"{self.action_label}: {self.action}")
        lines += self.notes
        if self.ops:
            lines.append(self.ops)
        if self.reference:
            lines.append(self.reference)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DigestGroup:
    """One kind of alert in a digest: a heading and one line per call (or a few examples)."""

    event_type: str
    urgency: int
    heading: str
    lines: tuple[tuple[str, str], ...]
    """``(who, rest)``: the customer's name (or number) and number · popup · time."""
    hidden: int
    """Calls of this kind not listed (SPAM and information are examples only)."""
    hidden_note: str | None
    dials: tuple[tuple[str, str] | None, ...] = ()
    """Per line: ``(the number as shown, the number to dial)``; None when masked."""

    def plain_lines(self) -> list[str]:
        out = [f"{who} · {rest}" if rest else who for who, rest in self.lines]
        if self.hidden_note:
            out.append(self.hidden_note)
        return out


@dataclass(frozen=True, slots=True)
class Digest:
    """Many alerts at once: counts by kind and, most urgent first, every customer to call.

    ``sample``/``sample_label``/``more`` flatten ``groups`` for sinks that show one list.
    """

    title: str
    counts: tuple[tuple[str, int], ...]
    sample_label: str
    sample: tuple[str, ...]
    more: str | None
    note: str
    groups: tuple[DigestGroup, ...] = ()
    overflow: str = "… +{n}"
    """Where a sink cannot list everything: ``… y {n} más: revisen el panel de Clickfono.``"""

    def plain_text(self) -> str:
        lines = [self.title, *(f"- {n} {kind}" for kind, n in self.counts)]
        for group in self.groups:
            lines.append(group.heading)
            lines += [f"- {line}" for line in group.plain_lines()]
        if not self.groups:
            lines.append(self.sample_label)
            lines += [f"- {line}" for line in self.sample]
            if self.more:
                lines.append(self.more)
        lines.append(self.note)
        return "\n".join(lines)


_MAX_NAME = 80
_MAX_ADDITIONALS = 8
_MAX_SUMMARY_WAITING = 10
DIGEST_EXAMPLES = 3
"""SPAM and informational kinds appear in a digest as a count and this many examples."""
LIST_ALL_UP_TO = 2
"""Kinds with this urgency or more urgent list every call in a digest."""


def urgency_key(event: Event) -> tuple[int, int, bool, float]:
    """Most urgent first; within a kind, the call requested first (the longest wait).
    Out of hours: the calls to return at opening before those that ran outside hours."""
    call_at = parse_time(event.call.get("call_at")) if event.call is not None else None
    instant = call_at or event.detected_at
    return (
        ev.urgency(event.type),
        ev.delivery_rank(event.type),
        _copy_key(event) == _OUTSIDE_SCHEDULE,
        instant.timestamp(),
    )


def by_urgency(events: Sequence[Event]) -> list[Event]:
    """The events, most urgent first (stable within equal keys)."""
    return sorted(events, key=urgency_key)


def waited(event: Event, wording: Wording) -> str:
    """How long a queued call has waited.

    Uses ``detail["waiting_since"]`` (ISO 8601, when the notifier first saw the call
    waiting) when present, else ``call_at``; it never claims less than the configured
    threshold that raised the alert.
    """
    threshold = wording.queue_alert_minutes * 60
    since = parse_time(event.detail.get("waiting_since"))
    seconds: float | None = None
    if since is not None:
        seconds = (event.detected_at - since).total_seconds()
    elif event.call is not None and (call_at := parse_time(event.call.get("call_at"))):
        seconds = (event.detected_at - call_at).total_seconds()
    if seconds is not None and seconds >= threshold:
        return duration(seconds)
    return label(wording, "more_than").format(d=duration(threshold))


# Events in words


def _status(value: Any, wording: Wording) -> str:
    text = _clip(value) if value not in (None, "") else "—"
    english = _STATUS_EN.get(text)
    if wording.language == "en" and english and english != text:
        return f"{english} ({text})"
    return text


def customer_name(call: Mapping[str, Any], wording: Wording) -> str | None:
    additionals = call.get("additionals")
    name = additionals.get(NAME_FIELD) if isinstance(additionals, Mapping) else None
    if name in (None, "") or not str(name).strip():
        return None
    return mask_name(str(name)) if wording.mask_pii else _clip(name, _MAX_NAME)


def _who(call: Mapping[str, Any], wording: Wording) -> dict[str, str]:
    """The customer as a headline names them: {who}, {a} (``a …``/``al …``), {de}."""
    name = customer_name(call, wording)
    number = call.get("caller_number")
    phone = show_phone(str(number), wording) if number else None
    if name and phone:
        who = f"{name} ({phone})"
        return {"who": who, "a": f"a {who}", "de": f"de {who}"}
    if phone:
        return {"who": phone, "a": f"al {phone}", "de": f"del {phone}"}
    if name:
        return {"who": name, "a": f"a {name}", "de": f"de {name}"}
    return {k: label(wording, f"the_customer.{k}") for k in ("who", "a", "de")}


def _form_fields(call: Mapping[str, Any], wording: Wording) -> str | None:
    """The customer's own form fields (``additionals`` but the name), one line."""
    additionals = call.get("additionals")
    if not isinstance(additionals, Mapping):
        return None
    names = _FORM_LABELS[wording.language]
    shown = []
    for key, value in additionals.items():
        if key == NAME_FIELD or value in (None, "") or not str(value).strip():
            continue
        name = names.get(str(key).strip().lower(), _clip(key, 40))
        text = label(wording, "hidden") if wording.mask_pii else _clip(value)
        shown.append(f"{name}: {text}")
    if not shown:
        return None
    extra = len(shown) - _MAX_ADDITIONALS
    head = " · ".join(shown[:_MAX_ADDITIONALS])
    return head + (f" · {label(wording, 'list.more').format(n=extra)}" if extra > 0 else "")


def _call_facts(event: Event, call: Mapping[str, Any], wording: Wording) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []

    def add(key: str, value: str | None) -> None:
        if value:
            facts.append((label(wording, key), value))

    add("customer", customer_name(call, wording))
    number = call.get("caller_number")
    add("phone", show_phone(str(number), wording) if number else None)
    add("popup", _clip(call["popup_name"]) if call.get("popup_name") else None)
    call_at = parse_time(call.get("call_at"))
    add("requested", time_ago(call_at, event.detected_at, wording) if call_at else None)
    if event.type == ev.CALL_QUEUED_TOO_LONG:
        add("wait", waited(event, wording))
    retry = call.get("retry")
    add("attempts", str(retry) if retry is not None else None)
    status = call.get("status")
    if event.type != ev.CALL_STATUS_CHANGED:  # its title already says both statuses
        shown = _status(status, wording)
        previous = event.previous_status
        if previous is not None and previous != status:
            shown = f"{_status(previous, wording)} → {shown}"
        add("status", shown)
    seconds = call.get("duration_customer")
    if status == CallStatus.CONNECTED and isinstance(seconds, int | float) and seconds > 0:
        add("duration", call_duration(seconds))
    if event.type == ev.CALL_OUTSIDE_BUSINESS_HOURS and event.reason in ("status", "schedule"):
        add("reason", label(wording, f"reason.{event.reason}"))
    user = event.detail.get("user_id")
    add("agent", _clip(user, 40) if isinstance(user, str) else None)
    add("form", _form_fields(call, wording))
    return facts


def _since(event: Event, wording: Wording) -> datetime | None:
    return parse_time(str(event.detail.get("since", "")).replace("Z", "+00:00"))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _failures(n: int, wording: Wording) -> str:
    return label(wording, "failures.one") if n == 1 else label(wording, "failures").format(n=n)


def _detail_facts(event: Event, wording: Wording) -> tuple[list[tuple[str, str]], str | None]:
    """Facts of an event without a call, and its technical detail for support."""
    detail = event.detail
    facts: list[tuple[str, str]] = []
    ops_parts: list[str] = []
    since = _since(event, wording)
    if event.type in (ev.SOURCE_RECOVERED, ev.SINK_RECOVERED) and since is not None:
        span = (
            f"{short_time(since, event.detected_at, wording)} – "
            f"{clock_time(event.detected_at, wording)} "
            f"({duration((event.detected_at - since).total_seconds())})"
        )
        if isinstance(detail.get("sink"), str):
            facts.append((label(wording, "channel"), _clip(detail["sink"], 60)))
        facts.append((label(wording, "outage"), span))
    elif event.type == ev.DAILY_SUMMARY:
        return _summary_facts(event, wording), None
    else:
        if isinstance(detail.get("sink"), str):
            facts.append((label(wording, "channel"), _clip(detail["sink"], 60)))
        if since is not None:
            facts.append((label(wording, "since"), time_ago(since, event.detected_at, wording)))
        pending = _count(detail.get("pending"))
        if pending is not None:
            facts.append((label(wording, "pending"), str(pending)))
        dead = _count(detail.get("dead_letters"))
        if dead:
            facts.append((label(wording, "dead_letters"), str(dead)))
    if isinstance(detail.get("error"), str) and detail["error"]:
        sink = detail.get("sink")
        who = "Clickfono" if event.type.startswith("notifier.source") else _clip(sink, 40)
        ops_parts.append(technical_detail(detail["error"], wording, who))
    failures = _count(detail.get("failures"))
    if failures and event.type in (ev.SOURCE_UNAVAILABLE, ev.SOURCE_UNAUTHORIZED):
        ops_parts.append(_failures(failures, wording))
    known = {"sink", "since", "pending", "dead_letters", "error", "failures", "duration_seconds"}
    for key, value in detail.items():  # a type this version does not know
        if key in known or not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        facts.append((_clip(key, 40), _clip(value)))
    ops = label(wording, "ops").format(detail="; ".join(ops_parts)) if ops_parts else None
    return facts, ops


def _summary_facts(event: Event, wording: Wording) -> list[tuple[str, str]]:
    detail = event.detail
    facts: list[tuple[str, str]] = []
    if detail.get("popup_name"):
        facts.append((label(wording, "popup"), _clip(detail["popup_name"])))
    if detail.get("date"):
        facts.append((label(wording, "summary.date"), _clip(detail["date"], 20)))
    total = _count(detail.get("total"))
    if total is not None:
        facts.append((label(wording, "summary.total"), str(total)))
    rate = detail.get("connected_rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        facts.append((label(wording, "summary.connected"), f"{rate:.0%}".replace("%", " %")))
    by_status = detail.get("calls_by_status")
    if isinstance(by_status, Mapping) and by_status:
        parts = [f"{_status(k, wording)} {v}" for k, v in list(by_status.items())[:12]]
        facts.append((label(wording, "summary.by_status"), " · ".join(parts)))
    waiting = detail.get("waiting_callback")
    if isinstance(waiting, list) and waiting:
        people = []
        for call in waiting[:_MAX_SUMMARY_WAITING]:
            if isinstance(call, Mapping):
                who = _who(call, wording)["who"]
                people.append(who)
        rest = len(waiting) - len(people)
        text = ", ".join(people)
        if rest > 0:
            text += f", {label(wording, 'list.more').format(n=rest)}"
        facts.append((f"{label(wording, 'summary.waiting')} ({len(waiting)})", text))
    return facts


def _masked_note(event: Event, call: Mapping[str, Any], wording: Wording) -> str:
    where = []
    if call.get("popup_name"):
        where.append(label(wording, "masked.popup").format(popup=_clip(call["popup_name"], 60)))
    call_at = parse_time(call.get("call_at"))
    if call_at is not None:
        when = local_time(call_at, wording)
        where.append(label(wording, "masked.time").format(time=when))
    where.append(label(wording, "masked.call").format(uuid=_clip(event.call_uuid, 64)))
    return label(wording, "masked").format(where=", ".join(where))


def render(event: Event, wording: Wording) -> Message:
    """The title, headline, facts and action of one event."""
    copy = _copy(event, wording)
    call = event.call or {}
    wait = waited(event, wording) if event.type == ev.CALL_QUEUED_TOO_LONG else ""
    since = _since(event, wording)
    outage = duration((event.detected_at - since).total_seconds()) if since else "—"
    title = copy.title.format(
        previous=_status(event.previous_status, wording) if event.previous_status else "—",
        status=_status(call.get("status"), wording),
        wait=wait,
        outage=outage,
        type=_clip(event.type, 60),
    )
    ops: str | None = None
    tel: str | None = None
    notes: list[str] = []
    if event.call is not None:
        facts = _call_facts(event, call, wording)
        headline = copy.headline.format(wait=wait, **_who(call, wording))
        number = call.get("caller_number")
        if number and not wording.mask_pii:
            tel = dial_number(str(number))
        reference = f"{label(wording, 'call')} {_clip(event.call_uuid, 64)}"
        if wording.mask_pii:
            notes.append(_masked_note(event, call, wording))
    else:
        facts, ops = _detail_facts(event, wording)
        headline = ""
        reference = ""
        if event.type == ev.DAILY_SUMMARY and event.detail.get("late") is True:
            notes.append(label(wording, "summary.late"))
    if event.observed_late:
        notes.append(label(wording, "late"))
    return Message(
        event.type,
        copy.severity,
        title,
        tuple(facts),
        label(wording, "action"),
        copy.action,
        tuple(notes),
        reference,
        headline,
        tel,
        ops,
        ev.urgency(event.type),
        event.id,
    )


def counts(events: Sequence[Event], wording: Wording) -> tuple[tuple[str, int], ...]:
    """``(noun, n)`` per kind, most urgent kind first, then most frequent."""
    table = _COPY[wording.language]
    tally: Counter[str] = Counter()
    copies: dict[str, _Copy] = {}
    rank: dict[str, tuple[int, int]] = {}
    for event in events:
        copy = table[_copy_key(event)]
        tally[copy.one] += 1  # keyed by noun: both out-of-hours reasons count together
        copies.setdefault(copy.one, copy)
        key = (ev.urgency(event.type), ev.delivery_rank(event.type))
        rank[copy.one] = min(rank.get(copy.one, key), key)
    ordered = sorted(tally.items(), key=lambda item: (rank[item[0]], -item[1]))
    return tuple((noun if n == 1 else copies[noun].many, n) for noun, n in ordered)


def count_phrase(events: Sequence[Event], wording: Wording) -> str:
    """``2 clientes sin contactar, 1 llamada SPAM``, most urgent first."""
    return ", ".join(f"{n} {noun}" for noun, n in counts(events, wording))


def _alerts(n: int, wording: Wording) -> str:
    return f"{n} {label(wording, 'alert' if n == 1 else 'alerts')}"


def email_subject(events: Sequence[Event], wording: Wording) -> str:
    """One event: ``[Clickfono] Devolver la llamada a Juan Pérez (+56 9 8765 4321)``;
    a batch: ``[Clickfono] 3 alertas: 2 clientes sin contactar, 1 llamada SPAM``."""
    if len(events) == 1:
        message = render(events[0], wording)
        return f"[Clickfono] {message.headline or message.title}"
    return f"[Clickfono] {_alerts(len(events), wording)}: {count_phrase(events, wording)}"


def batch_title(events: Sequence[Event], wording: Wording) -> str:
    n = len(events)
    return label(wording, "batch.title.one" if n == 1 else "batch.title").format(n=n)


def call_line(event: Event, wording: Wording) -> tuple[str, str]:
    """One call in a list: ``(name or number, number · popup · time)``."""
    call = event.call
    if call is None:
        message = render(event, wording)
        return message.title, " · ".join(f"{k}: {v}" for k, v in message.facts[:3])
    name = customer_name(call, wording)
    number = call.get("caller_number")
    phone = show_phone(str(number), wording) if number else None
    call_at = parse_time(call.get("call_at"))
    parts = [
        phone if name else None,
        _clip(call["popup_name"], 60) if call.get("popup_name") else None,
        short_time(call_at, event.detected_at, wording) if call_at else None,
    ]
    if event.type == ev.CALL_QUEUED_TOO_LONG:
        parts.append(f"{label(wording, 'wait').lower()} {waited(event, wording)}")
    if event.type == ev.CALL_STATUS_CHANGED:
        parts.append(
            f"{_status(event.previous_status, wording)} → {_status(call.get('status'), wording)}"
        )
    who = name or phone or label(wording, "the_customer.who")
    return who, " · ".join(p for p in parts if p)


def _dial(event: Event, wording: Wording) -> tuple[str, str] | None:
    number = event.call.get("caller_number") if event.call is not None else None
    if not number or wording.mask_pii:
        return None
    tel = dial_number(str(number))
    return (format_phone(str(number)), tel) if tel else None


def digest(events: Sequence[Event], wording: Wording) -> Digest:
    """Many alerts as one notice: counts, then each kind most urgent first.

    Kinds with urgency up to ``LIST_ALL_UP_TO`` (customers to call back, Clickfono
    down) list every call; SPAM and information are a count with a few examples.
    """
    ordered = by_urgency(events)
    grouped: dict[str, list[Event]] = {}
    for event in ordered:
        grouped.setdefault(_copy_key(event), []).append(event)
    groups: list[DigestGroup] = []
    for group_events in grouped.values():
        first = group_events[0]
        copy = _copy(first, wording)
        n = len(group_events)
        heading = f"{n} {copy.one if n == 1 else copy.many}"
        if copy.todo:
            heading += f": {copy.todo}"
        urgency = ev.urgency(first.type)
        shown = group_events if urgency <= LIST_ALL_UP_TO else group_events[:DIGEST_EXAMPLES]
        hidden = n - len(shown)
        note = None
        if hidden:
            note = label(wording, "digest.more").format(n=hidden)
        groups.append(
            DigestGroup(
                first.type,
                urgency,
                heading,
                tuple(call_line(e, wording) for e in shown),
                hidden,
                note,
                tuple(_dial(e, wording) for e in shown),
            )
        )
    sample = tuple(line for group in groups for line in (group.heading, *group.plain_lines()))
    return Digest(
        label(wording, "digest.title").format(n=len(events)),
        counts(events, wording),
        label(wording, "digest.sample"),
        sample,
        None,
        " ".join(
            [label(wording, "digest.note")]
            + ([label(wording, "digest.masked")] if wording.mask_pii else [])
        ),
        tuple(groups),
        label(wording, "digest.overflow"),
    )


def thread_note(at: datetime, wording: Wording) -> str:
    """The line under a Slack thread's parent, once it shows a later status."""
    return label(wording, "thread.note").format(time=clock_time(at, wording))
