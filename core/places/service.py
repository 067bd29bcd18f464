"""Keeping wings and cells: officers of their establishment, and admins."""

from __future__ import annotations

from sqlalchemy import func, select

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import cells, devices, prisoner_cells, wings
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity.types import Principal
from core.permissions import Permission, acts_in, allows
from core.places.cells import (
    Cell,
    Wing,
    add_cell,
    add_wing,
    cell_by_id,
    cell_query,
    cell_row,
    remove_cell,
    remove_wing,
    rename_cell,
    rename_wing,
)


def may_keep(actor: Principal, establishment_id: str) -> None:
    """Officers keep their own establishment's places and people; admins any."""
    if not allows(actor, Permission.PEOPLE_MANAGE):
        raise ServiceError(Code.FORBIDDEN)
    if not acts_in(actor, establishment_id):
        raise ServiceError(Code.FORBIDDEN)


class Places:
    """Keeping wings and cells: officers of the establishment and admins."""

    def __init__(self, db: Database, *, clock: Clock, audit: AuditSink) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    async def add_wing(self, actor: Principal, establishment_id: str, name: object) -> Wing:
        may_keep(actor, establishment_id)
        async with self._db.begin() as conn:
            wing = await add_wing(conn, establishment_id, name, self._clock.now())
        await self._audit.append(
            AuditRecord(
                action=Action.WING_ADDED,
                actor=actor.account_id,
                establishment=establishment_id,
                subject=wing.id,
                details={"wing": wing.name},
            )
        )
        return wing

    async def add_cell(
        self, actor: Principal, establishment_id: str, wing: object, name: object
    ) -> Cell:
        """A cell on one of the establishment's wings (named, or by id)."""
        may_keep(actor, establishment_id)
        async with self._db.begin() as conn:
            cell = await add_cell(conn, establishment_id, wing, name, self._clock.now())
        await self._audit.append(
            AuditRecord(
                action=Action.CELL_ADDED,
                actor=actor.account_id,
                establishment=cell.establishment_id,
                subject=cell.id,
                details={"wing": cell.wing, "cell": cell.name},
            )
        )
        return cell

    async def rename_wing(
        self, actor: Principal, establishment_id: str, wing: object, name: object
    ) -> Wing:
        """Rename a wing (named, or by id); its cells and devices keep their ids."""
        may_keep(actor, establishment_id)
        async with self._db.begin() as conn:
            before, after = await rename_wing(conn, establishment_id, wing, name)
        await self._record(
            Action.WING_RENAMED,
            actor,
            establishment_id,
            after.id,
            {"from": before.name, "to": after.name},
        )
        return after

    async def rename_cell(
        self, actor: Principal, establishment_id: str, cell: object, name: object
    ) -> Cell:
        """Rename a cell (named, or by id): whoever and whatever is in it stays there."""
        may_keep(actor, establishment_id)
        async with self._db.begin() as conn:
            before, after = await rename_cell(conn, establishment_id, cell, name)
        await self._record(
            Action.CELL_RENAMED,
            actor,
            establishment_id,
            after.id,
            {"wing": after.wing, "from": before.name, "to": after.name},
        )
        return after

    async def remove_wing(self, actor: Principal, establishment_id: str, wing: object) -> Wing:
        """Remove a wing with no cells (`core.places.cells.remove_wing` says what is refused)."""
        may_keep(actor, establishment_id)
        async with self._db.begin() as conn:
            gone = await remove_wing(conn, establishment_id, wing)
        await self._record(
            Action.WING_REMOVED, actor, establishment_id, gone.id, {"wing": gone.name}
        )
        return gone

    async def remove_cell(self, actor: Principal, establishment_id: str, cell: object) -> Cell:
        """Remove an empty cell that no record names (`core.places.cells.remove_cell`)."""
        may_keep(actor, establishment_id)
        async with self._db.begin() as conn:
            gone = await remove_cell(conn, establishment_id, cell)
        await self._record(
            Action.CELL_REMOVED,
            actor,
            establishment_id,
            gone.id,
            {"wing": gone.wing, "cell": gone.name},
        )
        return gone

    async def _record(
        self,
        action: Action,
        actor: Principal,
        establishment_id: str,
        subject: str,
        details: dict[str, object],
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor.account_id,
                establishment=establishment_id,
                subject=subject,
                details=details,
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

    async def occupancy(self, establishment_id: str) -> dict[str, tuple[int, int]]:
        """Cell id -> (prisoners in it, enrolled devices in it)."""
        async with self._db.connect() as conn:
            people: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(prisoner_cells.c.cell_id, func.count())
                        .where(prisoner_cells.c.establishment_id == establishment_id)
                        .group_by(prisoner_cells.c.cell_id)
                    )
                ).all()
            )
            kit: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(devices.c.cell_id, func.count())
                        .where(
                            devices.c.establishment_id == establishment_id,
                            devices.c.revoked_at.is_(None),
                        )
                        .group_by(devices.c.cell_id)
                    )
                ).all()
            )
        return {c: (int(people.get(c, 0)), int(kit.get(c, 0))) for c in {*people, *kit}}

    async def cell(self, cell_id: str) -> Cell | None:
        async with self._db.connect() as conn:
            return await cell_by_id(conn, cell_id)
