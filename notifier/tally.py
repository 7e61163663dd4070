"""Today's calls by popup and status, kept per answer in its mark (``AnswerMark.tally``).

A cycle validates and diffs only the calls that changed, so it cannot count a whole
answer every time. Instead each answer's mark carries its tally, and each cycle that
diffs the answer moves the calls it diffed from their previous status (their snapshot)
to their current one. An answer counted for the first time (a baseline, a new answer or
a mark written by an older version) is diffed whole and counted from scratch. Like the
snapshots, a call missing from one answer keeps being counted under its last status.

Pure: the cycle calls ``begin``/``count`` while it diffs, ``today`` after its commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

Key = tuple[str, str, str]
"""(popup uuid, popup name, status); "" for a missing uuid or name."""


class _Call(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def popup_uuid(self) -> str | None: ...
    @property
    def popup_name(self) -> str | None: ...


class _Snapshot(Protocol):
    @property
    def status(self) -> str: ...


class _Mark(Protocol):
    @property
    def tally(self) -> Mapping[Key, int] | None: ...


@dataclass(slots=True)
class Counting:
    """One answer's tally while its calls are diffed."""

    counts: Counter[Key] = field(default_factory=Counter)
    incremental: bool = False
    """Counts started from the mark's tally: a call's previous status is taken off."""


def needs_full_count(mark: _Mark | None) -> bool:
    """The answer has no tally yet: diff (and count) all its calls this cycle."""
    return mark is None or mark.tally is None


def begin(mark: _Mark | None, silent: bool) -> Counting:
    """Start from the mark's tally, or from zero when every call is diffed anyway."""
    if silent or mark is None or mark.tally is None:
        return Counting()
    return Counting(Counter(mark.tally), incremental=True)


def count(counting: Counting, previous: _Snapshot | None, call: _Call) -> None:
    """The diffed ``call`` now counts under its status, no longer under its previous one."""
    popup, name = call.popup_uuid or "", call.popup_name or ""
    counts = counting.counts
    if counting.incremental and previous is not None:
        before = (popup, name, previous.status)
        if counts[before] > 1:
            counts[before] -= 1
        else:
            counts.pop(before, None)
    counts[popup, name, call.status] += 1


def today(marks: Iterable[_Mark]) -> dict[Key, int]:
    """The sum of the answers' tallies (those not counted yet are left out)."""
    total: Counter[Key] = Counter()
    for mark in marks:
        if mark.tally:
            total.update(mark.tally)
    return dict(total)
