"""The `scheduling.handover_send` job: POST a hand-over to the community endpoint.

At least once, with the Bundle's identifier as `Idempotency-Key` (the same on
every retry, and inside the Bundle as `Bundle.identifier`), so the receiver can
drop a repeat. A 2xx answer completes the job and marks the hand-over sent (one
transaction); anything else (an HTTP error, no answer in time, no endpoint set)
is recorded on the hand-over for the manager with a fixed code, never the
receiver's words, and raised so the job runner retries with back-off. A change
of endpoint by an admin is picked up by the next try.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

import aiohttp

from core.jobs import JobContext
from scheduling import SchedulingService

log = logging.getLogger(__name__)
TIMEOUT_S = 30
MAX_ATTEMPTS = 20
"""30 s doubling to an hour apart: about 15 hours of tries before it is left to people."""
FHIR_JSON = "application/fhir+json"


class HandoverNotSent(Exception):
    """This try did not reach the community provider; the message is a fixed code."""


def handover_handler(scheduling: SchedulingService) -> Callable[[JobContext], Awaitable[None]]:
    async def send(ctx: JobContext) -> None:
        handover_id = ctx.payload.get("handover")
        if not isinstance(handover_id, str):
            raise ValueError("scheduling.handover_send needs a handover")
        outgoing = await scheduling.handover_outgoing(handover_id)
        if outgoing is None:
            async with ctx.transaction():
                return
        final = ctx.attempt >= MAX_ATTEMPTS
        if outgoing.url is None:
            await _failed(scheduling, handover_id, "no_endpoint", final)
        assert outgoing.url is not None
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http,
                http.post(
                    outgoing.url,
                    data=outgoing.body,
                    headers={
                        "Content-Type": FHIR_JSON,
                        "Accept": FHIR_JSON,
                        "Idempotency-Key": outgoing.handover_id,
                    },
                    allow_redirects=False,
                ) as answer,
            ):
                status = answer.status
                await answer.release()
        except (aiohttp.ClientError, TimeoutError):
            await _failed(scheduling, handover_id, "unreachable", final)
        if not 200 <= status < 300:
            await _failed(scheduling, handover_id, f"http_{status}", final)
        async with ctx.transaction() as conn:
            logged = await scheduling.handover_sent(conn, handover_id, outgoing.url, status)
        await logged()
        log.info("hand-over sent (HTTP %d)", status)

    return send


async def _failed(
    scheduling: SchedulingService, handover_id: str, code: str, final: bool
) -> NoReturn:
    await scheduling.handover_failed(handover_id, code, final=final)
    raise HandoverNotSent(code)
