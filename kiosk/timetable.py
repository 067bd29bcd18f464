"""The prisoner's own week: the establishment's regime, the activities staff allocate to
them, their booked visits, and the times of their health appointments.

An allocation (work, education, gym) is a weekly slot for one prisoner, kept by staff
of the prisoner's establishment. Health appointments give only their times here, never
the service, clinician or reason: the timetable is something an officer may see over a
shoulder, and the device's Health screen is where the prisoner reads the rest.
Weekly times are minutes after local midnight in the establishment's zone, as regime
windows are, so they follow the wall clock across a change of the clocks.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, establishments
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity import Principal, Role
from core.permissions import Permission, acts_in, require_permission
from kiosk.timetable_tables import kiosk_allocations
from kiosk.visit_tables import visit_bookings, visit_sessions
from scheduling.tables import appointments, regime_windows
from scheduling.times import clock_minute, hhmm, local_instant, weekday, zone
from scheduling.types import ACTIVE_STATUSES

KINDS = ("work", "education", "gym")
MAX_ALLOCATIONS = 40


@dataclass(frozen=True)
class Allocation:
    id: str
    prisoner_id: str
    kind: str
    weekday: int
    start: str
    end: str


@dataclass(frozen=True)
class Entry:
    """One thing in the week. `kind` is `regime`, an allocation's kind, or `health`;
    `label` is a regime window's label and nothing else."""

    kind: str
    starts_at: datetime
    ends_at: datetime
    label: str | None = None


@dataclass(frozen=True)
class Week:
    starts_on: date
    timezone: str
    entries: list[Entry]


