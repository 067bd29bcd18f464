"""The job runner on both stores: due work runs once, failures retry with back-off,
a lapsed lease passes the job on, and the first holder's late writes are refused."""

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
    PRUNE,
    Backoff,
    JobContext,
    JobRunner,
    JobStatus,
    LeaseLost,
    insert_job,
    prune_finished,
)

LEASE_S = 30.0


@pytest.fixture
async def runners(db: Database, clock: FakeClock) -> AsyncIterator[list[JobRunner]]:
    made: list[JobRunner] = []
    yield made
    for runner in made:
        await runner.stop()


def make(
    runners: list[JobRunner], db: Database, clock: FakeClock, node: str = "a", workers: int = 4
) -> JobRunner:
    runner = JobRunner(
        db, clock, node=node, workers=workers, lease_s=LEASE_S, poll_s=0.05, stop_grace_s=0.1
    )
    runners.append(runner)
    return runner


async def count(db: Database, kind: str) -> int:
    async with db.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).where(jobs.c.kind == kind))).scalar_one()
        )


async def test_a_due_job_runs_once_and_is_then_done(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)
    seen: list[dict[str, object]] = []

    async def remember(ctx: JobContext) -> None:
        seen.append(ctx.payload)

    runner.register("remember", remember)
    job_id = await runner.schedule(None, "remember", {"appointment": "a-1"})
    assert await runner.run_due() == 1
    assert await runner.run_due() == 0
    assert seen == [{"appointment": "a-1"}]
    job = await runner.status(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.finished_at) == (JobStatus.DONE, 1, clock.now())


async def test_a_job_waits_for_its_due_time(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)
    ran: list[str] = []

    async def later(ctx: JobContext) -> None:
        ran.append(ctx.id)

    runner.register("later", later)
    await runner.schedule(None, "later", due_at=clock.now() + timedelta(minutes=15))
    assert await runner.run_due() == 0
    clock.advance(minutes=15)
    assert await runner.run_due() == 1
    assert len(ran) == 1


async def test_the_same_key_schedules_one_job(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)
    ran: list[str] = []

    async def once(ctx: JobContext) -> None:
        ran.append(ctx.id)

    runner.register("once", once)
    first = await runner.schedule(None, "once", {"n": 1}, key="reminder:a-1")
    async with db.begin() as conn:
        second = await runner.schedule(conn, "once", {"n": 2}, key="reminder:a-1")
    assert first == second
    await runner.run_due()
    assert await runner.schedule(None, "once", {"n": 3}, key="reminder:a-1") == first
    assert await runner.run_due() == 0
    assert ran == [first]


