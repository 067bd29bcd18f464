"""Slowing whoever guesses one-time codes: failures counted per source, refused past a limit.

Shared by the codes a person types before they have an account (a release's community
claim code, an interpreter's invitation): one budget per source for both, so guessing
at one does not buy more tries at the other. A source is a keyed hash of where the
request came from (`CommunityAccounts.claim_source`); the address itself is not kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import community_claim_failures
from core.errors import Code, ServiceError

MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)
TOO_MANY = "Too many wrong tries. Wait 15 minutes and try again."


async def refuse_if_guessing(conn: AsyncConnection, source: str, now: datetime) -> None:
    """429 once `MAX_FAILURES` failures from `source` fall within `FAILURE_WINDOW`."""
    failures = int(
        await conn.scalar(
            select(func.count())
            .select_from(community_claim_failures)
            .where(
                and_(
                    community_claim_failures.c.source == source,
                    community_claim_failures.c.at > now - FAILURE_WINDOW,
                )
            )
        )
        or 0
    )
    if failures >= MAX_FAILURES:
        raise ServiceError(Code.RATE_LIMITED, TOO_MANY, extra={"reason": "too_many_tries"})


async def count_failure(conn: AsyncConnection, source: str, now: datetime) -> None:
    """One more failure from `source`; its rows older than the window are cleared."""
    await conn.execute(
        delete(community_claim_failures).where(
            and_(
                community_claim_failures.c.source == source,
                community_claim_failures.c.at <= now - FAILURE_WINDOW,
            )
        )
    )
    await conn.execute(
        insert(community_claim_failures).values(id=str(uuid.uuid4()), source=source, at=now)
    )
