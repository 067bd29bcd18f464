"""Transfer: what a prisoner's pending care does when they move establishment.

Each pending consult moves with the prisoner as a booking at the new
establishment, at the same time, where that establishment has a service with the
same code and a clinician there can take the time: the consult's own clinician
if they serve both establishments, else another who offers the service then.
Only a consult that cannot move is cancelled (prison-caused, "transfer") and
becomes a request in the new establishment's triage queue. Open requests and
consents move with the prisoner. The prisoner is told, consult by consult, what
happened (`transfer_moved`, or the cancellation with the reason "transfer"), and
each clinician who loses a patient is told too. The prisoner leaves their cell
for one of the new establishment's (or for none, until its officers place them),
through `core.people.relocate`, all in one transaction.

Release is scheduling/release.py; the hand-over it makes, scheduling/handover.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.access.serving import serves
from core.db.schema import accounts, establishments
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.people.moves import destination_cell, relocate
from core.people.types import MoveKind
from core.permissions import Permission, require_permission
from scheduling.base import REQUEST_TEXT, new_id, require_visible, service_from
from scheduling.handover import Handovers
from scheduling.locks import lock_people
from scheduling.release import Fate, Release, account_locale
from scheduling.release_steps import TransferContext
from scheduling.tables import (
    appointments,
    availability,
    consents,
    health_requests,
    movements,
    services,
)
from scheduling.triage import OPEN
from scheduling.types import EstablishmentView, Status


@dataclass(frozen=True)
class Transfer:
    moved: int
    """Consults that go ahead at the new establishment."""
    requested: int
    """Consults that could not, now requests in its triage queue."""
    locale: str = "en"
    """The prisoner's language, for their letter."""
    appointments: tuple[Fate, ...] = ()
    """What became of each pending consult (`moved` or `reoffered`)."""
    steps: Mapping[str, Any] = field(default_factory=dict)
    """What each registered step put in its summary (the kiosk's balances, say)."""


