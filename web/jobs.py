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
- `scheduling.handover_send`, one per released prisoner with a community-sharing
  consent (queued by `release`, keyed by the hand-over's id): POSTs the FHIR
  Bundle to the establishment's community endpoint (web/handover_send.py),
  retried with back-off; every failure shows on the manager's page.
- `jobs.prune`, every hour: forgets finished jobs (a week; failed ones 30 days).

- `notifications.deliver`, one per notice, due when the notice is (queued by
  scheduling's `_notify` in the transaction of the change, keyed by the
  notice's id): puts it in its inbox (`deliver_notice`, in the job's
  completing transaction, so a retry never makes a second one) and then tells
  the recipient's open sockets on any node (`Hub.push_inbox`).

Email to staff who opt in is one more kind, `notifications.email`: the
deliver handler schedules it (`runner.schedule(conn, EMAIL_JOB, {"notification":
id}, due_at=now, key=id)`) in the same transaction when the recipient has an
address and has opted in, and its handler sends "You have a new message in
Throughcare" with `Message-ID` built from `ctx.idempotency_key` (docs/notifications.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from core.jobs import PRUNE, JobContext, JobRunner, prune_finished
from scheduling import SchedulingService
from scheduling.base import DELIVER_JOB
from scheduling.lockdown import END_JOB
from scheduling.misses import CLOSE_JOB
from scheduling.release import HANDOVER_JOB
from signalling.hub import Hub
from web.handover_send import MAX_ATTEMPTS as HANDOVER_ATTEMPTS
from web.handover_send import handover_handler
from web.state import CLOCK, DATABASE, JOBS, METRICS, SCHEDULING, SETTINGS, SIGNALLING

log = logging.getLogger(__name__)

REMINDERS = "scheduling.reminders"


Push = Callable[[str, str, str], Awaitable[None]]
"""Tell a person's open sockets of a notice: (recipient, notice id, kind). `Hub.push_inbox`."""


def deliver_handler(
    scheduling: SchedulingService, push: Push | None
) -> Callable[[JobContext], Awaitable[None]]:
    """The `notifications.deliver` job: into the inbox once, then a live push."""

    async def deliver(ctx: JobContext) -> None:
        notice = ctx.payload.get("notification")
        if not isinstance(notice, str):
            raise ValueError("notifications.deliver needs a notification")
        async with ctx.transaction() as conn:
            delivered = await scheduling.deliver_notice(conn, notice)
        if delivered is not None and push is not None:
            # After the commit: a node that dies here leaves the notice in the
            # inbox, where the page finds it when it next loads or reconnects.
            await push(delivered[0], notice, delivered[1])

    return deliver


def register_kinds(
    runner: JobRunner, scheduling: SchedulingService, hub: Hub | None = None
) -> None:
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

    push = hub.push_inbox if hub is not None else None
    runner.register(
        DELIVER_JOB, deliver_handler(scheduling, push), max_attempts=10, backoff=5, timeout=60
    )

    async def close_windows(ctx: JobContext) -> None:
        marked = await scheduling.close_windows()
        if marked:
            log.info("marked %d appointment(s) not recorded", marked)

    runner.register(REMINDERS, reminders, every=timedelta(minutes=1), timeout=120)
    runner.register(CLOSE_JOB, close_windows, every=timedelta(minutes=1), timeout=120)
    runner.register(END_JOB, lockdown_end, max_attempts=10)
    # 30 s, 1, 2, 4 ... minutes, then hourly: an endpoint down overnight is still reached.
    runner.register(
        HANDOVER_JOB,
        handover_handler(scheduling),
        max_attempts=HANDOVER_ATTEMPTS,
        backoff=30,
        timeout=90,
    )
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
    register_kinds(runner, app[SCHEDULING], app[SIGNALLING])
    app[METRICS].watch_jobs(runner.stats)
    app[JOBS] = runner
    await runner.start()
    yield
    await runner.stop()
