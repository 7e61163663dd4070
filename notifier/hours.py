"""Business hours: a pure weekly calendar with public holidays. No I/O.

``NOTIFIER_BUSINESS_HOURS`` is a ``;``-separated list of rules. Each rule names days
(``mon``, ``mon-fri``, a wrapping range such as ``sat-mon``, or a comma list such as
``mon,wed,fri``) and one or more comma-separated ``HH:MM-HH:MM`` ranges, e.g.
``mon-fri 09:00-13:00,14:00-18:00; sat 10:00-14:00``.

Semantics:

* Times are wall-clock times in the configured zone. An instant is converted from its
  own offset into that zone, so daylight-saving changes move the UTC instants at which
  the office opens, never the local hours. The server's zone is never used.
* A range includes its start minute and excludes its end minute; ``24:00`` is allowed
  as an end. A range whose end is earlier than its start (``22:00-02:00``) runs past
  midnight into the next day; ``fri 22:00-02:00`` is open on Saturday at 01:00.
* Holidays: **a range belongs to the day on which it starts.** If that day is a public
  holiday, the whole range is closed, including the part after midnight; if it is not,
  the whole range is open, including a part that spills into a holiday. So with
  ``fri 22:00-02:00``, a holiday on Friday closes Friday 22:00 to Saturday 02:00, and a
  holiday on Saturday changes nothing for that range (a night shift that begins on a
  working day runs to its end).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 1440

_RULE = re.compile(r"^\s*(?P<days>[a-z][a-z,\-\s]*?)\s+(?P<ranges>\d.*?)\s*$", re.IGNORECASE)
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_EXAMPLE = "e.g. 'mon-fri 09:00-13:00,14:00-18:00; sat 10:00-14:00'"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes since local midnight, ``start`` inclusive and ``end`` exclusive.

    ``end`` may exceed 1440 for a range that runs past midnight into the next day.
    """

    start: int
    end: int

    def covers(self, minute: int) -> bool:
        """Whether ``minute`` of the range's own day falls inside it."""
        return self.start <= minute < self.end

    def spills_over(self, minute: int) -> bool:
        """Whether ``minute`` of the next day falls inside the part past midnight."""
        return minute < self.end - MINUTES_PER_DAY


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Open ranges per weekday (0 = Monday), as written in NOTIFIER_BUSINESS_HOURS."""

    days: tuple[tuple[TimeRange, ...], ...] = field(default=((),) * 7)


def _parse_days(text: str, rule: str) -> set[int]:
    days: set[int] = set()
    for part in re.sub(r"\s+", "", text).lower().split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if dash:
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise ValueError(
                    f"unknown day range '{part}' in '{rule}' (use mon, tue, wed, thu, fri, "
                    f"sat, sun or a range such as mon-fri)"
                )
            a, b = DAY_NAMES.index(first), DAY_NAMES.index(last)
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # sat-mon wraps
        elif part in DAY_NAMES:
            days.add(DAY_NAMES.index(part))
        else:
            raise ValueError(
                f"unknown day '{part}' in '{rule}' (use mon, tue, wed, thu, fri, sat, sun "
                f"or a range such as mon-fri)"
            )
    if not days:
        raise ValueError(f"rule '{rule}' names no day ({_EXAMPLE})")
    return days


def _parse_range(text: str) -> TimeRange:
    shown = text.strip()
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"bad time range '{shown}' (use HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"bad time range '{shown}' (use HH:MM-HH:MM)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(
            f"empty time range '{shown}' (start and end are equal; "
            f"use 00:00-24:00 for the whole day)"
        )
    if end < start:  # spans midnight
        end += MINUTES_PER_DAY
    return TimeRange(start, end)


def parse_business_hours(text: str) -> WeeklySchedule:
    """Parse ``mon-fri 09:00-13:00,14:00-18:00; sat 10:00-14:00``; raise ValueError if bad.

    Empty rules between ``;`` are ignored, but text with no rule at all is an error: a
    blank value would otherwise put every call outside business hours. Use
    ``mon-sun 00:00-24:00`` for always open.
    """
    days: list[list[TimeRange]] = [[] for _ in range(7)]
    rules = [r.strip() for r in text.split(";") if r.strip()]
    if not rules:
        raise ValueError(f"no rules (expected days and time ranges, {_EXAMPLE})")
    for rule in rules:
        match = _RULE.match(rule)
        if not match:
            raise ValueError(f"bad rule '{rule}' (expected days and time ranges, {_EXAMPLE})")
        pieces = match["ranges"].split(",")
        if any(not p.strip() for p in pieces):
            raise ValueError(f"bad rule '{rule}' (a time range is missing; use HH:MM-HH:MM)")
        ranges = [_parse_range(p) for p in pieces]
        for day in _parse_days(match["days"], rule):
            days[day].extend(ranges)
    return WeeklySchedule(tuple(tuple(sorted(d, key=lambda r: (r.start, r.end))) for d in days))


def _never(_day: date) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Answers "is this instant inside business hours?" in the configured zone.

    See the module docstring for the rules: wall-clock ranges in ``zone``, start
    inclusive, end exclusive, and a range belongs (for holidays) to the day it starts.
    """

    schedule: WeeklySchedule
    zone: ZoneInfo
    is_holiday: Callable[[date], bool] = _never

    def is_open(self, instant: datetime) -> bool:
        """Whether an aware ``instant`` falls in business hours (holidays are closed)."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("instant must be timezone-aware")
        # Through UTC, so an instant that carries this zone with a wall time that does not
        # exist (inside a DST gap) is normalised to the real local time.
        local = instant.astimezone(UTC).astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        today = local.date()
        weekday = today.weekday()
        if any(r.covers(minute) for r in self.schedule.days[weekday]) and not self.is_holiday(
            today
        ):
            return True
        yesterday = self.schedule.days[(weekday - 1) % 7]
        return any(r.spills_over(minute) for r in yesterday) and not self.is_holiday(
            today - timedelta(days=1)
        )


def holiday_checker(country: str) -> Callable[[date], bool]:
    """A predicate for the public holidays of an ISO country code, via ``holidays``.

    An empty code means no holidays. An unknown code raises ValueError.
    """
    code = country.strip().upper()
    if not code:
        return _never
    import holidays  # imported lazily: it loads many country tables

    try:
        calendar = holidays.country_holidays(code)
    except NotImplementedError:
        raise ValueError(
            f"unknown country code '{country.strip()}' (expected an ISO 3166 code supported "
            f"by the holidays package, such as CL)"
        ) from None

    def is_holiday(day: date) -> bool:
        return day in calendar

    return is_holiday
