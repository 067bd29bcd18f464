"""A keyworker's caseload: the prisoners whose progress they follow.

Kept by officers, governors and admins (`CASELOAD_MANAGE`); read by the
keyworker (`CASELOAD_READ`), only for the establishment they act in, so a
keyworker serving two establishments sees one caseload at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select

from core.access.serving import serves
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, caseloads
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher
from core.identity.types import Principal, Role
from core.permissions import Permission, acts_in, allows, require_permission

MAX_CASELOAD = 200


@dataclass(frozen=True)
class CaseloadEntry:
    prisoner_id: str
    display_name: str
    prison_number: str | None
    establishment_id: str


class Caseloads:
    def __init__(
        self, db: Database, *, clock: Clock, audit: AuditSink, cipher: FieldCipher
    ) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._cipher = cipher

    async def mine(self, actor: Principal) -> list[CaseloadEntry]:
        require_permission(actor, Permission.CASELOAD_READ)
        return await self._of(actor.account_id, actor.establishment_id)

    async def of_keyworker(self, actor: Principal, keyworker_id: str) -> list[CaseloadEntry]:
        require_permission(actor, Permission.CASELOAD_MANAGE)
        await self._keyworker(actor, keyworker_id)
        scope = None if allows(actor, Permission.ANY_ESTABLISHMENT) else actor.establishment_id
        return await self._of(keyworker_id, scope)

    async def _keyworker(self, actor: Principal, keyworker_id: str) -> None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(accounts.c.role, accounts.c.establishment_id).where(
                        accounts.c.id == keyworker_id
                    )
                )
            ).first()
            visible = row is not None and (
                allows(actor, Permission.ANY_ESTABLISHMENT)
                or (
                    actor.establishment_id is not None
                    and await serves(conn, keyworker_id, actor.establishment_id)
                )
            )
        if row is None or not visible or row.role != Role.KEYWORKER.value:
            raise ServiceError(Code.NOT_FOUND, "No such keyworker.")

    async def _of(self, keyworker_id: str, establishment_id: str | None) -> list[CaseloadEntry]:
        query = (
            select(
                accounts.c.id,
                accounts.c.display_name_enc,
                accounts.c.prison_number_enc,
                accounts.c.establishment_id,
            )
            .join(caseloads, caseloads.c.prisoner_id == accounts.c.id)
            .where(caseloads.c.keyworker_id == keyworker_id)
        )
        if establishment_id is not None:
            query = query.where(accounts.c.establishment_id == establishment_id)
        async with self._db.connect() as conn:
            rows = list(await conn.execute(query))
        found = [
            CaseloadEntry(
                r.id,
                self._cipher.decrypt(r.display_name_enc, row=r.id, column="display_name"),
                None
                if r.prison_number_enc is None
                else self._cipher.decrypt(r.prison_number_enc, row=r.id, column="prison_number"),
                r.establishment_id,
            )
            for r in rows
        ]
        return sorted(found, key=lambda e: (e.display_name, e.prisoner_id))

    async def set_caseload(
        self, actor: Principal, keyworker_id: str, prisoner_ids: object
    ) -> list[CaseloadEntry]:
        """Replace the keyworker's caseload in the actor's establishment."""
        require_permission(actor, Permission.CASELOAD_MANAGE)
        if (
            not isinstance(prisoner_ids, list)
            or len(prisoner_ids) > MAX_CASELOAD
            or not all(isinstance(p, str) and 0 < len(p) <= 64 for p in prisoner_ids)
        ):
            raise ServiceError(Code.INVALID_REQUEST, "prisoner_ids is a list of prisoner ids.")
        await self._keyworker(actor, keyworker_id)
        wanted = sorted(set(prisoner_ids))
        scope = actor.establishment_id
        async with self._db.begin() as conn:
            if wanted:
                rows = {
                    r.id: r
                    for r in await conn.execute(
                        select(accounts.c.id, accounts.c.role, accounts.c.establishment_id).where(
                            accounts.c.id.in_(wanted)
                        )
                    )
                }
                for prisoner_id in wanted:
                    r = rows.get(prisoner_id)
                    if (
                        r is None
                        or r.role != Role.PRISONER.value
                        or not acts_in(actor, r.establishment_id)
                    ):
                        raise ServiceError(Code.NOT_FOUND, "No such prisoner.")
            current = select(accounts.c.id).where(accounts.c.role == Role.PRISONER.value)
            if not allows(actor, Permission.ANY_ESTABLISHMENT):
                current = current.where(accounts.c.establishment_id == scope)
            await conn.execute(
                delete(caseloads).where(
                    and_(
                        caseloads.c.keyworker_id == keyworker_id,
                        caseloads.c.prisoner_id.in_(current.scalar_subquery()),
                    )
                )
            )
            now = self._clock.now()
            for prisoner_id in wanted:
                await conn.execute(
                    insert(caseloads).values(
                        keyworker_id=keyworker_id, prisoner_id=prisoner_id, created_at=now
                    )
                )
        await self._audit.append(
            AuditRecord(
                action=Action.CASELOAD_SET,
                actor=actor.account_id,
                establishment=actor.establishment_id,
                subject=keyworker_id,
                details={"prisoners": len(wanted)},
            )
        )
        wide = allows(actor, Permission.ANY_ESTABLISHMENT)
        return await self._of(keyworker_id, None if wide else scope)
