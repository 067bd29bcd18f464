"""The campus's kinds of the device's offline queue (`campus.sync`): lesson progress and
assessment answers, registered on the queue once the campus is built (after
`web.interventions.sync.offline_ctx` and `web.campus.campus_ctx`). See docs/offline.md."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from campus.sync import ASSESSMENT_KIND, LESSON_KIND, QueuedAssessment, QueuedProgress
from web.campus import CATALOGUE, LEARNING
from web.interventions.sync import OFFLINE
from web.state import AUDIT, DATABASE


async def campus_sync_ctx(app: web.Application) -> AsyncIterator[None]:
    offline = app[OFFLINE]
    offline.register(LESSON_KIND, QueuedProgress(app[DATABASE], audit=app[AUDIT]))
    offline.register(
        ASSESSMENT_KIND,
        QueuedAssessment(app[DATABASE], app[CATALOGUE], app[LEARNING], audit=app[AUDIT]),
    )
    yield
