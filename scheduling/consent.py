"""Consent per prisoner and scope: given or declined, on which device, which form
version, witnessed by whom, and withdrawn at any time.

The newest decision for a scope is the one in force; a withdrawal ends it.

Recording consent is for one appointment (migration 0030 moved the per-prisoner
answers): it is asked at booking (staff record the answer, witnessed, and a
"no" there means the clinician will not ask) and confirmed by the prisoner on
their device when the clinician asks. Only a "yes" the prisoner gave on their
device, newest for that appointment and not withdrawn, lets a consult be
recorded (`recording_allowed`); withdrawing it on the device ends it at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.permissions import Permission, allows, require_permission
from scheduling.base import ServiceBase, new_id, require_visible
from scheduling.consent_forms import LANGUAGES, form, scope
from scheduling.tables import appointments, consents
from scheduling.types import Consent, Decision, Scope

# The prisoner's own answer on their device; anything else (staff witnessing at booking,
# or an answer carried over by migration 0030, with no device) is a booking answer.
_ON_DEVICE = and_(consents.c.witness_id.is_(None), consents.c.device_id.is_not(None))


def consent_from(m: Any) -> Consent:
    return Consent(
        id=m["id"],
        prisoner_id=m["prisoner_id"],
        establishment_id=m["establishment_id"],
        scope=Scope(m["scope"]),
        form_version=m["form_version"],
        decision=Decision(m["decision"]),
        decided_at=m["decided_at"],
        device_id=m["device_id"],
        witness_id=m["witness_id"],
        withdrawn_at=m["withdrawn_at"],
        withdrawn_device_id=m["withdrawn_device_id"],
        appointment_id=m["appointment_id"],
    )


class Consents(ServiceBase):
    async def record_consent(
        self,
        actor: Principal,
        *,
        prisoner_id: object,
        scope_value: object,
        version: object,
        decision: object,
        language: object = "en",
        device_id: object = None,
        appointment_id: object = None,
    ) -> Consent:
        """A prisoner on their device, or staff witnessing on the prisoner's behalf."""
        require_permission(actor, Permission.CONSENTS_MANAGE)
        the_form = form(scope_value, version)
        if the_form.scope == Scope.RECORDING:
            if not isinstance(appointment_id, str):
                raise ServiceError(
                    Code.INVALID_REQUEST, "Recording consent is for one appointment."
                )
        elif appointment_id is not None:
            raise ServiceError(Code.INVALID_REQUEST, "Only recording consent is per appointment.")
        try:
            the_decision = Decision(str(decision))
        except ValueError:
            raise ServiceError(Code.INVALID_REQUEST, "The decision is given or declined.") from None
        if language not in LANGUAGES:
            raise ServiceError(Code.INVALID_REQUEST, "The language is en or cy.")
        witness: str | None = None
        if actor.role == Role.PRISONER:
            if prisoner_id != actor.account_id:
                raise ServiceError(Code.FORBIDDEN, "A prisoner can only consent for themselves.")
            if actor.device_id is None:
                raise ServiceError(Code.FORBIDDEN, "Consent is given on an enrolled device.")
            on_device: str | None = actor.device_id
        else:
            witness = actor.account_id
            if device_id is not None and not isinstance(device_id, str):
                raise ServiceError(Code.INVALID_REQUEST, "The device id is not valid.")
            on_device = device_id
        consent_id = new_id()
        async with self._db.begin() as conn:
            prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
            if actor.role != Role.PRISONER:
                require_visible(actor, prisoner.establishment_id, "No such prisoner.")
            if appointment_id is not None:
                await self._appointment_of(conn, str(appointment_id), prisoner.id)
            await conn.execute(
                insert(consents).values(
                    id=consent_id,
                    prisoner_id=prisoner.id,
                    establishment_id=prisoner.establishment_id,
                    scope=the_form.scope.value,
                    form_version=the_form.version,
                    language=language,
                    decision=the_decision.value,
                    decided_at=self._clock.now(),
                    device_id=on_device,
                    witness_id=witness,
                    appointment_id=appointment_id,
                )
            )
            row = (await conn.execute(select(consents).where(consents.c.id == consent_id))).one()
        await self._record(
            Action.CONSENT_GIVEN if the_decision == Decision.GIVEN else Action.CONSENT_DECLINED,
            actor,
            establishment=prisoner.establishment_id,
            subject=prisoner.id,
            appointment=appointment_id if isinstance(appointment_id, str) else None,
            scope=the_form.scope.value,
            version=the_form.version,
            device=on_device,
            witness=witness,
        )
        return consent_from(row._mapping)

    async def withdraw_consent(self, actor: Principal, consent_id: str) -> Consent:
        async with self._db.begin() as conn:
            row = (await conn.execute(select(consents).where(consents.c.id == consent_id))).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such consent.")
            if actor.role == Role.PRISONER:
                if row.prisoner_id != actor.account_id:
                    raise ServiceError(Code.NOT_FOUND, "No such consent.")
            elif allows(actor, Permission.CONSENTS_MANAGE):
                require_visible(actor, row.establishment_id, "No such consent.")
            else:
                raise ServiceError(Code.FORBIDDEN)
            if row.withdrawn_at is not None or row.decision != Decision.GIVEN.value:
                raise ServiceError(Code.CONFLICT, "Only a consent in force can be withdrawn.")
            await conn.execute(
                update(consents)
                .where(consents.c.id == consent_id)
                .values(withdrawn_at=self._clock.now(), withdrawn_device_id=actor.device_id)
            )
            row = (await conn.execute(select(consents).where(consents.c.id == consent_id))).one()
        await self._record(
            Action.CONSENT_WITHDRAWN,
            actor,
            establishment=row.establishment_id,
            subject=row.prisoner_id,
            appointment=row.appointment_id,
            scope=row.scope,
            device=actor.device_id,
        )
        return consent_from(row._mapping)

    async def consents_of(self, actor: Principal, prisoner_id: str) -> list[Consent]:
        """Every consent a prisoner holds, newest first."""
        if actor.role == Role.PRISONER:
            if prisoner_id != actor.account_id:
                raise ServiceError(Code.FORBIDDEN)
        elif not allows(actor, Permission.CONSENTS_MANAGE):
            raise ServiceError(Code.FORBIDDEN)
        async with self._db.connect() as conn:
            if actor.role != Role.PRISONER:
                prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
                require_visible(actor, prisoner.establishment_id, "No such prisoner.")
            rows = await conn.execute(
                select(consents)
                .where(consents.c.prisoner_id == prisoner_id)
                .order_by(consents.c.decided_at.desc(), consents.c.id)
            )
            return [consent_from(r._mapping) for r in rows]

    async def _appointment_of(
        self, conn: AsyncConnection, appointment_id: str, prisoner_id: str
    ) -> None:
        """The appointment is this prisoner's; anyone else's answers as a missing one."""
        found = (
            await conn.execute(
                select(appointments.c.id).where(
                    and_(
                        appointments.c.id == appointment_id,
                        appointments.c.prisoner_id == prisoner_id,
                    )
                )
            )
        ).first()
        if found is None:
            raise ServiceError(Code.NOT_FOUND, "No such appointment.")

    async def recording_allowed(self, appointment_id: str) -> bool:
        """Whether this appointment may be recorded: the newest recording decision for it
        is a yes the prisoner gave on their device (not a booking answer), not withdrawn."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        consents.c.decision,
                        consents.c.withdrawn_at,
                        consents.c.witness_id,
                        consents.c.device_id,
                    )
                    .where(
                        and_(
                            consents.c.appointment_id == appointment_id,
                            consents.c.scope == Scope.RECORDING.value,
                        )
                    )
                    # At the same instant, the prisoner's own answer outranks a booking's.
                    .order_by(consents.c.decided_at.desc(), _ON_DEVICE.desc())
                    .limit(1)
                )
            ).first()
        return (
            row is not None
            and row.decision == Decision.GIVEN.value
            and row.withdrawn_at is None
            and row.witness_id is None
            and row.device_id is not None
        )

    async def recording_standing(self, appointment_id: str) -> str:
        """Where this appointment's recording consent stands, booking and device answers
        together: the newest decision, `given` (in force), `declined` or `withdrawn`,
        or `none` if nobody has asked. A clinician may ask on the device only on `given`."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(consents.c.decision, consents.c.withdrawn_at)
                    .where(
                        and_(
                            consents.c.appointment_id == appointment_id,
                            consents.c.scope == Scope.RECORDING.value,
                        )
                    )
                    .order_by(consents.c.decided_at.desc(), _ON_DEVICE.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return "none"
        if row.withdrawn_at is not None:
            return "withdrawn"
        return "given" if row.decision == Decision.GIVEN.value else "declined"

    async def recording_asked_at_booking(self, appointment_id: str) -> Decision | None:
        """The booking's answer (staff-witnessed, or carried over), if any: a "no" means
        the clinician does not ask on the device."""
        async with self._db.connect() as conn:
            found = (
                await conn.execute(
                    select(consents.c.decision)
                    .where(
                        and_(
                            consents.c.appointment_id == appointment_id,
                            consents.c.scope == Scope.RECORDING.value,
                            ~_ON_DEVICE,
                        )
                    )
                    .order_by(consents.c.decided_at.desc())
                    .limit(1)
                )
            ).scalar()
        return None if found is None else Decision(found)

    async def _in_force(self, conn: AsyncConnection, prisoner_id: str, scope_: Scope) -> bool:
        row = (
            await conn.execute(
                select(consents.c.decision, consents.c.withdrawn_at)
                .where(
                    and_(
                        consents.c.prisoner_id == prisoner_id,
                        consents.c.scope == scope_.value,
                        consents.c.appointment_id.is_(None),
                    )
                )
                .order_by(consents.c.decided_at.desc())
                .limit(1)
            )
        ).first()
        return row is not None and row.decision == Decision.GIVEN.value and row.withdrawn_at is None

    async def has_consent(self, prisoner_id: str, scope_value: object) -> bool:
        """Whether the prisoner's newest decision for this scope is a consent in force.

        Not for recording, which is per appointment: `recording_allowed`."""
        async with self._db.connect() as conn:
            return await self._in_force(conn, prisoner_id, scope(scope_value))
