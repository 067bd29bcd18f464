"""The day's operations board: every consult of an establishment's day, for the people
who run the day (managers and officers).

Each row says when, who and where (the prisoner's name, number and cell, so an officer
knows whom to unlock), and the appointment's status in scheduling; the web edge adds
where the consult stands now from the signalling rooms (waiting, in call, away, ended).
Nothing clinical is ever on the board: no reason, notes or outcome. The service and the
clinician are shown only to readers who may see what an appointment is for
(`appointments.detail`: managers, not officers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select

from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.identity import Principal
from core.permissions import Permission, allows, require_permission
from scheduling.base import require_establishment
from scheduling.reports import Reports
from scheduling.tables import appointments, services

ON_THE_BOARD = (
    "booked",
    "checked_in",
    "in_progress",
    "completed",
    "did_not_attend",
    "not_recorded",
)


@dataclass(frozen=True)
class BoardRow:
    appointment_id: str
    starts_at: datetime
    ends_at: datetime
    status: str
    prisoner_name: str | None
    prison_number: str | None
    cell: str | None
    # Only for readers who may see what the appointment is for; None otherwise.
    service: str | None = None
    clinician: str | None = None


class Operations(Reports):
    """Part of `SchedulingService`: the operations board."""

    async def operations_board(
        self, actor: Principal, establishment_id: str, start: datetime
    ) -> list[BoardRow]:
        """The consults of the 24 hours from `start` (a local midnight), cancelled ones left out."""
        require_permission(actor, Permission.OPERATIONS_READ)
        if not isinstance(establishment_id, str) or not 1 <= len(establishment_id) <= 36:
            raise ServiceError(Code.INVALID_REQUEST, "establishment is required.")
        require_establishment(actor, establishment_id)
        detail = allows(actor, Permission.APPOINTMENTS_DETAIL)
        a, s = appointments.c, services.c
        query = (
            select(a.id, a.prisoner_id, a.clinician_id, a.starts_at, a.ends_at, a.status, s.name)
            .join(services, s.id == a.service_id)
            .where(
                and_(
                    a.establishment_id == establishment_id,
                    a.starts_at >= start,
                    a.starts_at < start + timedelta(days=1),
                    a.status.in_(ON_THE_BOARD),
                )
            )
            .order_by(a.starts_at, a.id)
        )
        async with self._db.connect() as conn:
            rows = list(await conn.execute(query))
            prisoners = await self._prisoners(conn, {r.prisoner_id for r in rows})
            cells = await self._cells(conn, {r.prisoner_id for r in rows})
            clinicians: dict[str, str] = {}
            if detail:
                for c in await conn.execute(
                    select(accounts.c.id, accounts.c.display_name_enc).where(
                        accounts.c.id.in_(sorted({r.clinician_id for r in rows}))
                    )
                ):
                    clinicians[c.id] = self._cipher.decrypt(
                        c.display_name_enc, row=c.id, column="display_name"
                    )
        return [
            BoardRow(
                appointment_id=r.id,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                status=r.status,
                prisoner_name=prisoners.get(r.prisoner_id, (None, None))[0],
                prison_number=prisoners.get(r.prisoner_id, (None, None))[1],
                cell=cells.get(r.prisoner_id),
                service=r.name if detail else None,
                clinician=clinicians.get(r.clinician_id) if detail else None,
            )
            for r in rows
        ]
