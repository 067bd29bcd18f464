"""Batched kinds on both stores: many due jobs done in one go, each still once in
effect; a batch that fails, or holds a job it lost, is done job by job instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.clock import FakeClock
from core.db import Database
from core.db.schema import jobs
from core.jobs import (
    BatchContext,
    BatchHandler,
    JobContext,
    JobRunner,
    JobStatus,
    LeaseLost,
    insert_job,
)
from core.jobs.types import Handler

LEASE_S = 30.0


@pytest.fixture
async def runners(db: Database, clock: FakeClock) -> AsyncIterator[list[JobRunner]]:
    made: list[JobRunner] = []
    yield made
    for runner in made:
        await runner.stop()


def make(
    runners: list[JobRunner], db: Database, clock: FakeClock, node: str, workers: int
) -> JobRunner:
    runner = JobRunner(
        db, clock, node=node, workers=workers, lease_s=LEASE_S, poll_s=0.05, stop_grace_s=0.1
    )
    runners.append(runner)
    return runner


async def effects(db: Database) -> list[str]:
    """The job each follow-up was written for (one per job done in effect)."""
    async with db.connect() as conn:
        rows = await conn.execute(select(jobs.c.payload).where(jobs.c.kind == "follow-up"))
        return sorted(r.payload for r in rows)


async def statuses(db: Database, kind: str) -> dict[JobStatus, int]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(jobs.c.status, func.count()).where(jobs.c.kind == kind).group_by(jobs.c.status)
        )
        return {JobStatus(s): int(n) for s, n in rows}


def handlers(sizes: list[int]) -> tuple[Handler, BatchHandler]:
    """A job's effect is a follow-up row written with its completion."""

    async def one(ctx: JobContext) -> None:
        if ctx.payload.get("bad"):
            raise ValueError("bad job")
        async with ctx.transaction() as conn:
            await insert_job(conn, "follow-up", {"of": ctx.id}, due_at=ctx.now(), now=ctx.now())

    async def many(ctx: BatchContext) -> None:
        sizes.append(len(ctx.jobs))
        if any(job.payload.get("bad") for job in ctx.jobs):
            raise ValueError("a bad job in the batch")
        async with ctx.transaction() as conn:
            for job in ctx.jobs:
                await insert_job(conn, "follow-up", {"of": job.id}, due_at=ctx.now(), now=ctx.now())

    return one, many


async def test_due_jobs_of_a_batched_kind_are_done_together_each_once(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock, "a", workers=2)
    sizes: list[int] = []
    one, many = handlers(sizes)
    all_done = asyncio.Event()

    done = 0

    async def counted_one(ctx: JobContext) -> None:
        nonlocal done
        await one(ctx)
        done += 1
        if done == 45:
            all_done.set()

    async def counted(ctx: BatchContext) -> None:
        nonlocal done
        await many(ctx)
        done += len(ctx.jobs)
        if done == 45:
            all_done.set()

    runner.register("work", counted_one, batch=counted, batch_size=10)
    ids = [await runner.schedule(None, "work", {"n": i}) for i in range(45)]
    await runner.start()
    await asyncio.wait_for(all_done.wait(), 30)
    await runner.stop()
    assert await effects(db) == sorted(f'{{"of":"{i}"}}' for i in ids)
    assert await statuses(db, "work") == {JobStatus.DONE: 45}
    assert max(sizes) == 10, "claimed ahead and done ten at a time"
    assert runner.stats.runs[("work", "done")] == 45


async def test_a_failing_batch_is_done_job_by_job_and_only_the_bad_one_retries(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock, "a", workers=4)
    sizes: list[int] = []
    one, many = handlers(sizes)
    runner.register("work", one, batch=many, batch_size=10, backoff=60)
    for i in range(3):
        await runner.schedule(None, "work", {"n": i})
    bad = await runner.schedule(None, "work", {"bad": True})
    assert await runner.run_due() == 4
    assert sizes == [4]
    assert len(await effects(db)) == 3
    job = await runner.status(bad)
    assert job is not None
    assert (job.status, job.attempts, job.last_error) == (JobStatus.PENDING, 1, "ValueError")
    assert job.available_at == clock.now() + timedelta(seconds=60)
    assert await statuses(db, "work") == {JobStatus.DONE: 3, JobStatus.PENDING: 1}


async def test_a_batch_that_lost_a_lease_commits_nothing_and_each_job_is_done_once(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    """The slow holder's batch finds its leases taken: its writes roll back, its
    fallback finds each job lost, and every job's effect is there exactly once."""
    slow, fast = make(runners, db, clock, "slow", 4), make(runners, db, clock, "fast", 1)
    claimed, resume = asyncio.Event(), asyncio.Event()
    sizes: list[int] = []
    one, many = handlers(sizes)
    lost: list[int] = []

    async def slow_many(ctx: BatchContext) -> None:
        claimed.set()
        await resume.wait()
        try:
            await many(ctx)
        except LeaseLost:
            lost.append(len(ctx.jobs))
            raise

    slow.register("work", one, batch=slow_many, batch_size=10)
    fast.register("work", one)
    ids = [await slow.schedule(None, "work", {"n": i}) for i in range(4)]
    first = asyncio.create_task(slow.run_due())
    await claimed.wait()
    assert await fast.run_due() == 0, "the leases are still good"
    clock.advance(seconds=LEASE_S + 1)
    assert await fast.run_due() == 4
    resume.set()
    await first
    assert lost == [4]
    assert await effects(db) == sorted(f'{{"of":"{i}"}}' for i in ids)
    assert await statuses(db, "work") == {JobStatus.DONE: 4}
    assert slow.stats.runs[("work", "lost")] == 4


async def test_a_batched_kind_cannot_be_recurring_or_of_one(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock, "a", 1)
    one, many = handlers([])
    with pytest.raises(ValueError):
        runner.register("a", one, batch=many, every=60)
    with pytest.raises(ValueError):
        runner.register("b", one, batch=many, batch_size=1)
    assert runner.kinds == {}
