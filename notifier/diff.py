"""The pure diff engine: previous snapshot + call as fetched now -> new snapshot + events.

No I/O. Every rule of SPEC.md's event table lives here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from notifier import events as ev
from notifier.clickfono.models import Call, CallStatus
from notifier.events import Event, event_id, format_timestamp

WAITING = frozenset({CallStatus.QUEUED.value, CallStatus.SCHEDULED.value})
"""Statuses in which a customer is waiting for the call to happen."""
RUNNING_OR_CONNECTED = frozenset({CallStatus.RUNNING.value, CallStatus.CONNECTED.value})

# One-shot alert flags kept in the snapshot.
ALERTED_OUTSIDE_HOURS = 1
ALERTED_QUEUED = 2  # for the current wait only; cleared when a new wait starts

_SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the rules need to remember about one call between cycles."""

    status: str
    seq: int
    """Change sequence: 1 when first seen, +1 on every status change."""
    since: float
    """Epoch seconds when the current status was first seen."""
    retry: int | None = None
    enqueued: bool | None = None
    duration_company: int | None = None
    duration_customer: int | None = None
    wait_since: float | None = None
    """When the current continuous wait (En cola / Por ejecutar) was first seen."""
    wait_seq: int = 0
    """The change sequence at which the current wait began; identifies the wait."""
    flags: int = 0

    def encode(self) -> str:
        return json.dumps(
            [
                _SNAPSHOT_VERSION,
                self.status,
                self.seq,
                self.since,
                self.retry,
                self.enqueued,
                self.duration_company,
                self.duration_customer,
                self.wait_since,
                self.wait_seq,
                self.flags,
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def decode(cls, text: str | bytes) -> Snapshot:
        """Raise ValueError when ``text`` is not a snapshot this version wrote."""
        try:
            raw = json.loads(text)
            if not isinstance(raw, list) or raw[0] != _SNAPSHOT_VERSION or len(raw) != 11:
                raise ValueError("unknown snapshot format")
            _, status, seq, since, retry, enqueued, dco, dcu, wait_since, wait_seq, flags = raw
            if not isinstance(status, str) or not isinstance(seq, int):
                raise ValueError("bad snapshot fields")
            return cls(
                status,
                seq,
                float(since),
                retry,
                enqueued,
                dco,
                dcu,
                None if wait_since is None else float(wait_since),
                int(wait_seq),
                int(flags),
            )
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"corrupt snapshot: {exc}") from None

    def alert_deadline(self, queue_alert_seconds: float) -> float | None:
        """When ``call.queued_too_long`` becomes due for this call, if it can still fire."""
        if queue_alert_seconds <= 0 or self.wait_since is None or self.flags & ALERTED_QUEUED:
            return None
        return self.wait_since + queue_alert_seconds


@dataclass(frozen=True, slots=True)
class DiffContext:
    """Everything about one cycle that the rules depend on."""

    now: datetime
    is_open: Callable[[datetime], bool]
    queue_alert_seconds: float = 15 * 60
    silent: bool = False
    """Silent baseline: record calls as already seen, one-shot alerts included."""
    observed_late: bool = False

    @property
    def now_ts(self) -> float:
        return self.now.timestamp()


@dataclass(frozen=True, slots=True)
class Diff:
    snapshot: Snapshot | None
    """The snapshot to store, or None when nothing changed."""
    events: tuple[Event, ...]


def _outside_hours(call: Call, ctx: DiffContext) -> str | None:
    if call.status == CallStatus.OUT_OF_HOURS.value:
        return "status"
    if (
        call.status in RUNNING_OR_CONNECTED
        and call.call_at is not None
        and not ctx.is_open(call.call_at)
    ):
        return "schedule"
    return None


def diff_call(previous: Snapshot | None, call: Call, ctx: DiffContext) -> Diff:
    """Compare one call with its snapshot; return the snapshot to store and the events."""
    now = ctx.now_ts
    status = call.status
    raised: list[tuple[str, int, str | None]] = []  # type, change seq, reason

    if previous is None:
        snap = Snapshot(status, 1, now)
        raised.append((ev.CALL_CREATED, 1, None))
    elif previous.status != status:
        snap = replace(previous, status=status, seq=previous.seq + 1, since=now)
        raised.append((ev.CALL_STATUS_CHANGED, snap.seq, None))
    else:
        snap = previous
    became = previous is None or previous.status != status
    previous_status = None if previous is None else previous.status

    if became and status == CallStatus.SPAM.value:
        raised.append((ev.CALL_SPAM, snap.seq, None))
    if became and status == CallStatus.ATTEMPTS_EXHAUSTED.value:
        raised.append((ev.CALL_ATTEMPTS_EXHAUSTED, snap.seq, None))

    if not snap.flags & ALERTED_OUTSIDE_HOURS:
        reason = _outside_hours(call, ctx)
        if reason is not None:
            snap = replace(snap, flags=snap.flags | ALERTED_OUTSIDE_HOURS)
            # Once per call: the id ignores the sequence at which it fired.
            raised.append((ev.CALL_OUTSIDE_BUSINESS_HOURS, 0, reason))

    # Waits: a continuous stretch in En cola / Por ejecutar.
    if status in WAITING:
        if snap.wait_since is None:
            snap = replace(
                snap, wait_since=now, wait_seq=snap.seq, flags=snap.flags & ~ALERTED_QUEUED
            )
    elif snap.wait_since is not None:
        snap = replace(snap, wait_since=None, wait_seq=0, flags=snap.flags & ~ALERTED_QUEUED)
    deadline = snap.alert_deadline(ctx.queue_alert_seconds)
    if deadline is not None and now > deadline and not ctx.silent:
        snap = replace(snap, flags=snap.flags | ALERTED_QUEUED)
        raised.append((ev.CALL_QUEUED_TOO_LONG, snap.wait_seq, None))

    snap = replace(
        snap,
        retry=call.retry,
        enqueued=call.enqueued,
        duration_company=call.duration_company,
        duration_customer=call.duration_customer,
    )
    changed = snap != previous
    if ctx.silent or not raised:
        return Diff(snap if changed else None, ())

    payload = call.payload()
    detected_at = ctx.now.astimezone(UTC)
    waiting: dict[str, str] = {}
    if snap.wait_since is not None:
        waiting["waiting_since"] = format_timestamp(datetime.fromtimestamp(snap.wait_since, UTC))
    out = tuple(
        Event(
            type=kind,
            id=event_id(
                call.uuid, seq, kind, "" if kind == ev.CALL_OUTSIDE_BUSINESS_HOURS else status
            ),
            detected_at=detected_at,
            call=payload,
            previous_status=previous_status,
            reason=reason,
            observed_late=ctx.observed_late,
            detail=waiting if kind == ev.CALL_QUEUED_TOO_LONG else {},
        )
        for kind, seq, reason in raised
    )
    return Diff(snap if changed else None, out)
