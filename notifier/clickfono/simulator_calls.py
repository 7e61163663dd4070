"""The simulator's calls over simulated time: the seeded day plus manual edits, and history.

``SimulatedCalls`` is the state behind Clickfono's ``calls/list``, without any HTTP (the
server in ``simulator_http`` subclasses it). It holds two kinds of calls:

* generated (``seed`` given): ``simulator_day``'s timelines for every date, so a list is a
  pure function of (seed, date, simulated time), plus the optional demo burst around
  ``start_at``.
* manual (``seed=None``): no generated calls; the test sets records explicitly.

Manual edits (``set_calls``, ``upsert``, ``set_status``, ``remove``, ``mutate_random``)
work in both: an edited generated call leaves its timeline and keeps the edited record.
Every status change, generated or manual, is appended to ``history`` (the chaos oracle).
"""

from __future__ import annotations

import contextlib
import copy
import random
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from notifier.clickfono.models import CallStatus
from notifier.clickfono.simulator_day import (
    DEFAULT_POPUP,
    ZONE,
    CallPlan,
    Popup,
    Record,
    StatusChange,
    generate_burst,
    generate_day,
    generated_popups,
    local_day,
    local_midnight,
    make_record,
)

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Day:
    plans: tuple[CallPlan, ...]
    by_uuid: Mapping[str, CallPlan]
    changes: tuple[StatusChange, ...]
    """Every status change of these calls, ordered by time."""


def _change_time(change: StatusChange) -> datetime:
    return change.at


def _change_order(change: StatusChange) -> tuple[datetime, str]:
    return change.at, change.uuid


def _as_day(day: date | str) -> date:
    if isinstance(day, datetime):
        raise TypeError("pass a date, not a datetime")
    return day if isinstance(day, date) else date.fromisoformat(day)


def _record_day(record: Mapping[str, Any]) -> date | None:
    """The local date in a vendor ``call_at`` (``2019/04/02 ...``), if it has one."""
    text = record.get("call_at")
    if isinstance(text, str) and len(text) >= 10:
        with contextlib.suppress(ValueError):
            return date.fromisoformat(text[:10].replace("/", "-"))
    return None


