"""Verify the whole log in the database, streaming, with an optional progress callback.

Reading the next chunk overlaps with hashing the current one (the driver's
thread and the hashing thread), which is most of what makes verification fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from audit import store
from audit.verify import LogVerifier, Report
from core.db.engine import Database

Progress = Callable[[int, int], None]


async def verify_database(
    db: Database, public_raw: bytes, *, progress: Progress | None = None, chunk: int = 5000
) -> Report:
    async with db.connect() as conn:
        checkpoints = await store.checkpoints(conn)
        head = await store.read_head(conn)
        verifier = LogVerifier(public_raw, checkpoints)
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
        return verifier.finish(head.size)
