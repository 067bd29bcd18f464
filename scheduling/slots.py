"""Pure slot arithmetic: open time, blocked time, candidates, conflicts. No I/O.

An interval is a half-open (start, end) pair of aware UTC datetimes. Busy
intervals are widened by the service's buffer before they are compared, so a
consult never starts sooner than the buffer after the previous one ends.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduling.times import local_instant

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WeeklyRule:
    weekday: int
    start_minute: int
    end_minute: int


def expand(rules: Iterable[WeeklyRule], day: date, tz: ZoneInfo) -> list[Interval]:
    """The rules that fall on a local date, as UTC intervals."""
    return [
        (local_instant(day, r.start_minute, tz), local_instant(day, r.end_minute, tz))
        for r in rules
        if r.weekday == day.weekday() and r.end_minute > r.start_minute
    ]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(opened: Sequence[Interval], closed: Sequence[Interval]) -> list[Interval]:
    """`opened` minus `closed`; both merged and sorted."""
    out: list[Interval] = []
    for start, end in opened:
        cursor = start
        for c_start, c_end in closed:
            if c_end <= cursor or c_start >= end:
                continue
            if c_start > cursor:
                out.append((cursor, c_start))
            cursor = max(cursor, c_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def candidates(
    opened: Sequence[Interval],
    length: timedelta,
    step: timedelta,
    not_before: datetime | None = None,
) -> list[datetime]:
    """Slot starts from the start of each open interval, one `step` apart, that fit.

    The grid stays anchored at the interval's start; `not_before` only skips
    ahead along it.
    """
    starts: list[datetime] = []
    for start, end in opened:
        cursor = start
        if not_before is not None and cursor < not_before:
            cursor += -((start - not_before) // step) * step
        while cursor + length <= end:
            starts.append(cursor)
            cursor += step
    return starts


def contains(opened: Sequence[Interval], start: datetime, end: datetime) -> bool:
    return any(o_start <= start and end <= o_end for o_start, o_end in opened)


class BusyIndex:
    """Sorted busy intervals (already widened) answering "does this overlap?" in O(log n)."""

    def __init__(self, busy: Iterable[Interval]) -> None:
        self._merged = merge(busy)
        self._starts = [s for s, _ in self._merged]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        i = bisect_left(self._starts, end)
        return i > 0 and self._merged[i - 1][1] > start


def widen(interval: Interval, buffer: timedelta) -> Interval:
    return interval[0] - buffer, interval[1] + buffer
