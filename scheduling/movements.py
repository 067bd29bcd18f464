"""Transfer and release: what a prisoner's pending care does when they move.

On transfer, pending consults are cancelled as prison-caused and re-offered at
the new establishment as requests in its triage queue, open requests and
consents move with the prisoner, and each clinician is told. The prisoner
leaves their cell for one of the new establishment's (or for none, until its
officers place them), through `core.people.relocate`, in the same transaction.
On release, pending consults and requests are closed with the release reason,
the prisoner leaves their cell, and is listed for hand-over to community
services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, select, update

from core.db.schema import accounts, sessions
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.identity.types import EndReason, SessionsEnded
from core.people.moves import destination_cell, relocate
from core.people.types import MoveKind
from core.permissions import Permission, require_permission
from scheduling.base import (
    REQUEST_TEXT,
    new_id,
    require_establishment,
    require_visible,
)
from scheduling.consent import Consents
from scheduling.lockdown import Lockdowns
from scheduling.tables import consents, health_requests, movements, services
from scheduling.triage import OPEN
from scheduling.types import Scope, Status


@dataclass(frozen=True)
class Handover:
    prisoner_id: str
    released_at: datetime
    community_sharing: bool


class Movements(Lockdowns, Consents):
    async def transfer(
        self, actor: Principal, prisoner_id: str, to_establishment: str, to_cell: object = None
    ) -> int:
        """Returns how many pending consults were re-offered at the new establishment.

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
                raise ServiceError(Code.INVALID_REQUEST, "The prisoner is already there.")
            cell = (
                None if to_cell is None else await destination_cell(conn, to_establishment, to_cell)
            )
            pending = await self._active_of(conn, prisoner_id=prisoner.id)
            for m in pending:
                await self._apply(conn, m["id"], Status.CANCELLED, None, "transfer", None)
                code = await conn.scalar(
                    select(services.c.code).where(services.c.id == m["service_id"])
                )
                request_id = new_id()
                await conn.execute(
                    insert(health_requests).values(
                        id=request_id,
                        prisoner_id=prisoner.id,
                        establishment_id=to_establishment,
                        category="other",
                        text_enc=await self._seal(
                            conn,
                            prisoner.id,
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
            # Each consult's own "cancelled" notice says why (reason "transfer").
            await self._notify(conn, prisoner.id, "transferred")
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
            reoffered=len(pending),
            from_cell=left.name if left else None,
            cell=cell.name if cell else None,
        )
        return len(pending)

    async def release(self, actor: Principal, prisoner_id: str) -> int:
        """Returns how many pending consults were closed."""
        require_permission(actor, Permission.PRISONERS_MOVE)
        now = self._clock.now()
        async with self._db.begin() as conn:
            prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
            source = prisoner.establishment_id
            require_visible(actor, source, "No such prisoner.")
            pending = await self._active_of(conn, prisoner_id=prisoner.id)
            for m in pending:
                await self._apply(conn, m["id"], Status.CANCELLED, None, "release", None)
                await self._notify(
                    conn,
                    m["clinician_id"],
                    "patient_released",
                    appointment_id=m["id"],
                    starts_at=m["starts_at"],
                )
            await conn.execute(
                update(health_requests)
                .where(
                    and_(
                        health_requests.c.prisoner_id == prisoner.id,
                        health_requests.c.status.in_(OPEN),
                    )
                )
                .values(status="closed")
            )
            await relocate(
                conn,
                prisoner_id=prisoner.id,
                kind=MoveKind.RELEASE,
                from_establishment=source,
                to_establishment=None,
                to_cell=None,
                now=now,
                actor=actor.account_id,
            )
            await conn.execute(
                insert(movements).values(
                    id=new_id(),
                    prisoner_id=prisoner.id,
                    kind="release",
                    from_establishment_id=source,
                    to_establishment_id=None,
                    at=now,
                    actor=actor.account_id,
                )
            )
            # Their in-cell sign-ins end with custody: HTTP refuses the tokens at
            # once, and the sockets they opened are closed (4009) on every node.
            await conn.execute(
                update(sessions)
                .where(and_(sessions.c.account_id == prisoner.id, sessions.c.revoked_at.is_(None)))
                .values(revoked_at=now, revoked_reason="released")
            )
        await self._record(
            Action.RELEASED, actor, establishment=source, subject=prisoner.id, closed=len(pending)
        )
        await self._endings.sessions_ended(
            SessionsEnded(EndReason.RELEASED, account_id=prisoner.id)
        )
        return len(pending)

    async def handover_list(self, actor: Principal, establishment_id: str) -> list[Handover]:
        """Released prisoners for hand-over to community services, newest first."""
        require_permission(actor, Permission.HANDOVER_READ)
        require_establishment(actor, establishment_id)
        async with self._db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(movements.c.prisoner_id, movements.c.at)
                    .where(
                        and_(
                            movements.c.from_establishment_id == establishment_id,
                            movements.c.kind == "release",
                        )
                    )
                    .order_by(movements.c.at.desc())
                )
            )
            return [
                Handover(
                    r.prisoner_id,
                    r.at,
                    await self._in_force(conn, r.prisoner_id, Scope.COMMUNITY_SHARING),
                )
                for r in rows
            ]
