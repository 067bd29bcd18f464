"""The waiting room: a clinician's queue of waiting patients, their place and wait.

A patient's place is their appointment's rank among the appointments of the
same clinician whose patients are waiting now, ordered by start time. The
estimate is the later of the appointment's start and the time the consults
ahead of it would take at this appointment's length.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from signalling.rooms import ACTIVE, Room


def waiting_patient(room: Room) -> str | None:
    """The patient of `room` who is waiting to be admitted, if any."""
    if room.ended:
        return None
    for member in room.members.values():
        if member.role == "patient" and member.status in ACTIVE and not member.admitted:
            return member.participant
    return None


def queue_score(room: Room) -> float:
    return datetime.fromisoformat(room.starts_at).timestamp()


def position(queue: list[str], appointment: str) -> int:
    try:
        return queue.index(appointment) + 1
    except ValueError:
        return 1


def estimate_s(room: Room, place: int, now: datetime) -> int:
    starts = datetime.fromisoformat(room.starts_at)
    length = (datetime.fromisoformat(room.ends_at) - starts).total_seconds()
    until_start = (starts - now).total_seconds()
    return max(0, int(until_start), int((place - 1) * length))


def waiting_message(room: Room, place: int, now: datetime) -> dict[str, Any]:
    return {
        "type": "waiting",
        "appointment": room.appointment,
        "position": place,
        "estimate_s": estimate_s(room, place, now),
    }
