"""The job runner of this node, and every kind of job the service runs.

The runner is core's (core/jobs/); what each kind does belongs to the package
that owns the work, and is wired here, in the composition root, because a
handler may need several packages (delivering a notice needs scheduling and
the signalling hub). Add a kind by registering it in `register_kinds`.

Kinds today (docs/jobs.md has the table):

- `scheduling.reminders`, every minute: `produce_due_reminders` queues the
  24 h and 15 min reminders into `notifications`.
- `scheduling.lockdown_end`, at a lockdown's end time: `end_lockdown` lifts it
  (and logs it) if nobody did.
- `scheduling.close_windows`, every minute: `close_windows` marks appointments
  whose window closed with no outcome `not_recorded` (safe to repeat: each is
  a guarded state change).
- `jobs.prune`, every hour: forgets finished jobs (a week; failed ones 30 days).

Delivery of what `notifications` holds (the inbox, live pushes, email) is not
a kind yet: the delivery work registers `notifications.deliver` here, reading
`SchedulingService.pending_notifications` and calling `mark_delivered`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from core.jobs import PRUNE, JobContext, JobRunner, prune_finished
from scheduling import SchedulingService
from scheduling.lockdown import END_JOB
from scheduling.misses import CLOSE_JOB
from web.state import CLOCK, DATABASE, JOBS, METRICS, SCHEDULING, SETTINGS

log = logging.getLogger(__name__)

REMINDERS = "scheduling.reminders"


def register_kinds(runner: JobRunner, scheduling: SchedulingService) -> None:
    async def reminders(ctx: JobContext) -> None:
        # Safe to repeat: each reminder has a dedupe key in `notifications`.
        made = await scheduling.produce_due_reminders()
        if made:
            log.info("queued %d reminder(s)", made)

    async def lockdown_end(ctx: JobContext) -> None:
        lockdown_id = ctx.payload.get("lockdown_id")
        if not isinstance(lockdown_id, str):
            raise ValueError("lockdown_end needs a lockdown_id")
        await scheduling.end_lockdown(lockdown_id)

    async def close_windows(ctx: JobContext) -> None:
        marked = await scheduling.close_windows()
        if marked:
            log.info("marked %d appointment(s) not recorded", marked)

    runner.register(REMINDERS, reminders, every=timedelta(minutes=1), timeout=120)
    runner.register(CLOSE_JOB, close_windows, every=timedelta(minutes=1), timeout=120)
    runner.register(END_JOB, lockdown_end, max_attempts=10)
    runner.register(PRUNE, prune_finished, every=timedelta(hours=1), max_attempts=3)


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    runner = JobRunner(
        app[DATABASE],
        app[CLOCK],
        node=settings.node_name,
        workers=settings.job_workers,
        poll_s=settings.job_poll_ms / 1000,
        lease_s=settings.job_lease_seconds,
    )
    register_kinds(runner, app[SCHEDULING])
    app[METRICS].watch_jobs(runner.stats)
    app[JOBS] = runner
    await runner.start()
    yield
    await runner.stop()
