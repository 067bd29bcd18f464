"""What a handler is given: the job, and the one transaction that completes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.jobs import store
from core.jobs.types import Job


class JobContext:
    """One attempt at one job.

    A handler whose work is writes to the store makes them inside
    `transaction()`: the job is marked done in that same transaction, fenced on
    this attempt's lease, so the writes commit exactly once however many nodes
    run and whichever of them dies. A handler whose work leaves the store (an
    email, an HTTP POST) is at least once: it passes `idempotency_key` to the
    receiver, which is the same on every retry of this job.
    """

    def __init__(
        self,
        job: Job,
        *,
        db: Database,
        clock: Clock,
        owner: str,
        next_due: datetime | None,
    ) -> None:
        self.job = job
        self._db = db
        self._clock = clock
        self._owner = owner
        self._next_due = next_due
        self.completed = False

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def kind(self) -> str:
        return self.job.kind

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def attempt(self) -> int:
        """1 on the first try, 2 on the first retry, and so on."""
        return self.job.attempts

    @property
    def due_at(self) -> datetime:
        return self.job.due_at

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of this job; a recurring kind's runs each have their own."""
        if self._next_due is None:
            return self.job.id
        return f"{self.job.id}@{self.job.due_at.isoformat()}"

    def now(self) -> datetime:
        return self._clock.now()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """The handler's writes and the job's completion, committed together or not at all.

        Raises `LeaseLost` (and rolls back) if the job is no longer this
        attempt's: its lease lapsed and another runner took it, or it was cancelled.
        """
        if self.completed:
            raise RuntimeError("a job's completing transaction runs once")
        async with self._db.begin() as conn:
            yield conn
            await self.complete_in(conn)

    async def complete_in(self, conn: AsyncConnection) -> None:
        """Mark the job done in the caller's transaction (what `transaction()` does)."""
        await store.finish(
            conn, self.job, owner=self._owner, now=self._clock.now(), next_due=self._next_due
        )
        self.completed = True


class BatchContext:
    """One attempt at several due jobs of one batched kind, done together.

    `transaction()` completes every one of them in the transaction of the
    handler's writes, each fenced on its own lease as `JobContext.transaction`
    is: if any of them is no longer this attempt's, the whole transaction rolls
    back (`LeaseLost`) and the runner runs each job on its own, with its own
    handler, fence, retries and back-off. A batch is an optimisation, never a
    different guarantee.
    """

    def __init__(self, batch: list[Job], *, db: Database, clock: Clock, owner: str) -> None:
        self.jobs = batch
        self._db = db
        self._clock = clock
        self._owner = owner
        self.completed = False

    @property
    def kind(self) -> str:
        return self.jobs[0].kind

    def now(self) -> datetime:
        return self._clock.now()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """The handler's writes and every job's completion, together or not at all."""
        if self.completed:
            raise RuntimeError("a batch's completing transaction runs once")
        async with self._db.begin() as conn:
            yield conn
            await self.complete_in(conn)

    async def complete_in(self, conn: AsyncConnection) -> None:
        await store.finish_many(conn, self.jobs, owner=self._owner, now=self._clock.now())
        self.completed = True
