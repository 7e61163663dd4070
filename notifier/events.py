"""Event types, declared once; the Event value, its deterministic id, and the payload.

``REGISTRY`` is the one list of event types. Everything else derives from it: the
``*_EVENTS`` filters, delivery order, the urgency that orders digests and email batches,
the Slack emoji, the console colour, and which types are Slack message updates rather
than posts. A test fails when a registered type has no wording in either language.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What an event is about, which decides how sinks treat it."""

    CALL_ALERT = "call_alert"
    """A call that needs a person's attention (SPAM, unreached, out of hours, waiting)."""
    CALL_CHANGE = "call_change"
    """A call was seen or changed status: informational."""
    OPERATIONAL = "operational"
    """The notifier itself: Clickfono or a sink failing and recovering."""
    REPORT = "report"
    """A periodic summary; never a call alert, so never buttons or threads."""
    CALLBACK = "callback"
    """An agent (or a later connected call) took, released or closed a callback."""
    UPDATE = "update"
    """Internal: refresh a posted Slack message. Only the Slack sink receives it, never in a
    filter, a digest or the webhook contract."""


@dataclass(frozen=True, slots=True)
class EventType:
    """One registered event type."""

    name: str
    kind: Kind
    urgency: int
    """1 act now, 2 act next (the next morning), 3 review, 4 information."""
    emoji: str
    """Slack header emoji."""
    colour: str
    """ANSI colour of the console line."""
    summary: str
    """One English sentence: when it is raised (docs and the webhook schema)."""
    needs_person: bool = False
    """Carries the callback buttons in Slack when Socket Mode is configured."""

    @property
    def public(self) -> bool:
        """Selectable in ``*_EVENTS`` filters and part of the webhook contract."""
        return self.kind is not Kind.UPDATE


REGISTRY: dict[str, EventType] = {}
"""Every event type, in delivery order for one call (created before changes before alerts)."""


def _declare(
    name: str,
    kind: Kind,
    urgency: int,
    emoji: str,
    colour: str,
    summary: str,
    *,
    needs_person: bool = False,
) -> str:
    REGISTRY[name] = EventType(name, kind, urgency, emoji, colour, summary, needs_person)
    return name


_DIM = "\033[2m"

CALL_CREATED = _declare(
    "call.created",
    Kind.CALL_CHANGE,
    4,
    ":new:",
    _DIM,
    "A call is seen for the first time (after the baseline).",
)
CALL_STATUS_CHANGED = _declare(
    "call.status_changed",
    Kind.CALL_CHANGE,
    4,
    ":arrows_counterclockwise:",
    _DIM,
    "A call's status differs from its snapshot.",
)
CALL_SPAM = _declare(
    "call.spam",
    Kind.CALL_ALERT,
    3,
    ":no_entry:",
    "\033[1;31m",
    "A call's status becomes SPAM (a new call already in SPAM included).",
)
CALL_ATTEMPTS_EXHAUSTED = _declare(
    "call.attempts_exhausted",
    Kind.CALL_ALERT,
    1,
    ":telephone_receiver:",
    "\033[1;33m",
    "A call's status becomes 'Intentos terminados': a customer nobody reached.",
    needs_person=True,
)
CALL_OUTSIDE_BUSINESS_HOURS = _declare(
    "call.outside_business_hours",
    Kind.CALL_ALERT,
    2,
    ":crescent_moon:",
    "\033[1;35m",
    "A call is 'Fuera de horario', or runs outside business hours or on a holiday.",
    needs_person=True,
)
CALL_QUEUED_TOO_LONG = _declare(
    "call.queued_too_long",
    Kind.CALL_ALERT,
    1,
    ":hourglass_flowing_sand:",
    "\033[1;36m",
    "A call has waited in 'En cola' or 'Por ejecutar' longer than the threshold.",
    needs_person=True,
)
SOURCE_UNAUTHORIZED = _declare(
    "notifier.source_unauthorized",
    Kind.OPERATIONAL,
    1,
    ":lock:",
    "\033[1;41m",
    "Clickfono rejected the token; sent once per episode.",
)
SOURCE_UNAVAILABLE = _declare(
    "notifier.source_unavailable",
    Kind.OPERATIONAL,
    1,
    ":warning:",
    "\033[1;41m",
    "Clickfono failed for several cycles in a row; sent once per episode.",
)
SOURCE_RECOVERED = _declare(
    "notifier.source_recovered",
    Kind.OPERATIONAL,
    4,
    ":white_check_mark:",
    "\033[1;32m",
    "Clickfono answers again after an announced episode.",
)
SINK_FAILING = _declare(
    "notifier.sink_failing",
    Kind.OPERATIONAL,
    1,
    ":warning:",
    "\033[1;41m",
    "One sink has failed deliveries for several minutes; sent once per episode to the other sinks.",
)
SINK_RECOVERED = _declare(
    "notifier.sink_recovered",
    Kind.OPERATIONAL,
    4,
    ":white_check_mark:",
    "\033[1;32m",
    "A sink that was failing delivers again.",
)
CALLBACK_CLAIMED = _declare(
    "callback.claimed",
    Kind.CALLBACK,
    4,
    ":raising_hand:",
    "\033[1;34m",
    "An agent took a callback from Slack.",
)
CALLBACK_RELEASED = _declare(
    "callback.released",
    Kind.CALLBACK,
    4,
    ":leftwards_arrow_with_hook:",
    "\033[1;34m",
    "An agent released a callback they had taken.",
)
CALLBACK_DONE = _declare(
    "callback.done",
    Kind.CALLBACK,
    4,
    ":white_check_mark:",
    "\033[1;32m",
    "An agent closed a callback.",
)
CALLBACK_RESOLVED = _declare(
    "callback.resolved",
    Kind.CALLBACK,
    4,
    ":white_check_mark:",
    "\033[1;32m",
    "A later connected call from the same number closed the callback by itself.",
)
DAILY_SUMMARY = _declare(
    "report.daily_summary",
    Kind.REPORT,
    4,
    ":bar_chart:",
    "\033[1;34m",
    "Once per popup and day: calls by status, connection rate, SPAM, out of hours and "
    "the customers still waiting for a call back.",
)
SLACK_UPDATE = _declare(
    "slack.update",
    Kind.UPDATE,
    4,
    ":arrows_counterclockwise:",
    _DIM,
    "Refresh a call's Slack message to its latest state (internal).",
)
SLACK_REMINDER = _declare(
    "slack.reminder",
    Kind.UPDATE,
    1,
    ":alarm_clock:",
    _DIM,
    "The one escalation reminder in an unclaimed callback's Slack thread (internal).",
)

