"""The Event value, its deterministic id, and the payload shape of SPEC.md."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CALL_CREATED = "call.created"
CALL_STATUS_CHANGED = "call.status_changed"
CALL_SPAM = "call.spam"
CALL_ATTEMPTS_EXHAUSTED = "call.attempts_exhausted"
CALL_OUTSIDE_BUSINESS_HOURS = "call.outside_business_hours"
CALL_QUEUED_TOO_LONG = "call.queued_too_long"
SOURCE_UNAUTHORIZED = "notifier.source_unauthorized"
SOURCE_UNAVAILABLE = "notifier.source_unavailable"
SOURCE_RECOVERED = "notifier.source_recovered"


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
        popup = None if self.call is None else self.call.get("popup_uuid")
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
