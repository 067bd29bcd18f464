"""Keeping wings and cells: officers of their establishment, and admins.

Issue 13 adds the screens and the CLI; this is the service they call.
"""

from __future__ import annotations

from sqlalchemy import select

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import cells, wings
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity.types import Principal, Role
from core.places.cells import Cell, Wing, cell_by_id, cell_query, cell_row, place_cell


def _may_keep(actor: Principal, establishment_id: str) -> None:
    if actor.role not in (Role.OFFICER, Role.ADMIN):
        raise ServiceError(Code.FORBIDDEN)
    if actor.role != Role.ADMIN and actor.establishment_id != establishment_id:
        raise ServiceError(Code.FORBIDDEN)


class Places:
    """Keeping wings and cells: officers of the establishment and admins."""

    def __init__(self, db: Database, *, clock: Clock, audit: AuditSink) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    async def add_cell(
        self, actor: Principal, establishment_id: str, wing: object, name: object
    ) -> Cell:
        """A cell on a wing (the wing is added too if it is new)."""
        _may_keep(actor, establishment_id)
        async with self._db.begin() as conn:
            cell, added = await place_cell(conn, establishment_id, name, self._clock.now(), wing)
        if added:
            await self.record_added(actor.account_id, cell)
        return cell

    async def record_added(self, actor: str, cell: Cell) -> None:
        await self._audit.append(
            AuditRecord(
                action=Action.CELL_ADDED,
                actor=actor,
                establishment=cell.establishment_id,
                subject=cell.id,
                details={"wing": cell.wing, "cell": cell.name},
            )
        )

    async def wings(self, establishment_id: str) -> list[Wing]:
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(wings.c.id, wings.c.establishment_id, wings.c.name)
                .where(wings.c.establishment_id == establishment_id)
                .order_by(wings.c.name)
            )
            return [Wing(r.id, r.establishment_id, r.name) for r in rows]

    async def cells(self, establishment_id: str) -> list[Cell]:
        async with self._db.connect() as conn:
            rows = await conn.execute(
                cell_query()
                .where(cells.c.establishment_id == establishment_id)
                .order_by(wings.c.name, cells.c.name)
            )
            return [cell_row(r) for r in rows]

    async def cell(self, cell_id: str) -> Cell | None:
        async with self._db.connect() as conn:
            return await cell_by_id(conn, cell_id)
