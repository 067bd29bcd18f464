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
- `interventions.risk_escalate`, one per PHQ-9 risk alert, due 15 minutes after it
  (queued with the answer, keyed by the alert's id): an alert still unacknowledged
  goes to the establishment's healthcare managers' inboxes (interventions/questionnaires.py).
- `kiosk.visit_email`, one per letter to a visitor who gave an email address,
  queued with the booking or cancellation (web/kiosk/visits.py, docs/kiosk-visits.md).
- `jobs.prune`, every hour: forgets finished jobs (a week; failed ones 30 days).
- `media.recordings_retention`, hourly, and `media.recordings_verify`, every
  `recording_verify_hours`: registered by web/recordings_api.py (docs/media.md).

- `notifications.deliver`, one per notice, due when the notice is (queued by
  scheduling's `_notify` in the transaction of the change, keyed by the
  notice's id): puts it in its inbox (`deliver_notice`, in the job's
  completing transaction, so a retry never makes a second one) and then tells
  the recipient's open sockets on any node (`Hub.push_inbox`). Batched: notices
  due together are delivered up to 100 at a time (`deliver_batch_handler`).

- `notifications.email`, one per notice delivered to a staff member who opted
  in (core/access/notice_emails.py), scheduled by the deliver handler in its
  completing transaction (so it exists exactly when the notice is in the
  inbox, once: keyed by the notice's id): sends "You have a new message in
  Throughcare" and a link, never the notice, to the address verified at the
  time of sending, with a `Message-ID` made from the notice's id. A refusing
  or silent SMTP server fails the attempt (`MailRefused`, `MailUnreachable`);
  the runner retries with back-off and an admin sees a job that gave up at
  /admin/jobs. No request waits on SMTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from sqlalchemy import select

from core.access.notice_emails import EMAIL_JOB, address_for, notice_mail
from core.db.engine import Database
from core.jobs import PRUNE, Backoff, BatchContext, JobContext, JobRunner, prune_finished
from core.mail import Mailer, SmtpMailer
from scheduling import SchedulingService
from scheduling.base import DELIVER_JOB
from scheduling.lockdown import END_JOB
from scheduling.misses import CLOSE_JOB
from scheduling.release import HANDOVER_JOB
from scheduling.tables import notifications
from signalling.hub import Hub
from web.handover_send import MAX_ATTEMPTS as HANDOVER_ATTEMPTS
from web.handover_send import handover_handler
from web.interventions import register_jobs as register_interventions
from web.kiosk.visits import register_jobs as register_visits
from web.recordings_api import register_jobs as register_recordings
from web.state import (
    CLOCK,
    DATABASE,
    JOBS,
    MAILER,
    METRICS,
    SCHEDULING,
    SETTINGS,
    SIGNALLING,
)

log = logging.getLogger(__name__)

REMINDERS = "scheduling.reminders"
EMAIL_ATTEMPTS = 10
EMAIL_BACKOFF = Backoff(base=timedelta(minutes=1), cap=timedelta(hours=1))
"""A mail server down for a few hours is waited for (about 8.5 h over ten tries)."""


Push = Callable[[str, str, str], Awaitable[None]]
"""Tell a person's open sockets of a notice: (recipient, notice id, kind). `Hub.push_inbox`."""


def deliver_handler(
    scheduling: SchedulingService, push: Push | None, runner: JobRunner | None = None
) -> Callable[[JobContext], Awaitable[None]]:
    """The `notifications.deliver` job: into the inbox once, then a live push.

    With a `runner` that has `notifications.email` registered, a notice for
    someone who opted in also schedules its email, in the same transaction.
    """
    emails = runner is not None and EMAIL_JOB in runner.kinds

    async def deliver(ctx: JobContext) -> None:
        notice = ctx.payload.get("notification")
        if not isinstance(notice, str):
            raise ValueError("notifications.deliver needs a notification")
        async with ctx.transaction() as conn:
            delivered = await scheduling.deliver_notice(conn, notice)
            if (
                emails
                and runner is not None
                and delivered is not None
                and await address_for(conn, delivered[0]) is not None
            ):
                await runner.schedule(conn, EMAIL_JOB, {"notification": notice}, key=notice)
        if delivered is not None and push is not None:
            # After the commit: a node that dies here leaves the notice in the
            # inbox, where the page finds it when it next loads or reconnects.
            await push(delivered[0], notice, delivered[1])

    return deliver


def deliver_batch_handler(
    scheduling: SchedulingService, push: Push | None, runner: JobRunner | None = None
) -> Callable[[BatchContext], Awaitable[None]]:
    """`notifications.deliver` for many notices due together (a burst of reminders):
    one statement puts them all in their inboxes, one completes their jobs, in one
    transaction; then every push at once. The same effect as `deliver_handler` on
    each, in a few round trips to the store instead of a few per notice. Anything
    wrong with one of them fails the batch before it commits, and the runner then
    delivers each on its own (core/jobs/runner.py)."""
    emails = runner is not None and EMAIL_JOB in runner.kinds

    async def deliver_many(ctx: BatchContext) -> None:
        wanted = [job.payload.get("notification") for job in ctx.jobs]
        notices = [n for n in wanted if isinstance(n, str)]
        if len(notices) != len(wanted):
            raise ValueError("notifications.deliver needs a notification")
        async with ctx.transaction() as conn:
            delivered = await scheduling.deliver_notices(conn, notices)
            if emails and runner is not None and delivered:
                opted = {
                    who
                    for who in {recipient for _, recipient, _ in delivered}
                    if await address_for(conn, who) is not None
                }
                for notice, recipient, _ in delivered:
                    if recipient in opted:
                        await runner.schedule(conn, EMAIL_JOB, {"notification": notice}, key=notice)
        if delivered and push is not None:
            # After the commit, as for one notice: a push lost here leaves the
            # notice in the inbox, where the page finds it when it next loads.
            # One after another: a hundred at once would take a hundred of the
            # bus's connections (and the shared Redis refuses clients past its limit).
            failed: list[str] = []
            for notice, recipient, kind in delivered:
                try:
                    await push(recipient, notice, kind)
                except Exception as exc:  # the rest are still told
                    failed.append(type(exc).__name__)
            if failed:
                log.warning(
                    "%d of %d inbox push(es) failed (%s)", len(failed), len(delivered), failed[0]
                )

    return deliver_many


def email_handler(
    db: Database, mailer: Mailer, link_base: str
) -> Callable[[JobContext], Awaitable[None]]:
    """The `notifications.email` job: "You have a new message" to the address
    verified now (opted out or the address gone since: nothing is sent)."""

    async def email(ctx: JobContext) -> None:
        notice = ctx.payload.get("notification")
        if not isinstance(notice, str):
            raise ValueError("notifications.email needs a notification")
        async with db.connect() as conn:
            recipient = await conn.scalar(
                select(notifications.c.recipient_id).where(notifications.c.id == notice)
            )
            address = None if recipient is None else await address_for(conn, recipient)
        if address is not None:
            # At least once: a retry after a lost answer sends the same Message-ID.
            await mailer.send(notice_mail(address, notice, link_base))

    return email


def register_kinds(
    runner: JobRunner,
    scheduling: SchedulingService,
    hub: Hub | None = None,
    *,
    db: Database | None = None,
    mailer: Mailer | None = None,
    link_base: str = "",
) -> None:
    """Register every kind; `notifications.email` only when there is a mailer."""

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
    if db is not None and mailer is not None:
        runner.register(
            EMAIL_JOB,
            email_handler(db, mailer, link_base),
            max_attempts=EMAIL_ATTEMPTS,
            backoff=EMAIL_BACKOFF,
            timeout=60,
        )
    runner.register(
        DELIVER_JOB,
        deliver_handler(scheduling, push, runner),
        batch=deliver_batch_handler(scheduling, push, runner),
        max_attempts=10,
        backoff=5,
        timeout=60,
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
    mailer = app[MAILER]
    register_kinds(
        runner,
        app[SCHEDULING],
        app[SIGNALLING],
        db=app[DATABASE],
        # No mail server set up (THROUGHCARE_SMTP_HOST): no email jobs to fail.
        mailer=None if isinstance(mailer, SmtpMailer) and mailer.host is None else mailer,
        link_base=settings.public_origins[0] if settings.public_origins else "",
    )
    register_interventions(runner, app)
    register_recordings(runner, app)
    register_visits(runner, app)
    app[METRICS].watch_jobs(runner.stats)
    app[JOBS] = runner
    await runner.start()
    yield
    await runner.stop()
