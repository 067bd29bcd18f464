"""Where a prisoner is: their cell now, and every move, by an officer or by a transfer.

`relocate` (`core.people.moves`) is the one writer of both, inside the caller's transaction: an
officer's move here, and `scheduling`'s transfer and release, which move the
prisoner's care in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import cell_moves, cells, prisoner_cells, wings
from core.errors import Code, ServiceError
from core.events import Action
from core.identity.types import Principal
from core.people.common import Deps, prisoner_for
from core.people.moves import current_cell, destination_cell, relocate
from core.people.types import CellMove, Location, MoveKind
from core.places.cells import Cell


class Locations:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    async def move(self, actor: Principal, prisoner_id: object, cell: object) -> Location:
        """An officer moves a prisoner to another cell of the prisoner's own establishment.

        A cell of another establishment is refused: that is a transfer
        (`scheduling`), which moves their care with them.
        """
        now = self._d.clock.now()
        async with self._d.db.begin() as conn:
            prisoner = await prisoner_for(conn, actor, prisoner_id)
            to = await destination_cell(conn, prisoner.establishment_id, cell)
            before = await current_cell(conn, prisoner.id)
            if before is not None and before.id == to.id:
                raise ServiceError(
                    Code.CONFLICT,
                    "The prisoner is in that cell already.",
                    extra={"reason": "same_cell"},
                )
            await relocate(
                conn,
                prisoner_id=prisoner.id,
                kind=MoveKind.MOVE,
                from_establishment=prisoner.establishment_id,
                to_establishment=prisoner.establishment_id,
                to_cell=to,
                now=now,
                actor=actor.account_id,
            )
        await self._d.record(
            Action.PRISONER_MOVED,
            actor,
            establishment=prisoner.establishment_id,
            subject=prisoner.id,
            from_cell=before.name if before else None,
            from_wing=before.wing if before else None,
            cell=to.name,
            wing=to.wing,
        )
        return Location(prisoner.id, prisoner.establishment_id, to.id, to.name, to.wing, now)

    async def where(self, actor: Principal, prisoner_id: object) -> Location:
        async with self._d.db.connect() as conn:
            prisoner = await prisoner_for(conn, actor, prisoner_id)
            row = (
                await conn.execute(
                    select(prisoner_cells.c.since).where(
                        prisoner_cells.c.prisoner_id == prisoner.id
                    )
                )
            ).first()
            cell = await current_cell(conn, prisoner.id)
        return Location(
            prisoner.id,
            prisoner.establishment_id,
            cell.id if cell else None,
            cell.name if cell else None,
            cell.wing if cell else None,
            row.since if row else None,
        )

    async def history(self, actor: Principal, prisoner_id: object) -> list[CellMove]:
        """Every move of the prisoner, newest first (officers of their establishment, admins)."""
        from_cell = cells.alias("from_cell")
        to_cell = cells.alias("to_cell")
        async with self._d.db.connect() as conn:
            prisoner = await prisoner_for(conn, actor, prisoner_id)
            rows = await conn.execute(
                select(
                    cell_moves,
                    from_cell.c.name.label("from_name"),
                    to_cell.c.name.label("to_name"),
                )
                .outerjoin(from_cell, from_cell.c.id == cell_moves.c.from_cell_id)
                .outerjoin(to_cell, to_cell.c.id == cell_moves.c.to_cell_id)
                .where(cell_moves.c.prisoner_id == prisoner.id)
                .order_by(cell_moves.c.seq.desc())
            )
            return [
                CellMove(
                    MoveKind(r.kind),
                    r.at,
                    r.actor,
                    r.from_establishment_id,
                    r.from_name,
                    r.to_establishment_id,
                    r.to_name,
                )
                for r in rows
            ]


async def cells_of(conn: AsyncConnection, prisoner_ids: list[str]) -> dict[str, Cell]:
    """Prisoner id -> their current cell, for many at once."""
    if not prisoner_ids:
        return {}
    rows = await conn.execute(
        select(
            prisoner_cells.c.prisoner_id,
            cells.c.id,
            cells.c.establishment_id,
            cells.c.wing_id,
            wings.c.name.label("wing"),
            cells.c.name,
        )
        .join(cells, cells.c.id == prisoner_cells.c.cell_id)
        .join(wings, wings.c.id == cells.c.wing_id)
        .where(prisoner_cells.c.prisoner_id.in_(prisoner_ids))
    )
    return {r.prisoner_id: Cell(r.id, r.establishment_id, r.wing_id, r.wing, r.name) for r in rows}
