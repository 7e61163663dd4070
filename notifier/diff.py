"""The pure diff engine: previous snapshot + call as fetched now -> new snapshot + events.

No I/O. Every rule of SPEC.md's event table lives here.
"""

from __future__ import annotations

import base64
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress, count

from notifier import events as ev
from notifier.clickfono.models import FINGERPRINT_SIZE, Call, CallStatus
from notifier.events import Event, event_id, format_timestamp

WAITING = frozenset({CallStatus.QUEUED.value, CallStatus.SCHEDULED.value})
"""Statuses in which a customer is waiting for the call to happen."""
RUNNING_OR_CONNECTED = frozenset({CallStatus.RUNNING.value, CallStatus.CONNECTED.value})

# One-shot alert flags kept in the snapshot.
ALERTED_OUTSIDE_HOURS = 1
ALERTED_QUEUED = 2  # for the current wait only; cleared when a new wait starts

_SNAPSHOT_VERSION = 2
_V1_FIELDS = 10
"""Version 1 wrote ten fields after the version; later versions only append (version 2:
``longest_wait``)."""
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""One encoder for every snapshot: ``json.dumps`` with options builds one per call."""


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
    longest_wait: float = 0.0
    """Seconds of this call's longest finished wait (the daily summary's longest wait)."""

    def encode(self) -> str:
        return _ENCODER.encode(
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
                self.longest_wait,
            ]
        )

    @classmethod
    def decode(cls, text: str | bytes) -> Snapshot:
        """Raise ValueError when ``text`` is not a snapshot.

        Fields are only ever appended, under a larger version number: a snapshot of an
        older version decodes with defaults for the fields it lacks, and one of a newer
        version (a rollback) decodes the fields this version knows. Either way a day's
        calls are never taken for new ones and re-announced as ``call.created``.
        """
        try:
            raw = json.loads(text)
            if not isinstance(raw, list) or not isinstance(raw[0], int) or raw[0] < 1:
                raise ValueError("unknown snapshot format")
            fields = raw[1:11]
            if len(fields) < _V1_FIELDS:
                raise ValueError("too few snapshot fields")
            status, seq, since, retry, enqueued, dco, dcu, wait_since, wait_seq, flags = fields
            if not isinstance(status, str) or not isinstance(seq, int):
                raise ValueError("bad snapshot fields")
            # Version 2's field; anything else there (a later version's) reads as 0.
            longest = raw[11] if len(raw) > 11 else 0
            if not isinstance(longest, int | float) or isinstance(longest, bool):
                longest = 0
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
                float(longest),
            )
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"corrupt snapshot: {exc}") from None

    @property
    def pending_wait(self) -> float | None:
        """The start of a wait whose ``call.queued_too_long`` has not fired yet, if any."""
        if self.wait_since is None or self.flags & ALERTED_QUEUED:
            return None
        return self.wait_since


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

    # The new snapshot's fields as locals: one Snapshot is built at the end.
    wait_since: float | None
    longest = previous.longest_wait if previous is not None else 0.0
    if previous is None:
        seq, since, flags, wait_since, wait_seq = 1, now, 0, None, 0
        raised.append((ev.CALL_CREATED, 1, None))
        became = True
        previous_status = None
    else:
        seq, since, flags = previous.seq, previous.since, previous.flags
        wait_since, wait_seq = previous.wait_since, previous.wait_seq
        previous_status = previous.status
        became = previous_status != status
        if became:
            seq, since = seq + 1, now
            raised.append((ev.CALL_STATUS_CHANGED, seq, None))

    if became and status == CallStatus.SPAM.value:
        raised.append((ev.CALL_SPAM, seq, None))
    if became and status == CallStatus.ATTEMPTS_EXHAUSTED.value:
        raised.append((ev.CALL_ATTEMPTS_EXHAUSTED, seq, None))

    if not flags & ALERTED_OUTSIDE_HOURS:
        reason = _outside_hours(call, ctx)
        if reason is not None:
            flags |= ALERTED_OUTSIDE_HOURS
            # Once per call: the id ignores the sequence at which it fired.
            raised.append((ev.CALL_OUTSIDE_BUSINESS_HOURS, 0, reason))

    # Waits: a continuous stretch in En cola / Por ejecutar.
    if status in WAITING:
        if wait_since is None:
            wait_since, wait_seq, flags = now, seq, flags & ~ALERTED_QUEUED
    elif wait_since is not None:
        longest = max(longest, round(now - wait_since, 3))
        wait_since, wait_seq, flags = None, 0, flags & ~ALERTED_QUEUED
    alert_after = ctx.queue_alert_seconds
    if (
        alert_after > 0
        and wait_since is not None
        and not flags & ALERTED_QUEUED
        and now > wait_since + alert_after
        and not ctx.silent
    ):
        flags |= ALERTED_QUEUED
        raised.append((ev.CALL_QUEUED_TOO_LONG, wait_seq, None))

    snap = Snapshot(
        status,
        seq,
        since,
        call.retry,
        call.enqueued,
        call.duration_company,
        call.duration_customer,
        wait_since,
        wait_seq,
        flags,
        longest,
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


# Skipping calls that cannot have changed. A busy account lists 100,000+ calls a day and
# about 1% change between cycles; validating, loading and diffing every call cost several
# times as much as fetching the answer. Instead each answer keeps a CallIndex: the
# fingerprint of every record it diffed (the SHA-1 of the record's raw JSON, see
# CallRecords.fingerprints), and the start of each wait whose queue alert is still
# pending. A byte-identical record whose queue alert is not due would diff to nothing (no
# events, the same snapshot), so the cycle neither validates, loads nor diffs it.

_INDEX_VERSION = 2
"""Version 1 stored hex fingerprints, one per line (41 bytes a call). Version 2 stores
them packed in the answer's order (20 bytes each, base64: 27 bytes a call), and reading
it makes no object per call when the answer kept its order."""
REJECTED = bytes(FINGERPRINT_SIZE)
"""Stored for a record that failed validation. No record's SHA-1 is all zeros (finding one
would take 2^160 tries), so the record is validated, and reported, again next cycle."""
_BLOCK = 8 * FINGERPRINT_SIZE
"""Packed fingerprints compared at once when looking for the changed ones."""


@dataclass(frozen=True, slots=True)
class CallIndex:
    """What the last diff of one answer saw."""

    packed: bytes
    """Every record's fingerprint, in the answer's order, ``FINGERPRINT_SIZE`` bytes each
    (``REJECTED`` for an invalid record)."""
    waits: Mapping[str, float]
    """Call uuid -> start of its wait, for waits whose queue alert has not fired."""

    def due(self, queue_alert_seconds: float, now: float) -> set[str]:
        """The calls whose queue alert is due by ``now`` (they must be diffed)."""
        if queue_alert_seconds <= 0:
            return set()
        return {u for u, since in self.waits.items() if since + queue_alert_seconds <= now}

    def unseen(self, fingerprints: Sequence[bytes]) -> list[int]:
        """Positions of the records that are not byte-identical to one this index saw.

        When the answer kept its order (calls added at its end or its start, a few
        changed or moved), the places where it differs from the stored list are found
        by comparing both eight fingerprints at a time, and only the fingerprints found
        there are looked up among the stored ones found there: no object per call.
        Otherwise every fingerprint is looked up in a set of all the stored ones.
        """
        differing = _differing_in_order(b"".join(fingerprints), self.packed)
        if differing is None:
            stored = frozenset(unpack(self.packed))
            known = map(stored.__contains__, fingerprints)
            return list(compress(count(), map(operator.not_, known)))
        positions, stored_positions = differing
        size = FINGERPRINT_SIZE
        moved = {self.packed[p * size : (p + 1) * size] for p in stored_positions}
        return [i for i in positions if fingerprints[i] not in moved]

    @staticmethod
    def encode(packed: bytes, waits: Mapping[str, float]) -> str:
        """The stored form: a JSON header line, then the packed fingerprints in base64.

        Waits are grouped by their start: calls seen waiting in one cycle share it, so
        a handful of floats is written rather than one per waiting call."""
        if len(packed) % FINGERPRINT_SIZE:
            raise ValueError(f"fingerprints are {FINGERPRINT_SIZE} bytes each")
        groups: dict[float, list[str]] = {}
        for uuid, since in waits.items():
            groups.setdefault(since, []).append(uuid)
        # JSON escapes newlines, so the header is one line.
        header = _ENCODER.encode({"v": _INDEX_VERSION, "waits": list(groups.items())})
        return header + "\n" + base64.b64encode(packed).decode("ascii")

    @classmethod
    def decode(cls, text: str | bytes) -> CallIndex | None:
        """None for an index an earlier version wrote (every call of its answer is diffed
        once, and the index rewritten). Raise ValueError when ``text`` is no index."""
        if isinstance(text, bytes):
            text = text.decode()
        header, _, body = text.partition("\n")
        try:
            head = json.loads(header)
            if head["v"] < _INDEX_VERSION:
                return None
            if head["v"] != _INDEX_VERSION:
                raise ValueError(f"unknown index version {head['v']!r}")
            waits: dict[str, float] = {}
            for since, uuids in head["waits"]:
                waits.update(dict.fromkeys(map(str, uuids), float(since)))
            packed = base64.b64decode(body, validate=True)
        except (ValueError, TypeError, KeyError) as exc:  # binascii.Error is a ValueError
            raise ValueError(f"corrupt call index: {exc}") from None
        if len(packed) % FINGERPRINT_SIZE:
            raise ValueError(
                f"corrupt call index: {len(packed)} bytes of {FINGERPRINT_SIZE}-byte fingerprints"
            )
        return cls(packed, waits)


def unpack(packed: bytes) -> list[bytes]:
    """The fingerprints of a packed list, sliced in C."""
    size, total = FINGERPRINT_SIZE, len(packed)
    return list(
        map(packed.__getitem__, map(slice, range(0, total, size), range(size, total + size, size)))
    )


def _differing_in_order(new: bytes, old: bytes) -> tuple[list[int], list[int]] | None:
    """Where ``new`` differs from ``old`` read in order, with calls added at the end of
    ``old`` or at its start: the positions in ``new`` (added calls included) and those
    in ``old`` whose fingerprints differ.

    None when neither reading holds (more than 64 records, and more than one in eight,
    differ: the order changed), or when calls left the answer: the caller then looks
    every fingerprint up in a set.
    """
    size = FINGERPRINT_SIZE
    total, kept = len(new) // size, len(old) // size
    if not kept or kept > total:
        return None
    limit = max(64, total // 8)
    for offset in dict.fromkeys((0, total - kept)):  # calls added at the end, at the start
        start = offset * size
        old_positions: list[int] = []
        for at in range(0, len(old), _BLOCK):
            end = min(at + _BLOCK, len(old))
            if new[start + at : start + end] == old[at:end]:
                continue
            old_positions.extend(
                p // size
                for p in range(at, end, size)
                if new[start + p : start + p + size] != old[p : p + size]
            )
            if len(old_positions) > limit:
                break
        else:
            positions = [*range(offset), *(p + offset for p in old_positions)]
            return [*positions, *range(offset + kept, total)], old_positions
    return None
