"""Lockdowns: every affected consult is cancelled as prison-caused and offered
again at the clinician's next free slots, and both sides are told.

Declaring one schedules a job (`END_JOB`, keyed by the lockdown) in the same
transaction; the job runner calls `end_lockdown` at its end time, so a
lockdown nobody lifts is lifted, and logged, when it ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, select, update

from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.identity.types import SYSTEM_ACTOR
from core.jobs import insert_job
from core.permissions import Permission, require_permission
from scheduling.base import new_id, require_establishment, require_visible
from scheduling.booking import Booking
from scheduling.search import ACTIVE
from scheduling.tables import appointments, lockdowns, rebooking_offers
from scheduling.times import instant
from scheduling.types import Appointment, Slot, Status

OFFERS = 3
OFFER_HORIZON = timedelta(days=28)
MAX_LOCKDOWN = timedelta(days=31)
# How long the prisoner has to choose one of the offered times (never past the first of them).
OFFER_TTL = timedelta(hours=48)
END_JOB = "scheduling.lockdown_end"
"""The job kind that lifts a lockdown at its end time (payload: the lockdown's id)."""


@dataclass(frozen=True)
class Rebooking:
    appointment_id: str
    offers: list[Slot]


@dataclass(frozen=True)
class Lockdown:
    id: str
    establishment_id: str
    starts_at: datetime
    ends_at: datetime
    affected: list[Rebooking] = field(default_factory=list)


class Lockdowns(Booking):
    async def declare_lockdown(
        self, actor: Principal, establishment_id: str, *, starts_at: object, ends_at: object
    ) -> Lockdown:
        require_permission(actor, Permission.LOCKDOWN_MANAGE)
        require_establishment(actor, establishment_id)
        start = instant(starts_at, "start")
        end = instant(ends_at, "end")
        if end <= start or end - start > MAX_LOCKDOWN:
            raise ServiceError(
                Code.INVALID_REQUEST, "A lockdown ends after it starts, within 31 days."
            )
        lockdown_id = new_id()
        async with self._db.begin() as conn:
            await self._zone_name(conn, establishment_id)
            await conn.execute(
                insert(lockdowns).values(
                    id=lockdown_id,
                    establishment_id=establishment_id,
                    starts_at=start,
                    ends_at=end,
                    declared_by=actor.account_id,
                    declared_at=self._clock.now(),
                )
            )
            await insert_job(
                conn,
                END_JOB,
                {"lockdown_id": lockdown_id},
                due_at=end,
                now=self._clock.now(),
                key=lockdown_id,
            )
            a = appointments.c
            hit = [
                r.id
                for r in await conn.execute(
                    select(a.id)
                    .where(
                        and_(
                            a.establishment_id == establishment_id,
                            a.status.in_(ACTIVE),
                            a.starts_at < end,
                            a.ends_at > start,
                        )
                    )
                    .order_by(a.starts_at)
                )
            ]
        await self._record(
            Action.LOCKDOWN_DECLARED,
            actor,
            establishment=establishment_id,
            subject=lockdown_id,
            starts_at=start.isoformat(),
            ends_at=end.isoformat(),
            affected=len(hit),
        )
        affected = []
        for appointment_id in hit:
            cancelled = await self._change(
                actor,
                appointment_id,
                Status.CANCELLED,
                Action.CANCELLED,
                None,
                "lockdown",
                show=False,
            )
            affected.append(await self._offer_rebooking(actor, cancelled, after=end))
        return Lockdown(lockdown_id, establishment_id, start, end, affected)

    async def _offer_rebooking(
        self, actor: Principal | str, cancelled: Appointment, *, after: datetime
    ) -> Rebooking:
        start = max(after, self._clock.now())
        offers = await self.search_slots(
            service_id=cancelled.service_id,
            start=start,
            end=start + OFFER_HORIZON,
            clinician_id=cancelled.clinician_id,
            prisoner_id=cancelled.prisoner_id,
            limit=OFFERS,
        )
        times = [s.starts_at for s in offers]
        now = self._clock.now()
        offer_id = new_id()
        async with self._db.begin() as conn:
            if times:
                await conn.execute(
                    insert(rebooking_offers).values(
                        id=offer_id,
                        appointment_id=cancelled.id,
                        establishment_id=cancelled.establishment_id,
                        prisoner_id=cancelled.prisoner_id,
                        clinician_id=cancelled.clinician_id,
                        service_id=cancelled.service_id,
                        times=json.dumps([t.isoformat() for t in times]),
                        created_at=now,
                        expires_at=min(now + OFFER_TTL, min(times)),
                    )
                )
            for person in (cancelled.prisoner_id, cancelled.clinician_id):
                await self._notify(
                    conn,
                    person,
                    "rebook_offer",
                    appointment_id=cancelled.id,
                    cancelled_starts_at=cancelled.starts_at,
                    offers=times,
                    offer=offer_id if times and person == cancelled.prisoner_id else None,
                )
        await self._record(
            Action.REBOOK_OFFERED,
            actor,
            establishment=cancelled.establishment_id,
            subject=cancelled.prisoner_id,
            appointment=cancelled.id,
            offers=[t.isoformat() for t in times],
        )
        return Rebooking(cancelled.id, offers)

    async def current_lockdowns(self, actor: Principal, establishment_id: str) -> list[Lockdown]:
        """Lockdowns in force or yet to come at an establishment (not lifted, not over)."""
        require_permission(actor, Permission.LOCKDOWN_READ)
        require_establishment(actor, establishment_id)
        c = lockdowns.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(c.id, c.establishment_id, c.starts_at, c.ends_at)
                .where(
                    and_(
                        c.establishment_id == establishment_id,
                        c.lifted_at.is_(None),
                        c.ends_at > self._clock.now(),
                    )
                )
                .order_by(c.starts_at, c.id)
            )
            return [Lockdown(r.id, r.establishment_id, r.starts_at, r.ends_at) for r in rows]

    async def lift_lockdown(self, actor: Principal, lockdown_id: str) -> None:
        require_permission(actor, Permission.LOCKDOWN_MANAGE)
        async with self._db.begin() as conn:
            row = (
                await conn.execute(select(lockdowns).where(lockdowns.c.id == lockdown_id))
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such lockdown.")
            require_visible(actor, row.establishment_id, "No such lockdown.")
            if row.lifted_at is not None:
                raise ServiceError(Code.CONFLICT, "This lockdown was already lifted.")
            await conn.execute(
                update(lockdowns)
                .where(lockdowns.c.id == lockdown_id)
                .values(lifted_at=self._clock.now())
            )
        await self._record(
            Action.LOCKDOWN_LIFTED, actor, establishment=row.establishment_id, subject=lockdown_id
        )

    async def end_lockdown(self, lockdown_id: str) -> bool:
        """The job runner's lift at the end time; False if it was lifted already
        (by hand, or by an earlier attempt of the same job)."""
        c = lockdowns.c
        async with self._db.begin() as conn:
            row = (
                await conn.execute(select(c.establishment_id, c.ends_at).where(c.id == lockdown_id))
            ).first()
            if row is None:
                return False
            lifted = await conn.execute(
                update(lockdowns)
                .where(and_(c.id == lockdown_id, c.lifted_at.is_(None)))
                .values(lifted_at=row.ends_at)
            )
        if lifted.rowcount != 1:
            return False
        await self._record(
            Action.LOCKDOWN_LIFTED,
            SYSTEM_ACTOR,
            establishment=row.establishment_id,
            subject=lockdown_id,
            at_end=True,
        )
        return True

    async def rebook(self, actor: Principal, appointment_id: str, starts_at: object) -> Appointment:
        """Take up an offer: a new booking with the same people and service.

        Someone else's appointment answers as a missing one, before its state
        is looked at (it used to say 409 for another prisoner's, 404 for none).
        Where times were offered (`rebooking_offers`), the offer is claimed
        first with a conditional update, so of two simultaneous rebookings one
        wins and the other is told the offer was taken; a booking that is then
        refused gives the claim back, so a refusal changes nothing.
        """
        async with self._db.connect() as conn:
            m = await self._appointment_row(conn, appointment_id)
        self._may_see(actor, m)
        if m["status"] not in (Status.CANCELLED.value, Status.DID_NOT_ATTEND.value):
            raise ServiceError(Code.CONFLICT, "Only a cancelled or missed consult is rebooked.")
        claim = await self._claim_offer(actor, m["id"])
        try:
            booked = await self.book(
                actor,
                prisoner_id=m["prisoner_id"],
                service_id=m["service_id"],
                clinician_id=m["clinician_id"],
                starts_at=starts_at,
                same_sex=m["same_sex"],
                chaperone=m["chaperone"],
                video_required=bool(m["video_required"]),
                rebook_of=m["id"],
            )
        except BaseException:
            if claim is not None:
                async with self._db.begin() as conn:
                    await conn.execute(
                        update(rebooking_offers)
                        .where(
                            and_(
                                rebooking_offers.c.id == claim[0],
                                rebooking_offers.c.taken_at == claim[1],
                            )
                        )
                        .values(taken_at=None)
                    )
            raise
        if claim is not None:
            async with self._db.begin() as conn:
                await conn.execute(
                    update(rebooking_offers)
                    .where(rebooking_offers.c.id == claim[0])
                    .values(booked_appointment_id=booked.id)
                )
        return booked

    async def _claim_offer(
        self, actor: Principal, appointment_id: str
    ) -> tuple[str, datetime] | None:
        """Claim the appointment's open offer, if it has one (a prisoner: before it expires)."""
        now = self._clock.now()
        o = rebooking_offers.c
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(o.id, o.taken_at, o.expires_at).where(o.appointment_id == appointment_id)
                )
            ).first()
            if row is None:
                return None
            if row.taken_at is not None:
                raise ServiceError(Code.CONFLICT, "This offer has already been taken.")
            prisoner = actor.role == Role.PRISONER
            if prisoner and row.expires_at <= now:
                raise ServiceError(Code.CONFLICT, "This offer has expired.")
            still_open = [o.id == row.id, o.taken_at.is_(None)]
            if prisoner:
                still_open.append(o.expires_at > now)
            claimed = await conn.execute(
                update(rebooking_offers).where(and_(*still_open)).values(taken_at=now)
            )
            if claimed.rowcount != 1:
                raise ServiceError(Code.CONFLICT, "This offer has already been taken.")
        return row.id, now
