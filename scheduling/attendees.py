"""Interpreters and chaperones: invited to one appointment, and to nothing else.

Their roles hold no establishment-wide permission (`core.permissions`): an
invitation is their only access. The appointment's own clinician, or staff
who manage any appointment of its establishment, invite them; an invited
person sees that appointment's time and status, never its clinical text or the
patient's other records. Joining the consult itself (admitted by the
clinician, like the patient) is the signalling's (`signalling.rooms`).

An officer is invited only where the establishment requires an identity check
(`establishments.identity_check`): the officer joins at the start, and is put on
hold once the clinician confirms the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, select

from core.access.serving import serves
from core.db.schema import accounts, establishments
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.permissions import Permission, allows, require_permission
from scheduling.base import ServiceBase, require_visible
from scheduling.tables import appointment_attendees, appointments

ATTENDING_ROLES = (Role.INTERPRETER.value, Role.CHAPERONE.value, Role.OFFICER.value)
MAX_ATTENDEES = 5


@dataclass(frozen=True)
class Attending:
    appointment_id: str
    establishment_id: str
    starts_at: datetime
    ends_at: datetime
    status: str
    language: str | None = None
    """The language an interpreter interprets here (`scheduling.languages`)."""


class Attendees(ServiceBase):
    async def set_attendees(
        self, actor: Principal, appointment_id: str, account_ids: object
    ) -> list[str]:
        """Replace who is invited to attend; returns their account ids."""
        require_permission(actor, Permission.APPOINTMENTS_INVITE)
        if (
            not isinstance(account_ids, list)
            or len(account_ids) > MAX_ATTENDEES
            or not all(isinstance(a, str) and 0 < len(a) <= 64 for a in account_ids)
        ):
            raise ServiceError(Code.INVALID_REQUEST, "account_ids is a list of account ids.")
        wanted = sorted(set(account_ids))
        async with self._db.begin() as conn:
            m = await self._appointment_row(conn, appointment_id)
            require_visible(actor, m["establishment_id"], "No such appointment.")
            if actor.account_id != m["clinician_id"] and not allows(
                actor, Permission.APPOINTMENTS_MANAGE_ANY
            ):
                raise ServiceError(Code.FORBIDDEN)
            identity_check = bool(
                await conn.scalar(
                    select(establishments.c.identity_check).where(
                        establishments.c.id == m["establishment_id"]
                    )
                )
            )
            for account_id in wanted:
                role = await conn.scalar(select(accounts.c.role).where(accounts.c.id == account_id))
                if role not in ATTENDING_ROLES or not await serves(
                    conn, account_id, m["establishment_id"]
                ):
                    raise ServiceError(
                        Code.INVALID_REQUEST,
                        "Attendees are interpreters, chaperones or officers of the "
                        "appointment's establishment.",
                    )
                if role == Role.OFFICER.value and not identity_check:
                    raise ServiceError(
                        Code.INVALID_REQUEST,
                        "This establishment does not require an identity check: an officer "
                        "cannot be invited.",
                    )
            # An interpreter kept on the list keeps the language they were invited for.
            languages = {
                r.account_id: r.language
                for r in await conn.execute(
                    select(
                        appointment_attendees.c.account_id, appointment_attendees.c.language
                    ).where(appointment_attendees.c.appointment_id == m["id"])
                )
            }
            await conn.execute(
                delete(appointment_attendees).where(
                    appointment_attendees.c.appointment_id == m["id"]
                )
            )
            now = self._clock.now()
            for account_id in wanted:
                await conn.execute(
                    insert(appointment_attendees).values(
                        appointment_id=m["id"],
                        account_id=account_id,
                        invited_by=actor.account_id,
                        created_at=now,
                        language=languages.get(account_id),
                    )
                )
        await self._record(
            Action.ATTENDEES_SET,
            actor,
            establishment=m["establishment_id"],
            subject=m["prisoner_id"],
            appointment=m["id"],
            attendees=len(wanted),
        )
        return wanted

    async def attending(self, actor: Principal) -> list[Attending]:
        """The appointments this interpreter or chaperone is invited to: when, not what."""
        require_permission(actor, Permission.APPOINTMENTS_ATTEND)
        a = appointments.c
        query = (
            select(
                a.id,
                a.establishment_id,
                a.starts_at,
                a.ends_at,
                a.status,
                appointment_attendees.c.language,
            )
            .join(appointment_attendees, appointment_attendees.c.appointment_id == a.id)
            .where(
                and_(
                    appointment_attendees.c.account_id == actor.account_id,
                    a.establishment_id == actor.establishment_id,
                )
            )
            .order_by(a.starts_at, a.id)
        )
        async with self._db.connect() as conn:
            rows = list(await conn.execute(query))
        return [
            Attending(r.id, r.establishment_id, r.starts_at, r.ends_at, r.status, r.language)
            for r in rows
        ]
