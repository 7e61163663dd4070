"""The daily summary (``report.daily_summary``), as pure functions: no I/O, no clock.

``summarise`` turns one local day's calls (normalised as ``data.call``: ``Call.payload()``),
the waits the notifier observed and the callback states into one ``PopupSummary`` per
popup. ``notifier.daily`` gathers those inputs once a day and queues the events;
``notifier.summary_text`` words them for people.

Definitions (the README and docs/daily-summary.md repeat them):

- **total**, **calls_by_status**: every call in the day's list, by Clickfono's status.
- **connected_rate**: ``Conectada`` ÷ (total − SPAM): SPAM requests are not customers.
  0 when there is no other call.
- **spam**: calls in ``SPAM``.
- **out_of_hours**: calls in ``Fuera de horario``, or requested (``call_at``) outside
  business hours or on a holiday; SPAM excluded. The same rule as the alert.
- **longest_wait**: the longest wait in ``En cola``/``Por ejecutar`` the notifier
  observed today, in seconds. Clickfono's records carry no queue time (``call_at`` is
  when the call was requested), so it comes from the snapshots: the longest finished wait
  of each call (``Snapshot.longest_wait``) and, for a call still waiting, the time since
  the notifier first saw it waiting. Waits are measured between polls, so the figure is
  right to within one poll interval.
- **waiting_callback**: customers still waiting for a call back. A call is *unreached*
  when it is ``Intentos terminados``, ``No Conectada`` with no retry pending
  (``enqueued`` not true) or ``Fuera de horario`` (Clickfono never dialled it). It is
  *called back* when a later call from the same caller number is ``Conectada`` the same
  local day. With the Slack callback loop, a callback's state wins: open (unclaimed or
  claimed) is waiting, done or resolved is not, whatever the calls say.
- **median_claim_seconds**: the median time from an alert to the first claim, over the
  callbacks that were claimed (None when none was).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Protocol

from notifier.claims import ClaimState
from notifier.clickfono.models import CallStatus

CONNECTED = CallStatus.CONNECTED
NOT_CONNECTED = CallStatus.NOT_CONNECTED
EXHAUSTED = CallStatus.ATTEMPTS_EXHAUSTED
SPAM = CallStatus.SPAM
OUT_OF_HOURS = CallStatus.OUT_OF_HOURS

STATUS_ORDER = (
    CONNECTED,
    NOT_CONNECTED,
    EXHAUSTED,
    OUT_OF_HOURS,
    SPAM,
    CallStatus.QUEUED,
    CallStatus.SCHEDULED,
    CallStatus.RUNNING,
)
"""How statuses are listed to people: outcomes first, then the ones still moving."""


@dataclass(frozen=True, slots=True)
class Callback:
    """One callback of the Slack loop, as the claim store knows it."""

    state: ClaimState
    alerted_at: datetime | None = None
    """When the alert that opened it was posted."""
    claimed_at: datetime | None = None
    """When it was first claimed (kept when it is later closed)."""
    popup_uuid: str | None = None
    popup_name: str | None = None


class CallbackSource(Protocol):
    """What the summary and the open-callbacks gauge read from the callback loop.

    An adapter over the claim store implements it; without the loop, ``NO_CALLBACKS``.
    """

    async def callbacks(self, day: date, call_uuids: Sequence[str]) -> Mapping[str, Callback]:
        """The callbacks of these calls of ``day`` that have one, by call uuid (read once
        a day, for the summary)."""
        ...

    async def open_by_popup(self, day: date) -> Mapping[tuple[str, str], int]:
        """Open callbacks of ``day`` by (popup uuid, popup name) (read after each cycle,
        for ``clickfono_open_callbacks``)."""
        ...


class NoCallbacks:
    """The callback loop is off (or not built yet): no callback has a state."""

    async def callbacks(self, day: date, call_uuids: Sequence[str]) -> Mapping[str, Callback]:
        return {}

    async def open_by_popup(self, day: date) -> Mapping[tuple[str, str], int]:
        return {}


NO_CALLBACKS = NoCallbacks()


@dataclass(frozen=True, slots=True)
class PopupSummary:
    """One popup's day."""

    popup_uuid: str
    popup_name: str | None
    date: str
    """The local date, ISO."""
    total: int
    calls_by_status: Mapping[str, int]
    connected_rate: float
    spam: int
    out_of_hours: int
    longest_wait: int | None
    """Seconds; None when the notifier saw no call waiting."""
    waiting_callback: tuple[Mapping[str, Any], ...]
    median_claim_seconds: int | None
    claimed: int
    """Callbacks claimed (the median's sample)."""
    late: bool = False

    @property
    def connected(self) -> int:
        return self.calls_by_status.get(CONNECTED, 0)

    def detail(self) -> dict[str, Any]:
        """The event's ``detail``: ``data`` of the webhook payload (payloads.DailySummaryDetail)."""
        return {
            "popup_uuid": self.popup_uuid,
            "popup_name": self.popup_name,
            "date": self.date,
            "total": self.total,
            "calls_by_status": dict(self.calls_by_status),
            "connected_rate": self.connected_rate,
            "spam": self.spam,
            "out_of_hours": self.out_of_hours,
            "longest_wait_seconds": self.longest_wait,
            "median_claim_seconds": self.median_claim_seconds,
            "waiting_callback": [dict(c) for c in self.waiting_callback],
            "late": self.late,
        }

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> PopupSummary:
        """Read back an event's ``detail`` (the sinks render from it)."""

        def count(name: str) -> int:
            value = detail.get(name)
            return int(value) if isinstance(value, int | float) else 0

        def optional(name: str) -> int | None:
            value = detail.get(name)
            return int(value) if isinstance(value, int | float) else None

        by_status = detail.get("calls_by_status")
        waiting = detail.get("waiting_callback")
        rate = detail.get("connected_rate")
        return cls(
            popup_uuid=str(detail.get("popup_uuid") or ""),
            popup_name=str(detail["popup_name"]) if detail.get("popup_name") else None,
            date=str(detail.get("date") or ""),
            total=count("total"),
            calls_by_status={
                str(k): int(v) for k, v in (by_status or {}).items() if isinstance(v, int)
            }
            if isinstance(by_status, Mapping)
            else {},
            connected_rate=float(rate) if isinstance(rate, int | float) else 0.0,
            spam=count("spam"),
            out_of_hours=count("out_of_hours"),
            longest_wait=optional("longest_wait_seconds"),
            waiting_callback=tuple(c for c in waiting if isinstance(c, Mapping))
            if isinstance(waiting, list)
            else (),
            median_claim_seconds=optional("median_claim_seconds"),
            claimed=0,
            late=bool(detail.get("late")),
        )