PUBLIC_TYPES: tuple[str, ...] = tuple(n for n, t in REGISTRY.items() if t.public)
"""The types a ``*_EVENTS`` filter can select and the webhook contract describes."""
ALERT_TYPES: tuple[str, ...] = tuple(n for n, t in REGISTRY.items() if t.kind is Kind.CALL_ALERT)
PERSON_TYPES: frozenset[str] = frozenset(n for n, t in REGISTRY.items() if t.needs_person)
_ORDER = {name: i for i, name in enumerate(REGISTRY)}


def describe(name: str) -> EventType | None:
    """The registered type, or None for a type this version does not know."""
    return REGISTRY.get(name)


def delivery_rank(name: str) -> int:
    """Order of types for one call: created, then changes, then alerts (unknown last)."""
    return _ORDER.get(name, len(_ORDER))


def urgency(name: str) -> int:
    """1 act now … 4 information; unknown types count as information."""
    known = REGISTRY.get(name)
    return known.urgency if known else 4


def is_update(name: str) -> bool:
    known = REGISTRY.get(name)
    return known is not None and known.kind is Kind.UPDATE


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""Built once: json.dumps with options builds a new encoder on every call."""


def event_id(*parts: object) -> str:
    """A stable id: the same change detected again (crash, other replica) gets the same id."""
    # JSON keeps the parts unambiguous whatever characters Clickfono puts in them.
    encoded = json.dumps([str(p) for p in parts], ensure_ascii=False).encode()
    digest = hashlib.blake2b(encoded, digest_size=12)
    return "evt_" + digest.hexdigest()


def format_timestamp(instant: datetime) -> str:
    """UTC, second precision, ``Z`` suffix: ``2026-11-24T13:05:09Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Event:
    """One detected change, ready for any sink.

    ``call`` is the normalised call as Clickfono sent it (None for ``notifier.*``
    events); ``detail`` carries the operational facts of ``notifier.*`` events.
    """

    type: str
    id: str
    detected_at: datetime
    call: Mapping[str, Any] | None = None
    previous_status: str | None = None
    reason: str | None = None
    observed_late: bool = False
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def call_uuid(self) -> str | None:
        return None if self.call is None else str(self.call.get("uuid"))

    @property
    def popup_uuid(self) -> str | None:
        popup = (self.detail if self.call is None else self.call).get("popup_uuid")
        return popup if isinstance(popup, str) else None

    def payload(self) -> dict[str, Any]:
        """The webhook body of SPEC.md."""
        data: dict[str, Any] = {}
        if self.call is not None:
            data["call"] = dict(self.call)
        data["previous_status"] = self.previous_status
        if self.reason is not None:
            data["reason"] = self.reason
        if self.observed_late:
            data["observed_late"] = True
        data.update(self.detail)
        return {"type": self.type, "timestamp": format_timestamp(self.detected_at), "data": data}

    def to_json(self) -> str:
        """Lossless encoding for the outbox."""
        return _ENCODER.encode(
            {
                "type": self.type,
                "id": self.id,
                "at": self.detected_at.timestamp(),
                "call": self.call,
                "prev": self.previous_status,
                "reason": self.reason,
                "late": self.observed_late,
                "detail": self.detail,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        raw = json.loads(text)
        return cls(
            type=raw["type"],
            id=raw["id"],
            detected_at=datetime.fromtimestamp(raw["at"], UTC),
            call=raw.get("call"),
            previous_status=raw.get("prev"),
            reason=raw.get("reason"),
            observed_late=bool(raw.get("late")),
            detail=raw.get("detail") or {},
        )
