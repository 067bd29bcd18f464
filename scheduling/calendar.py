"""A clinician's calendar as an iCalendar feed behind a revocable secret URL.

The feed carries times and the service only: never a patient's name or prison
number, because a clinician's calendar is often synced to places we do not
control. The token is stored only as its SHA-256.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from icalendar import Calendar, Event
from sqlalchemy import and_, insert, select, update

from core.errors import Code, ServiceError
from core.identity import Principal
from core.identity.tokens import hash_token
from core.permissions import Permission, require_permission
from scheduling.base import ServiceBase, new_id
from scheduling.tables import appointments, calendar_tokens, services
from scheduling.types import Status

PAST = timedelta(days=30)
AHEAD = timedelta(days=120)
SHOWN = (Status.BOOKED, Status.CHECKED_IN, Status.IN_PROGRESS, Status.COMPLETED)


@dataclass(frozen=True)
class CalendarToken:
    id: str
    token: str
    created_at: datetime


class CalendarFeed(ServiceBase):
    async def issue_calendar_token(self, actor: Principal) -> CalendarToken:
        require_permission(actor, Permission.CALENDAR_MANAGE)
        token = "tcc_" + secrets.token_urlsafe(32)
        token_id = new_id()
        now = self._clock.now()
        async with self._db.begin() as conn:
            await conn.execute(
                insert(calendar_tokens).values(
                    id=token_id,
                    token_hash=hash_token(token),
                    clinician_id=actor.account_id,
                    created_at=now,
                )
            )
        return CalendarToken(token_id, token, now)

    async def calendar_tokens(self, actor: Principal) -> list[CalendarToken]:
        """The caller's links still in force; the secret itself is never kept, so `token` is ""."""
        require_permission(actor, Permission.CALENDAR_MANAGE)
        c = calendar_tokens.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(c.id, c.created_at)
                .where(and_(c.clinician_id == actor.account_id, c.revoked_at.is_(None)))
                .order_by(c.created_at, c.id)
            )
            return [CalendarToken(r.id, "", r.created_at) for r in rows]

    async def revoke_calendar_token(self, actor: Principal, token_id: str) -> None:
        require_permission(actor, Permission.CALENDAR_MANAGE)
        async with self._db.begin() as conn:
            done = await conn.execute(
                update(calendar_tokens)
                .where(
                    and_(
                        calendar_tokens.c.id == token_id,
                        calendar_tokens.c.clinician_id == actor.account_id,
                        calendar_tokens.c.revoked_at.is_(None),
                    )
                )
                .values(revoked_at=self._clock.now())
            )
        if done.rowcount != 1:
            raise ServiceError(Code.NOT_FOUND, "No such calendar link.")

    async def calendar_feed(self, token: object) -> bytes:
        if not isinstance(token, str) or not token.startswith("tcc_") or len(token) > 80:
            raise ServiceError(Code.NOT_FOUND)
        now = self._clock.now()
        a = appointments.c
        async with self._db.connect() as conn:
            clinician = await conn.scalar(
                select(calendar_tokens.c.clinician_id).where(
                    and_(
                        calendar_tokens.c.token_hash == hash_token(token),
                        calendar_tokens.c.revoked_at.is_(None),
                    )
                )
            )
            if clinician is None:
                raise ServiceError(Code.NOT_FOUND)
            rows = list(
                await conn.execute(
                    select(a.id, a.starts_at, a.ends_at, a.status, services.c.name)
                    .join(services, services.c.id == a.service_id)
                    .where(
                        and_(
                            a.clinician_id == clinician,
                            a.status.in_([s.value for s in SHOWN]),
                            a.starts_at >= now - PAST,
                            a.starts_at < now + AHEAD,
                        )
                    )
                    .order_by(a.starts_at)
                )
            )
        return await asyncio.to_thread(_render, rows, now)


def _render(rows: list[Any], now: datetime) -> bytes:
    """Build the iCalendar text (icalendar may read zone files: kept off the event loop)."""
    cal = Calendar()
    cal.add("prodid", "-//Throughcare//consults//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Throughcare consults")
    for r in rows:
        event = Event()
        event.add("uid", f"{r.id}@throughcare")
        event.add("dtstamp", now)
        event.add("dtstart", r.starts_at)
        event.add("dtend", r.ends_at)
        event.add("summary", f"Video consult: {r.name}")
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    return bytes(cal.to_ical())
