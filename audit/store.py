"""SQL for the audit tables; the only module that writes them.

The head row is the serialisation point between writers, in one process or
many: on PostgreSQL `SELECT ... FOR UPDATE` holds it until commit, and on
SQLite every transaction is `BEGIN IMMEDIATE` already, which takes the write
lock before the first read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, func, insert, select, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.checkpoints import Checkpoint
from audit.merkle import pack_frontier, unpack_frontier
from audit.record import StoredEvent
from audit.tables import audit_checkpoints, audit_events, audit_head

HEAD_ID = 1


@dataclass
class Head:
    size: int
    frontier: list[bytes]
    checkpoint_size: int
    checkpoint_at: datetime
    keys_version: int
    last_at: datetime | None = None

    def date(self, now: datetime) -> datetime:
        """The time to give what is written next: never before what is already there."""
        if self.last_at is not None and now < self.last_at:
            return self.last_at
        return now


async def ensure_head(conn: AsyncConnection, now: datetime) -> None:
    """Create the head row if it is missing (migration 0004 creates it).

    It is read first, so that the application's PostgreSQL role, which may not
    insert into `audit_head`, starts on a migrated database.
    """
    found = await conn.execute(select(audit_head.c.id).where(audit_head.c.id == HEAD_ID))
    if found.first() is not None:
        return
    values = {
        "id": HEAD_ID,
        "size": 0,
        "frontier": b"",
        "checkpoint_size": 0,
        "checkpoint_at": now,
        "keys_version": 0,
    }
    if conn.dialect.name == "postgresql":
        await conn.execute(pg_insert(audit_head).values(values).on_conflict_do_nothing())
    else:
        await conn.execute(sqlite_insert(audit_head).values(values).on_conflict_do_nothing())


async def read_head(conn: AsyncConnection, *, lock: bool = False) -> Head:
    query = select(audit_head).where(audit_head.c.id == HEAD_ID)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one()
    return Head(
        size=row.size,
        frontier=unpack_frontier(row.frontier, row.size),
        checkpoint_size=row.checkpoint_size,
        checkpoint_at=row.checkpoint_at,
        keys_version=row.keys_version,
        last_at=row.last_at,
    )


async def write_head(conn: AsyncConnection, head: Head) -> None:
    await conn.execute(
        update(audit_head)
        .where(audit_head.c.id == HEAD_ID)
        .values(
            size=head.size,
            frontier=pack_frontier(head.frontier),
            checkpoint_size=head.checkpoint_size,
            checkpoint_at=head.checkpoint_at,
            keys_version=head.keys_version,
            last_at=head.last_at,
        )
    )


EVENT_FIELDS = tuple(c.name for c in audit_events.columns)
# Built from the table's own column names, never from input.
_SQLITE_INSERT = (
    f"INSERT INTO audit_events ({', '.join(EVENT_FIELDS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in EVENT_FIELDS)})"
)


async def insert_events(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """Rows are tuples in `EVENT_FIELDS` order, all with the batch's one time.

    This is the hot path: on SQLite the rows go to the driver as they are, with
    the time bound once per batch by the column type's own processor (so it is
    stored exactly as SQLAlchemy would store it); PostgreSQL takes the Core path.
    """
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        bind = audit_events.c.at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        at = bind(rows[0][1]) if bind else rows[0][1]
        await conn.exec_driver_sql(_SQLITE_INSERT, [(r[0], at, *r[2:]) for r in rows])
        return
    await conn.execute(
        insert(audit_events), [dict(zip(EVENT_FIELDS, r, strict=True)) for r in rows]
    )


async def insert_checkpoint(conn: AsyncConnection, cp: Checkpoint) -> None:
    await conn.execute(
        insert(audit_checkpoints).values(
            size=cp.size, root=cp.root, at=cp.at, key_id=cp.key_id, signature=cp.signature
        )
    )


async def checkpoints(conn: AsyncConnection, *, up_to: int | None = None) -> list[Checkpoint]:
    query = select(audit_checkpoints).order_by(audit_checkpoints.c.size)
    if up_to is not None:
        query = query.where(audit_checkpoints.c.size <= up_to)
    rows = (await conn.execute(query)).all()
    return [Checkpoint(r.size, r.root, r.at, r.key_id, r.signature) for r in rows]


def _checkpoint(row: Any) -> Checkpoint | None:
    if row is None:
        return None
    return Checkpoint(row.size, row.root, row.at, row.key_id, row.signature)


async def latest_checkpoint(conn: AsyncConnection) -> Checkpoint | None:
    query = select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1)
    return _checkpoint((await conn.execute(query)).first())


async def checkpoint_at_size(conn: AsyncConnection, size: int) -> Checkpoint | None:
    query = select(audit_checkpoints).where(audit_checkpoints.c.size == size)
    return _checkpoint((await conn.execute(query)).first())


async def checkpoint_before(conn: AsyncConnection, at: datetime) -> Checkpoint | None:
    """The last checkpoint dated strictly before `at`."""
    query = (
        select(audit_checkpoints)
        .where(audit_checkpoints.c.at < at)
        .order_by(audit_checkpoints.c.at.desc(), audit_checkpoints.c.size.desc())
        .limit(1)
    )
    return _checkpoint((await conn.execute(query)).first())


async def checkpoint_from(conn: AsyncConnection, at: datetime, up_to: int) -> Checkpoint | None:
    """The first checkpoint dated at or after `at`, of size at most `up_to`."""
    query = (
        select(audit_checkpoints)
        .where(audit_checkpoints.c.at >= at, audit_checkpoints.c.size <= up_to)
        .order_by(audit_checkpoints.c.at, audit_checkpoints.c.size)
        .limit(1)
    )
    return _checkpoint((await conn.execute(query)).first())


async def event_count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(audit_events))).scalar_one())


EVENT_COLUMNS = (
    audit_events.c.seq,
    audit_events.c.at,
    audit_events.c.establishment_id,
    audit_events.c.actor,
    audit_events.c.action,
    audit_events.c.subject,
    audit_events.c.appointment_id,
    audit_events.c.key_id,
    audit_events.c.details,
    audit_events.c.leaf_hash,
)


# Built from the table's own column names, never from input.
_SQLITE_SELECT = f"SELECT {', '.join(c.name for c in EVENT_COLUMNS)} FROM audit_events ORDER BY seq"  # noqa: S608


def to_event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        seq=row[0],
        at=row[1],
        establishment=row[2],
        actor=row[3],
        action=row[4],
        subject=row[5],
        appointment=row[6],
        key_id=row[7],
        ciphertext=row[8],
    )


async def stream_rows(
    conn: AsyncConnection, *, chunk: int = 5000, raw_time: bool = False
) -> AsyncIterator[list[Sequence[Any]]]:
    """All events in sequence order, in chunks (rows as tuples, leaf hash last).

    With `raw_time` the time comes as the store holds it (naive UTC, or text on
    SQLite), which `LeafEncoder` takes directly. On SQLite that mode reads
    through the driver's own cursor: verification is bound by per-row costs,
    and SQLAlchemy's row objects would be a third of them.
    """
    if raw_time and conn.dialect.name == "sqlite":
        raw = await conn.get_raw_connection()
        cursor = await raw.driver_connection.execute(_SQLITE_SELECT)  # type: ignore[union-attr]
        try:
            while rows := await cursor.fetchmany(chunk):
                yield rows
        finally:
            await cursor.close()
        return
    columns: list[Any] = list(EVENT_COLUMNS)
    if raw_time:
        columns[1] = type_coerce(audit_events.c.at, String).label("at")
    query = select(*columns).order_by(audit_events.c.seq)
    result = await conn.stream(query.execution_options(yield_per=chunk))
    async for part in result.partitions(chunk):
        yield list(part)


class SqliteSnapshot:
    """One read transaction on the SQLite file, for a thread that reads the whole log.

    Verification is bound by per-row work under the GIL; reading and hashing in
    one thread, through the driver's own cursor, is about half as costly again
    as handing chunks between the driver's thread and a hashing thread, which
    then fight over the GIL. A deferred read transaction in WAL mode is a
    snapshot that writers do not wait for. Blocking: use it from a thread.
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        # Not `mode=ro`: a read-only connection cannot open a WAL database whose
        # -shm file is gone, which happens when the last other connection closes.
        self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self._conn.execute("PRAGMA query_only = ON")
        self._conn.execute("BEGIN")

    def __enter__(self) -> SqliteSnapshot:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()

    def head(self) -> tuple[int, int]:
        """(size, checkpoint size) of the head row."""
        query = "SELECT size, checkpoint_size FROM audit_head WHERE id = ?"
        size, checkpoint_size = self._conn.execute(query, (HEAD_ID,)).fetchone()
        return int(size), int(checkpoint_size)

    def checkpoints(self) -> list[Checkpoint]:
        query = "SELECT size, root, at, key_id, signature FROM audit_checkpoints ORDER BY size"
        return [
            Checkpoint(size, root, datetime.fromisoformat(at).replace(tzinfo=UTC), key, sig)
            for size, root, at, key, sig in self._conn.execute(query)
        ]

    def rows(self, chunk: int) -> Iterator[list[Sequence[Any]]]:
        """Every event in sequence order, `at` as stored (text), leaf hash last."""
        cursor = self._conn.execute(_SQLITE_SELECT)
        while rows := cursor.fetchmany(chunk):
            yield rows
