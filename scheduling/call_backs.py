"""Call-backs: the last step of a consult's fallback ladder.

When the video and then the sound of a consult fail (or the video fails on a
consult that needs video), the clinician chooses to phone instead. The staff
of the device's wing are asked to bring the prisoner to a phone or a room; it
stays one appointment (nothing is booked), and the clinician records its
outcome as for any consult. Staff see who, where and when, never why.
"""

from __future__ import annotations

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.db.schema import accounts, cells, wings
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.permissions import Permission, acts_in, allows, require_permission
from scheduling.base import new_id
from scheduling.readiness import Readiness
from scheduling.tables import appointments, call_backs
from scheduling.types import CallBackTask


def _may_see_tasks(actor: Principal, establishment_id: str) -> None:
    require_permission(actor, Permission.CALL_BACKS_MANAGE)
    if not acts_in(actor, establishment_id):
        raise ServiceError(Code.FORBIDDEN)


class CallBacks(Readiness):
    """Part of `SchedulingService`: call-back tasks for the staff of a wing."""

    async def request_call_back(
        self, appointment_id: str, clinician_id: str, device_id: str | None
    ) -> bool:
        """Open the consult's call-back task (once), at the device's wing and cell.

        Signalling calls this when the clinician chooses a call-back in the
        room, having checked that they are its clinician. False if one is
        already open.
        """
        now = self._clock.now()
        async with self._db.begin() as conn:
            view = await self._view(conn, appointment_id)
            if view is None or view.clinician_id != clinician_id:
                raise ServiceError(Code.NOT_FOUND, "No such appointment.")
            place = await self._device_place(conn, device_id) if device_id else None
            if place is not None and place["establishment_id"] != view.establishment_id:
                place = None
            task_id = new_id()
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(call_backs).values(
                            id=task_id,
                            establishment_id=view.establishment_id,
                            appointment_id=view.id,
                            prisoner_id=view.prisoner_id,
                            clinician_id=clinician_id,
                            device_id=device_id,
                            wing_id=place["wing_id"] if place is not None else None,
                            cell_id=place["cell_id"] if place is not None else None,
                            requested_at=now,
                        )
                    )
            except IntegrityError:
                return False
            # The wing's officers are told when and where, never who for what.
            officers = await conn.execute(
                select(accounts.c.id).where(
                    and_(
                        accounts.c.role == Role.OFFICER.value,
                        accounts.c.establishment_id == view.establishment_id,
                        accounts.c.active.is_(True),
                    )
                )
            )
            for officer in officers.scalars().all():
                await self._notify(
                    conn,
                    officer,
                    "call_back",
                    starts_at=view.starts_at,
                    wing=place["wing"] if place is not None else None,
                    cell=place["cell"] if place is not None else None,
                )
        await self._record(
            Action.CALL_BACK_REQUESTED,
            clinician_id,
            establishment=view.establishment_id,
            subject=view.prisoner_id,
            appointment=view.id,
            task=task_id,
            wing=place["wing"] if place is not None else None,
            cell=place["cell"] if place is not None else None,
        )
        return True

    async def call_back_tasks(self, actor: Principal, establishment_id: str) -> list[CallBackTask]:
        """Open call-backs of the establishment, by wing and cell (officers, managers, admins)."""
        _may_see_tasks(actor, establishment_id)
        c = call_backs.c
        async with self._db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(
                        c.id,
                        c.appointment_id,
                        c.prisoner_id,
                        c.requested_at,
                        c.done_at,
                        appointments.c.starts_at,
                        wings.c.name.label("wing"),
                        cells.c.name.label("cell"),
                    )
                    .join(appointments, appointments.c.id == c.appointment_id)
                    .outerjoin(wings, wings.c.id == c.wing_id)
                    .outerjoin(cells, cells.c.id == c.cell_id)
                    .where(and_(c.establishment_id == establishment_id, c.done_at.is_(None)))
                    .order_by(c.requested_at, c.id)
                )
            )
            people = await self._prisoners(conn, {r.prisoner_id for r in rows})
        return [
            CallBackTask(
                id=r.id,
                appointment_id=r.appointment_id,
                requested_at=r.requested_at,
                consult_at=r.starts_at,
                prisoner_name=people.get(r.prisoner_id, (None, None))[0],
                prison_number=people.get(r.prisoner_id, (None, None))[1],
                wing=r.wing,
                cell=r.cell,
                done_at=r.done_at,
            )
            for r in rows
        ]

    async def finish_call_back(self, actor: Principal, task_id: object) -> None:
        """Staff brought the prisoner to a phone: the task leaves the list."""
        if not allows(actor, Permission.CALL_BACKS_MANAGE):
            raise ServiceError(Code.FORBIDDEN)
        if not isinstance(task_id, str) or len(task_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such call-back.")
        now = self._clock.now()
        c = call_backs.c
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(
                        c.id, c.establishment_id, c.appointment_id, c.prisoner_id, c.done_at
                    ).where(c.id == task_id)
                )
            ).first()
            if row is None or not acts_in(actor, row.establishment_id):
                raise ServiceError(Code.NOT_FOUND, "No such call-back.")
            if row.done_at is not None:
                raise ServiceError(Code.CONFLICT, "This call-back is already done.")
            await conn.execute(
                update(call_backs)
                .where(and_(c.id == task_id, c.done_at.is_(None)))
                .values(done_at=now, done_by=actor.account_id)
            )
        await self._record(
            Action.CALL_BACK_DONE,
            actor,
            establishment=row.establishment_id,
            subject=row.prisoner_id,
            appointment=row.appointment_id,
            task=task_id,
        )
