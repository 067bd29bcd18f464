"""Verify the whole log in the database, streaming, with an optional progress callback.

On SQLite one thread reads and hashes (`store.SqliteSnapshot`): the work is
per row and under the GIL, so two threads handing chunks to each other only
fight over it. On PostgreSQL the rows arrive on the event loop and each chunk
is hashed in a thread while the next is fetched. Either way the whole read is
one snapshot (a read transaction in WAL mode; REPEATABLE READ), so appends that
land meanwhile are simply not seen, rather than seen by one query and not
another, and they are not held up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from audit import store
from audit.checkpoint_files import Kept, read_directory, read_kept_file
from audit.checkpoints import Checkpoint
from audit.log import AuditLog
from audit.verify import LogVerifier, Report
from core.db.engine import Database

Progress = Callable[[int, int], None]


async def verify_database(
    db: Database,
    public_raw: bytes,
    *,
    kept: Sequence[Checkpoint] = (),
    max_gap: int | None = None,
    progress: Progress | None = None,
    chunk: int = 5000,
) -> Report:
    """Verify every event and checkpoint, and the head row.

    `kept` are checkpoints from outside the database (read them *before*
    calling, so none is newer than the snapshot); `max_gap` is the longest
    stretch of events the log's policy allows without a checkpoint.
    """
    if db.is_sqlite:
        path = db.engine.url.database
        if path and path != ":memory:":
            return await asyncio.to_thread(
                _verify_sqlite, Path(path), public_raw, kept, max_gap, progress, chunk
            )
    async with db.connect() as raw_conn:
        conn = raw_conn
        if db.dialect == "postgresql":
            conn = await raw_conn.execution_options(isolation_level="REPEATABLE READ")
        checkpoints = await store.checkpoints(conn)
        head = await store.read_head(conn)
        verifier = LogVerifier(public_raw, checkpoints, kept=kept, max_gap=max_gap)
        chunks = aiter(store.stream_rows(conn, chunk=chunk, raw_time=True))
        current: list[Sequence[Any]] | None = await anext(chunks, None)
        while current is not None:
            hashing = asyncio.ensure_future(asyncio.to_thread(verifier.feed, current))
            try:
                upcoming = await anext(chunks, None)
            finally:
                ok = await hashing
            if progress is not None:
                progress(verifier.size, head.size)
            if not ok:
                break
            current = upcoming
        return await asyncio.to_thread(verifier.finish, head.size, head.checkpoint_size)


def _verify_sqlite(
    path: Path,
    public_raw: bytes,
    kept: Sequence[Checkpoint],
    max_gap: int | None,
    progress: Progress | None,
    chunk: int,
) -> Report:
    with store.SqliteSnapshot(path) as snapshot:
        size, checkpoint_size = snapshot.head()
        verifier = LogVerifier(public_raw, snapshot.checkpoints(), kept=kept, max_gap=max_gap)
        for rows in snapshot.rows(chunk):
            ok = verifier.feed(rows)
            if progress is not None:
                progress(verifier.size, size)
            if not ok:
                break
    return verifier.finish(size, checkpoint_size)


def _read_kept(directory: Path | None, file: Path | None) -> Kept:
    kept = Kept()
    if directory is not None:
        kept.add(read_directory(directory))
    if file is not None:
        kept.add(read_kept_file(file))
    return kept


async def verify_log(
    log: AuditLog, *, kept_file: Path | None = None, progress: Progress | None = None
) -> Report:
    """Verify the log as this node knows it: its checkpoint files, its checkpoint policy.

    `kept_file` is a checkpoint (or a file or bundle of them) kept by someone
    else; it must read cleanly (`CheckpointFileError` otherwise).
    """
    await log.kept()
    directory = log.checkpoint_file.directory if log.checkpoint_file is not None else None
    kept = await asyncio.to_thread(_read_kept, directory, kept_file)
    report = await verify_database(
        log.db,
        log.signer.public_raw,
        kept=kept.checkpoints,
        max_gap=log.max_gap,
        progress=progress,
    )
    if kept.files == 0 and directory is not None:
        report.notes.append(f"no checkpoint is kept outside the database yet (in {directory})")
    report.notes.extend(f"ignored a damaged checkpoint line: {where}" for where in kept.damaged)
    return report
