"""Business hours: parsing, is_open tables, holidays, DST, and a brute-force property."""

from __future__ import annotations

import time as time_module
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.hours import (
    DAY_NAMES,
    BusinessCalendar,
    TimeRange,
    WeeklySchedule,
    holiday_checker,
    parse_business_hours,
)

SANTIAGO = ZoneInfo("America/Santiago")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def _ranges(schedule: WeeklySchedule) -> dict[int, tuple[tuple[int, int], ...]]:
    """The non-empty days of a schedule as {weekday: ((start, end), ...)}."""
    return {
        day: tuple((r.start, r.end) for r in ranges)
        for day, ranges in enumerate(schedule.days)
        if ranges
    }


def _calendar(hours: str, country: str = "") -> BusinessCalendar:
    return BusinessCalendar(parse_business_hours(hours), SANTIAGO, holiday_checker(country))


# --- parsing ---------------------------------------------------------------------------

WORKDAY = ((540, 1080),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri 09:00-18:00", dict.fromkeys((MON, TUE, WED, THU, FRI), WORKDAY)),
        (
            "mon-fri 09:00-13:00,14:00-18:00; sat 10:00-14:00",
            {
                **dict.fromkeys(
                    (MON, TUE, WED, THU, FRI),
                    (
                        (540, 780),
                        (840, 1080),
                    ),
                ),
                SAT: ((600, 840),),
            },
        ),
        (
            "mon 14:00-18:00, 09:00-13:00",
            {
                MON: (
                    (540, 780),
                    (840, 1080),
                )
            },
        ),
        ("fri 22:00-02:00", {FRI: ((1320, 1560),)}),
        ("tue 23:00-00:00", {TUE: ((1380, 1440),)}),
        ("sun 00:00-24:00", {SUN: ((0, 1440),)}),
        ("sat-mon 10:00-12:00", dict.fromkeys((SAT, SUN, MON), ((600, 720),))),
        ("sun-sun 10:00-12:00", {SUN: ((600, 720),)}),
        ("mon,wed,fri 08:00-09:00", dict.fromkeys((MON, WED, FRI), ((480, 540),))),
        ("mon-tue,thu 08:00-09:00", dict.fromkeys((MON, TUE, THU), ((480, 540),))),
        ("  Mon - Fri  9:00 - 18:00 ;; ", dict.fromkeys((MON, TUE, WED, THU, FRI), WORKDAY)),
        (
            "mon 09:00-12:00; mon 15:00-16:00",
            {
                MON: (
                    (540, 720),
                    (900, 960),
                )
            },
        ),
    ],
)
def test_parse_good_rules(text: str, expected: dict[int, tuple[tuple[int, int], ...]]) -> None:
    """Valid rules parse into per-weekday minute ranges, sorted, with wraps and spill-overs."""
    assert _ranges(parse_business_hours(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon 25:00-26:00", "bad time range '25:00-26:00' (use HH:MM-HH:MM)"),
        ("mon 09:60-10:00", "bad time range '09:60-10:00' (use HH:MM-HH:MM)"),
        ("mon 09:00-24:30", "bad time range '09:00-24:30' (use HH:MM-HH:MM)"),
        ("mon 24:00-02:00", "bad time range '24:00-02:00' (use HH:MM-HH:MM)"),
        ("mon 9-17", "bad time range '9-17' (use HH:MM-HH:MM)"),
        ("mon 09:00-18:00 daily", "bad time range '09:00-18:00 daily' (use HH:MM-HH:MM)"),
        (
            "mon 09:00-09:00",
            "empty time range '09:00-09:00' (start and end are equal; use 00:00-24:00 for "
            "the whole day)",
        ),
        (
            "mon 09:00-10:00,",
            "bad rule 'mon 09:00-10:00,' (a time range is missing; use HH:MM-HH:MM)",
        ),
        (
            "funday 09:00-10:00",
            "unknown day 'funday' in 'funday 09:00-10:00' (use mon, tue, wed, thu, fri, sat, "
            "sun or a range such as mon-fri)",
        ),
        (
            "mon-xyz 09:00-10:00",
            "unknown day range 'mon-xyz' in 'mon-xyz 09:00-10:00' (use mon, tue, wed, thu, "
            "fri, sat, sun or a range such as mon-fri)",
        ),
        (
            "mon-fri",
            "bad rule 'mon-fri' (expected days and time ranges, e.g. 'mon-fri "
            "09:00-13:00,14:00-18:00; sat 10:00-14:00')",
        ),
        (
            "09:00-18:00",
            "bad rule '09:00-18:00' (expected days and time ranges, e.g. 'mon-fri "
            "09:00-13:00,14:00-18:00; sat 10:00-14:00')",
        ),
        (
            "",
            "no rules (expected days and time ranges, e.g. 'mon-fri 09:00-13:00,14:00-18:00; "
            "sat 10:00-14:00')",
        ),
        (
            " ; ",
            "no rules (expected days and time ranges, e.g. 'mon-fri 09:00-13:00,14:00-18:00; "
            "sat 10:00-14:00')",
        ),
    ],
)
def test_parse_bad_rules(text: str, message: str) -> None:
    """Invalid rules raise ValueError whose message names the bad piece and the format."""
    with pytest.raises(ValueError) as info:
        parse_business_hours(text)
    assert str(info.value) == message


