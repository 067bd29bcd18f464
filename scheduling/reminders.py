"""Due reminders (24 hours and 15 minutes before) and the outbox they go through.

Scheduling only writes rows: each notice with its own `notifications.deliver`
job (`ServiceBase._notify`), which puts it in its inbox (scheduling/inbox.py)
and pushes it live (web/jobs.py). `pending_notifications` and `mark_delivered`
read and mark what is queued and not yet delivered, for tools and tests. A
dedupe key makes producing reminders safe to repeat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, select, update

from scheduling.base import ServiceBase
from scheduling.search import ACTIVE
from scheduling.tables import appointments, notifications

REMINDERS = (("reminder_24h", timedelta(hours=24)), ("reminder_15m", timedelta(minutes=15)))


@dataclass(frozen=True)
class Notification:
    id: str
    recipient_id: str
    kind: str
    appointment_id: str | None
    payload: dict[str, Any]
    due_at: datetime


class NotificationSource(Protocol):
    """What a deliverer needs from scheduling, besides `deliver_notice`."""

    async def produce_due_reminders(self) -> int: ...

    async def pending_notifications(self, limit: int = 100) -> list[Notification]: ...

    async def mark_delivered(self, ids: list[str]) -> None: ...


class Reminders(ServiceBase):
    async def produce_due_reminders(self) -> int:
        """Queue every reminder now due for both sides; returns how many were new."""
        now = self._clock.now()
        a = appointments.c
        made = 0
        async with self._db.begin() as conn:
            rows = list(
                await conn.execute(
                    select(a.id, a.prisoner_id, a.clinician_id, a.starts_at).where(
                        and_(
                            a.status.in_(ACTIVE),
                            a.starts_at > now,
                            a.starts_at <= now + REMINDERS[0][1],
                        )
                    )
                )
            )
            for r in rows:
                for kind, lead in REMINDERS:
                    due = r.starts_at - lead
                    if due > now:
                        continue
                    for person in (r.prisoner_id, r.clinician_id):
                        made += await self._notify(
                            conn,
                            person,
                            kind,
                            appointment_id=r.id,
                            due_at=due,
                            dedupe_key=f"{kind}:{r.id}:{person}",
                            starts_at=r.starts_at,
                        )
        return made

    async def pending_notifications(self, limit: int = 100) -> list[Notification]:
        n = notifications.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(notifications)
                .where(and_(n.delivered_at.is_(None), n.due_at <= self._clock.now()))
                .order_by(n.due_at, n.created_at, n.id)
                .limit(limit)
            )
            return [
                Notification(
                    r.id, r.recipient_id, r.kind, r.appointment_id, json.loads(r.payload), r.due_at
                )
                for r in rows
            ]

    async def mark_delivered(self, ids: list[str]) -> None:
        if not ids:
            return
        async with self._db.begin() as conn:
            await conn.execute(
                update(notifications)
                .where(and_(notifications.c.id.in_(ids), notifications.c.delivered_at.is_(None)))
                .values(delivered_at=self._clock.now())
            )
