"""What the visits read from the store: sessions with their places taken, bookings with
their visitors opened, an establishment's allowances and zone, a prisoner's visits in a
month. Shared by `kiosk.visits` (booking) and `kiosk.visit_letters` (telling visitors)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts, cells, establishments, prisoner_cells, wings
from core.people.types import IncentiveLevel
from kiosk.visit_tables import (
    visit_booking_visitors,
    visit_bookings,
    visit_sessions,
    visit_settings,
    visit_visitors,
)
from kiosk.visitors import Visitor, Visitors

DEFAULT_ALLOWANCES = {
    IncentiveLevel.BASIC: 2,
    IncentiveLevel.STANDARD: 3,
    IncentiveLevel.ENHANCED: 4,
}


@dataclass(frozen=True)
class Session:
    id: str
    establishment_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.booked)


@dataclass(frozen=True)
class Booking:
    id: str
    reference: str
    establishment_id: str
    session_id: str
    prisoner_id: str
    status: str
    cancel_reason: str | None
    starts_at: datetime
    ends_at: datetime
    booked_at: datetime
    visitors: list[Visitor]
    prison_number: str | None = None
    prisoner_name: str | None = None
    cell: str | None = None
    wing: str | None = None


def month_of(when: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar month holding `when`, as UTC instants [start, end)."""
    local = when.astimezone(tz)
    first = date(local.year, local.month, 1)
    following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
    return (
        datetime.combine(first, time(), tzinfo=tz).astimezone(UTC),
        datetime.combine(following, time(), tzinfo=tz).astimezone(UTC),
    )


async def bookings(
    conn: AsyncConnection, visitors: Visitors, where: Any, *, staff: bool = False
) -> list[Booking]:
    """Bookings matching `where`, soonest first, with their visitors opened (and, for
    staff, the prisoner's name, number and cell)."""
    rows = (
        await conn.execute(
            select(
                visit_bookings,
                visit_sessions.c.starts_at,
                visit_sessions.c.ends_at,
                accounts.c.display_name_enc,
                accounts.c.prison_number_enc,
                cells.c.name.label("cell"),
                wings.c.name.label("wing"),
            )
            .join(visit_sessions, visit_sessions.c.id == visit_bookings.c.session_id)
            .join(accounts, accounts.c.id == visit_bookings.c.prisoner_id)
            .outerjoin(prisoner_cells, prisoner_cells.c.prisoner_id == visit_bookings.c.prisoner_id)
            .outerjoin(cells, cells.c.id == prisoner_cells.c.cell_id)
            .outerjoin(wings, wings.c.id == cells.c.wing_id)
            .where(where)
            .order_by(visit_sessions.c.starts_at, visit_bookings.c.reference)
            .limit(1000)
        )
    ).all()
    ids = [r.id for r in rows]
    who: dict[str, list[Visitor]] = {i: [] for i in ids}
    if ids:
        vrows = (
            await conn.execute(
                select(visit_visitors, visit_booking_visitors.c.booking_id)
                .join(
                    visit_booking_visitors,
                    visit_booking_visitors.c.visitor_id == visit_visitors.c.id,
                )
                .where(visit_booking_visitors.c.booking_id.in_(ids))
                .order_by(visit_visitors.c.requested_at, visit_visitors.c.id)
            )
        ).all()
        opened = await visitors.present(conn, [r._mapping for r in vrows])
        for r, v in zip(vrows, opened, strict=True):
            who[r.booking_id].append(v)
    found = []
    for r in rows:
        m: Mapping[Any, Any] = r._mapping
        found.append(
            Booking(
                id=r.id,
                reference=r.reference,
                establishment_id=r.establishment_id,
                session_id=r.session_id,
                prisoner_id=r.prisoner_id,
                status=r.status,
                cancel_reason=r.cancel_reason,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                booked_at=r.booked_at,
                visitors=who[r.id],
                prison_number=visitors.open_account(m, "prison_number") if staff else None,
                prisoner_name=visitors.open_account(m, "display_name") if staff else None,
                cell=r.cell if staff else None,
                wing=r.wing if staff else None,
            )
        )
    return found


async def zone_of(conn: AsyncConnection, establishment_id: str) -> ZoneInfo:
    name = await conn.scalar(
        select(establishments.c.timezone).where(establishments.c.id == establishment_id)
    )
    return ZoneInfo(str(name or "Europe/London"))


async def allowances_of(conn: AsyncConnection, establishment_id: str) -> dict[IncentiveLevel, int]:
    row = (
        await conn.execute(
            select(visit_settings).where(visit_settings.c.establishment_id == establishment_id)
        )
    ).first()
    if row is None:
        return dict(DEFAULT_ALLOWANCES)
    return {
        IncentiveLevel.BASIC: int(row.allowance_basic),
        IncentiveLevel.STANDARD: int(row.allowance_standard),
        IncentiveLevel.ENHANCED: int(row.allowance_enhanced),
    }


async def used_in(conn: AsyncConnection, prisoner_id: str, start: datetime, end: datetime) -> int:
    found = await conn.scalar(
        select(func.count())
        .select_from(visit_bookings)
        .join(visit_sessions, visit_sessions.c.id == visit_bookings.c.session_id)
        .where(
            and_(
                visit_bookings.c.prisoner_id == prisoner_id,
                visit_bookings.c.status == "booked",
                visit_sessions.c.starts_at >= start,
                visit_sessions.c.starts_at < end,
            )
        )
    )
    return int(found or 0)


def _session_query() -> Any:
    booked = (
        select(visit_bookings.c.session_id, func.count().label("booked"))
        .where(visit_bookings.c.status == "booked")
        .group_by(visit_bookings.c.session_id)
        .subquery()
    )
    return select(visit_sessions, func.coalesce(booked.c.booked, 0).label("booked")).outerjoin(
        booked, booked.c.session_id == visit_sessions.c.id
    )


def _session(r: Any) -> Session:
    return Session(r.id, r.establishment_id, r.starts_at, r.ends_at, int(r.capacity), int(r.booked))


async def sessions_between(
    conn: AsyncConnection, establishment_id: str, start: datetime, end: datetime
) -> list[Session]:
    rows = await conn.execute(
        _session_query()
        .where(
            (visit_sessions.c.establishment_id == establishment_id)
            & (visit_sessions.c.starts_at >= start)
            & (visit_sessions.c.starts_at < end)
        )
        .order_by(visit_sessions.c.starts_at, visit_sessions.c.id)
        .limit(500)
    )
    return [_session(r) for r in rows]


async def sessions_by_id(conn: AsyncConnection, ids: list[str]) -> list[Session]:
    if not ids:
        return []
    rows = await conn.execute(
        _session_query()
        .where(visit_sessions.c.id.in_(ids))
        .order_by(visit_sessions.c.starts_at, visit_sessions.c.id)
    )
    return [_session(r) for r in rows]
