"""Per-person booking locks, so overlapping bookings of any length cannot race.

A unique constraint cannot forbid two overlapping intervals of different
lengths. Instead every booking transaction first takes a row lock on
"clinician:<id>" and "prisoner:<id>" (in sorted order, so two bookings never
wait on each other in a cycle), then checks for overlaps, then inserts. On
PostgreSQL the lock is `SELECT ... FOR UPDATE` on a row created on first use;
on SQLite every write transaction already starts with BEGIN IMMEDIATE, which
serialises all writers, so no row is needed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from scheduling.tables import booking_locks


async def lock_people(conn: AsyncConnection, *, clinician_id: str, prisoner_id: str) -> None:
    if conn.dialect.name == "sqlite":
        return
    for key in sorted((f"clinician:{clinician_id}", f"prisoner:{prisoner_id}")):
        await conn.execute(pg_insert(booking_locks).values(key=key).on_conflict_do_nothing())
        await conn.execute(
            select(booking_locks.c.key).where(booking_locks.c.key == key).with_for_update()
        )
