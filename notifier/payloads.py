"""What each event type carries in ``data``, declared as types.

``Event.payload()`` builds ``data`` from the event: ``call`` (the normalised
``clickfono.models.Call``) when the event is about a call, ``previous_status`` always,
``reason`` and ``observed_late`` when set, and the ``detail`` mapping merged in. This
module declares, per registered type, whether ``data.call`` is there, which ``reason``
values it may carry, and the ``TypedDict`` of its ``detail``. Producers annotate their
``detail`` with these types, and ``notifier.schema`` turns the same declarations into the
published webhook contract (``clickfono-notifier schema``); a test fails when a
registered public type has no shape here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, WithJsonSchema, with_config
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from notifier import events as ev

__all__ = [
    "CALL_MARKER",
    "SHAPES",
    "CallbackByAgentDetail",
    "CallbackResolvedDetail",
    "DailySummaryDetail",
    "PayloadShape",
    "QueuedDetail",
    "SinkFailingDetail",
    "SinkRecoveredDetail",
    "SourceProblemDetail",
    "SourceRecoveredDetail",
    "Timestamp",
    "shape",
]

CALL_MARKER = "x-clickfono-call"
"""Stands for the Call schema in a detail's JSON Schema; ``notifier.schema`` swaps in a $ref."""
_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)

Timestamp = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
        json_schema_extra={"format": "date-time"},
        description="UTC, second precision: 2026-11-24T13:05:09Z",
    ),
]
"""``events.format_timestamp``'s form."""
Count = Annotated[int, Field(ge=0)]
CallList = Annotated[
    list[dict[str, Any]],
    WithJsonSchema({"type": "array", "items": {CALL_MARKER: True}}),
]
"""Calls normalised as ``data.call`` (``Call.payload()``); the schema refers to its Call."""


@with_config(_STRICT)
class QueuedDetail(TypedDict):
    """``call.queued_too_long``: when the notifier first saw the call waiting."""

    waiting_since: NotRequired[Timestamp]


@with_config(_STRICT)
class SourceProblemDetail(TypedDict):
    """``notifier.source_unauthorized`` / ``source_unavailable``."""

    error: str
    """The last error, one line, no secret."""
    failures: Count
    """Failed cycles in a row so far."""
    since: Timestamp
    """When the episode began."""


@with_config(_STRICT)
class SourceRecoveredDetail(TypedDict):
    """``notifier.source_recovered``."""

    failures: Count
    since: Timestamp


@with_config(_STRICT)
class SinkFailingDetail(TypedDict):
    """``notifier.sink_failing``: one sink has failed deliveries for several minutes."""

    sink: str
    """The failing sink's name (``slack``, ``email``, ``webhook``, ``apprise-…``)."""
    pending: Count
    """Events waiting in its outbox."""
    dead_letters: Count
    """Its events that went to dead letters during the episode."""
    since: Timestamp
    """When the episode began."""
    error: str
    """Its last delivery error, one line, no secret (empty when unknown)."""


@with_config(_STRICT)
class SinkRecoveredDetail(TypedDict):
    """``notifier.sink_recovered``: the sink delivers again."""

    sink: str
    since: Timestamp
    """When the episode began."""
    duration_seconds: Count
    """How long the sink failed."""


@with_config(_STRICT)
class CallbackByAgentDetail(TypedDict):
    """``callback.claimed`` / ``released`` / ``done``: an agent acted from Slack."""

    user_id: Annotated[str, Field(pattern=r"^[UW][A-Z0-9]+$")]
    """The Slack user id of the agent (``U0123ABCD``)."""
    at: Timestamp


@with_config(_STRICT)
class CallbackResolvedDetail(TypedDict):
    """``callback.resolved``: a later connected call from the same number closed it."""

    at: Timestamp


@with_config(_STRICT)
class DailySummaryDetail(TypedDict):
    """``report.daily_summary``: one popup's day (SPEC's "Webhook payload")."""

    popup_uuid: str
    popup_name: str | None
    date: Annotated[str, Field(json_schema_extra={"format": "date"})]
    """The local date, ISO: ``2026-11-24``."""
    total: Count
    calls_by_status: dict[str, Count]
    """Every status seen that day → its count."""
    connected_rate: Annotated[float, Field(ge=0, le=1)]
    waiting_callback: CallList
    """Calls whose customer still waits for a call back, each normalised as ``data.call``."""
    late: bool
    """Sent after ``NOTIFIER_DAILY_SUMMARY_AT`` because the notifier was down then."""
    spam: NotRequired[Count]
    """Calls in ``SPAM``."""
    out_of_hours: NotRequired[Count]
    """Calls in ``Fuera de horario`` or requested outside business hours (SPAM excluded)."""
    longest_wait_seconds: NotRequired[Count | None]
    """The longest wait in ``En cola``/``Por ejecutar`` the notifier observed; null: none."""
    median_claim_seconds: NotRequired[Count | None]
    """Median time from alert to first claim in Slack; null when nothing was claimed."""


@dataclass(frozen=True, slots=True)
class PayloadShape:
    """What ``data`` holds for one event type, besides ``previous_status``."""

    call: bool
    """``data.call`` (the normalised call) is present."""
    detail: type | None = None
    """The TypedDict of the fields ``detail`` adds to ``data``."""
    reasons: tuple[str, ...] = ()
    """The values ``data.reason`` takes; empty: never present. Present means required."""


_CALL = PayloadShape(call=True)
_BY_AGENT = PayloadShape(call=True, detail=CallbackByAgentDetail)

SHAPES: dict[str, PayloadShape] = {
    ev.CALL_CREATED: _CALL,
    ev.CALL_STATUS_CHANGED: _CALL,
    ev.CALL_SPAM: _CALL,
    ev.CALL_ATTEMPTS_EXHAUSTED: _CALL,
    ev.CALL_OUTSIDE_BUSINESS_HOURS: PayloadShape(call=True, reasons=("status", "schedule")),
    ev.CALL_QUEUED_TOO_LONG: PayloadShape(call=True, detail=QueuedDetail),
    ev.SOURCE_UNAUTHORIZED: PayloadShape(call=False, detail=SourceProblemDetail),
    ev.SOURCE_UNAVAILABLE: PayloadShape(call=False, detail=SourceProblemDetail),
    ev.SOURCE_RECOVERED: PayloadShape(call=False, detail=SourceRecoveredDetail),
    ev.SINK_FAILING: PayloadShape(call=False, detail=SinkFailingDetail),
    ev.SINK_RECOVERED: PayloadShape(call=False, detail=SinkRecoveredDetail),
    ev.CALLBACK_CLAIMED: _BY_AGENT,
    ev.CALLBACK_RELEASED: _BY_AGENT,
    ev.CALLBACK_DONE: _BY_AGENT,
    ev.CALLBACK_RESOLVED: PayloadShape(call=True, detail=CallbackResolvedDetail),
    ev.DAILY_SUMMARY: PayloadShape(call=False, detail=DailySummaryDetail),
}
"""Every public event type's ``data`` shape."""


def shape(event_type: str) -> PayloadShape | None:
    return SHAPES.get(event_type)
