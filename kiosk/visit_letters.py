"""Telling visitors, who have no account: each confirmation and cancellation is a
`visit_letters` row for each visitor on the booking. Where the visitor gave an email
address (and the service has a mail server) the `kiosk.visit_email` job sends it, built
when it is sent (the address opened then, never kept open); otherwise it waits in the
visits hall's pile, printed and posted, then marked printed. An email says the
establishment, the time and the reference: never the prisoner's name or number."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, establishments
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity import Principal
from core.jobs import insert_job
from core.mail import Mail
from kiosk.visit_tables import (
    visit_booking_visitors,
    visit_bookings,
    visit_letters,
    visit_sessions,
    visit_visitors,
)
from kiosk.visitors import Visitors, require_visits_staff

EMAIL_JOB = "kiosk.visit_email"
"""The job that emails one letter to a visitor (payload: the letter's id)."""


@dataclass(frozen=True)
class Letter:
    id: str
    event: str
    reference: str
    establishment: str
    starts_at: datetime
    ends_at: datetime
    visitor_name: str | None
    prison_number: str | None
    prisoner_name: str | None


class VisitLetters:
    def __init__(
        self,
        db: Database,
        *,
        visitors: Visitors,
        clock: Clock,
        audit: AuditSink,
        email: bool,
    ) -> None:
        self._db = db
        self._visitors = visitors
        self._clock = clock
        self._audit = audit
        self._email = email

    async def to_print(self, actor: Principal, establishment_id: str) -> list[Letter]:
        """The visits hall's pile: letters for visitors without an email, not yet printed."""
        async with self._db.connect() as conn:
            await require_visits_staff(conn, actor, establishment_id)
            ids = list(
                await conn.scalars(
                    select(visit_letters.c.id)
                    .where(
                        (visit_letters.c.establishment_id == establishment_id)
                        & (visit_letters.c.channel == "print")
                        & visit_letters.c.printed_at.is_(None)
                    )
                    .order_by(visit_letters.c.created_at, visit_letters.c.id)
                    .limit(500)
                )
            )
            found = await self._letter_rows(conn, ids)
        for prisoner in sorted({p for _, p in found}):
            await self._record(
                actor,
                establishment_id,
                prisoner,
                letters=[letter.id for letter, p in found if p == prisoner],
            )
        return [letter for letter, _ in found]

    async def mark_printed(
        self, actor: Principal, establishment_id: str, letter_ids: object
    ) -> int:
        if not isinstance(letter_ids, list) or not all(isinstance(i, str) for i in letter_ids):
            raise ServiceError(Code.INVALID_REQUEST, "letter_ids is a list of letter ids.")
        async with self._db.begin() as conn:
            await require_visits_staff(conn, actor, establishment_id)
            done = await conn.execute(
                update(visit_letters)
                .where(
                    visit_letters.c.id.in_(letter_ids[:500])
                    & (visit_letters.c.establishment_id == establishment_id)
                    & (visit_letters.c.channel == "print")
                    & visit_letters.c.printed_at.is_(None)
                )
                .values(printed_at=self._clock.now())
            )
        return int(done.rowcount or 0)

    # ----------------------------------------------------------- the letters

    async def email(self, letter_id: str) -> Mail | None:
        """The email of one letter, built now (None if it has no address or was sent)."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        visit_letters.c.sent_at,
                        visit_visitors.c.email_enc,
                        visit_visitors.c.prisoner_id,
                        visit_visitors.c.id.label("vid"),
                    )
                    .join(visit_visitors, visit_visitors.c.id == visit_letters.c.visitor_id)
                    .where(visit_letters.c.id == letter_id)
                )
            ).first()
            if row is None or row.sent_at is not None or row.email_enc is None:
                return None
            found = await self._letter_rows(conn, [letter_id])
            address = await self._visitors.open_email(conn, row.email_enc, row.prisoner_id, row.vid)
        if not found or address is None:
            return None
        letter = found[0][0]
        when = letter.starts_at.strftime("%d/%m/%Y %H:%M UTC")
        if letter.event == "confirmed":
            en = f"Your visit to {letter.establishment} on {when} is booked."
            cy = f"Mae eich ymweliad â {letter.establishment} ar {when} wedi'i drefnu."
        else:
            en = f"Your visit to {letter.establishment} on {when} is cancelled."
            cy = f"Mae eich ymweliad â {letter.establishment} ar {when} wedi'i ganslo."
        return Mail(
            to=address,
            subject=f"Visit {letter.reference} / Ymweliad {letter.reference}",
            text=(
                f"{en}\nReference: {letter.reference}\n"
                "Bring photo ID. Arrive 30 minutes before the start.\n\n"
                f"{cy}\nCyfeirnod: {letter.reference}\n"
                "Dewch â dogfen adnabod â llun. Cyrhaeddwch 30 munud cyn y dechrau.\n"
            ),
            message_id=f"<visit-letter.{letter_id}@throughcare.invalid>",
        )

    async def sent(self, letter_id: str) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                update(visit_letters)
                .where((visit_letters.c.id == letter_id) & visit_letters.c.sent_at.is_(None))
                .values(sent_at=self._clock.now())
            )

    # ------------------------------------------------- lockdown and movements

    async def write(
        self, conn: AsyncConnection, establishment_id: str, booking_id: str, event: str
    ) -> None:
        now = self._clock.now()
        rows = (
            await conn.execute(
                select(visit_visitors.c.id, visit_visitors.c.email_enc)
                .join(
                    visit_booking_visitors,
                    visit_booking_visitors.c.visitor_id == visit_visitors.c.id,
                )
                .where(visit_booking_visitors.c.booking_id == booking_id)
                .order_by(visit_visitors.c.id)
            )
        ).all()
        for row in rows:
            channel = "email" if self._email and row.email_enc is not None else "print"
            letter_id = str(uuid.uuid4())
            await conn.execute(
                insert(visit_letters).values(
                    id=letter_id,
                    establishment_id=establishment_id,
                    booking_id=booking_id,
                    visitor_id=row.id,
                    event=event,
                    channel=channel,
                    created_at=now,
                )
            )
            if channel == "email":
                await insert_job(
                    conn, EMAIL_JOB, {"letter": letter_id}, due_at=now, now=now, key=letter_id
                )

    async def _letter_rows(
        self, conn: AsyncConnection, ids: Sequence[str]
    ) -> list[tuple[Letter, str]]:
        if not ids:
            return []
        rows = (
            await conn.execute(
                select(
                    visit_letters.c.id,
                    visit_letters.c.event,
                    visit_letters.c.visitor_id,
                    visit_bookings.c.reference,
                    visit_bookings.c.prisoner_id,
                    visit_sessions.c.starts_at,
                    visit_sessions.c.ends_at,
                    establishments.c.name.label("establishment"),
                    accounts.c.display_name_enc,
                    accounts.c.prison_number_enc,
                )
                .join(visit_bookings, visit_bookings.c.id == visit_letters.c.booking_id)
                .join(visit_sessions, visit_sessions.c.id == visit_bookings.c.session_id)
                .join(establishments, establishments.c.id == visit_letters.c.establishment_id)
                .join(accounts, accounts.c.id == visit_bookings.c.prisoner_id)
                .where(visit_letters.c.id.in_(list(ids)))
                .order_by(visit_letters.c.created_at, visit_letters.c.id)
            )
        ).all()
        vrows = (
            await conn.execute(
                select(visit_visitors).where(visit_visitors.c.id.in_([r.visitor_id for r in rows]))
            )
        ).all()
        people = {v.id: v for v in await self._visitors.present(conn, [r._mapping for r in vrows])}
        found = []
        for r in rows:
            m: Mapping[Any, Any] = r._mapping
            visitor = people.get(r.visitor_id)
            found.append(
                (
                    Letter(
                        id=r.id,
                        event=r.event,
                        reference=r.reference,
                        establishment=r.establishment,
                        starts_at=r.starts_at,
                        ends_at=r.ends_at,
                        visitor_name=visitor.name if visitor else None,
                        prison_number=self._visitors.open_account(
                            {**m, "prisoner_id": r.prisoner_id}, "prison_number"
                        ),
                        prisoner_name=self._visitors.open_account(
                            {**m, "prisoner_id": r.prisoner_id}, "display_name"
                        ),
                    ),
                    str(r.prisoner_id),
                )
            )
        return found

    async def _record(
        self, actor: Principal, establishment: str, subject: str, **details: Any
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=Action.VISITORS_READ,
                actor=actor.account_id,
                establishment=establishment,
                subject=subject,
                details=details,
            )
        )