def test_time_range_is_start_inclusive_end_exclusive() -> None:
    """A TimeRange covers its start minute and stops before its end minute."""
    r = TimeRange(540, 1080)
    assert r.covers(540) and r.covers(1079)
    assert not r.covers(539) and not r.covers(1080)


# --- is_open ---------------------------------------------------------------------------

STANDARD = "mon-fri 09:00-18:00"
SPLIT = "mon-fri 09:00-13:00,14:00-18:00; sat 10:00-14:00"
NIGHT = "fri 22:00-02:00"


@pytest.mark.parametrize(
    ("hours", "country", "instant", "expected"),
    [
        # Weekday and weekend (2026-11-24 is a Tuesday; Chile is on -03 in November).
        (STANDARD, "", "2026-11-24T10:00:00-03:00", True),
        (STANDARD, "", "2026-11-28T10:00:00-03:00", False),
        (STANDARD, "", "2026-11-29T10:00:00-03:00", False),
        # Boundaries: start inclusive, end exclusive, to the second.
        (STANDARD, "", "2026-11-24T09:00:00-03:00", True),
        (STANDARD, "", "2026-11-24T08:59:59-03:00", False),
        (STANDARD, "", "2026-11-24T17:59:59-03:00", True),
        (STANDARD, "", "2026-11-24T18:00:00-03:00", False),
        # Several ranges in a day, and a Saturday rule.
        (SPLIT, "", "2026-11-24T12:59:00-03:00", True),
        (SPLIT, "", "2026-11-24T13:00:00-03:00", False),
        (SPLIT, "", "2026-11-24T13:30:00-03:00", False),
        (SPLIT, "", "2026-11-24T14:00:00-03:00", True),
        (SPLIT, "", "2026-11-28T11:00:00-03:00", True),
        (SPLIT, "", "2026-11-28T14:00:00-03:00", False),
        (SPLIT, "", "2026-11-29T11:00:00-03:00", False),
        # A range spanning midnight: Friday 22:00 to Saturday 02:00.
        (NIGHT, "", "2026-11-27T21:59:00-03:00", False),
        (NIGHT, "", "2026-11-27T22:00:00-03:00", True),
        (NIGHT, "", "2026-11-27T23:59:59-03:00", True),
        (NIGHT, "", "2026-11-28T00:00:00-03:00", True),
        (NIGHT, "", "2026-11-28T01:00:00-03:00", True),
        (NIGHT, "", "2026-11-28T02:00:00-03:00", False),
        (NIGHT, "", "2026-11-28T22:30:00-03:00", False),
        (NIGHT, "", "2026-11-26T01:00:00-03:00", False),
        # A wrapping day range.
        ("sat-mon 10:00-12:00", "", "2026-11-29T11:00:00-03:00", True),
        ("sat-mon 10:00-12:00", "", "2026-11-30T11:00:00-03:00", True),
        ("sat-mon 10:00-12:00", "", "2026-11-24T11:00:00-03:00", False),
        ("sat-mon 10:00-12:00", "", "2026-11-27T11:00:00-03:00", False),
        # Public holidays in Chile close the day.
        (STANDARD, "CL", "2026-09-18T10:00:00-03:00", False),
        (STANDARD, "", "2026-09-18T10:00:00-03:00", True),
        (STANDARD, "CL", "2026-09-17T10:00:00-03:00", True),
        (STANDARD, "CL", "2026-12-25T10:00:00-03:00", False),
        (STANDARD, "CL", "2026-12-24T10:00:00-03:00", True),
        # Holiday rule: a range belongs to the day it starts on.
        ("thu,fri 22:00-02:00", "CL", "2026-09-17T23:00:00-03:00", True),
        ("thu,fri 22:00-02:00", "CL", "2026-09-18T01:00:00-03:00", True),
        ("thu,fri 22:00-02:00", "CL", "2026-09-18T23:00:00-03:00", False),
        ("thu,fri 22:00-02:00", "CL", "2026-09-19T01:00:00-03:00", False),
        (NIGHT, "CL", "2026-12-25T23:00:00-03:00", False),
        (NIGHT, "CL", "2026-12-26T01:00:00-03:00", False),
        (NIGHT, "", "2026-12-26T01:00:00-03:00", True),
        # Instants with a foreign offset are converted into America/Santiago.
        (STANDARD, "", "2026-11-24T12:00:00+00:00", True),
        (STANDARD, "", "2026-11-24T11:59:00+00:00", False),
        (STANDARD, "", "2026-11-24T07:00:00-05:00", True),
        (STANDARD, "", "2026-11-24T06:59:59-05:00", False),
        (STANDARD, "", "2026-11-24T21:00:00+09:00", True),
        (STANDARD, "", "2026-11-25T05:59:00+09:00", True),
        (STANDARD, "", "2026-11-25T06:00:00+09:00", False),
        # Winter (-04): the same UTC hour is an hour earlier locally.
        (STANDARD, "", "2026-06-16T12:30:00+00:00", False),
        (STANDARD, "", "2026-06-16T13:00:00+00:00", True),
        (STANDARD, "", "2026-06-16T21:59:00+00:00", True),
        (STANDARD, "", "2026-06-16T22:00:00+00:00", False),
        # DST ends at Saturday 2026-04-04 24:00 (clocks go back to 23:00): wall clock counts.
        ("sat 22:00-02:00", "", "2026-04-05T02:30:00+00:00", True),
        ("sat 22:00-02:00", "", "2026-04-05T03:30:00+00:00", True),
        ("sat 22:00-02:00", "", "2026-04-05T05:59:00+00:00", True),
        ("sat 22:00-02:00", "", "2026-04-05T06:00:00+00:00", False),
        ("sat 22:00-02:00", "CL", "2026-04-05T03:30:00+00:00", False),  # Holy Saturday
        # DST begins at Saturday 2026-09-05 24:00 (clocks jump to Sunday 01:00).
        ("sat 22:00-02:00", "", "2026-09-06T03:59:00+00:00", True),
        ("sat 22:00-02:00", "", "2026-09-06T04:00:00+00:00", True),
        ("sat 22:00-02:00", "", "2026-09-06T04:59:00+00:00", True),
        ("sat 22:00-02:00", "", "2026-09-06T05:00:00+00:00", False),
    ],
)
def test_is_open(hours: str, country: str, instant: str, expected: bool) -> None:
    """is_open answers by the wall clock in America/Santiago, with holidays closed."""
    assert _calendar(hours, country).is_open(datetime.fromisoformat(instant)) is expected


