"""The review service: managers search their establishment's log.

Who sees what (docs/audit.md has the same matrix):

| reader | events | details |
| --- | --- | --- |
| manager | own establishment only | decrypted |
| admin | any establishment | withheld (metadata only) |
| clinician, officer, prisoner | refused | never |

Every search, including one that finds nothing, is itself appended as
`log_viewed` before the results are returned.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import or_, select

from audit import store
from audit.checkpoints import timestamp
from audit.envelope import open_sealed
from audit.log import AuditLog
from audit.record import StoredEvent, details_aad, key_scope
from audit.tables import audit_events
from core.clinical import ClinicalRecord, Reading, reading
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord
from core.identity.types import Principal
from core.permissions import Permission, allows

MAX_LIMIT = 500


@dataclass(frozen=True)
class ReviewQuery:
    establishment: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    prisoner: str | None = None
    clinician: str | None = None
    appointment: str | None = None
    action: Action | None = None
    limit: int = 100
    before: int | None = None
    # Events by or about any of these ids (actor, subject or appointment): what a search
    # for a person, a prison number or an appointment resolved to. Empty finds nothing.
    any_of: frozenset[str] | None = None
    # The words typed, kept in the `log_viewed` record of this reading.
    text: str | None = None


def scope_for(reader: Principal, requested: str | None) -> tuple[str | None, bool]:
    """The establishment the reader may search, and whether details are shown.

    Details are shown as `core.clinical` allows clinical text to this reader
    (the same rule as the scheduling API: a manager of the establishment, the
    reading logged as `log_viewed`; an admin never).
    """
    if not allows(reader, Permission.AUDIT_READ):
        raise ServiceError(Code.FORBIDDEN, "Only managers and admins can read the audit log.")
    if allows(reader, Permission.ANY_ESTABLISHMENT):
        record = ClinicalRecord(establishment_id=requested or "")
        return requested, reading(reader, record) != Reading.WITHHOLD
    if reader.establishment_id is None:
        raise ServiceError(Code.FORBIDDEN, "Only managers and admins can read the audit log.")
    if requested is not None and requested != reader.establishment_id:
        raise ServiceError(Code.FORBIDDEN, "Managers can only read their own establishment's log.")
    record = ClinicalRecord(establishment_id=reader.establishment_id)
    return reader.establishment_id, reading(reader, record) != Reading.WITHHOLD


def _decrypt(
    events: list[StoredEvent], keys: dict[str, AESGCM]
) -> list[tuple[dict[str, Any] | None, str]]:
    out: list[tuple[dict[str, Any] | None, str]] = []
    for e in events:
        aead = keys.get(e.key_id)
        if aead is None:
            out.append((None, "shredded"))
            continue
        aad = details_aad(e.seq, key_scope(e.subject, e.establishment), e.action)
        try:
            out.append((json.loads(open_sealed(aead, e.ciphertext, aad)), "shown"))
        except (InvalidTag, ValueError):
            out.append((None, "unreadable"))
    return out


async def decrypt_details(
    log: AuditLog, events: list[StoredEvent]
) -> list[tuple[dict[str, Any] | None, str]]:
    """Decrypt what can be decrypted: (details, "shown"), or (None, "shredded"/"unreadable")."""
    async with log.db.connect() as conn:
        keys = await log.keys.by_ids(conn, {e.key_id for e in events})
    return await asyncio.to_thread(_decrypt, events, keys)


async def search(log: AuditLog, reader: Principal, query: ReviewQuery) -> list[dict[str, Any]]:
    establishment, show_details = scope_for(reader, query.establishment)
    if not 1 <= query.limit <= MAX_LIMIT:
        raise ServiceError(Code.INVALID_REQUEST, "limit is between 1 and 500.")
    sql = select(*store.EVENT_COLUMNS).order_by(audit_events.c.seq.desc()).limit(query.limit)
    c = audit_events.c
    if establishment is not None:
        sql = sql.where(c.establishment_id == establishment)
    if query.start is not None:
        sql = sql.where(c.at >= query.start)
    if query.end is not None:
        sql = sql.where(c.at < query.end)
    if query.prisoner is not None:
        sql = sql.where(c.subject == query.prisoner)
    if query.clinician is not None:
        sql = sql.where(c.actor == query.clinician)
    if query.appointment is not None:
        sql = sql.where(c.appointment_id == query.appointment)
    if query.action is not None:
        sql = sql.where(c.action == query.action.value)
    if query.before is not None:
        sql = sql.where(c.seq < query.before)
    if query.any_of is not None:
        ids = sorted(query.any_of)
        sql = sql.where(or_(c.subject.in_(ids), c.actor.in_(ids), c.appointment_id.in_(ids)))
    async with log.db.connect() as conn:
        events = [store.to_event(r) for r in (await conn.execute(sql)).all()]
        keys = await log.keys.by_ids(conn, {e.key_id for e in events}) if show_details else {}
    if show_details:
        details = await asyncio.to_thread(_decrypt, events, keys)
    else:
        details = [(None, "withheld")] * len(events)
    filters = {k: v for k, v in asdict(query).items() if v is not None and k != "any_of"}
    filters["establishment"] = establishment
    await log.append(
        AuditRecord(
            action=Action.LOG_VIEWED,
            actor=reader.account_id,
            establishment=establishment,
            details={
                "filters": json.loads(json.dumps(filters, default=str)),
                "results": len(events),
            },
        )
    )
    return [
        {
            "seq": e.seq,
            "at": timestamp(e.at),
            "establishment_id": e.establishment,
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "appointment_id": e.appointment,
            "details": shown,
            "details_status": status,
        }
        for e, (shown, status) in zip(events, details, strict=True)
    ]
