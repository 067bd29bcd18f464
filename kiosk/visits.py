"""Visits: the establishment's sessions with a capacity, a monthly allowance by incentive
level, the prisoner's bookings of approved visitors, cancellation, and the staff's day list.

Booking is one transaction that first holds the prisoner (a `booking_locks` row) and then
the session's row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers with
`BEGIN IMMEDIATE`), and only then counts the session's places and the prisoner's visits in
the session's month: so many bookings at once can never fill a session past its capacity
or a prisoner past their allowance. The same `Idempotency-Key` again answers the first
booking. Refusals say why in `reason`: full, over_allowance, past, already_booked,
visitor_not_approved; an unknown session or visitor, or another's, is 404.

Visitors have no account. Each confirmation and cancellation is a `visit_letters` row for
each visitor on the booking: emailed by the `kiosk.visit_email` job where the visitor gave
an address (and the service has a mail server), otherwise listed for the visits hall to
print. The prisoner is told in their inbox (`queue_notice`).

A lockdown that comes into force (scheduling.suspension's `on_declared`) cancels the
booked visits in its window, offers the prisoner the free sessions after it and tells the
visitors. A transfer or a release cancels the visits booked at the establishment left
(steps in the movement's transaction); approved visitors stay with the prisoner. Those
three live in `kiosk.visit_offers`, mixed in.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditSink
from core.identity import Principal
from core.people.incentives import levels_of
from core.people.types import DEFAULT_LEVEL, IncentiveLevel
from core.permissions import Permission, allows, require_permission
from kiosk.sealing import Gate
from kiosk.visit_letters import VisitLetters
from kiosk.visit_offers import HORIZON, Offer, VisitDisruptions
from kiosk.visit_records import (
    Booking,
    Session,
    allowances_of,
    bookings,
    month_of,
    sessions_between,
    used_in,
    zone_of,
)
from kiosk.visit_tables import (
    visit_booking_visitors,
    visit_bookings,
    visit_offers,
    visit_sessions,
    visit_settings,
    visit_visitors,
)
from kiosk.visitors import (
    MODULE,
    Visitors,
    idempotency_key,
    own,
    require_visits_staff,
)
from scheduling.notices import queue_notice
from scheduling.tables import booking_locks
from scheduling.times import instant

MAX_ALLOWANCE = 31
MAX_CAPACITY = 200
MAX_SESSION = timedelta(hours=8)
MAX_VISITORS_PER_VISIT = 3
REFERENCE_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"
BOOKED_NOTICE = "visit_booked"
CANCELLED_NOTICE = "visit_cancelled"


@dataclass(frozen=True)
class Choices:
    """What the device's booking screen shows."""

    sessions: list[Session]
    level: IncentiveLevel
    allowance: int
    used_this_month: int
    offers: list[Offer] = field(default_factory=list)


@dataclass(frozen=True)
class DaySession:
    session: Session
    bookings: list[Booking]


def _refuse(reason: str, detail: str, **extra: Any) -> ServiceError:
    return ServiceError(Code.CONFLICT, detail, extra={"reason": reason, **extra})


def _reference() -> str:
    return "V" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(7))


def visitor_ids(value: object) -> list[str]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_VISITORS_PER_VISIT
        or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value)
        or len(set(value)) != len(value)
    ):
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"Choose 1 to {MAX_VISITORS_PER_VISIT} of your approved visitors.",
            extra={"reason": "choose_visitors", "max": MAX_VISITORS_PER_VISIT},
        )
    return list(value)