def test_is_open_normalises_a_wall_time_inside_the_dst_gap() -> None:
    """A Santiago wall time that does not exist (00:30 on 2026-09-06) counts as its real instant."""
    calendar = _calendar("sun 01:00-02:00")
    imaginary = datetime(2026, 9, 6, 0, 30, tzinfo=SANTIAGO)  # really 04:30Z = 01:30 -03
    assert calendar.is_open(imaginary)
    assert not calendar.is_open(imaginary - timedelta(hours=1))


def test_is_open_rejects_naive_datetimes() -> None:
    """A naive datetime is refused rather than read in some implied zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        _calendar(STANDARD).is_open(datetime(2026, 11, 24, 10, 0))


@pytest.fixture
def server_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretends the server's local zone is Asia/Tokyo for the duration of a test."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time_module.tzset()
    yield
    monkeypatch.undo()
    time_module.tzset()


@pytest.mark.usefixtures("server_in_tokyo")
def test_is_open_ignores_the_server_zone() -> None:
    """The server's own zone plays no part: 09:00 in Santiago is open even from Tokyo."""
    assert time_module.localtime(0).tm_gmtoff == 9 * 3600
    calendar = _calendar(STANDARD)
    assert calendar.is_open(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert not calendar.is_open(datetime(2026, 11, 24, 11, 59, tzinfo=UTC))


# --- holidays --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "day", "expected"),
    [
        ("CL", date(2026, 9, 18), True),
        ("CL", date(2026, 9, 19), True),
        ("CL", date(2026, 12, 25), True),
        ("CL", date(2026, 9, 17), False),
        ("cl", date(2026, 12, 25), True),
        ("", date(2026, 12, 25), False),
    ],
)
def test_holiday_checker(country: str, day: date, expected: bool) -> None:
    """holiday_checker knows a country's public holidays; an empty code has none."""
    assert holiday_checker(country)(day) is expected


def test_holiday_checker_rejects_unknown_country() -> None:
    """An unknown country code raises ValueError saying what is expected."""
    with pytest.raises(ValueError) as info:
        holiday_checker("XX")
    assert str(info.value) == (
        "unknown country code 'XX' (expected an ISO 3166 code supported by the holidays "
        "package, such as CL)"
    )


# --- DST property: is_open against a brute-force minute-by-minute reference ------------


