"""The interventions' routes and pages (the domain is the top-level `interventions` package).

`interventions_ctx` builds the service once the store, audit and scheduling are
up (the questionnaires and the programmes), registers the module for lockdown
suspension, the programmes' transfer step and the community-account release step,
and must run before `web.jobs.jobs_ctx`, which registers the escalation job kind from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from core.fields import FieldCipher
from core.identity.community import STEP as COMMUNITY_STEP
from core.jobs import JobContext, JobRunner
from interventions.programmes import Programmes
from interventions.questionnaires import CHECK_DUE_JOB, ESCALATE_JOB, MODULE, Questionnaires
from web import community
from web.state import AUDIT, CLOCK, DATABASE, KEYS, SCHEDULING, SUBJECT_KEYS

INTERVENTIONS = web.AppKey("interventions", Questionnaires)
PROGRAMMES = web.AppKey("programmes", Programmes)


async def interventions_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduling = app[SCHEDULING]
    scheduling.suspensions.register(MODULE)
    app[INTERVENTIONS] = Questionnaires(
        app[DATABASE],
        cipher=FieldCipher(app[KEYS].field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=app[CLOCK],
        audit=app[AUDIT],
        require_open=scheduling.require_open,
    )
    app[PROGRAMMES] = Programmes(
        app[DATABASE],
        cipher=FieldCipher(app[KEYS].field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=app[CLOCK],
        audit=app[AUDIT],
        require_open=scheduling.require_open,
    )
    # Programme records, scores and planned checks move with the person on transfer.
    scheduling.transfer_steps.register("programmes", app[PROGRAMMES].transfer_step)
    # On release the programmes carry on outside: a one-time code for a community account.
    scheduling.release_steps.register(COMMUNITY_STEP, community.release_step(app))
    yield


def register_jobs(runner: JobRunner, app: web.Application) -> None:
    """`interventions.risk_escalate`: one per risk alert, due 15 minutes after it;
    `interventions.check_due`: one per planned check, at its due time."""
    if INTERVENTIONS not in app:
        return
    service = app[INTERVENTIONS]

    async def escalate(ctx: JobContext) -> None:
        alert = ctx.payload.get("alert")
        if not isinstance(alert, str):
            raise ValueError("interventions.risk_escalate needs an alert")
        await service.escalate(alert)

    runner.register(ESCALATE_JOB, escalate, max_attempts=10, backoff=10, timeout=60)

    async def check_due(ctx: JobContext) -> None:
        plan, due = ctx.payload.get("plan"), ctx.payload.get("due")
        if not isinstance(plan, str) or not isinstance(due, str):
            raise ValueError("interventions.check_due needs a plan and its due time")
        await service.check_due(plan, due)

    runner.register(CHECK_DUE_JOB, check_due, max_attempts=10, backoff=30, timeout=60)