def ordered_statuses(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Statuses in ``STATUS_ORDER``, then any others alphabetically."""
    known = [(s, counts[s]) for s in STATUS_ORDER if s in counts]
    rest = sorted((s, n) for s, n in counts.items() if s not in STATUS_ORDER)
    return known + rest


def _call_at(call: Mapping[str, Any]) -> datetime | None:
    value = call.get("call_at")
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def is_unreached(call: Mapping[str, Any]) -> bool:
    """Clickfono gave up on reaching the customer, or never dialled them."""
    status = call.get("status")
    if status in (EXHAUSTED, OUT_OF_HOURS):
        return True
    return status == NOT_CONNECTED and call.get("enqueued") is not True


def called_back(
    call: Mapping[str, Any], connected_by_number: Mapping[str, Sequence[datetime]], zone: tzinfo
) -> bool:
    """A later call from the same number connected the same local day."""
    number = call.get("caller_number")
    at = _call_at(call)
    if not number or at is None:
        return False
    day = at.astimezone(zone).date()
    return any(
        later > at and later.astimezone(zone).date() == day
        for later in connected_by_number.get(str(number), ())
    )


def _connected_times(calls: Iterable[Mapping[str, Any]]) -> dict[str, list[datetime]]:
    found: dict[str, list[datetime]] = {}
    for call in calls:
        number, at = call.get("caller_number"), _call_at(call)
        if call.get("status") == CONNECTED and number and at is not None:
            found.setdefault(str(number), []).append(at)
    return found


def still_waiting(
    call: Mapping[str, Any],
    callback: Callback | None,
    connected_by_number: Mapping[str, Sequence[datetime]],
    zone: tzinfo,
) -> bool:
    """Whether this call's customer still waits for a call back (see the module doc)."""
    if callback is not None:
        return callback.state.open
    return is_unreached(call) and not called_back(call, connected_by_number, zone)


def _median_claim(callbacks: Iterable[Callback]) -> tuple[int | None, int]:
    delays = [
        max(0.0, (c.claimed_at - c.alerted_at).total_seconds())
        for c in callbacks
        if c.claimed_at is not None and c.alerted_at is not None
    ]
    if not delays:
        return None, 0
    return round(statistics.median(delays)), len(delays)


def summarise(
    day: date,
    calls: Sequence[Mapping[str, Any]],
    *,
    zone: tzinfo,
    is_open: Callable[[datetime], bool],
    waits: Mapping[str, float] | None = None,
    callbacks: Mapping[str, Callback] | None = None,
    popups: Iterable[str] = (),
    late: bool = False,
) -> list[PopupSummary]:
    """One summary per popup of ``day``'s ``calls``, ordered by popup name.

    ``waits``: call uuid -> the longest wait in queue observed (seconds).
    ``callbacks``: call uuid -> its callback in the Slack loop.
    ``popups``: popup uuids that get a summary even without calls (the configured ones).
    A call without a popup uuid is summarised under ``""``.
    """
    waits = waits or {}
    callbacks = callbacks or {}
    # Callbacks may cross popups (the same customer on two popups), so the called-back
    # rule looks at the whole day.
    connected = _connected_times(calls)
    by_popup: dict[str, list[Mapping[str, Any]]] = {p: [] for p in popups}
    names: dict[str, str] = {}
    for call in calls:
        popup = str(call.get("popup_uuid") or "")
        by_popup.setdefault(popup, []).append(call)
        if call.get("popup_name"):
            names[popup] = str(call["popup_name"])
    # Business hours change on minute boundaries: one lookup per minute of the day.
    opened: dict[datetime, bool] = {}

    def outside_hours(at: datetime) -> bool:
        minute = at.replace(second=0, microsecond=0)
        known = opened.get(minute)
        if known is None:
            known = opened[minute] = is_open(minute)
        return not known

    out: list[PopupSummary] = []
    for popup, popup_calls in by_popup.items():
        counts = Counter(str(c.get("status")) for c in popup_calls)
        spam = counts.get(SPAM, 0)
        customers = len(popup_calls) - spam
        outside = 0
        observed: list[float] = []
        waiting: list[tuple[str, Mapping[str, Any]]] = []
        uuids: set[str] = set()
        for call in popup_calls:
            uuid = str(call.get("uuid"))
            uuids.add(uuid)
            if uuid in waits:
                observed.append(waits[uuid])
            status = call.get("status")
            if status == SPAM:
                continue
            at = _call_at(call)
            if status == OUT_OF_HOURS or (at is not None and outside_hours(at)):
                outside += 1
            if still_waiting(call, callbacks.get(uuid), connected, zone):
                waiting.append((str(call.get("call_at") or ""), call))
        waiting.sort(key=lambda item: item[0])
        median, claimed = _median_claim(cb for u, cb in callbacks.items() if u in uuids)
        out.append(
            PopupSummary(
                popup_uuid=popup,
                popup_name=names.get(popup),
                date=day.isoformat(),
                total=len(popup_calls),
                calls_by_status=dict(ordered_statuses(counts)),
                connected_rate=round(counts.get(CONNECTED, 0) / customers, 4) if customers else 0.0,
                spam=spam,
                out_of_hours=outside,
                longest_wait=round(max(observed)) if observed else None,
                waiting_callback=tuple(call for _, call in waiting),
                median_claim_seconds=median,
                claimed=claimed,
                late=late,
            )
        )
    out.sort(key=lambda s: ((s.popup_name or s.popup_uuid).casefold(), s.popup_uuid))
    return out


def open_callbacks(callbacks: Iterable[Callback]) -> Counter[tuple[str | None, str | None]]:
    """Open callbacks by (popup uuid, popup name): the ``clickfono_open_callbacks`` gauge."""
    return Counter((c.popup_uuid, c.popup_name) for c in callbacks if c.state.open)