def _offset_changes(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """Every instant of ``year`` at which ``zone``'s UTC offset changes, found by scanning."""
    changes = []
    step = timedelta(minutes=15)
    t = datetime(year, 1, 1, tzinfo=UTC)
    before = t.astimezone(zone).utcoffset()
    while t.year == year:
        t += step
        after = t.astimezone(zone).utcoffset()
        if after != before:
            assert before is not None and after is not None
            changes.append((t, before, after))
            before = after
    return changes


TRANSITIONS = _offset_changes(SANTIAGO, 2026)


def test_chile_dst_transitions_2026() -> None:
    """zoneinfo puts Chile's 2026 DST end on Sunday April 5 and its start on Sunday Sept 6."""
    assert [(t, b, a) for t, b, a in TRANSITIONS] == [
        (datetime(2026, 4, 5, 3, 0, tzinfo=UTC), timedelta(hours=-3), timedelta(hours=-4)),
        (datetime(2026, 9, 6, 4, 0, tzinfo=UTC), timedelta(hours=-4), timedelta(hours=-3)),
    ]


Rule = tuple[frozenset[int], list[tuple[int, int]], str]


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


_minutes = st.one_of(st.integers(0, 96).map(lambda q: q * 15), st.integers(0, 1440))


@st.composite
def _time_range(draw: st.DrawFn) -> tuple[int, int]:
    start = draw(_minutes.filter(lambda m: m < 1440))
    end = draw(_minutes.filter(lambda m: m != start))
    return start, end


@st.composite
def _rule(draw: st.DrawFn) -> Rule:
    kind = draw(st.sampled_from(["one", "range", "list"]))
    if kind == "one":
        day = draw(st.integers(0, 6))
        days, text = frozenset({day}), DAY_NAMES[day]
    elif kind == "range":
        first, last = draw(st.integers(0, 6)), draw(st.integers(0, 6))
        covered, day = {first}, first
        while day != last:  # walk forward, wrapping past Sunday
            day = (day + 1) % 7
            covered.add(day)
        days, text = frozenset(covered), f"{DAY_NAMES[first]}-{DAY_NAMES[last]}"
    else:
        chosen = draw(st.lists(st.integers(0, 6), min_size=1, max_size=4, unique=True))
        days, text = frozenset(chosen), ",".join(DAY_NAMES[d] for d in chosen)
    ranges = draw(st.lists(_time_range(), min_size=1, max_size=3))
    return days, ranges, f"{text} " + ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in ranges)


def _reference_open_minutes(
    rules: list[Rule], is_holiday: Callable[[date], bool], first: date, last: date
) -> set[datetime]:
    """Every open wall-clock minute from ``first`` to ``last``, range by range, minute by
    minute; a range is skipped entirely when the day it starts on is a holiday."""
    minutes: set[datetime] = set()
    day = first
    while day <= last:
        midnight = datetime.combine(day, time())
        if not is_holiday(day):
            for days, ranges, _text in rules:
                if day.weekday() in days:
                    for start, end in ranges:
                        stop = end if end > start else end + 1440
                        for m in range(start, stop):
                            minutes.add(midnight + timedelta(minutes=m))
        day += timedelta(days=1)
    return minutes


_presentations: st.SearchStrategy[tzinfo] = st.one_of(
    st.just(UTC),
    st.just(SANTIAGO),
    st.integers(-48, 56).map(lambda q: timezone(timedelta(minutes=15 * q))),
)


@settings(max_examples=60, deadline=None)
@given(
    rules=st.lists(_rule(), min_size=1, max_size=3),
    holiday_offsets=st.sets(st.integers(-3, 3), max_size=3),
    presentation=_presentations,
    second=st.integers(0, 59),
)
def test_is_open_matches_minute_by_minute_reference_across_dst(
    rules: list[Rule], holiday_offsets: set[int], presentation: tzinfo, second: int
) -> None:
    """Around both 2026 Chilean DST changes, is_open agrees minute by minute with a reference
    that expands every range into its wall-clock minutes, whatever offset the instant has."""
    calendar_text = "; ".join(text for _days, _ranges, text in rules)
    mismatches = []
    for transition, _before, _after in TRANSITIONS:
        local_day = transition.astimezone(SANTIAGO).date()
        holidays = {local_day + timedelta(days=k) for k in holiday_offsets}
        calendar = BusinessCalendar(
            parse_business_hours(calendar_text), SANTIAGO, holidays.__contains__
        )
        open_minutes = _reference_open_minutes(
            rules,
            holidays.__contains__,
            local_day - timedelta(days=4),
            local_day + timedelta(days=4),
        )
        for k in range(-36 * 60, 36 * 60):
            instant = transition + timedelta(minutes=k, seconds=second)
            wall = instant.astimezone(SANTIAGO).replace(tzinfo=None, second=0)
            expected = wall in open_minutes
            if calendar.is_open(instant.astimezone(presentation)) is not expected:
                mismatches.append((instant.isoformat(), wall.isoformat(), expected))
    assert mismatches == [], f"{calendar_text!r}: {mismatches[:5]}"
