"""Wings and cells: the model, and finding or adding them inside a transaction.

No identity import here: the device registry (`core.identity.devices`) uses
these inside its own transaction (see the package docstring).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Select, Table, and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import cells, devices, establishments, prisoner_cells, wings
from core.errors import Code, ServiceError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,31}$")


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
            Code.INVALID_REQUEST,
            f"A {what} is up to 32 letters, digits, dots or dashes.",
            extra={"reason": f"bad_{what}_name"},
        )
    return value.strip()


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


async def wing_in(conn: AsyncConnection, establishment_id: str, wing: object) -> Wing:
    """The establishment's wing named `wing` (or with that id); another's answers as missing."""
    if not isinstance(wing, str) or not wing.strip() or len(wing) > 36:
        raise ServiceError(Code.INVALID_REQUEST, "Say which wing.", extra={"reason": "no_wing"})
    key = wing.strip()
    row = (
        await conn.execute(
            select(wings.c.id, wings.c.establishment_id, wings.c.name).where(
                and_(
                    wings.c.establishment_id == establishment_id,
                    (wings.c.id == key) | (wings.c.name == key),
                )
            )
        )
    ).first()
    if row is None:
        raise ServiceError(
            Code.NOT_FOUND, "No such wing in this establishment.", extra={"reason": "unknown_wing"}
        )
    return Wing(row.id, row.establishment_id, row.name)


async def cell_in(conn: AsyncConnection, establishment_id: str, cell: object) -> Cell:
    """The establishment's cell named `cell` (or with that id).

    A cell is never added on the way: a device is enrolled, or a prisoner
    moved, only to a cell the establishment already lists. A cell of another
    establishment answers as a missing one.
    """
    if not isinstance(cell, str) or not cell.strip() or len(cell) > 36:
        raise ServiceError(Code.INVALID_REQUEST, "Say which cell.", extra={"reason": "no_cell"})
    key = cell.strip()
    row = (
        await conn.execute(
            cell_query().where(
                and_(
                    cells.c.establishment_id == establishment_id,
                    (cells.c.id == key) | (cells.c.name == key),
                )
            )
        )
    ).first()
    if row is None:
        raise ServiceError(
            Code.NOT_FOUND, "No such cell in this establishment.", extra={"reason": "unknown_cell"}
        )
    return cell_row(row)


async def require_establishment_exists(conn: AsyncConnection, establishment_id: str) -> None:
    known = await conn.scalar(
        select(establishments.c.id).where(establishments.c.id == establishment_id)
    )
    if known is None:
        raise ServiceError(Code.NOT_FOUND, "No such establishment.")


async def add_wing(
    conn: AsyncConnection, establishment_id: str, name: object, now: datetime
) -> Wing:
    """A new wing; one of the same name in the establishment is a conflict."""
    wing_name = place_name(name, "wing")
    await require_establishment_exists(conn, establishment_id)
    found = await conn.scalar(
        select(wings.c.id).where(
            and_(wings.c.establishment_id == establishment_id, wings.c.name == wing_name)
        )
    )
    if found is not None:
        raise ServiceError(
            Code.CONFLICT, "That wing exists already.", extra={"reason": "wing_exists"}
        )
    wing_id = str(uuid.uuid4())
    await conn.execute(
        insert(wings).values(
            id=wing_id, establishment_id=establishment_id, name=wing_name, created_at=now
        )
    )
    return Wing(wing_id, establishment_id, wing_name)


async def add_cell(
    conn: AsyncConnection, establishment_id: str, wing: object, name: object, now: datetime
) -> Cell:
    """A new cell on one of the establishment's own wings.

    The wing must exist in this establishment (a wing of another answers as
    missing); a cell of the same name anywhere in the establishment is a
    conflict, since officers name a cell by its name alone.
    """
    cell_name = place_name(name, "cell")
    await require_establishment_exists(conn, establishment_id)
    on = await wing_in(conn, establishment_id, wing)
    existing = await cell_by_name(conn, establishment_id, cell_name)
    if existing is not None:
        if existing.wing_id != on.id:
            raise ServiceError(
                Code.CONFLICT, "That cell is on another wing.", extra={"reason": "cell_exists"}
            )
        raise ServiceError(
            Code.CONFLICT, "That cell exists already.", extra={"reason": "cell_exists"}
        )
    cell_id = str(uuid.uuid4())
    await conn.execute(
        insert(cells).values(
            id=cell_id,
            establishment_id=establishment_id,
            wing_id=on.id,
            name=cell_name,
            created_at=now,
        )
    )
    return Cell(cell_id, establishment_id, on.id, on.name, cell_name)


async def rename_wing(
    conn: AsyncConnection, establishment_id: str, wing: object, name: object
) -> tuple[Wing, Wing]:
    """The wing before and after; another wing of that name in the establishment is a conflict."""
    new_name = place_name(name, "wing")
    before = await wing_in(conn, establishment_id, wing)
    if new_name == before.name:
        raise ServiceError(
            Code.CONFLICT, "The wing has that name already.", extra={"reason": "same_name"}
        )
    taken = await conn.scalar(
        select(wings.c.id).where(
            and_(wings.c.establishment_id == establishment_id, wings.c.name == new_name)
        )
    )
    if taken is not None:
        raise ServiceError(
            Code.CONFLICT, "That wing exists already.", extra={"reason": "wing_exists"}
        )
    await conn.execute(update(wings).where(wings.c.id == before.id).values(name=new_name))
    return before, Wing(before.id, establishment_id, new_name)


async def rename_cell(
    conn: AsyncConnection, establishment_id: str, cell: object, name: object
) -> tuple[Cell, Cell]:
    """The cell before and after; its name stays unique in the establishment."""
    new_name = place_name(name, "cell")
    before = await cell_in(conn, establishment_id, cell)
    if new_name == before.name:
        raise ServiceError(
            Code.CONFLICT, "The cell has that name already.", extra={"reason": "same_name"}
        )
    if await cell_by_name(conn, establishment_id, new_name) is not None:
        raise ServiceError(
            Code.CONFLICT, "That cell exists already.", extra={"reason": "cell_exists"}
        )
    await conn.execute(update(cells).where(cells.c.id == before.id).values(name=new_name))
    return before, replace(before, name=new_name)


def _referring(target: Table) -> list[Column[Any]]:
    """Every column of another table that names a row of `target` (`cells` or `wings`).

    Read from the schema at call time, so a table added later that keeps a cell
    (a test call, a call-back task) is counted without this module knowing it;
    a few keep the id without a foreign key, by the `<target>_id` name.
    """
    names = {"cells": ("cell_id", "from_cell_id", "to_cell_id"), "wings": ("wing_id",)}[target.name]
    found = []
    for table in target.metadata.sorted_tables:
        if table is target:
            continue
        for column in table.columns:
            keyed = any(fk.column is target.c.id for fk in column.foreign_keys)
            if keyed or (column.name in names and not column.foreign_keys):
                found.append(column)
    return found


async def _kept_in_records(conn: AsyncConnection, target: Table, place_id: str) -> bool:
    for column in _referring(target):
        if await conn.scalar(select(column).where(column == place_id).limit(1)) is not None:
            return True
    return False


async def remove_cell(conn: AsyncConnection, establishment_id: str, cell: object) -> Cell:
    """Remove an empty cell nothing refers to; anything else is refused and nothing changes.

    A prisoner in it, or an enrolled device, must be moved first. A cell that
    past records name (a prisoner's moves, a retired device, a test call) stays,
    so that history keeps saying where things happened: it can be renamed.
    """
    found = await cell_in(conn, establishment_id, cell)
    occupied = await conn.scalar(
        select(prisoner_cells.c.prisoner_id).where(prisoner_cells.c.cell_id == found.id).limit(1)
    )
    if occupied is not None:
        raise ServiceError(
            Code.CONFLICT,
            "A prisoner is in that cell: move them first.",
            extra={"reason": "cell_occupied"},
        )
    enrolled = await conn.scalar(
        select(devices.c.id)
        .where(and_(devices.c.cell_id == found.id, devices.c.revoked_at.is_(None)))
        .limit(1)
    )
    if enrolled is not None:
        raise ServiceError(
            Code.CONFLICT,
            "A device is enrolled in that cell: move it first.",
            extra={"reason": "cell_has_device"},
        )
    if await _kept_in_records(conn, cells, found.id):
        raise ServiceError(
            Code.CONFLICT,
            "Past records name that cell, so it stays; it can be renamed.",
            extra={"reason": "cell_in_records"},
        )
    await conn.execute(delete(cells).where(cells.c.id == found.id))
    return found


async def remove_wing(conn: AsyncConnection, establishment_id: str, wing: object) -> Wing:
    """Remove a wing with no cells that nothing refers to."""
    found = await wing_in(conn, establishment_id, wing)
    has_cells = await conn.scalar(select(cells.c.id).where(cells.c.wing_id == found.id).limit(1))
    if has_cells is not None:
        raise ServiceError(
            Code.CONFLICT,
            "That wing still has cells: remove them first.",
            extra={"reason": "wing_has_cells"},
        )
    if await _kept_in_records(conn, wings, found.id):
        raise ServiceError(
            Code.CONFLICT,
            "Past records name that wing, so it stays; it can be renamed.",
            extra={"reason": "wing_in_records"},
        )
    await conn.execute(delete(wings).where(wings.c.id == found.id))
    return found
