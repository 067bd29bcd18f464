"""Each person's inbox, and taking a rebooking offer from it.

A notice is a `notifications` row: queued by `_notify` with a delivery job in
the same transaction, in the inbox once that job has set `delivered_at`, read
once `read_at` is set. It holds a kind, times, codes and ids, never words: the
reader's page renders it in the reader's language when it is read, so no
health text sits in plain text in the inbox.

What a reader is given of a notice is filtered by role here, not in the page:
an officer gets times only (`OFFICER_FIELDS`); a prisoner never gets a
clinician's or patient's own reason code (`_notify`'s callers only store a
prison-caused one).

Taking an offer is `rebook` (scheduling/lockdown.py) of one of the offered
times, race-safe in two steps: a conditional update claims the offer (one of
two simultaneous takers wins, the other is told it was taken), then `book`
books the chosen time under the people's booking locks as any booking is. If
that booking is refused (the time went meanwhile), the claim is given back, so
a refused take changes nothing. The other offered times were never held, so
closing the offer releases them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import Code, ServiceError
from core.identity import Principal, Role
from scheduling.lockdown import Lockdowns
from scheduling.tables import notifications, rebooking_offers
from scheduling.times import instant
from scheduling.types import Appointment

INBOX_LIMIT = 50
# What an officer may see of a notice: when, never what for.
OFFICER_FIELDS = frozenset({"starts_at", "cancelled_starts_at", "wing", "cell"})
FIELDS = frozenset(
    {
        "starts_at",
        "cancelled_starts_at",
        "cause",
        "reason",
        "offers",
        "offer",
        "wing",
        "cell",
        # A kiosk application's receipt (kiosk/applications.py): never its words.
        "receipt",
        # The kiosk's cancelled orders on a transfer (kiosk/leaving.py): a count and pence.
        "orders",
        "refunded_pence",
    }
)


_DELIVER = (
    update(notifications)
    .where(and_(notifications.c.id == bindparam("p_id"), notifications.c.delivered_at.is_(None)))
    .values(delivered_at=bindparam("p_now"))
    .returning(notifications.c.recipient_id, notifications.c.kind)
)

_DELIVER_MANY = (
    update(notifications)
    .where(
        and_(
            notifications.c.id.in_(bindparam("p_ids", expanding=True)),
            notifications.c.delivered_at.is_(None),
        )
    )
    .values(delivered_at=bindparam("p_now"))
    .returning(notifications.c.id, notifications.c.recipient_id, notifications.c.kind)
)


@dataclass(frozen=True)
class Notice:
    id: str
    kind: str
    created_at: datetime
    read: bool
    fields: dict[str, Any]


@dataclass(frozen=True)
class RebookingOffer:
    id: str
    appointment_id: str
    times: list[datetime]
    expires_at: datetime
    expired: bool
    taken: bool
    booked_appointment_id: str | None


def _visible(role: Role, payload: dict[str, Any]) -> dict[str, Any]:
    allowed = OFFICER_FIELDS if role == Role.OFFICER else FIELDS
    return {k: v for k, v in payload.items() if k in allowed and v is not None}


class Inbox(Lockdowns):
    # ------------------------------------------------------------ delivery

    async def deliver_notice(
        self, conn: AsyncConnection, notification_id: str
    ) -> tuple[str, str] | None:
        """Put a queued notice in its inbox, in the caller's (the job's) transaction.

        Returns the recipient to tell live and the notice's kind, or None if it
        was already delivered (a retried job): the inbox never gets a notice twice.
        """
        # One statement, not a read then a write, built once: the burst of reminders
        # due at one instant is bound by round trips to the store (bench/jobs.py).
        row = (
            await conn.execute(_DELIVER, {"p_id": notification_id, "p_now": self._clock.now()})
        ).first()
        if row is None:
            return None
        return str(row.recipient_id), str(row.kind)

    async def deliver_notices(
        self, conn: AsyncConnection, notification_ids: list[str]
    ) -> list[tuple[str, str, str]]:
        """`deliver_notice` for many notices in one statement (a batch of delivery
        jobs due together): (notice, recipient, kind) of each one newly in its inbox,
        in the order asked; one already delivered is left out."""
        if not notification_ids:
            return []
        rows = await conn.execute(
            _DELIVER_MANY, {"p_ids": notification_ids, "p_now": self._clock.now()}
        )
        found = {str(r.id): (str(r.id), str(r.recipient_id), str(r.kind)) for r in rows}
        return [found[i] for i in dict.fromkeys(notification_ids) if i in found]

    # ------------------------------------------------------------- reading

    async def inbox(self, actor: Principal) -> tuple[int, list[Notice]]:
        """The reader's unread count and latest notices, newest first."""
        n = notifications.c
        mine = and_(n.recipient_id == actor.account_id, n.delivered_at.is_not(None))
        async with self._db.connect() as conn:
            unread = (
                await conn.execute(
                    select(func.count())
                    .select_from(notifications)
                    .where(and_(mine, n.read_at.is_(None)))
                )
            ).scalar_one()
            rows = await conn.execute(
                select(n.id, n.kind, n.payload, n.created_at, n.read_at)
                .where(mine)
                .order_by(n.delivered_at.desc(), n.id.desc())
                .limit(INBOX_LIMIT)
            )
            notices = [
                Notice(
                    r.id,
                    r.kind,
                    r.created_at,
                    r.read_at is not None,
                    _visible(actor.role, json.loads(r.payload)),
                )
                for r in rows
            ]
        return int(unread), notices

    async def mark_read(self, actor: Principal, notice_id: object) -> None:
        """Record that the reader has read one of their notices (again is a no-op)."""
        if not isinstance(notice_id, str) or len(notice_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such notice.")
        n = notifications.c
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(n.read_at).where(
                        and_(
                            n.id == notice_id,
                            n.recipient_id == actor.account_id,
                            n.delivered_at.is_not(None),
                        )
                    )
                )
            ).first()
            if row is None:
                # Someone else's notice answers as a missing one: no existence oracle.
                raise ServiceError(Code.NOT_FOUND, "No such notice.")
            if row.read_at is None:
                await conn.execute(
                    update(notifications)
                    .where(and_(n.id == notice_id, n.read_at.is_(None)))
                    .values(read_at=self._clock.now())
                )

    # --------------------------------------------------------------- offers

    async def _offer_row(self, conn: AsyncConnection, actor: Principal, offer_id: object) -> Any:
        if not isinstance(offer_id, str) or len(offer_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such offer.")
        row = (
            await conn.execute(select(rebooking_offers).where(rebooking_offers.c.id == offer_id))
        ).first()
        if row is None or row.prisoner_id != actor.account_id:
            raise ServiceError(Code.NOT_FOUND, "No such offer.")
        return row

    def _offer(self, row: Any) -> RebookingOffer:
        return RebookingOffer(
            id=row.id,
            appointment_id=row.appointment_id,
            times=[datetime.fromisoformat(t) for t in json.loads(row.times)],
            expires_at=row.expires_at,
            expired=row.taken_at is None and row.expires_at <= self._clock.now(),
            taken=row.taken_at is not None,
            booked_appointment_id=row.booked_appointment_id,
        )

    async def rebooking_offer(self, actor: Principal, offer_id: object) -> RebookingOffer:
        """The prisoner's own offer; anyone else's answers as a missing one."""
        async with self._db.connect() as conn:
            return self._offer(await self._offer_row(conn, actor, offer_id))

    async def take_offer(
        self, actor: Principal, offer_id: object, starts_at: object
    ) -> Appointment:
        """Book one of the offered times; the others are released with the offer."""
        if actor.role != Role.PRISONER:
            raise ServiceError(Code.NOT_FOUND, "No such offer.")
        start = instant(starts_at, "start")
        async with self._db.connect() as conn:
            row = await self._offer_row(conn, actor, offer_id)
        offer = self._offer(row)
        if offer.taken:
            raise ServiceError(Code.CONFLICT, "This offer has already been taken.")
        if offer.expired:
            raise ServiceError(Code.CONFLICT, "This offer has expired.")
        if start not in offer.times:
            raise ServiceError(Code.INVALID_REQUEST, "That time was not offered.")
        # `rebook` claims the offer race-safely and gives the claim back if the
        # booking is refused.
        return await self.rebook(actor, row.appointment_id, start)
