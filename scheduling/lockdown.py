"""Lockdowns and communications restrictions.

A **lockdown** (declared by an officer, manager or admin) suspends the modules registered
with `scheduling.suspension` for its establishment while it is in force. In-cell video
consults go ahead: they need no escort, which is why a lockdown is when they matter most.
Only appointments that need an escort (in person, of a service flagged
`escort_if_in_person`) in its window are cancelled as prison-caused and offered the
clinician's next free times after it. A consult already in progress is left alone, never a
reason for the declaration to fail.

A **communications restriction** (a security incident) also stops in-cell calls. It takes
two people: one declares it, a *different* manager confirms it, and only then is it in
force; every consult in its window that has not started is cancelled, coded
`communications` (prison-caused), and offered new times.

Either is refused, changing nothing, if it ends before it starts, lasts over 31 days, or
overlaps another of the same kind at the establishment. When it comes into force a job
(`END_JOB`, keyed by its id) is scheduled in the same transaction; the job runner calls
`end_lockdown` at its end time, so one nobody lifts is lifted, and logged, when it ends.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.identity.types import SYSTEM_ACTOR
from core.jobs import insert_job
from core.permissions import Permission, require_permission
from scheduling.base import new_id, require_establishment, require_visible
from scheduling.booking import Booking
from scheduling.suspension import Declared
from scheduling.tables import appointments, lockdowns, rebooking_offers, services
from scheduling.times import instant
from scheduling.types import Appointment, Slot, Status

log = logging.getLogger(__name__)

OFFERS = 3
OFFER_HORIZON = timedelta(days=28)
MAX_LOCKDOWN = timedelta(days=31)
# How long the prisoner has to choose one of the offered times (never past the first of them).
OFFER_TTL = timedelta(hours=48)
END_JOB = "scheduling.lockdown_end"
"""The job kind that lifts a lockdown at its end time (payload: the lockdown's id)."""
KINDS = ("lockdown", "communications")
NOT_STARTED = (Status.BOOKED.value, Status.CHECKED_IN.value)
"""What a lockdown may cancel; one in progress goes on."""


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
    kind: str = "lockdown"
    confirmed: bool = True
    suspended: tuple[str, ...] = ()
    # Consults in the window that go ahead (video, or in progress).
    going_ahead: int = 0


def _stops(row: Any, restriction: bool) -> bool:
    """A restriction stops every call; a lockdown only what needs an escort."""
    return restriction or (bool(row.in_person) and bool(row.escort_if_in_person))


class Lockdowns(Booking):
    async def declare_lockdown(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        starts_at: object,
        ends_at: object,
        kind: object = "lockdown",
    ) -> Lockdown:
        require_permission(actor, Permission.LOCKDOWN_MANAGE)
        require_establishment(actor, establishment_id)
        if kind not in KINDS:
            raise ServiceError(Code.INVALID_REQUEST, "The kind is lockdown or communications.")
        # No start means now, by the server's clock (a browser's clock is not to be trusted).
        start = self._clock.now() if starts_at is None else instant(starts_at, "start")
        end = instant(ends_at, "end")
        if end <= start or end - start > MAX_LOCKDOWN:
            raise ServiceError(
                Code.INVALID_REQUEST, "A lockdown ends after it starts, within 31 days."
            )
        if end <= self._clock.now():
            raise ServiceError(Code.INVALID_REQUEST, "A lockdown cannot end in the past.")
        restriction = kind == "communications"
        if restriction and actor.role == Role.ADMIN:
            raise ServiceError(Code.FORBIDDEN)
        lockdown_id = new_id()
        now = self._clock.now()
        async with self._db.begin() as conn:
            await self._zone_name(conn, establishment_id)
            await self._refuse_overlap(conn, establishment_id, str(kind), start, end)
            await conn.execute(
                insert(lockdowns).values(
                    id=lockdown_id,
                    establishment_id=establishment_id,
                    starts_at=start,
                    ends_at=end,
                    kind=kind,
                    declared_by=actor.account_id,
                    declared_at=now,
                    confirmed_by=None if restriction else actor.account_id,
                    confirmed_at=None if restriction else now,
                )
            )
            if not restriction:
                await self._schedule_end(conn, lockdown_id, end)
        await self._record(
            Action.LOCKDOWN_DECLARED,
            actor,
            establishment=establishment_id,
            subject=lockdown_id,
            kind=kind,
            starts_at=start.isoformat(),
            ends_at=end.isoformat(),
            awaiting_confirmation=restriction,
        )
        if restriction:
            return Lockdown(
                lockdown_id, establishment_id, start, end, kind="communications", confirmed=False
            )
        return await self._come_into_force(actor, lockdown_id, establishment_id, start, end)

    async def confirm_restriction(self, actor: Principal, lockdown_id: str) -> Lockdown:
        """The second person: a governor (security.confirm) who is not the one who declared it."""
        require_permission(actor, Permission.SECURITY_CONFIRM)
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(lockdowns).where(lockdowns.c.id == lockdown_id).with_for_update()
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such lockdown.")
            require_visible(actor, row.establishment_id, "No such lockdown.")
            if row.kind != "communications" or row.confirmed_at is not None:
                raise ServiceError(Code.CONFLICT, "There is nothing here to confirm.")
            if row.lifted_at is not None or row.ends_at <= self._clock.now():
                raise ServiceError(Code.CONFLICT, "This restriction was withdrawn or is over.")
            if row.declared_by == actor.account_id:
                raise ServiceError(
                    Code.FORBIDDEN, "Someone other than the declarer confirms a restriction."
                )
            await conn.execute(
                update(lockdowns)
                .where(and_(lockdowns.c.id == lockdown_id, lockdowns.c.confirmed_at.is_(None)))
                .values(confirmed_by=actor.account_id, confirmed_at=self._clock.now())
            )
            await self._schedule_end(conn, lockdown_id, row.ends_at)
        await self._record(
            Action.LOCKDOWN_CONFIRMED,
            actor,
            establishment=row.establishment_id,
            subject=lockdown_id,
            kind=row.kind,
            declared_by=row.declared_by,
        )
        return await self._come_into_force(
            actor, lockdown_id, row.establishment_id, row.starts_at, row.ends_at, restriction=True
        )

    async def _refuse_overlap(
        self,
        conn: AsyncConnection,
        establishment_id: str,
        kind: str,
        start: datetime,
        end: datetime,
    ) -> None:
        c = lockdowns.c
        clash = await conn.scalar(
            select(c.id)
            .where(
                and_(
                    c.establishment_id == establishment_id,
                    c.kind == kind,
                    c.lifted_at.is_(None),
                    c.starts_at < end,
                    c.ends_at > start,
                    c.ends_at > self._clock.now(),
                )
            )
            .limit(1)
        )
        if clash is not None:
            raise ServiceError(
                Code.CONFLICT,
                "A lockdown is already declared for part of this time.",
            )

    async def _schedule_end(self, conn: AsyncConnection, lockdown_id: str, end: datetime) -> None:
        await insert_job(
            conn,
            END_JOB,
            {"lockdown_id": lockdown_id},
            due_at=end,
            now=self._clock.now(),
            key=lockdown_id,
        )

    async def _come_into_force(
        self,
        actor: Principal,
        lockdown_id: str,
        establishment_id: str,
        start: datetime,
        end: datetime,
        *,
        restriction: bool = False,
    ) -> Lockdown:
        """Cancel and re-offer what cannot go ahead; count what does."""
        a = appointments.c
        async with self._db.connect() as conn:
            rows = (
                await conn.execute(
                    select(a.id, a.status, a.in_person, services.c.escort_if_in_person)
                    .join(services, services.c.id == a.service_id)
                    .where(
                        and_(
                            a.establishment_id == establishment_id,
                            a.status.in_((*NOT_STARTED, Status.IN_PROGRESS.value)),
                            a.starts_at < end,
                            a.ends_at > start,
                        )
                    )
                    .order_by(a.starts_at, a.id)
                )
            ).all()
        stopped = [r.id for r in rows if r.status in NOT_STARTED and _stops(r, restriction)]
        affected: list[Rebooking] = []
        for appointment_id in stopped:
            try:
                cancelled = await self._change(
                    actor,
                    appointment_id,
                    Status.CANCELLED,
                    Action.CANCELLED,
                    None,
                    "communications" if restriction else "lockdown",
                    show=False,
                )
            except ServiceError as refused:
                # Started (or was cancelled) since we looked: it goes ahead as it is.
                if refused.code != Code.CONFLICT:
                    raise
                continue
            affected.append(await self._offer_rebooking(actor, cancelled, after=end))
        going_ahead = len(rows) - len(affected)
        suspended = self.suspensions.modules
        hooks_failed: list[str] = []
        declared = Declared(
            lockdown_id,
            establishment_id,
            start,
            end,
            "communications" if restriction else "lockdown",
            actor,
        )
        for module, hook in self.suspensions.on_declared:
            try:
                await hook(declared)
            except Exception:  # the lockdown is in force already; the rest still run
                log.exception("the %s module's lockdown hook failed", module)
                hooks_failed.append(module)
        extra: dict[str, Any] = {"hooks_failed": hooks_failed} if hooks_failed else {}
        await self._record(
            Action.LOCKDOWN_DECLARED if not restriction else Action.LOCKDOWN_CONFIRMED,
            actor,
            establishment=establishment_id,
            subject=lockdown_id,
            in_force=True,
            suspended=list(suspended),
            rebooked=len(affected),
            going_ahead=going_ahead,
            **extra,
        )
        return Lockdown(
            lockdown_id,
            establishment_id,
            start,
            end,
            affected,
            kind="communications" if restriction else "lockdown",
            confirmed=True,
            suspended=suspended,
            going_ahead=going_ahead,
        )

    async def in_force(self, establishment_id: str) -> Lockdown | None:
        """The lockdown or restriction in force now at an establishment, if any
        (a restriction before a lockdown: it says more)."""
        c = lockdowns.c
        now = self._clock.now()
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(c.id, c.establishment_id, c.starts_at, c.ends_at, c.kind)
                    .where(
                        and_(
                            c.establishment_id == establishment_id,
                            c.lifted_at.is_(None),
                            c.confirmed_at.is_not(None),
                            c.starts_at <= now,
                            c.ends_at > now,
                        )
                    )
                    .order_by(c.kind, c.starts_at)
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        return Lockdown(
            row.id,
            row.establishment_id,
            row.starts_at,
            row.ends_at,
            kind=row.kind,
            suspended=self.suspensions.modules,
        )

    async def require_open(self, actor: Principal, module: str) -> None:
        """Refuse a prisoner a suspended module while a lockdown is in force (logged)."""
        if module not in self.suspensions:
            raise LookupError(f"module {module!r} is not registered for suspension")
        if actor.role != Role.PRISONER or actor.establishment_id is None:
            return
        found = await self.in_force(actor.establishment_id)
        if found is None:
            return
        await self._record(
            Action.SUSPENDED_REFUSED,
            actor,
            establishment=actor.establishment_id,
            subject=found.id,
            module=module,
        )
        raise ServiceError(Code.LOCKDOWN)

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
                select(c.id, c.establishment_id, c.starts_at, c.ends_at, c.kind, c.confirmed_at)
                .where(
                    and_(
                        c.establishment_id == establishment_id,
                        c.lifted_at.is_(None),
                        c.ends_at > self._clock.now(),
                    )
                )
                .order_by(c.starts_at, c.id)
            )
            return [
                Lockdown(
                    r.id,
                    r.establishment_id,
                    r.starts_at,
                    r.ends_at,
                    kind=r.kind,
                    confirmed=r.confirmed_at is not None,
                    suspended=self.suspensions.modules,
                )
                for r in rows
            ]

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
            Action.LOCKDOWN_LIFTED,
            actor,
            establishment=row.establishment_id,
            subject=lockdown_id,
            kind=row.kind,
            restored=list(self.suspensions.modules),
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
            restored=list(self.suspensions.modules),
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