class Timetable:
    def __init__(self, db: Database, *, clock: Clock, audit: AuditSink) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    async def _prisoner_here(
        self, conn: AsyncConnection, actor: Principal, prisoner_id: object
    ) -> str:
        row = (
            await conn.execute(
                select(accounts.c.id, accounts.c.establishment_id, accounts.c.role).where(
                    accounts.c.id == prisoner_id
                )
            )
        ).first()
        if (
            row is None
            or row.role != Role.PRISONER.value
            or not acts_in(actor, row.establishment_id)
        ):
            raise ServiceError(Code.NOT_FOUND, "No such prisoner.")
        return str(row.establishment_id)

    async def allocate(
        self,
        actor: Principal,
        prisoner_id: object,
        *,
        kind: object,
        weekday_value: object,
        start: object,
        end: object,
    ) -> Allocation:
        require_permission(actor, Permission.ALLOCATIONS_MANAGE)
        if kind not in KINDS:
            raise ServiceError(Code.INVALID_REQUEST, "The kind is work, education or gym.")
        day = weekday(weekday_value)
        start_minute = clock_minute(start, "start")
        end_minute = clock_minute(end, "end")
        if end_minute <= start_minute:
            raise ServiceError(Code.INVALID_REQUEST, "The end must be after the start.")
        allocation_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            est = await self._prisoner_here(conn, actor, prisoner_id)
            existing = list(
                await conn.execute(
                    select(kiosk_allocations).where(kiosk_allocations.c.prisoner_id == prisoner_id)
                )
            )
            if len(existing) >= MAX_ALLOCATIONS:
                raise ServiceError(
                    Code.CONFLICT, "This prisoner has as many activities as allowed."
                )
            for other in existing:
                if (
                    other.weekday == day
                    and other.start_minute < end_minute
                    and start_minute < other.end_minute
                ):
                    raise ServiceError(
                        Code.CONFLICT, "This overlaps another activity of this prisoner."
                    )
            await conn.execute(
                insert(kiosk_allocations).values(
                    id=allocation_id,
                    establishment_id=est,
                    prisoner_id=prisoner_id,
                    kind=kind,
                    weekday=day,
                    start_minute=start_minute,
                    end_minute=end_minute,
                    created_at=self._clock.now(),
                    created_by=actor.account_id,
                )
            )
        await self._record(Action.ALLOCATION_ADDED, actor, est, str(prisoner_id), kind=kind)
        return Allocation(
            allocation_id, str(prisoner_id), str(kind), day, hhmm(start_minute), hhmm(end_minute)
        )

    async def allocations(self, actor: Principal, prisoner_id: object) -> list[Allocation]:
        require_permission(actor, Permission.ALLOCATIONS_MANAGE)
        async with self._db.connect() as conn:
            await self._prisoner_here(conn, actor, prisoner_id)
            return await self._allocations(conn, str(prisoner_id))

    async def _allocations(self, conn: AsyncConnection, prisoner_id: str) -> list[Allocation]:
        rows = await conn.execute(
            select(kiosk_allocations)
            .where(kiosk_allocations.c.prisoner_id == prisoner_id)
            .order_by(kiosk_allocations.c.weekday, kiosk_allocations.c.start_minute)
        )
        return [
            Allocation(
                r.id, r.prisoner_id, r.kind, r.weekday, hhmm(r.start_minute), hhmm(r.end_minute)
            )
            for r in rows
        ]

    async def remove(self, actor: Principal, allocation_id: object) -> None:
        require_permission(actor, Permission.ALLOCATIONS_MANAGE)
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(kiosk_allocations).where(kiosk_allocations.c.id == allocation_id)
                )
            ).first()
            if row is None or not acts_in(actor, row.establishment_id):
                raise ServiceError(Code.NOT_FOUND, "No such activity.")
            await conn.execute(delete(kiosk_allocations).where(kiosk_allocations.c.id == row.id))
        await self._record(
            Action.ALLOCATION_REMOVED, actor, row.establishment_id, row.prisoner_id, kind=row.kind
        )

    async def week(self, actor: Principal) -> Week:
        """The prisoner's own week, Monday to Sunday, in the establishment's zone."""
        require_permission(actor, Permission.TIMETABLE_READ)
        if actor.role != Role.PRISONER or actor.establishment_id is None:
            raise ServiceError(
                Code.FORBIDDEN, extra={"permission": Permission.TIMETABLE_READ.value}
            )
        async with self._db.connect() as conn:
            zone_name = await conn.scalar(
                select(establishments.c.timezone).where(
                    establishments.c.id == actor.establishment_id
                )
            )
            # ZoneInfo reads a file the first time: not on the event loop.
            tz = await asyncio.to_thread(zone, str(zone_name))
            today = self._clock.now().astimezone(tz).date()
            monday = today - timedelta(days=today.weekday())
            days = [monday + timedelta(days=i) for i in range(7)]
            start = local_instant(monday, 0, tz)
            end = local_instant(monday + timedelta(days=7), 0, tz)
            entries: list[Entry] = []
            for r in await conn.execute(
                select(regime_windows).where(
                    regime_windows.c.establishment_id == actor.establishment_id
                )
            ):
                day = days[r.weekday]
                entries.append(
                    Entry(
                        "regime",
                        local_instant(day, r.start_minute, tz),
                        local_instant(day, r.end_minute, tz),
                        r.label,
                    )
                )
            for r in await conn.execute(
                select(kiosk_allocations).where(kiosk_allocations.c.prisoner_id == actor.account_id)
            ):
                day = days[r.weekday]
                entries.append(
                    Entry(
                        r.kind,
                        local_instant(day, r.start_minute, tz),
                        local_instant(day, r.end_minute, tz),
                    )
                )
            for r in await conn.execute(
                select(appointments.c.starts_at, appointments.c.ends_at).where(
                    (appointments.c.prisoner_id == actor.account_id)
                    & appointments.c.status.in_([s.value for s in ACTIVE_STATUSES])
                    & (appointments.c.starts_at >= start)
                    & (appointments.c.starts_at < end)
                )
            ):
                entries.append(Entry("health", r.starts_at, r.ends_at))
            for r in await conn.execute(
                select(visit_sessions.c.starts_at, visit_sessions.c.ends_at)
                .join(visit_bookings, visit_bookings.c.session_id == visit_sessions.c.id)
                .where(
                    (visit_bookings.c.prisoner_id == actor.account_id)
                    & (visit_bookings.c.status == "booked")
                    & (visit_sessions.c.starts_at >= start)
                    & (visit_sessions.c.starts_at < end)
                )
            ):
                entries.append(Entry("visit", r.starts_at, r.ends_at))
        entries.sort(key=lambda e: (e.starts_at, e.ends_at, e.kind))
        return Week(monday, str(zone_name), entries)

    async def _record(
        self, action: Action, actor: Principal, establishment: str, subject: str, **details: object
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor.account_id,
                establishment=establishment,
                subject=subject,
                details=dict(details),
            )
        )
