"""Reading times people send, and turning local weekly rules into UTC instants.

Every instant crossing the API must carry a zone; a naive time is refused
rather than guessed. Weekly rules (availability, regime windows) are wall-clock
minutes in the establishment's zone, expanded per date with `zoneinfo`, so the
rule follows the clock change while booked instants do not move.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import Code, ServiceError

MINUTES_PER_DAY = 24 * 60


def instant(value: object, name: str = "time") -> datetime:
    """An aware UTC datetime from ISO 8601 text (or an aware datetime)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ServiceError(
                Code.INVALID_REQUEST, f"The {name} is not a valid ISO 8601 time."
            ) from None
    else:
        raise ServiceError(Code.INVALID_REQUEST, f"The {name} is not a valid ISO 8601 time.")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ServiceError(
            Code.INVALID_REQUEST, f"The {name} needs a time zone, e.g. 2026-03-03T10:00:00Z."
        )
    return parsed.astimezone(UTC)


def clock_minute(value: object, name: str) -> int:
    """Minutes after local midnight from "HH:MM"; 24:00 means the end of the day."""
    if isinstance(value, str) and len(value) == 5 and value[2] == ":":
        hh, mm = value[:2], value[3:]
        if hh.isdigit() and mm.isdigit():
            minute = int(hh) * 60 + int(mm)
            if int(mm) < 60 and 0 <= minute <= MINUTES_PER_DAY:
                return minute
    raise ServiceError(Code.INVALID_REQUEST, f"The {name} is a local time like 09:30.")


def weekday(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    raise ServiceError(Code.INVALID_REQUEST, "The weekday is 0 (Monday) to 6 (Sunday).")


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock minute on a local date."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    return wall.replace(tzinfo=tz).astimezone(UTC)


def local_dates(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """Every local date touched by [start, end)."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
