"""What disturbs a booked visit: a lockdown, a transfer, a release, mixed into `Visits`
(kiosk/visits.py).

A lockdown that comes into force (scheduling.suspension's `on_declared`) cancels the booked
visits in its window, offers the prisoner up to `OFFERS` free sessions after it, and tells
the visitors; taking an offered time stays open during the lockdown (it is the lockdown's
own remedy). A transfer or a release cancels the visits booked at the establishment left,
in the same transaction as the move.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from core.errors import Code, ServiceError
from core.events import Action, Audited, AuditRecord
from core.identity import Principal
from kiosk.visit_records import Booking, Session, bookings, sessions_between, sessions_by_id
from kiosk.visit_tables import (
    visit_booking_visitors,
    visit_bookings,
    visit_offers,
    visit_sessions,
    visit_visitors,
)
from kiosk.visitors import own
from scheduling.notices import queue_notice
from scheduling.release_steps import ReleaseContext, TransferContext
from scheduling.suspension import Declared

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncConnection

    from core.clock import Clock
    from core.db.engine import Database
    from core.events import AuditSink
    from kiosk.visitors import Visitors

HORIZON = timedelta(days=28)
OFFERS = 3
OFFERED_NOTICE = "visits_offered"


@dataclass(frozen=True)
class Offer:
    booking: Booking
    sessions: list[Session]


class VisitDisruptions(Audited):
    """Mixed into `Visits`, which provides these:"""

    _db: Database
    _clock: Clock
    _audit: AuditSink
    _visitors: Visitors

    book: Callable[..., Awaitable[tuple[Booking, bool]]]
    _cancel_in: Callable[..., Awaitable[bool]]

    async def take_offer(
        self, actor: Principal, booking_id: object, *, session_id: object, key: object = None
    ) -> tuple[Booking, bool]:
        """A new time for a visit a lockdown cancelled: one of the offered sessions, with
        the same visitors (those still approved). Open during the lockdown: the times
        offered are after it, and taking one is the lockdown's own remedy."""
        prisoner_id, _ = own(actor)
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(visit_offers).where(
                        (visit_offers.c.booking_id == booking_id)
                        & (visit_offers.c.prisoner_id == prisoner_id)
                    )
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such offer.")
            if session_id not in json.loads(row.sessions):
                raise ServiceError(Code.NOT_FOUND, "No such session.")
            who = list(
                await conn.scalars(
                    select(visit_booking_visitors.c.visitor_id)
                    .join(
                        visit_visitors, visit_visitors.c.id == visit_booking_visitors.c.visitor_id
                    )
                    .where(
                        (visit_booking_visitors.c.booking_id == row.booking_id)
                        & (visit_visitors.c.status == "approved")
                    )
                )
            )
        return await self.book(
            actor, session_id=session_id, visitors=who, key=key, rebook_of=row.booking_id
        )

    async def on_lockdown(self, declared: Declared) -> None:
        """Cancel the booked visits in the lockdown's window, offer the prisoner the free
        sessions after it, tell the visitors."""
        now = self._clock.now()
        actor = declared.actor if isinstance(declared.actor, str) else declared.actor.account_id
        async with self._db.begin() as conn:
            rows = (
                await conn.execute(
                    select(
                        visit_bookings.c.id,
                        visit_bookings.c.prisoner_id,
                        visit_bookings.c.reference,
                        visit_sessions.c.starts_at,
                    )
                    .join(visit_sessions, visit_sessions.c.id == visit_bookings.c.session_id)
                    .where(
                        (visit_bookings.c.establishment_id == declared.establishment_id)
                        & (visit_bookings.c.status == "booked")
                        & (visit_sessions.c.starts_at < declared.ends_at)
                        & (visit_sessions.c.ends_at > declared.starts_at)
                        & (visit_sessions.c.starts_at > now)
                    )
                    .order_by(visit_sessions.c.starts_at, visit_bookings.c.id)
                )
            ).all()
            after = max(declared.ends_at, now)
            free = [
                s
                for s in await sessions_between(
                    conn, declared.establishment_id, after, after + HORIZON
                )
                if s.free > 0 and s.starts_at >= after
            ]
            offered: dict[str, list[str]] = {}
            reference_of = {r.id: r.reference for r in rows}
            starts_of = {r.id: r.starts_at for r in rows}
            for row in rows:
                if not await self._cancel_in(conn, row.id, "lockdown", actor, tell=False):
                    continue
                times = [s.id for s in free][:OFFERS]
                offered[row.id] = times
                await conn.execute(
                    insert(visit_offers).values(
                        booking_id=row.id,
                        prisoner_id=row.prisoner_id,
                        sessions=json.dumps(times),
                        created_at=now,
                    )
                )
                await queue_notice(
                    conn,
                    row.prisoner_id,
                    OFFERED_NOTICE,
                    now=now,
                    receipt=reference_of[row.id],
                    starts_at=starts_of[row.id],
                )
        for row in rows:
            if row.id in offered:
                await self._audit.append(
                    AuditRecord(
                        Action.VISIT_CANCELLED,
                        actor,
                        establishment=declared.establishment_id,
                        subject=row.prisoner_id,
                        details={"booking": row.id, "reason": "lockdown"},
                    )
                )
                await self._audit.append(
                    AuditRecord(
                        Action.VISITS_OFFERED,
                        actor,
                        establishment=declared.establishment_id,
                        subject=row.prisoner_id,
                        details={
                            "booking": row.id,
                            "lockdown": declared.lockdown_id,
                            "sessions": offered[row.id],
                        },
                    )
                )

    async def transfer_step(self, ctx: TransferContext) -> None:
        """Visits booked at the establishment left are cancelled and their visitors told;
        the approved visitors stay with the prisoner."""
        await self._leave(ctx, ctx.from_establishment_id, "transfer")

    async def release_step(self, ctx: ReleaseContext) -> None:
        await self._leave(ctx, ctx.establishment_id, "release")

    async def _leave(
        self, ctx: TransferContext | ReleaseContext, establishment_id: str, reason: str
    ) -> None:
        ids = list(
            await ctx.conn.scalars(
                select(visit_bookings.c.id)
                .join(visit_sessions, visit_sessions.c.id == visit_bookings.c.session_id)
                .where(
                    (visit_bookings.c.prisoner_id == ctx.prisoner_id)
                    & (visit_bookings.c.establishment_id == establishment_id)
                    & (visit_bookings.c.status == "booked")
                    & (visit_sessions.c.starts_at > self._clock.now())
                )
            )
        )
        for booking in ids:
            await self._cancel_in(ctx.conn, booking, reason, ctx.actor.account_id, tell=False)
        ctx.summary["visits_cancelled"] = len(ids)

        async def record() -> None:
            for booking in ids:
                await self._record(
                    Action.VISIT_CANCELLED,
                    ctx.actor,
                    establishment_id,
                    ctx.prisoner_id,
                    booking=booking,
                    reason=reason,
                )

        if ids:
            ctx.after_commit.append(record)

    async def _offers(self, conn: AsyncConnection, prisoner_id: str) -> list[Offer]:
        rows = (
            await conn.execute(
                select(visit_offers)
                .where(
                    (visit_offers.c.prisoner_id == prisoner_id) & visit_offers.c.taken_at.is_(None)
                )
                .order_by(visit_offers.c.created_at)
            )
        ).all()
        found = []
        now = self._clock.now()
        for row in rows:
            ids = json.loads(row.sessions)
            sessions = [
                s for s in await sessions_by_id(conn, ids) if s.free > 0 and s.starts_at > now
            ]
            booking = (await bookings(conn, self._visitors, visit_bookings.c.id == row.booking_id))[
                0
            ]
            found.append(Offer(booking, sessions))
        return found
