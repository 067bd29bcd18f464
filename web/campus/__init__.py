"""The campus's routes and pages (the domain is the top-level `campus` package).

`campus_ctx` builds the two services once the store, audit and scheduling are up,
registers the module for lockdown suspension, and adds the campus's step to a
transfer: a learner's record is keyed on the person, so it moves by itself; the step
reports how many enrolments went with them in the transfer's audit event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from campus.catalogue import Catalogue
from campus.learning import Learning
from campus.rules import MODULE
from core.clock import Clock
from core.db import Database
from core.events import AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.keys import ServiceKeys
from scheduling import SchedulingService
from scheduling.release_steps import TransferContext
from web.state import AUDIT, CLOCK, DATABASE, KEYS, SCHEDULING, SUBJECT_KEYS

CATALOGUE = web.AppKey("campus_catalogue", Catalogue)
LEARNING = web.AppKey("campus_learning", Learning)


def build_campus(
    db: Database,
    audit: AuditSink,
    clock: Clock,
    keys: ServiceKeys,
    subject_keys: SubjectCipher,
    scheduling: SchedulingService,
) -> tuple[Catalogue, Learning]:
    """The two services, registered with the lockdown (the app and `throughcare demo`)."""
    scheduling.suspensions.register(MODULE)
    catalogue = Catalogue(db, clock=clock, audit=audit, gate=scheduling.require_open)
    learning = Learning(
        db,
        catalogue,
        cipher=FieldCipher(keys.field_key),
        subject_keys=subject_keys,
        clock=clock,
        audit=audit,
        gate=scheduling.require_open,
    )
    return catalogue, learning


async def campus_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduling = app[SCHEDULING]
    catalogue, learning = build_campus(
        app[DATABASE], app[AUDIT], app[CLOCK], app[KEYS], app[SUBJECT_KEYS], scheduling
    )
    app[CATALOGUE] = catalogue
    app[LEARNING] = learning

    async def transfer(ctx: TransferContext) -> None:
        ctx.summary[MODULE] = {
            "learning_records": await learning.learning_records(ctx.conn, ctx.prisoner_id)
        }

    if MODULE not in scheduling.transfer_steps.names:
        scheduling.transfer_steps.register(MODULE, transfer)
    yield
