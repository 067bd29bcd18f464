"""Wings and cells: the model, and finding or adding a cell inside a transaction.

No identity import here: the device registry (`core.identity.devices`) uses
these inside its own transaction (see the package docstring).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import cells, establishments, wings
from core.errors import Code, ServiceError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,31}$")
WING_LETTERS = re.compile(r"^[A-Za-z]+")
UNASSIGNED_WING = "Unassigned"


@dataclass(frozen=True)
class Wing:
    id: str
    establishment_id: str
    name: str


@dataclass(frozen=True)
class Cell:
    id: str
    establishment_id: str
    wing_id: str
    wing: str
    name: str


def place_name(value: object, what: str = "cell") -> str:
    """A wing or cell name: up to 32 letters, digits, spaces, dots or dashes."""
    if not isinstance(value, str) or not NAME.match(value.strip()):
        raise ServiceError(
            Code.INVALID_REQUEST, f"A {what} is up to 32 letters, digits, dots or dashes."
        )
    return value.strip()


def wing_named_by(cell: str) -> str:
    """The wing a cell's name points at: its leading letters ("A1-02" -> "A")."""
    found = WING_LETTERS.match(cell.strip())
    return found.group(0).upper() if found else UNASSIGNED_WING


def cell_query() -> Select[Any]:
    return select(
        cells.c.id,
        cells.c.establishment_id,
        cells.c.wing_id,
        wings.c.name.label("wing"),
        cells.c.name,
    ).join(wings, wings.c.id == cells.c.wing_id)


def cell_row(m: object) -> Cell:
    row = m._mapping  # type: ignore[attr-defined]
    return Cell(row["id"], row["establishment_id"], row["wing_id"], row["wing"], row["name"])


async def cell_by_id(conn: AsyncConnection, cell_id: str) -> Cell | None:
    row = (await conn.execute(cell_query().where(cells.c.id == cell_id))).first()
    return cell_row(row) if row is not None else None


async def cell_by_name(conn: AsyncConnection, establishment_id: str, name: str) -> Cell | None:
    row = (
        await conn.execute(
            cell_query().where(
                and_(cells.c.establishment_id == establishment_id, cells.c.name == name)
            )
        )
    ).first()
    return cell_row(row) if row is not None else None


async def _wing_id(
    conn: AsyncConnection, establishment_id: str, name: str, now: datetime
) -> tuple[str, bool]:
    """The wing of that name in the establishment, added if it is not there yet."""
    found = await conn.scalar(
        select(wings.c.id).where(
            and_(wings.c.establishment_id == establishment_id, wings.c.name == name)
        )
    )
    if found is not None:
        return str(found), False
    wing_id = str(uuid.uuid4())
    await conn.execute(
        insert(wings).values(
            id=wing_id, establishment_id=establishment_id, name=name, created_at=now
        )
    )
    return wing_id, True


async def place_cell(
    conn: AsyncConnection,
    establishment_id: str,
    name: object,
    now: datetime,
    wing: object = None,
) -> tuple[Cell, bool]:
    """The establishment's cell of that name, added (with its wing) if it is new.

    Returns the cell and whether it was added. A cell that exists on another
    wing than the one asked for is a conflict, not a move.
    """
    cell_name = place_name(name, "cell")
    wing_name = place_name(wing, "wing") if wing is not None else None
    existing = await cell_by_name(conn, establishment_id, cell_name)
    if existing is not None:
        if wing_name is not None and wing_name != existing.wing:
            raise ServiceError(Code.CONFLICT, "That cell is on another wing.")
        return existing, False
    known = await conn.scalar(
        select(establishments.c.id).where(establishments.c.id == establishment_id)
    )
    if known is None:
        raise ServiceError(Code.NOT_FOUND, "No such establishment.")
    wing_name = wing_name or wing_named_by(cell_name)
    wing_id, _ = await _wing_id(conn, establishment_id, wing_name, now)
    cell_id = str(uuid.uuid4())
    await conn.execute(
        insert(cells).values(
            id=cell_id,
            establishment_id=establishment_id,
            wing_id=wing_id,
            name=cell_name,
            created_at=now,
        )
    )
    return Cell(cell_id, establishment_id, wing_id, wing_name, cell_name), True