async def test_a_failing_job_is_retried_with_back_off_then_given_up(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)
    attempts: list[int] = []

    async def flaky(ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        raise ConnectionRefusedError("smtp said no to jane@example.org")

    runner.register("flaky", flaky, max_attempts=3, backoff=Backoff(timedelta(seconds=10)))
    job_id = await runner.schedule(None, "flaky")
    assert await runner.run_due() == 1
    job = await runner.status(job_id)
    assert job is not None
    assert (job.status, job.last_error) == (JobStatus.PENDING, "ConnectionRefusedError")
    clock.advance(seconds=9)
    assert await runner.run_due() == 0, "the first retry waits 10 s"
    clock.advance(seconds=1)
    assert await runner.run_due() == 1
    clock.advance(seconds=19)
    assert await runner.run_due() == 0, "the second waits twice as long"
    clock.advance(seconds=1)
    assert await runner.run_due() == 1
    clock.advance(hours=1)
    assert await runner.run_due() == 0
    assert attempts == [1, 2, 3]
    job = await runner.status(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.FAILED, 3)
    assert job.last_error == "ConnectionRefusedError", "the type, never the exception's text"
    assert runner.stats.runs[("flaky", "retry")] == 2
    assert runner.stats.runs[("flaky", "failed")] == 1


async def test_a_job_that_overruns_its_timeout_is_interrupted_and_retried(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)

    async def hangs(ctx: JobContext) -> None:
        await asyncio.sleep(3600)

    runner.register("hangs", hangs, timeout=0.05)
    job_id = await runner.schedule(None, "hangs")
    assert await runner.run_due() == 1
    job = await runner.status(job_id)
    assert job is not None
    assert (job.status, job.last_error, job.attempts) == (JobStatus.PENDING, "timeout", 1)


async def test_a_lapsed_lease_passes_the_job_on_and_the_first_holder_cannot_commit(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    """The effect (here: a follow-up job) is written with the completion, so the
    slow first holder's write is rolled back and the work is done once."""
    slow, fast = make(runners, db, clock, "slow"), make(runners, db, clock, "fast")
    claimed, resume = asyncio.Event(), asyncio.Event()
    outcomes: list[str] = []

    async def follow_up(ctx: JobContext) -> None:
        if ctx.attempt == 1:
            claimed.set()
            await resume.wait()
        try:
            async with ctx.transaction() as conn:
                await insert_job(conn, "follow-up", {"of": ctx.id}, due_at=ctx.now(), now=ctx.now())
        except LeaseLost:
            outcomes.append("lost")
            raise
        outcomes.append(f"done by attempt {ctx.attempt}")

    for runner in (slow, fast):
        runner.register("work", follow_up)
    job_id = await slow.schedule(None, "work")
    first = asyncio.create_task(slow.run_due())
    await claimed.wait()
    assert await fast.run_due() == 0, "the lease is still good"
    clock.advance(seconds=LEASE_S + 1)
    assert await fast.run_due() == 1
    resume.set()
    await first
    assert outcomes == ["done by attempt 2", "lost"]
    assert await count(db, "follow-up") == 1
    job = await slow.status(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.DONE, 2)
    assert slow.stats.runs[("work", "lost")] == 1


async def test_a_runner_that_dies_holding_a_lease_leaves_the_job_to_another(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    dying, other = make(runners, db, clock, "dying"), make(runners, db, clock, "other")
    holding = asyncio.Event()
    done_by: list[str] = []

    async def work(ctx: JobContext) -> None:
        if ctx.attempt == 1:
            holding.set()
            await asyncio.sleep(3600)
        done_by.append(ctx.id)

    dying.register("work", work)
    other.register("work", work)
    job_id = await dying.schedule(None, "work")
    died = asyncio.create_task(dying.run_due())
    await holding.wait()
    died.cancel()  # no hand-back: as if the process were killed
    await asyncio.gather(died, return_exceptions=True)
    assert await other.run_due() == 0
    clock.advance(seconds=LEASE_S + 1)
    assert await other.run_due() == 1
    assert done_by == [job_id]


async def test_a_recurring_kind_runs_at_its_interval_and_outlives_failures(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)
    runs: list[int] = []

    async def sweep(ctx: JobContext) -> None:
        runs.append(ctx.attempt)
        if len(runs) == 2:
            raise RuntimeError("store hiccup")

    runner.register("sweep", sweep, every=timedelta(minutes=1), max_attempts=1)
    assert await runner.run_due() == 1, "due at start"
    assert await runner.run_due() == 0
    clock.advance(minutes=1)
    assert await runner.run_due() == 1
    clock.advance(minutes=10)
    assert await runner.run_due() == 1, "a long gap is one catch-up run, not ten"
    assert runs == [1, 1, 1]
    assert await count(db, "sweep") == 1
    [row] = await runner.jobs(kind="sweep")
    assert row.status == JobStatus.PENDING
    assert row.due_at == clock.now() + timedelta(minutes=1)


async def test_a_recurring_kind_is_one_row_however_many_nodes_start(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    async def sweep(ctx: JobContext) -> None:
        pass

    nodes = [make(runners, db, clock, f"n{i}") for i in range(3)]
    for runner in nodes:
        runner.register("sweep", sweep, every=60)
    await asyncio.gather(*(runner.run_due() for runner in nodes))
    assert await count(db, "sweep") == 1
    with pytest.raises(ValueError, match="recurring"):
        await nodes[0].schedule(None, "sweep")


async def test_a_cancelled_job_does_not_run_and_a_running_one_cannot_complete(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)
    started, resume = asyncio.Event(), asyncio.Event()
    committed: list[str] = []

    async def work(ctx: JobContext) -> None:
        started.set()
        await resume.wait()
        async with ctx.transaction():
            committed.append(ctx.id)

    runner.register("work", work)
    waiting = await runner.schedule(None, "work", due_at=clock.now() + timedelta(hours=1))
    assert await runner.cancel(waiting)
    assert not await runner.cancel(waiting), "cancelled already"
    running = await runner.schedule(None, "work")
    task = asyncio.create_task(runner.run_due())
    await started.wait()
    assert await runner.cancel(running)
    resume.set()
    await task
    clock.advance(hours=2)
    assert await runner.run_due() == 0
    assert committed == [running], "the body ran, but its transaction was rolled back"
    job = await runner.status(running)
    assert job is not None
    assert job.status == JobStatus.CANCELLED
    assert runner.stats.runs[("work", "lost")] == 1


async def test_a_failed_job_can_be_run_again_from_its_first_attempt(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)
    fail = [True]

    async def work(ctx: JobContext) -> None:
        if fail[0]:
            raise OSError

    runner.register("work", work, max_attempts=1)
    job_id = await runner.schedule(None, "work")
    await runner.run_due()
    fail[0] = False
    assert await runner.reschedule(job_id)
    assert await runner.run_due() == 1
    job = await runner.status(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.DONE, 1)


async def test_the_running_loop_picks_up_work_and_hands_it_back_on_stop(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock, workers=2)
    quick_done, slow_started = asyncio.Event(), asyncio.Event()

    async def quick(ctx: JobContext) -> None:
        quick_done.set()

    async def slow(ctx: JobContext) -> None:
        slow_started.set()
        await asyncio.sleep(3600)

    runner.register("quick", quick)
    runner.register("slow", slow)
    await runner.start()
    quick_id = await runner.schedule(None, "quick")
    slow_id = await runner.schedule(None, "slow")
    await asyncio.wait_for(asyncio.gather(quick_done.wait(), slow_started.wait()), 30)
    await runner.stop()
    quick_job, slow_job = await runner.status(quick_id), await runner.status(slow_id)
    assert quick_job is not None and slow_job is not None
    assert quick_job.status == JobStatus.DONE
    assert (slow_job.status, slow_job.attempts, slow_job.lease_owner) == (
        JobStatus.PENDING,
        0,
        None,
    ), "handed back, the interrupted attempt not counted"


async def test_bad_schedules_are_refused_and_change_nothing(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)

    async def work(ctx: JobContext) -> None:
        pass

    runner.register("work", work)
    with pytest.raises(ValueError, match="not registered"):
        await runner.schedule(None, "wrok")
    with pytest.raises(ValueError, match="JSON values"):
        await runner.schedule(None, "work", {"when": clock.now()})
    with pytest.raises(ValueError, match="16 KiB"):
        await runner.schedule(None, "work", {"blob": "x" * 20_000})
    with pytest.raises(ValueError, match="already registered"):
        runner.register("work", work)
    assert await count(db, "work") == 0


async def test_counts_show_the_backlog_and_how_long_it_has_waited(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)

    async def work(ctx: JobContext) -> None:
        pass

    runner.register("work", work)
    for _ in range(3):
        await runner.schedule(None, "work")
    await runner.schedule(None, "work", due_at=clock.now() + timedelta(days=1))
    clock.advance(seconds=90)
    stats = await runner.refresh_counts()
    assert (stats.by_status["pending"], stats.due, stats.oldest_due_s) == (4, 3, 90.0)


async def test_pruning_forgets_finished_jobs_after_a_week_and_failed_after_a_month(
    db: Database, clock: FakeClock, runners: list[JobRunner]
) -> None:
    runner = make(runners, db, clock)

    async def work(ctx: JobContext) -> None:
        if ctx.payload["fail"]:
            raise OSError

    runner.register("work", work, max_attempts=1)
    runner.register(PRUNE, prune_finished, every=timedelta(hours=1))
    done = await runner.schedule(None, "work", {"fail": False})
    failed = await runner.schedule(None, "work", {"fail": True})
    waiting = await runner.schedule(
        None, "work", {"fail": False}, due_at=clock.now() + timedelta(days=60)
    )
    await runner.run_due()
    clock.advance(days=8)
    await runner.run_due()
    assert await runner.status(done) is None
    assert await runner.status(failed) is not None
    clock.advance(days=30)
    await runner.run_due()
    assert await runner.status(failed) is None
    assert await runner.status(waiting) is not None