class SimulatedCalls:
    """The calls ``calls/list`` would hold at each simulated instant; thread-safe.

    ``seed=None`` is manual mode (no generated calls). Simulated time is
    ``clock()`` when given, else ``start_at + elapsed real time × speed``; ``advance``
    adds to either. ``burst`` adds that many quick calls around ``start_at``.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        start_at: datetime | None = None,
        speed: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        burst: int = 0,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must not be negative")
        if start_at is not None and start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        self.seed = seed
        self._lock = threading.RLock()
        self._clock = clock
        self._speed = speed
        self._real_start = time.monotonic()
        self._start = (clock() if clock else start_at or datetime.now(UTC)).astimezone(UTC)
        self._offset = timedelta(0)
        self._popups: dict[str, Popup] = {}
        self._burst: tuple[CallPlan, ...] = ()
        if seed is not None:
            self._popups = {popup.uuid: popup for popup in generated_popups(seed)}
            if burst:
                self._burst = generate_burst(seed, self._start, burst)
        self._days: dict[date, _Day] = {}
        self._plan_day: dict[str, date] = {}
        self._manual: dict[date, dict[str, Record]] = {}
        self._manual_day: dict[str, date] = {}
        self._detached: set[str] = set()
        # Removed calls' last status: one that comes back is a change only if it differs,
        # as the notifier keeps a missing call's snapshot.
        self._removed: dict[str, str | None] = {}
        self._anonymous = 0
        self._history: list[StatusChange] = []
        # History covers generated changes from the previous local day's midnight on.
        self._synced = local_midnight(local_day(self._start) - _ONE_DAY) - timedelta.resolution

    # ---- simulated time

    def now(self) -> datetime:
        """Simulated now, aware, in America/Santiago."""
        with self._lock:
            offset = self._offset
        if self._clock is not None:
            base = self._clock().astimezone(UTC)
        else:
            elapsed = (time.monotonic() - self._real_start) * self._speed
            base = self._start + timedelta(seconds=elapsed)
        return (base + offset).astimezone(ZONE)

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward; returns the new simulated now."""
        if seconds < 0:
            raise ValueError("simulated time only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
            now = self.now()
            self._sync(now)
            return now

    # ---- state

    @property
    def popups(self) -> tuple[Popup, ...]:
        """Generated, declared, and named by any record so far: the popups that are not 404."""
        with self._lock:
            return tuple(self._popups.values())

    def add_popup(self, popup: Popup) -> None:
        """Declare a popup: a known popup with no calls answers 204, not 404."""
        with self._lock:
            self._popups[popup.uuid] = popup

    def records(self, day: date | str | None = None, popup: str | None = None) -> list[Record]:
        """What ``calls/list`` would hold now for ``day`` (default: simulated today)."""
        with self._lock:
            now = self.now()
            self._sync(now)
            return self._records(_as_day(day) if day else now.date(), popup, now)

    @property
    def history(self) -> tuple[StatusChange, ...]:
        """Every status change so far, in order (generated ones from yesterday's midnight)."""
        with self._lock:
            self._sync(self.now())
            return tuple(self._history)

    def changes_since(self, instant: datetime) -> list[StatusChange]:
        """The status changes strictly after ``instant`` (simulated time)."""
        return [change for change in self.history if change.at > instant]

    def set_calls(self, day: date | str, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace ``day``'s manual list; records are served as given (invalid ones too)."""
        target = _as_day(day)
        wanted = [dict(record) for record in records]
        with self._lock:
            now = self.now()
            self._sync(now)
            uuids = {record.get("uuid") for record in wanted}
            listed = self._manual.setdefault(target, {})
            for key in [key for key in listed if key not in uuids]:
                del listed[key]
                self._manual_day.pop(key, None)
            for record in wanted:
                uuid = record.get("uuid")
                if isinstance(uuid, str) and uuid:
                    self._put(record, target, now)
                else:
                    # No usable uuid: served as is (tests of rejected records), never diffed.
                    self._anonymous += 1
                    listed[f"\0anonymous-{self._anonymous}"] = copy.deepcopy(record)
                    self._learn_popup(record)

    def upsert(self, record: Mapping[str, Any], *, day: date | str | None = None) -> None:
        """Add or replace one call by uuid, in ``day`` or its ``call_at`` date (else today)."""
        uuid = record.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise ValueError("upsert needs a record with a uuid; use set_calls for others")
        with self._lock:
            now = self.now()
            self._sync(now)
            found = self._current(uuid, now)
            target = (
                _as_day(day)
                if day
                else _record_day(record) or (found[0] if found else None) or now.date()
            )
            self._put(dict(record), target, now)

    def set_status(self, uuid: str, status: str, **fields: Any) -> None:
        """Change one call's status (and any other raw fields); KeyError if unknown."""
        with self._lock:
            now = self.now()
            self._sync(now)
            found = self._current(uuid, now)
            if found is None:
                raise KeyError(uuid)
            day, record = found
            self._put({**record, "status": status, **fields}, day, now)

    def remove(self, uuid: str) -> None:
        """Take a call out of every answer; KeyError if unknown."""
        with self._lock:
            now = self.now()
            self._sync(now)
            found = self._current(uuid, now)
            if found is None:
                raise KeyError(uuid)
            status = found[1].get("status")
            self._removed[uuid] = status if isinstance(status, str) else None
            self._claim(uuid)

    def mutate_random(self, n: int, rng: random.Random) -> list[StatusChange]:
        """Make ``n`` random status changes among today's calls, new calls included."""
        statuses = [status.value for status in CallStatus]
        made: list[StatusChange] = []
        with self._lock:
            for _ in range(n):
                now = self.now()
                self._sync(now)
                existing = [
                    record
                    for record in self._records(now.date(), None, now)
                    if isinstance(record.get("uuid"), str) and isinstance(record.get("status"), str)
                ]
                if not existing or rng.random() < 0.25:
                    popups = list(self._popups.values()) or [DEFAULT_POPUP]
                    record = make_record(
                        rng=rng, popup=rng.choice(popups), call_at=now, status=rng.choice(statuses)
                    )
                    change = self._put(record, now.date(), now)
                else:
                    target = rng.choice(existing)
                    target["status"] = rng.choice([s for s in statuses if s != target["status"]])
                    change = self._put(target, now.date(), now)
                if change is not None:
                    made.append(change)
        return made

    # ---- internals (all under the lock)

    def _day(self, day: date) -> _Day:
        cached = self._days.get(day)
        if cached is None:
            assert self.seed is not None
            plans = generate_day(self.seed, day) + tuple(
                plan for plan in self._burst if local_day(plan.call_at) == day
            )
            plans = tuple(sorted(plans, key=lambda plan: (plan.call_at, plan.uuid)))
            changes = sorted((c for plan in plans for c in plan.changes()), key=_change_order)
            cached = _Day(plans, {plan.uuid: plan for plan in plans}, tuple(changes))
            if len(self._days) >= 16:  # days are cheap to regenerate; memory is bounded
                del self._days[next(iter(self._days))]
            self._days[day] = cached
            for plan in plans:
                self._plan_day[plan.uuid] = day
        return cached

    def _sync(self, now: datetime) -> None:
        """Append the generated changes up to ``now`` to the history."""
        if self.seed is None or now <= self._synced:
            return
        pending: list[StatusChange] = []
        day = local_day(self._synced) - _ONE_DAY  # yesterday's late calls end today
        while day <= local_day(now):
            changes = self._day(day).changes
            low = bisect_right(changes, self._synced, key=_change_time)
            high = bisect_right(changes, now, key=_change_time)
            pending.extend(c for c in changes[low:high] if c.uuid not in self._detached)
            day += _ONE_DAY
        pending.sort(key=_change_order)
        self._history.extend(pending)
        self._synced = now

    def _records(self, day: date, popup: str | None, now: datetime) -> list[Record]:
        found: list[Record] = []
        if self.seed is not None and day <= now.date():
            for plan in self._day(day).plans:
                if plan.uuid in self._detached or (popup and plan.popup.uuid != popup):
                    continue
                step = plan.step_at(now)
                if step is not None:
                    found.append(plan.record(step))
        for record in self._manual.get(day, {}).values():
            if not popup or record.get("popup_uuid") == popup:
                found.append(copy.deepcopy(record))
        return found

    def _current(self, uuid: str, now: datetime) -> tuple[date, Record] | None:
        day = self._manual_day.get(uuid)
        if day is not None:
            return day, copy.deepcopy(self._manual[day][uuid])
        day = self._plan_day.get(uuid)
        if day is None or uuid in self._detached:
            return None
        step = (plan := self._day(day).by_uuid[uuid]).step_at(now)
        return (day, plan.record(step)) if step else None

    def _claim(self, uuid: str) -> None:
        """Take ``uuid`` out of wherever it is; a generated call leaves its timeline."""
        day = self._manual_day.pop(uuid, None)
        if day is not None:
            self._manual[day].pop(uuid, None)
        if uuid in self._plan_day:
            self._detached.add(uuid)

    def _put(self, record: Record, day: date, now: datetime) -> StatusChange | None:
        uuid = str(record["uuid"])
        found = self._current(uuid, now)
        old = found[1].get("status") if found else self._removed.get(uuid)
        self._removed.pop(uuid, None)
        self._claim(uuid)
        self._manual.setdefault(day, {})[uuid] = copy.deepcopy(record)
        self._manual_day[uuid] = day
        self._learn_popup(record)
        new = record.get("status")
        if not isinstance(new, str) or new == old:
            return None
        popup = record.get("popup_uuid")
        change = StatusChange(
            uuid,
            old if isinstance(old, str) else None,
            new,
            now,
            day,
            popup if isinstance(popup, str) else None,
        )
        self._history.append(change)
        return change

    def _learn_popup(self, record: Mapping[str, Any]) -> None:
        # A popup stays known after its calls go, as on the real service.
        uuid, name = record.get("popup_uuid"), record.get("popup_name")
        if isinstance(uuid, str) and uuid and uuid not in self._popups:
            number = record.get("call_number_company")
            self._popups[uuid] = Popup(
                uuid,
                name if isinstance(name, str) else "",
                number if isinstance(number, str) else DEFAULT_POPUP.company_number,
            )
