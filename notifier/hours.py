"""Business hours: a pure weekly calendar with public holidays. No I/O."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(r"^\s*(?P<days>[a-z,\-\s]+?)\s+(?P<ranges>\d.*?)\s*$", re.IGNORECASE)
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes since local midnight, ``start`` inclusive and ``end`` exclusive.

    ``end`` may exceed 1440 for a range that runs past midnight into the next day.
    """

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Open ranges per weekday (0 = Monday), as written in NOTIFIER_BUSINESS_HOURS."""

    days: tuple[tuple[TimeRange, ...], ...] = field(default=((),) * 7)

    def open_at(self, weekday: int, minute: int) -> bool:
        """Whether local ``minute`` of ``weekday`` falls inside a range (spill-over included)."""
        if any(r.start <= minute < r.end for r in self.days[weekday]):
            return True
        # A range like 22:00-02:00 started yesterday and spills into today.
        yesterday = self.days[(weekday - 1) % 7]
        return any(r.end > 1440 and minute < r.end - 1440 for r in yesterday)


def _parse_days(text: str) -> set[int]:
    days: set[int] = set()
    for part in text.replace(" ", "").lower().split(","):
        if not part:
            continue
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise ValueError(f"unknown day in '{part}' (use mon..sun)")
            a, b = DAY_NAMES.index(first), DAY_NAMES.index(last)
            span = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
            days.update(span)
        elif part in DAY_NAMES:
            days.add(DAY_NAMES.index(part))
        else:
            raise ValueError(f"unknown day '{part}' (use mon..sun)")
    if not days:
        raise ValueError("a rule names no day")
    return days


def _parse_range(text: str) -> TimeRange:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"bad time range '{text.strip()}' (use HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"bad time in '{text.strip()}'")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"empty time range '{text.strip()}'")
    if end < start:  # spans midnight
        end += 1440
    return TimeRange(start, end)


def parse_business_hours(text: str) -> WeeklySchedule:
    """Parse ``mon-fri 09:00-13:00,14:00-18:00; sat 10:00-14:00``; raise ValueError if bad.

    An empty string means never open (every call is outside business hours).
    """
    days: list[list[TimeRange]] = [[] for _ in range(7)]
    for rule in (r for r in text.split(";") if r.strip()):
        match = _RULE.match(rule)
        if not match:
            raise ValueError(f"bad rule '{rule.strip()}' (expected e.g. 'mon-fri 09:00-18:00')")
        ranges = [_parse_range(r) for r in match["ranges"].split(",") if r.strip()]
        for day in _parse_days(match["days"]):
            days[day].extend(ranges)
    return WeeklySchedule(tuple(tuple(sorted(d, key=lambda r: r.start)) for d in days))


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Answers "is this instant inside business hours?" in the configured zone."""

    schedule: WeeklySchedule
    zone: ZoneInfo
    is_holiday: Callable[[date], bool] = field(default=lambda _d: False)

    def is_open(self, instant: datetime) -> bool:
        """Whether an aware ``instant`` falls in business hours (holidays are closed)."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        local = instant.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        if self.is_holiday(local.date()):
            # A range spilling over from the eve of a holiday still counts as open.
            yesterday = self.schedule.days[(local.weekday() - 1) % 7]
            previous = local.date() - timedelta(days=1)
            return not self.is_holiday(previous) and any(
                r.end > 1440 and minute < r.end - 1440 for r in yesterday
            )
        if self.schedule.open_at(local.weekday(), minute):
            # Spill-over from a holiday eve does not count.
            in_today = any(r.start <= minute < r.end for r in self.schedule.days[local.weekday()])
            return in_today or not self.is_holiday(local.date() - timedelta(days=1))
        return False


def holiday_checker(country: str) -> Callable[[date], bool]:
    """A predicate for the public holidays of an ISO country code, via ``holidays``."""
    if not country:
        return lambda _d: False
    import holidays  # imported lazily: it loads many country tables

    calendar = holidays.country_holidays(country.upper())
    return lambda d: d in calendar


def local_time(instant: datetime, zone: ZoneInfo) -> time:
    """The wall-clock time of ``instant`` in ``zone``."""
    return instant.astimezone(zone).timetz()
