"""The job runner: a claimer, a heartbeat and a bounded set of running jobs per node.

Each node runs one `JobRunner`. Its claimer takes as many due jobs as it has
free workers and a few ahead, in one statement, and runs each in its own task
under the kind's timeout; its heartbeat renews the leases of everything it holds. A node that
dies stops renewing: its leases lapse and any other node claims those jobs
again (the attempt counts). A node that stops cleanly hands its jobs back at
once, the interrupted attempt not counted.

Nothing here knows what a job does: kinds are registered by the composition
root (web/jobs.py) before `start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.jobs import store
from core.jobs.context import BatchContext, JobContext
from core.jobs.types import (
    LEASE_LOST,
    TIMEOUT,
    Backoff,
    BatchHandler,
    Handler,
    Job,
    Kind,
    LeaseLost,
)

log = logging.getLogger(__name__)

PRUNE = "jobs.prune"
KEEP_ENDED = timedelta(days=7)
KEEP_FAILED = timedelta(days=30)
STOP_GRACE_S = 5.0
"""How long a stopping node lets running jobs finish before it interrupts them."""
STORE_ERRORS = (OSError, SQLAlchemyError)
MIN_PREFETCH = 4
"""A busy node claims this many ahead (or one per worker, if more): one claim
then serves several jobs, where claiming one at a time cost a transaction each
(bench/jobs.py: CPU per job 2.7 times the bare loop's)."""
BATCH_SIZE = 100
"""Jobs of a batched kind done in one go, by default."""


def next_occurrence(due_at: datetime, every: timedelta, now: datetime) -> datetime:
    """The first of due_at + k*every after now: a node that was down for hours
    runs a recurring job once on its return, not once per missed interval."""
    if due_at + every > now:
        return due_at + every
    missed = (now - due_at) // every
    return due_at + (missed + 1) * every


@dataclass
class JobStats:
    """This node's runs since start, for /metrics: (kind, outcome) -> count."""

    runs: dict[tuple[str, str], int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    due: int = 0
    oldest_due_s: float = 0.0

    def record(self, kind: str, outcome: str, seconds: float) -> None:
        self.runs[(kind, outcome)] = self.runs.get((kind, outcome), 0) + 1
        self.seconds[kind] = self.seconds.get(kind, 0.0) + seconds


class JobRunner:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        node: str,
        workers: int = 4,
        poll_s: float = 1.0,
        lease_s: float = 60.0,
        stop_grace_s: float = STOP_GRACE_S,
        prefetch: int | None = None,
    ) -> None:
        if workers < 0 or poll_s <= 0 or lease_s <= 0:
            raise ValueError("workers >= 0, poll and lease > 0")
        self._db = db
        self._clock = clock
        self.owner = f"{node}/{secrets.token_hex(4)}"
        """Unique per process: two nodes configured with the same name never share leases."""
        self.workers = workers
        self._poll_s = poll_s
        self._lease = timedelta(seconds=lease_s)
        self._stop_grace_s = stop_grace_s
        self._kinds: dict[str, Kind] = {}
        self.stats = JobStats()
        self._prefetch = max(workers, MIN_PREFETCH) if prefetch is None else prefetch
        """Jobs claimed beyond the free workers, waiting in `_queue` (their leases held)."""
        self._queue: deque[Job] = deque()
        self._running: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._recurring_ready = False

    # ------------------------------------------------------------ set-up

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = 5,
        backoff: Backoff | float = 30.0,
        timeout: timedelta | float = 300.0,
        every: timedelta | float | None = None,
        batch: BatchHandler | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        """Say how jobs of `kind` run. `backoff` and `timeout` in seconds or as
        objects; `every` makes the kind recurring (one row, run at that interval).

        `batch` (not for recurring kinds) does up to `batch_size` due jobs of the
        kind at once, in one transaction completing them all (`BatchContext`),
        under `timeout`: many jobs due together (a burst of reminders) then cost a
        few round trips to the store instead of a few each. If a batch fails in any
        way before it completes, its jobs are run one by one with `handler`, each
        with its own fence, retries and back-off, so the guarantees are the
        handler's. A job that comes due alone is run with `handler`.
        """
        if self._loops:
            raise RuntimeError("register job kinds before the runner starts")
        if kind in self._kinds:
            raise ValueError(f"job kind {kind!r} is already registered")
        self._kinds[kind] = Kind(
            name=kind,
            handler=handler,
            max_attempts=max_attempts,
            backoff=backoff if isinstance(backoff, Backoff) else Backoff(_span(backoff)),
            timeout=_span(timeout),
            every=None if every is None else _span(every),
            batch=batch,
            batch_size=batch_size if batch is not None else 1,
        )

    @property
    def kinds(self) -> dict[str, Kind]:
        return dict(self._kinds)

    # ------------------------------------------------------------ scheduling

    async def schedule(
        self,
        conn: AsyncConnection | None,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        due_at: datetime | None = None,
        key: str | None = None,
    ) -> str:
        """Add a job, in the caller's transaction if `conn` is given (so the job
        exists exactly when the change that wants it commits). Returns its id;
        with a `key`, the id of the job already scheduled under it, if any."""
        if kind not in self._kinds:
            raise ValueError(f"job kind {kind!r} is not registered")
        if self._kinds[kind].every is not None:
            raise ValueError(f"job kind {kind!r} is recurring; it schedules itself")
        now = self._clock.now()
        when = now if due_at is None else due_at
        if when.tzinfo is None:
            raise ValueError("due_at must be timezone-aware")
        if conn is None:
            async with self._db.begin() as own:
                job_id = await store.insert_job(own, kind, payload, due_at=when, now=now, key=key)
        else:
            job_id = await store.insert_job(conn, kind, payload, due_at=when, now=now, key=key)
        if when <= now:
            self._wake.set()
        return job_id

    async def status(self, job_id: str) -> Job | None:
        async with self._db.connect() as conn:
            return await store.get(conn, job_id)

    async def jobs(self, **filters: Any) -> list[Job]:
        async with self._db.connect() as conn:
            return await store.find(conn, **filters)

    async def cancel(self, job_id: str) -> bool:
        """True if the job was still to run (or running) and is now cancelled."""
        async with self._db.begin() as conn:
            return await store.cancel(conn, job_id, now=self._clock.now())

    async def reschedule(self, job_id: str, due_at: datetime | None = None) -> bool:
        """Move a pending job, or run a failed one again from its first attempt."""
        when = self._clock.now() if due_at is None else due_at
        async with self._db.begin() as conn:
            moved = await store.reschedule(conn, job_id, due_at=when)
        if moved and when <= self._clock.now():
            self._wake.set()
        return moved

    async def refresh_counts(self) -> JobStats:
        """Read the table's counts into `stats` (for a metrics scrape or the admin page)."""
        async with self._db.connect() as conn:
            by_status, due, lag = await store.counts(conn, now=self._clock.now())
        self.stats.by_status, self.stats.due, self.stats.oldest_due_s = by_status, due, lag
        return self.stats

    # ------------------------------------------------------------ running

    async def start(self) -> None:
        await self._ensure_recurring()
        if self.workers == 0:
            return
        self._loops = [
            asyncio.create_task(self._claim_forever(), name="jobs-claimer"),
            asyncio.create_task(self._heartbeat_forever(), name="jobs-heartbeat"),
        ]

    async def stop(self) -> None:
        """Stop claiming; let running jobs finish briefly, interrupt the rest and
        hand their leases back."""
        self._stopping = True
        self._wake.set()
        self._slot_free.set()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        self._queue.clear()  # claimed, never started: handed back below
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=self._stop_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            async with self._db.begin() as conn:
                released = await store.release_leases(conn, owner=self.owner, now=self._clock.now())
            if released:
                log.info("job runner stopped; %d job(s) handed back", released)
        except STORE_ERRORS as exc:
            log.warning("job runner could not hand its leases back (%s)", type(exc).__name__)

    async def run_due(self, limit: int | None = None) -> int:
        """Claim and run what is due now until nothing is; returns how many ran.

        For the CLI and for tests, which move a fake clock instead of waiting
        for the poll. Runs up to `workers` (at least one) jobs at a time.
        """
        await self._ensure_recurring()
        ran = 0
        width = max(self.workers, 1)
        while limit is None or ran < limit:
            take = width if limit is None else min(width, limit - ran)
            claimed = await self._claim(take, more=False)
            if not claimed:
                break
            queue = deque(claimed)
            units = []
            while queue:
                units.append(self._take_unit(queue))
            await asyncio.gather(*(self._execute_unit(unit) for unit in units))
            ran += len(claimed)
        return ran

    async def _ensure_recurring(self) -> None:
        if self._recurring_ready:
            return
        now = self._clock.now()
        async with self._db.begin() as conn:
            for kind in self._kinds.values():
                if kind.every is not None:
                    await store.ensure_recurring(conn, kind.name, now=now)
        self._recurring_ready = True

    async def _claim(self, limit: int, *, more: bool = True) -> list[Job]:
        """Up to `limit` due jobs; with `more`, for each batched kind among them,
        enough more of that kind (in the same transaction) to fill a batch per
        worker, so a burst of them is claimed in a few statements, not one per job."""
        now = self._clock.now()
        async with self._db.begin() as conn:
            claimed = await store.claim(
                conn, owner=self.owner, kinds=self._kinds, now=now, lease=self._lease, limit=limit
            )
            if not more:
                return claimed
            found: dict[str, int] = {}
            for job in claimed:
                if self._kinds[job.kind].batch is not None:
                    found[job.kind] = found.get(job.kind, 0) + 1
            if len(claimed) < limit:
                return claimed  # everything due is claimed already
            for name, count in found.items():
                size = self._kinds[name].batch_size
                extra = min(count, max(self.workers, 1)) * size - count
                if extra > 0:
                    claimed += await store.claim(
                        conn,
                        owner=self.owner,
                        kinds=[name],
                        now=now,
                        lease=self._lease,
                        limit=extra,
                    )
            return claimed

    def _take_unit(self, queue: deque[Job]) -> list[Job]:
        """The next job in `queue`, with (if its kind is batched) the queued jobs of
        its kind, up to a batch."""
        first = queue.popleft()
        kind = self._kinds[first.kind]
        if kind.batch is None or not queue:
            return [first]
        unit, rest = [first], deque[Job]()
        while queue:
            job = queue.popleft()
            if job.kind == first.kind and len(unit) < kind.batch_size:
                unit.append(job)
            else:
                rest.append(job)
        queue.extend(rest)
        return unit

    async def _claim_forever(self) -> None:
        """Claim when the local queue is empty, as many as the free workers plus
        `prefetch`; start queued jobs as workers come free.

        Claiming a few ahead makes one claim serve several jobs (a claim is a
        transaction of its own); keeping it to a few keeps other nodes' idle
        workers from waiting while this node's queue holds due work.
        """
        while not self._stopping:
            exhausted = False
            if not self._queue:
                room = self.workers + self._prefetch - len(self._running)
                if room <= 0:
                    self._slot_free.clear()
                    await self._slot_free.wait()
                    continue
                self._wake.clear()
                try:
                    claimed = await self._claim(room)
                except STORE_ERRORS as exc:
                    log.warning("job claim failed (%s)", type(exc).__name__)
                    claimed = []
                self._queue.extend(claimed)
                exhausted = len(claimed) < room
            while self._queue and len(self._running) < self.workers:
                unit = self._take_unit(self._queue)
                task = asyncio.create_task(self._execute_unit(unit), name=f"job:{unit[0].kind}")
                self._running.add(task)
                task.add_done_callback(self._finished)
            if self._queue:
                self._slot_free.clear()
                await self._slot_free.wait()
            elif exhausted:
                # Nothing more is due: sleep until the poll or a local schedule.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await self._wake.wait()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_free.set()

    async def _heartbeat_forever(self) -> None:
        interval = self._lease.total_seconds() / 3
        while not self._stopping:
            await asyncio.sleep(interval)
            if not self._running and not self._queue:
                continue
            try:
                async with self._db.begin() as conn:
                    await store.extend_leases(
                        conn, owner=self.owner, until=self._clock.now() + self._lease
                    )
            except STORE_ERRORS as exc:
                log.warning("job lease renewal failed (%s)", type(exc).__name__)

    async def _execute_unit(self, unit: list[Job]) -> None:
        if len(unit) == 1:
            await self._execute(unit[0])
        else:
            await self._execute_batch(unit)

    async def _execute_batch(self, batch: list[Job]) -> None:
        """Several due jobs of one batched kind together; if that fails before
        they are completed, each on its own (see `register`)."""
        kind = self._kinds[batch[0].kind]
        spent = [job for job in batch if job.attempts > kind.max_attempts]
        batch = [job for job in batch if job.attempts <= kind.max_attempts]
        for job in spent:
            await self._execute(job)  # fails it as lease_lost, as alone
        if len(batch) < 2 or kind.batch is None:
            for job in batch:
                await self._execute(job)
            return
        ctx = BatchContext(batch, db=self._db, clock=self._clock, owner=self.owner)
        started = time.monotonic()
        try:
            async with asyncio.timeout(kind.timeout.total_seconds()):
                await kind.batch(ctx)
            if not ctx.completed:
                async with self._db.begin() as conn:
                    await ctx.complete_in(conn)
        except Exception as exc:  # the batch's failure is retried job by job
            if not ctx.completed:
                log.info(
                    "a batch of %d %s job(s) failed (%s); running each on its own",
                    len(batch),
                    kind.name,
                    type(exc).__name__,
                )
                for job in batch:
                    await self._execute(job)
                return
            # Completed (committed) and then failed, as a single job's handler
            # may after its transaction: the jobs are done.
            log.warning(
                "a batch of %d %s job(s) failed after completing (%s)",
                len(batch),
                kind.name,
                type(exc).__name__,
            )
        share = (time.monotonic() - started) / len(batch)
        for job in batch:
            self.stats.record(job.kind, "done", share)

    async def _execute(self, job: Job) -> None:
        kind = self._kinds[job.kind]
        next_due = (
            None
            if kind.every is None
            else next_occurrence(job.due_at, kind.every, self._clock.now())
        )
        started = time.monotonic()
        if job.attempts > kind.max_attempts:
            # Its last allowed attempt died with its node (the lease lapsed).
            outcome = await self._failed(job, kind, LEASE_LOST, next_due, retry=False)
            self.stats.record(job.kind, outcome, 0.0)
            return
        ctx = JobContext(job, db=self._db, clock=self._clock, owner=self.owner, next_due=next_due)
        try:
            async with asyncio.timeout(kind.timeout.total_seconds()) as deadline:
                await kind.handler(ctx)
            if not ctx.completed:
                async with self._db.begin() as conn:
                    await ctx.complete_in(conn)
            outcome = "done"
        except LeaseLost:
            log.warning("job %s (%s) lost its lease; another runner has it", job.id, job.kind)
            outcome = "lost"
        except TimeoutError:
            error = TIMEOUT if deadline.expired() else "TimeoutError"
            outcome = await self._failed(job, kind, error, next_due)
        except Exception as exc:  # a handler's failure is the job's, never the runner's
            # The type only: an exception's text may carry what a log must not.
            outcome = await self._failed(job, kind, type(exc).__name__, next_due)
        self.stats.record(job.kind, outcome, time.monotonic() - started)

    async def _failed(
        self, job: Job, kind: Kind, error: str, next_due: datetime | None, *, retry: bool = True
    ) -> str:
        now = self._clock.now()
        again = retry and job.attempts < kind.max_attempts
        retry_at = now + kind.backoff.delay(job.attempts) if again else None
        log.warning(
            "job %s (%s) attempt %d failed: %s%s",
            job.id,
            job.kind,
            job.attempts,
            error,
            f"; retry at {retry_at.isoformat()}" if retry_at else "; giving up",
        )
        try:
            async with self._db.begin() as conn:
                held = await store.fail(
                    conn,
                    job,
                    owner=self.owner,
                    now=now,
                    error=error,
                    retry_at=retry_at,
                    next_due=next_due,
                )
        except STORE_ERRORS as exc:
            # The lease will lapse and another attempt will be made.
            log.warning("job %s could not be marked failed (%s)", job.id, type(exc).__name__)
            return "lost"
        if not held:
            return "lost"
        return "retry" if again else "failed"


async def prune_finished(ctx: JobContext) -> None:
    """The handler of `PRUNE` (hourly): forget done and cancelled jobs after a
    week, failed ones after 30 days, so the table stays the size of its work."""
    now = ctx.now()
    async with ctx.transaction() as conn:
        gone = await store.prune(
            conn, ended_before=now - KEEP_ENDED, failed_before=now - KEEP_FAILED
        )
    if gone:
        log.info("pruned %d finished job(s)", gone)


def _span(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)
