"""Incentive levels: Basic, Standard or Enhanced, each change with its reason.

Officers of the prisoner's establishment (and admins) set it, always with a
reason, sealed under the prisoner's own key; the prisoner reads their level
and the reasons on the device. A prisoner with no change yet is on Standard.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import incentive_changes, incentive_levels
from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity.types import Principal, Role
from core.people.common import Deps, prisoner_for, prisoner_seen_by, reason_text
from core.people.types import DEFAULT_LEVEL, Incentive, IncentiveChange, IncentiveLevel
from core.permissions import Permission, allows

REASON = "incentive_changes.reason"
LEVELS = ", ".join(level.value for level in IncentiveLevel)


def incentive_level(value: object) -> IncentiveLevel:
    try:
        return IncentiveLevel(str(value)) if isinstance(value, str) else IncentiveLevel("")
    except ValueError:
        raise ServiceError(
            Code.INVALID_REQUEST, f"The level is one of {LEVELS}.", extra={"reason": "bad_level"}
        ) from None


async def levels_of(conn: AsyncConnection, prisoner_ids: list[str]) -> dict[str, IncentiveLevel]:
    if not prisoner_ids:
        return {}
    rows = await conn.execute(
        select(incentive_levels.c.prisoner_id, incentive_levels.c.level).where(
            incentive_levels.c.prisoner_id.in_(prisoner_ids)
        )
    )
    return {r.prisoner_id: IncentiveLevel(r.level) for r in rows}


class Incentives:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    async def set_level(
        self, actor: Principal, prisoner_id: object, level: object, reason: object
    ) -> Incentive:
        """Change the level, with the reason; the same level again is refused."""
        wanted = incentive_level(level)
        why = reason_text(reason)
        now = self._d.clock.now()
        async with self._d.db.begin() as conn:
            prisoner = await prisoner_for(conn, actor, prisoner_id)
            current = (await levels_of(conn, [prisoner.id])).get(prisoner.id, DEFAULT_LEVEL)
            if current == wanted:
                raise ServiceError(
                    Code.CONFLICT,
                    "The prisoner is on that level already.",
                    extra={"reason": "same_level"},
                )
            change_id = str(uuid.uuid4())
            last = await conn.scalar(
                select(func.max(incentive_changes.c.seq)).where(
                    incentive_changes.c.prisoner_id == prisoner.id
                )
            )
            sealed = await self._d.subject_keys.seal(
                conn, prisoner.id, column=REASON, row=change_id, text=why
            )
            await conn.execute(
                insert(incentive_changes).values(
                    id=change_id,
                    prisoner_id=prisoner.id,
                    seq=(last or 0) + 1,
                    establishment_id=prisoner.establishment_id,
                    from_level=current.value,
                    level=wanted.value,
                    reason_enc=sealed,
                    at=now,
                    actor=actor.account_id,
                )
            )
            updated = await conn.execute(
                update(incentive_levels)
                .where(incentive_levels.c.prisoner_id == prisoner.id)
                .values(level=wanted.value, since=now)
            )
            if updated.rowcount == 0:
                await conn.execute(
                    insert(incentive_levels).values(
                        prisoner_id=prisoner.id, level=wanted.value, since=now
                    )
                )
        await self._d.record(
            Action.INCENTIVE_CHANGED,
            actor,
            establishment=prisoner.establishment_id,
            subject=prisoner.id,
            from_level=current.value,
            level=wanted.value,
            reason=why,
        )
        return await self.of(actor, prisoner.id)

    async def of(self, reader: Principal, prisoner_id: object) -> Incentive:
        """The level and its history, newest first: for the prisoner themselves, their
        establishment's officers, and admins."""
        if not allows(reader, Permission.INCENTIVES_READ):
            raise ServiceError(Code.FORBIDDEN)
        async with self._d.db.connect() as conn:
            if reader.role == Role.PRISONER:
                prisoner = await prisoner_seen_by(conn, reader, prisoner_id)
            else:
                prisoner = await prisoner_for(conn, reader, prisoner_id)
            row = (
                await conn.execute(
                    select(incentive_levels).where(incentive_levels.c.prisoner_id == prisoner.id)
                )
            ).first()
            rows = list(
                await conn.execute(
                    select(incentive_changes)
                    .where(incentive_changes.c.prisoner_id == prisoner.id)
                    .order_by(incentive_changes.c.seq.desc())
                )
            )
            reasons = await self._d.subject_keys.open_many(
                conn, [SealedField(r.reason_enc, prisoner.id, REASON, r.id) for r in rows]
            )
        history = [
            IncentiveChange(
                r.at,
                r.actor,
                IncentiveLevel(r.from_level),
                IncentiveLevel(r.level),
                text if isinstance(text, str) else None,
            )
            for r, text in zip(rows, reasons, strict=True)
        ]
        if row is None:
            return Incentive(DEFAULT_LEVEL, None, history)
        return Incentive(IncentiveLevel(row.level), row.since, history)
