"""The appointment state machine: one guarded transition function.

booked -> checked_in -> in_progress -> completed, with did_not_attend and
cancelled as the other ends; not_recorded (the window closed with no outcome)
until someone codes it as completed or did not attend. A refused move names both states.
"""

from __future__ import annotations

from core.errors import Code, ServiceError
from scheduling.types import Status

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.BOOKED: frozenset(
        {
            Status.BOOKED,
            Status.CHECKED_IN,
            Status.DID_NOT_ATTEND,
            Status.CANCELLED,
            Status.NOT_RECORDED,
        }
    ),
    Status.CHECKED_IN: frozenset(
        {
            Status.IN_PROGRESS,
            Status.COMPLETED,
            Status.DID_NOT_ATTEND,
            Status.CANCELLED,
            Status.NOT_RECORDED,
        }
    ),
    Status.IN_PROGRESS: frozenset({Status.COMPLETED, Status.DID_NOT_ATTEND}),
    Status.COMPLETED: frozenset(),
    Status.DID_NOT_ATTEND: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NOT_RECORDED: frozenset({Status.COMPLETED, Status.DID_NOT_ATTEND}),
}
"""`booked -> booked` is a reschedule: new times, same status."""


def advance(current: Status, target: Status) -> Status:
    if target not in TRANSITIONS[current]:
        raise ServiceError(
            Code.CONFLICT,
            f"An appointment cannot go from {current.value} to {target.value}.",
        )
    return target
