"""Writing where a prisoner is: the one writer of the current cell and its history.

Here, not in `locations`, because identity's account creation places a new
prisoner in a cell inside its own transaction, and `locations` (through
`core.permissions`) imports identity: this module imports nothing of identity's.
`locations` re-exports these names.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import cell_moves, prisoner_cells
from core.errors import Code, ServiceError
from core.people.types import MoveKind
from core.places.cells import Cell, cell_by_id, cell_in

OTHER_ESTABLISHMENT = "That cell is in another establishment: transfer the prisoner instead."


async def current_cell(conn: AsyncConnection, prisoner_id: str) -> Cell | None:
    cell_id = await conn.scalar(
        select(prisoner_cells.c.cell_id).where(prisoner_cells.c.prisoner_id == prisoner_id)
    )
    return None if cell_id is None else await cell_by_id(conn, cell_id)


async def relocate(
    conn: AsyncConnection,
    *,
    prisoner_id: str,
    kind: MoveKind,
    from_establishment: str | None,
    to_establishment: str | None,
    to_cell: Cell | None,
    now: datetime,
    actor: str,
) -> Cell | None:
    """Put the prisoner in `to_cell` (None: in no cell) and write the move; returns the old cell."""
    before = await current_cell(conn, prisoner_id)
    await conn.execute(delete(prisoner_cells).where(prisoner_cells.c.prisoner_id == prisoner_id))
    if to_cell is not None:
        await conn.execute(
            insert(prisoner_cells).values(
                prisoner_id=prisoner_id,
                establishment_id=to_cell.establishment_id,
                cell_id=to_cell.id,
                since=now,
            )
        )
    last = await conn.scalar(
        select(func.max(cell_moves.c.seq)).where(cell_moves.c.prisoner_id == prisoner_id)
    )
    await conn.execute(
        insert(cell_moves).values(
            id=str(uuid.uuid4()),
            prisoner_id=prisoner_id,
            seq=(last or 0) + 1,
            kind=kind.value,
            from_establishment_id=from_establishment,
            from_cell_id=before.id if before else None,
            to_establishment_id=to_establishment,
            to_cell_id=to_cell.id if to_cell else None,
            at=now,
            actor=actor,
        )
    )
    return before


async def destination_cell(conn: AsyncConnection, establishment_id: str, cell: object) -> Cell:
    """A cell of the establishment the prisoner is going to, refused clearly if it is not."""
    if isinstance(cell, str) and len(cell) <= 36:
        found = await cell_by_id(conn, cell.strip())
        if found is not None and found.establishment_id != establishment_id:
            raise ServiceError(
                Code.CONFLICT, OTHER_ESTABLISHMENT, extra={"reason": "other_establishment"}
            )
    return await cell_in(conn, establishment_id, cell)
