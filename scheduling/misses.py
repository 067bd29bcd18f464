"""Misses are coded: an appointment whose window closed with no outcome is not left
booked for ever.

The job runner calls `close_windows` every minute (`CLOSE_JOB`): each booked or checked-in
appointment whose join window has closed becomes `not_recorded`, logged by `system`. It
then sits on its clinician's and the establishment's managers' to-do list (`misses_to_code`)
until one of them codes it: seen (`mark_attended`) or did not attend with a reason, whose
cause (prison, patient, clinician) comes with the reason (`mark_did_not_attend`). The
manager's dashboard counts `not_recorded` on its own rather than guessing a cause.

A consult still in progress when its window closes is left alone: the call may be running
over, and ending it records the outcome.
"""

from __future__ import annotations

from sqlalchemy import and_, select

from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.identity.types import SYSTEM_ACTOR
from scheduling.booking import Booking
from scheduling.tables import appointments, services
from scheduling.types import Appointment, Status

CLOSE_JOB = "scheduling.close_windows"
"""The recurring job kind that marks closed windows `not_recorded`."""
BATCH = 500
OPEN = (Status.BOOKED.value, Status.CHECKED_IN.value)


class Misses(Booking):
    async def close_windows(self) -> int:
        """Mark every open appointment whose window has closed; returns how many."""
        a = appointments.c
        closed = self._clock.now() - self._join_late
        done = 0
        while True:
            async with self._db.connect() as conn:
                ids = [
                    r.id
                    for r in await conn.execute(
                        select(a.id)
                        .where(and_(a.status.in_(OPEN), a.ends_at < closed))
                        .order_by(a.ends_at, a.id)
                        .limit(BATCH)
                    )
                ]
            if not ids:
                return done
            for appointment_id in ids:
                try:
                    await self._change(
                        SYSTEM_ACTOR,
                        appointment_id,
                        Status.NOT_RECORDED,
                        Action.NOT_RECORDED,
                        None,
                        show=False,
                    )
                except ServiceError as refused:
                    # Someone recorded an outcome (or it started) since we looked.
                    if refused.code != Code.CONFLICT:
                        raise
                    continue
                done += 1
            if len(ids) < BATCH:
                return done

    async def misses_to_code(self, actor: Principal) -> list[Appointment]:
        """The to-do list: a clinician's own not-recorded appointments, or all of the
        establishment's for a manager, oldest first."""
        if actor.role not in (Role.CLINICIAN, Role.MANAGER):
            raise ServiceError(Code.FORBIDDEN)
        a = appointments.c
        query = (
            select(appointments, services.c.code.label("service_code"))
            .join(services, services.c.id == a.service_id)
            .where(
                and_(
                    a.status == Status.NOT_RECORDED.value,
                    a.establishment_id == actor.establishment_id,
                )
            )
        )
        if actor.role == Role.CLINICIAN:
            query = query.where(a.clinician_id == actor.account_id)
        async with self._db.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query.order_by(a.starts_at, a.id))]
        return await self._present(actor, rows)
