"""What the parts of `People` share: their store, keys, clock and audit sink, and finding
a prisoner the actor may act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity.types import Principal, Role
from core.permissions import Permission, acts_in, allows

MAX_REASON = 500


@dataclass(frozen=True)
class Deps:
    db: Database
    cipher: FieldCipher
    subject_keys: SubjectCipher
    clock: Clock
    audit: AuditSink

    async def record(
        self,
        action: Action,
        actor: Principal,
        *,
        establishment: str | None,
        subject: str,
        **details: Any,
    ) -> None:
        await self.audit.append(
            AuditRecord(
                action=action,
                actor=actor.account_id,
                establishment=establishment,
                subject=subject,
                details=details,
            )
        )


@dataclass(frozen=True)
class PrisonerRef:
    id: str
    establishment_id: str


async def prisoner_for(conn: AsyncConnection, actor: Principal, prisoner_id: object) -> PrisonerRef:
    """A prisoner the actor keeps: an officer's own establishment's, or any for an admin.

    Anyone else's answers as a missing one (no existence oracle); a role that
    keeps no prisoners is refused outright.
    """
    if not allows(actor, Permission.PEOPLE_MANAGE):
        raise ServiceError(Code.FORBIDDEN)
    return await prisoner_seen_by(conn, actor, prisoner_id)


async def prisoner_seen_by(
    conn: AsyncConnection, actor: Principal, prisoner_id: object
) -> PrisonerRef:
    missing = ServiceError(Code.NOT_FOUND, "No such prisoner.")
    if not isinstance(prisoner_id, str) or len(prisoner_id) > 36:
        raise missing
    row = (
        await conn.execute(
            select(accounts.c.id, accounts.c.role, accounts.c.establishment_id).where(
                accounts.c.id == prisoner_id
            )
        )
    ).first()
    if row is None or row.role != Role.PRISONER.value or row.establishment_id is None:
        raise missing
    if actor.role == Role.PRISONER and actor.account_id != row.id:
        raise missing
    if actor.role != Role.PRISONER and not acts_in(actor, row.establishment_id):
        raise missing
    return PrisonerRef(row.id, row.establishment_id)


def reason_text(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_REASON:
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"Give a reason for the change (1 to {MAX_REASON} characters).",
            extra={"reason": "reason_required"},
        )
    return value.strip()
