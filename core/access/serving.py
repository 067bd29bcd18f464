"""Which establishments a member of staff serves, and which one a session acts in.

Every account has a home establishment (`accounts.establishment_id`); clinicians
and keyworkers may serve more (`staff_establishments`). A session acts in one
establishment at a time (`sessions.establishment_id`, null for the home one),
chosen on the desk; every query is scoped to it exactly as before, so choosing
widens nothing. `IdentityService.authenticate` re-reads the session's choice on
every request and drops it the moment the account stops serving there.

An establishment a person does not serve does not exist for them: choosing it,
or naming it in a request, answers 404 like a missing record.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts, establishments, staff_establishments


async def served_ids(conn: AsyncConnection, account_id: str) -> list[str]:
    """The home establishment first, then the others by code."""
    home = await conn.scalar(select(accounts.c.establishment_id).where(accounts.c.id == account_id))
    extra = [
        r.establishment_id
        for r in await conn.execute(
            select(staff_establishments.c.establishment_id)
            .join(establishments, establishments.c.id == staff_establishments.c.establishment_id)
            .where(staff_establishments.c.account_id == account_id)
            .order_by(establishments.c.code)
        )
        if r.establishment_id != home
    ]
    return ([home] if home is not None else []) + extra


async def serves(conn: AsyncConnection, account_id: str, establishment_id: str) -> bool:
    found = await conn.scalar(
        select(accounts.c.id)
        .select_from(
            accounts.outerjoin(
                staff_establishments,
                and_(
                    staff_establishments.c.account_id == accounts.c.id,
                    staff_establishments.c.establishment_id == establishment_id,
                ),
            )
        )
        .where(
            and_(
                accounts.c.id == account_id,
                or_(
                    accounts.c.establishment_id == establishment_id,
                    staff_establishments.c.establishment_id.is_not(None),
                ),
            )
        )
    )
    return found is not None


async def replace_served(
    conn: AsyncConnection, account_id: str, extra: list[str], now: datetime
) -> None:
    await conn.execute(
        delete(staff_establishments).where(staff_establishments.c.account_id == account_id)
    )
    for est in extra:
        await conn.execute(
            insert(staff_establishments).values(
                account_id=account_id, establishment_id=est, created_at=now
            )
        )