class Visits(VisitDisruptions):
    def __init__(
        self,
        db: Database,
        *,
        visitors: Visitors,
        clock: Clock,
        audit: AuditSink,
        gate: Gate,
        email: bool = False,
    ) -> None:
        self._db = db
        self._visitors = visitors
        self._clock = clock
        self._audit = audit
        self._gate = gate
        self.letters = VisitLetters(db, visitors=visitors, clock=clock, audit=audit, email=email)

    @property
    def visitors(self) -> Visitors:
        return self._visitors

    @property
    def clock(self) -> Clock:
        return self._clock

    # ------------------------------------------------------------ staff: set-up

    async def set_allowances(
        self, actor: Principal, establishment_id: str, allowances: object
    ) -> dict[str, int]:
        if not isinstance(allowances, dict) or set(allowances) != {
            lv.value for lv in IncentiveLevel
        }:
            raise ServiceError(
                Code.INVALID_REQUEST, "Give an allowance for basic, standard and enhanced."
            )
        for value in allowances.values():
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= MAX_ALLOWANCE
            ):
                raise ServiceError(
                    Code.INVALID_REQUEST,
                    f"An allowance is a whole number of visits a month, 0 to {MAX_ALLOWANCE}.",
                )
        values = {f"allowance_{k}": int(v) for k, v in allowances.items()}
        async with self._db.begin() as conn:
            await require_visits_staff(conn, actor, establishment_id)
            values["updated_at"] = self._clock.now()  # type: ignore[assignment]
            done = await conn.execute(
                update(visit_settings)
                .where(visit_settings.c.establishment_id == establishment_id)
                .values(**values)
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(visit_settings).values(establishment_id=establishment_id, **values)
                )
        found = {k: int(v) for k, v in allowances.items()}
        await self._record(
            Action.VISIT_ALLOWANCES_SET, actor, establishment_id, establishment_id, **found
        )
        return found

    async def allowances(self, actor: Principal, establishment_id: str) -> dict[str, int]:
        async with self._db.connect() as conn:
            await require_visits_staff(conn, actor, establishment_id)
            found = await allowances_of(conn, establishment_id)
        return {k.value: v for k, v in found.items()}

    async def create_session(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        starts_at: object,
        ends_at: object,
        capacity: object,
    ) -> Session:
        start, end = instant(starts_at, "start"), instant(ends_at, "end")
        if not start < end <= start + MAX_SESSION:
            raise ServiceError(
                Code.INVALID_REQUEST, "A session ends after it starts, within 8 hours."
            )
        if start <= self._clock.now():
            raise ServiceError(Code.INVALID_REQUEST, "A session starts in the future.")
        if (
            isinstance(capacity, bool)
            or not isinstance(capacity, int)
            or not 1 <= capacity <= MAX_CAPACITY
        ):
            raise ServiceError(
                Code.INVALID_REQUEST, f"The capacity is a whole number, 1 to {MAX_CAPACITY}."
            )
        session = Session(str(uuid.uuid4()), establishment_id, start, end, capacity, 0)
        async with self._db.begin() as conn:
            await require_visits_staff(conn, actor, establishment_id)
            await conn.execute(
                insert(visit_sessions).values(
                    id=session.id,
                    establishment_id=establishment_id,
                    starts_at=start,
                    ends_at=end,
                    capacity=capacity,
                    created_by=actor.account_id,
                    created_at=self._clock.now(),
                )
            )
        await self._record(
            Action.VISIT_SESSION_CREATED,
            actor,
            establishment_id,
            session.id,
            starts_at=start.isoformat(),
            ends_at=end.isoformat(),
            capacity=capacity,
        )
        return session

    async def sessions(
        self, actor: Principal, establishment_id: str, *, day: object = None
    ) -> list[Session]:
        """Staff: the sessions of one local day (default: from today for 28 days)."""
        async with self._db.connect() as conn:
            await require_visits_staff(conn, actor, establishment_id)
            start, end = await self._days(conn, establishment_id, day)
            return await sessions_between(conn, establishment_id, start, end)

    # ------------------------------------------------------------ prisoner

    async def choices(self, actor: Principal) -> Choices:
        """The sessions with free places in the next four weeks (not those already booked),
        the allowance and how much of this month's is used, and any new times a lockdown
        offered."""
        prisoner_id, est = own(actor)
        now = self._clock.now()
        async with self._db.connect() as conn:
            mine = set(
                await conn.scalars(
                    select(visit_bookings.c.session_id).where(
                        (visit_bookings.c.prisoner_id == prisoner_id)
                        & (visit_bookings.c.status == "booked")
                    )
                )
            )
            found = [
                s
                for s in await sessions_between(conn, est, now, now + HORIZON)
                if s.free > 0 and s.starts_at > now and s.id not in mine
            ]
            level = (await levels_of(conn, [prisoner_id])).get(prisoner_id, DEFAULT_LEVEL)
            allowance = (await allowances_of(conn, est))[level]
            tz = await zone_of(conn, est)
            used = await used_in(conn, prisoner_id, *month_of(now, tz))
            offers = await self._offers(conn, prisoner_id)
        return Choices(found, level, allowance, used, offers)

    async def mine(self, actor: Principal) -> list[Booking]:
        prisoner_id, _ = own(actor)
        since = self._clock.now() - timedelta(days=31)
        async with self._db.connect() as conn:
            return await bookings(
                conn,
                self._visitors,
                (visit_bookings.c.prisoner_id == prisoner_id) & (visit_sessions.c.ends_at > since),
            )

    async def book(
        self,
        actor: Principal,
        *,
        session_id: object,
        visitors: object,
        key: object = None,
        rebook_of: str | None = None,
    ) -> tuple[Booking, bool]:
        """Book a session for approved visitors, or answer the booking this key made."""
        prisoner_id, est = own(actor)
        if rebook_of is None:
            # Closed in a lockdown, before the body is looked at; a new time the lockdown
            # itself offered (after it) may be taken during it.
            await self._gate(actor, MODULE)
        wanted = visitor_ids(visitors)
        the_key = idempotency_key(key)
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 64:
            raise ServiceError(Code.INVALID_REQUEST, "Choose a session.")
        now = self._clock.now()
        booking_id = str(uuid.uuid4())
        try:
            async with self._db.begin() as conn:
                await self._hold_prisoner(conn, prisoner_id)
                if the_key is not None:
                    earlier = await conn.scalar(
                        select(visit_bookings.c.id).where(
                            (visit_bookings.c.prisoner_id == prisoner_id)
                            & (visit_bookings.c.idempotency_key == the_key)
                        )
                    )
                    if earlier is not None:
                        return (
                            await bookings(conn, self._visitors, visit_bookings.c.id == earlier)
                        )[0], False
                query = select(visit_sessions).where(visit_sessions.c.id == session_id)
                if not self._db.is_sqlite:
                    query = query.with_for_update()
                session = (await conn.execute(query)).first()
                if session is None or session.establishment_id != est:
                    raise ServiceError(Code.NOT_FOUND, "No such session.")
                if session.starts_at <= now:
                    raise _refuse("past", "This session has already started or is over.")
                chosen = (
                    await conn.execute(
                        select(
                            visit_visitors.c.id,
                            visit_visitors.c.prisoner_id,
                            visit_visitors.c.status,
                        ).where(visit_visitors.c.id.in_(wanted))
                    )
                ).all()
                mine = {r.id: r.status for r in chosen if r.prisoner_id == prisoner_id}
                if len(mine) != len(wanted):
                    raise ServiceError(Code.NOT_FOUND, "No such visitor.")
                if any(status != "approved" for status in mine.values()):
                    raise _refuse(
                        "visitor_not_approved",
                        "Only approved visitors can come on a visit.",
                        visitors=[v for v, s in mine.items() if s != "approved"],
                    )
                already = await conn.scalar(
                    select(func.count())
                    .select_from(visit_bookings)
                    .where(
                        (visit_bookings.c.session_id == session.id)
                        & (visit_bookings.c.prisoner_id == prisoner_id)
                        & (visit_bookings.c.status == "booked")
                    )
                )
                if already:
                    raise _refuse("already_booked", "You already have this visit booked.")
                taken = await conn.scalar(
                    select(func.count())
                    .select_from(visit_bookings)
                    .where(
                        (visit_bookings.c.session_id == session.id)
                        & (visit_bookings.c.status == "booked")
                    )
                )
                if int(taken or 0) >= session.capacity:
                    raise _refuse("full", "This session is full. Choose another time.")
                level = (await levels_of(conn, [prisoner_id])).get(prisoner_id, DEFAULT_LEVEL)
                allowance = (await allowances_of(conn, est))[level]
                tz = await zone_of(conn, est)
                used = await used_in(conn, prisoner_id, *month_of(session.starts_at, tz))
                if used >= allowance:
                    raise _refuse(
                        "over_allowance",
                        "You have used all your visits for that month.",
                        allowance=allowance,
                        used=used,
                    )
                if rebook_of is not None:
                    taken_offer = await conn.execute(
                        update(visit_offers)
                        .where(
                            (visit_offers.c.booking_id == rebook_of)
                            & (visit_offers.c.prisoner_id == prisoner_id)
                            & visit_offers.c.taken_at.is_(None)
                        )
                        .values(taken_at=now)
                    )
                    if taken_offer.rowcount != 1:
                        raise _refuse("offer_taken", "This offer has already been taken.")
                reference = _reference()
                await conn.execute(
                    insert(visit_bookings).values(
                        id=booking_id,
                        reference=reference,
                        establishment_id=est,
                        session_id=session.id,
                        prisoner_id=prisoner_id,
                        status="booked",
                        booked_at=now,
                        rebook_of=rebook_of,
                        idempotency_key=the_key,
                    )
                )
                for visitor in wanted:
                    await conn.execute(
                        insert(visit_booking_visitors).values(
                            booking_id=booking_id, visitor_id=visitor
                        )
                    )
                await self.letters.write(conn, est, booking_id, "confirmed")
                await queue_notice(
                    conn,
                    prisoner_id,
                    BOOKED_NOTICE,
                    now=now,
                    receipt=reference,
                    starts_at=session.starts_at,
                )
                made = (await bookings(conn, self._visitors, visit_bookings.c.id == booking_id))[0]
        except IntegrityError:
            if the_key is None:
                raise
            async with self._db.connect() as conn:
                found = await bookings(
                    conn,
                    self._visitors,
                    (visit_bookings.c.prisoner_id == prisoner_id)
                    & (visit_bookings.c.idempotency_key == the_key),
                )
            if not found:
                raise
            return found[0], False
        await self._record(
            Action.VISIT_BOOKED,
            actor,
            est,
            prisoner_id,
            booking=booking_id,
            reference=made.reference,
            session=made.session_id,
            visitors=wanted,
            **({"rebook_of": rebook_of} if rebook_of else {}),
        )
        return made, True

    async def cancel(self, actor: Principal, booking_id: object) -> Booking:
        """The prisoner cancels their own, or visits staff of its establishment cancel any;
        the visitors are told."""
        staff = not allows_booking(actor)
        if not staff:
            await self._gate(actor, MODULE)  # closed in a lockdown, before the visit is looked up
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(visit_bookings, visit_sessions.c.starts_at)
                    .join(visit_sessions, visit_sessions.c.id == visit_bookings.c.session_id)
                    .where(visit_bookings.c.id == booking_id)
                )
            ).first()
            if staff:
                require_permission(actor, Permission.VISITS_MANAGE)
                if row is None:
                    raise ServiceError(Code.NOT_FOUND, "No such visit.")
                try:
                    await require_visits_staff(conn, actor, row.establishment_id)
                except ServiceError as refused:
                    if refused.code == Code.NOT_FOUND:
                        raise ServiceError(Code.NOT_FOUND, "No such visit.") from None
                    raise
            else:
                prisoner_id, _ = own(actor)
                if row is None or row.prisoner_id != prisoner_id:
                    raise ServiceError(Code.NOT_FOUND, "No such visit.")
        async with self._db.begin() as conn:
            if row.starts_at <= self._clock.now():
                raise _refuse("past", "A visit that has started cannot be cancelled.")
            done = await self._cancel_in(
                conn, row.id, "staff" if staff else "prisoner", actor.account_id, tell=staff
            )
            if not done:
                raise _refuse("already_cancelled", "This visit is already cancelled.")
            found = (await bookings(conn, self._visitors, visit_bookings.c.id == row.id))[0]
        await self._record(
            Action.VISIT_CANCELLED,
            actor,
            row.establishment_id,
            row.prisoner_id,
            booking=row.id,
            reason="staff" if staff else "prisoner",
        )
        return found

    # --------------------------------------------------------------- staff

    async def day_list(
        self, actor: Principal, establishment_id: str, day: object = None
    ) -> list[DaySession]:
        """Each session of the day with its booked visits: prisoner, cell and visitors
        (reading the visitors is logged per prisoner)."""
        async with self._db.connect() as conn:
            await require_visits_staff(conn, actor, establishment_id)
            start, end = await self._days(conn, establishment_id, day, one=True)
            found = await sessions_between(conn, establishment_id, start, end)
            booked = await bookings(
                conn,
                self._visitors,
                (visit_bookings.c.establishment_id == establishment_id)
                & (visit_bookings.c.status == "booked")
                & (visit_sessions.c.starts_at >= start)
                & (visit_sessions.c.starts_at < end),
                staff=True,
            )
        for prisoner in sorted({b.prisoner_id for b in booked}):
            await self._record(
                Action.VISITORS_READ,
                actor,
                establishment_id,
                prisoner,
                visitors=sorted(
                    {v.id for b in booked if b.prisoner_id == prisoner for v in b.visitors}
                ),
                day_list=True,
            )
        return [DaySession(s, [b for b in booked if b.session_id == s.id]) for s in found]

    # ------------------------------------------------------------- internals

    async def _cancel_in(
        self, conn: AsyncConnection, booking_id: str, reason: str, by: str, *, tell: bool
    ) -> bool:
        now = self._clock.now()
        done = await conn.execute(
            update(visit_bookings)
            .where((visit_bookings.c.id == booking_id) & (visit_bookings.c.status == "booked"))
            .values(status="cancelled", cancel_reason=reason, cancelled_at=now, cancelled_by=by)
        )
        if done.rowcount != 1:
            return False
        row = (
            await conn.execute(
                select(
                    visit_bookings.c.establishment_id,
                    visit_bookings.c.prisoner_id,
                    visit_bookings.c.reference,
                ).where(visit_bookings.c.id == booking_id)
            )
        ).one()
        await self.letters.write(conn, row.establishment_id, booking_id, "cancelled")
        if tell:
            await queue_notice(
                conn,
                row.prisoner_id,
                CANCELLED_NOTICE,
                now=now,
                receipt=row.reference,
                reason=reason,
            )
        return True

    async def _hold_prisoner(self, conn: AsyncConnection, prisoner_id: str) -> None:
        if self._db.is_sqlite:
            return
        key = f"visits:{prisoner_id}"
        await conn.execute(pg_insert(booking_locks).values(key=key).on_conflict_do_nothing())
        await conn.execute(
            select(booking_locks.c.key).where(booking_locks.c.key == key).with_for_update()
        )

    async def _days(
        self, conn: AsyncConnection, establishment_id: str, day: object, *, one: bool = False
    ) -> tuple[datetime, datetime]:
        tz = await zone_of(conn, establishment_id)
        local = self._clock.now().astimezone(tz).date()
        if day is not None and day != "":
            try:
                local = date.fromisoformat(day if isinstance(day, str) and len(day) == 10 else "")
            except ValueError:
                raise ServiceError(Code.INVALID_REQUEST, "The day is YYYY-MM-DD.") from None
        start = datetime.combine(local, time(), tzinfo=tz).astimezone(UTC)
        days = 1 if one or (day not in (None, "")) else HORIZON.days
        end = datetime.combine(local + timedelta(days=days), time(), tzinfo=tz).astimezone(UTC)
        return start, end


def allows_booking(actor: Principal) -> bool:
    return allows(actor, Permission.VISITS_BOOK)