class Movements(Release, Handovers):
    async def transfer_destinations(self, actor: Principal) -> list[EstablishmentView]:
        """Every establishment a prisoner may be transferred to: all but the actor's own."""
        require_permission(actor, Permission.PRISONERS_MOVE)
        e = establishments.c
        query = select(e.id, e.code, e.name, e.timezone).order_by(e.name, e.id)
        if actor.establishment_id is not None:
            query = query.where(e.id != actor.establishment_id)
        async with self._db.connect() as conn:
            rows = await conn.execute(query)
            return [EstablishmentView(r.id, r.code, r.name, r.timezone) for r in rows]

    async def transfer(
        self, actor: Principal, prisoner_id: str, to_establishment: str, to_cell: object = None
    ) -> Transfer:
        """How many pending consults moved with the prisoner, and how many went to triage.

        `to_cell` (a cell of the new establishment, by name or id) is where the
        prisoner goes; without it they are in no cell until its officers place them.
        """
        require_permission(actor, Permission.PRISONERS_MOVE)
        now = self._clock.now()
        async with self._db.begin() as conn:
            prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
            source = prisoner.establishment_id
            require_visible(actor, source, "No such prisoner.")
            await self._zone_name(conn, to_establishment)
            if to_establishment == source:
                raise ServiceError(
                    Code.INVALID_REQUEST,
                    "The prisoner is already there.",
                    extra={"reason": "already_there"},
                )
            if not prisoner.active:
                raise ServiceError(
                    Code.CONFLICT, "This prisoner has been released.", extra={"reason": "released"}
                )
            cell = (
                None if to_cell is None else await destination_cell(conn, to_establishment, to_cell)
            )
            pending = await self._active_of(conn, prisoner_id=prisoner.id)
            moved = 0
            fates: list[Fate] = []
            for m in pending:
                taken_by = await self._move_consult(conn, m, prisoner, to_establishment)
                fates.append(Fate(m["id"], m["starts_at"], "moved" if taken_by else "reoffered"))
                if taken_by is not None:
                    moved += 1
                    await self._notify(
                        conn,
                        prisoner.id,
                        "transfer_moved",
                        appointment_id=m["id"],
                        starts_at=m["starts_at"],
                    )
                    if taken_by != m["clinician_id"]:
                        for person, kind in (
                            (m["clinician_id"], "patient_transferred"),
                            (taken_by, "booked"),
                        ):
                            await self._notify(
                                conn,
                                person,
                                kind,
                                appointment_id=m["id"],
                                starts_at=m["starts_at"],
                            )
                    continue
                await self._to_triage(conn, m, prisoner.id, to_establishment, now)
            await conn.execute(
                update(health_requests)
                .where(
                    and_(
                        health_requests.c.prisoner_id == prisoner.id,
                        health_requests.c.establishment_id == source,
                        health_requests.c.status.in_(OPEN),
                    )
                )
                # Services are per establishment: the new one triages again.
                .values(establishment_id=to_establishment, status="received", service_id=None)
            )
            await conn.execute(
                update(consents)
                .where(consents.c.prisoner_id == prisoner.id)
                .values(establishment_id=to_establishment)
            )
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == prisoner.id)
                .values(establishment_id=to_establishment)
            )
            left = await relocate(
                conn,
                prisoner_id=prisoner.id,
                kind=MoveKind.TRANSFER,
                from_establishment=source,
                to_establishment=to_establishment,
                to_cell=cell,
                now=now,
                actor=actor.account_id,
            )
            ctx = TransferContext(conn, actor, prisoner.id, source, to_establishment, now)
            for name, step in self.transfer_steps:
                await step(ctx)
                ctx.summary.setdefault(name, True)
            await self._notify(conn, prisoner.id, "transferred")
            locale = await account_locale(conn, prisoner.id)
            await conn.execute(
                insert(movements).values(
                    id=new_id(),
                    prisoner_id=prisoner.id,
                    kind="transfer",
                    from_establishment_id=source,
                    to_establishment_id=to_establishment,
                    at=now,
                    actor=actor.account_id,
                )
            )
        await self._record(
            Action.TRANSFERRED,
            actor,
            establishment=source,
            subject=prisoner.id,
            to=to_establishment,
            moved=moved,
            reoffered=len(pending) - moved,
            from_cell=left.name if left else None,
            cell=cell.name if cell else None,
            steps=list(self.transfer_steps.names),
            **ctx.summary,
        )
        for then in ctx.after_commit:
            await then()
        return Transfer(
            moved=moved,
            requested=len(pending) - moved,
            locale=locale,
            appointments=tuple(fates),
            steps={name: ctx.summary[name] for name, _ in self.transfer_steps},
        )

    async def _move_consult(
        self, conn: AsyncConnection, m: Any, prisoner: Any, to_establishment: str
    ) -> str | None:
        """Book the consult at the new establishment, at its time, with its own
        clinician if they serve there, else with another who can take it; returns
        who took it, or None when nobody can (then it goes to triage)."""
        code = await conn.scalar(select(services.c.code).where(services.c.id == m["service_id"]))
        found = (
            await conn.execute(
                select(services).where(
                    and_(services.c.establishment_id == to_establishment, services.c.code == code)
                )
            )
        ).first()
        if found is None:
            return None
        service = service_from(found._mapping)
        start = m["starts_at"]
        end = start + timedelta(minutes=service.minutes)
        offering = await conn.execute(
            select(availability.c.clinician_id)
            .where(availability.c.service_id == service.id)
            .distinct()
        )
        others = sorted(r.clinician_id for r in offering if r.clinician_id != m["clinician_id"])
        for clinician_id in [m["clinician_id"], *others]:
            if not await serves(conn, clinician_id, to_establishment):
                continue
            if m["same_sex"]:
                sex = await conn.scalar(select(accounts.c.sex).where(accounts.c.id == clinician_id))
                if prisoner.sex is None or sex != prisoner.sex:
                    continue
            try:
                await self._check_bookable(
                    conn,
                    service,
                    clinician_id,
                    start,
                    end,
                    escorted=m["in_person"] and service.escort_if_in_person,
                )
                await lock_people(conn, clinician_id=clinician_id, prisoner_id=prisoner.id)
                await self._check_free(
                    conn, service, clinician_id, prisoner.id, start, end, exclude=m["id"]
                )
            except ServiceError:
                continue
            await conn.execute(
                update(appointments)
                .where(and_(appointments.c.id == m["id"], appointments.c.status == m["status"]))
                .values(
                    establishment_id=to_establishment,
                    service_id=service.id,
                    clinician_id=clinician_id,
                    ends_at=end,
                    buffer_minutes=service.buffer_minutes,
                    updated_at=self._clock.now(),
                )
            )
            return str(clinician_id)
        return None

    async def _to_triage(
        self, conn: AsyncConnection, m: Any, prisoner_id: str, to_establishment: str, now: datetime
    ) -> None:
        """Cancel a consult that cannot move and ask the new establishment's healthcare
        team to offer it again. The prisoner's cancellation notice carries the reason
        ("transfer"), which their page words as "you moved establishment; the
        healthcare team there will offer you a new time"."""
        await self._apply(conn, m["id"], Status.CANCELLED, None, "transfer", None)
        code = await conn.scalar(select(services.c.code).where(services.c.id == m["service_id"]))
        request_id = new_id()
        await conn.execute(
            insert(health_requests).values(
                id=request_id,
                prisoner_id=prisoner_id,
                establishment_id=to_establishment,
                category="other",
                text_enc=await self._seal(
                    conn,
                    prisoner_id,
                    f"Transferred with a booked {code} consult; please re-offer.",
                    request_id,
                    REQUEST_TEXT,
                ),
                status="received",
                created_at=now,
            )
        )
        await self._notify(
            conn,
            m["clinician_id"],
            "patient_transferred",
            appointment_id=m["id"],
            starts_at=m["starts_at"],
        )
