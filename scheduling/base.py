"""What every part of the scheduling service shares: store, cipher, clock, audit, look-ups."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, establishments
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher
from core.identity import Principal, Role
from scheduling.tables import appointments, notifications, services
from scheduling.types import Appointment, Service, Status

MAX_TEXT = 2000


def new_id() -> str:
    return str(uuid.uuid4())


def text(value: object, name: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_TEXT:
        raise ServiceError(Code.INVALID_REQUEST, f"The {name} is 1 to {MAX_TEXT} characters.")
    return value.strip()


class ServiceBase:
    def __init__(
        self,
        db: Database,
        *,
        cipher: FieldCipher,
        clock: Clock,
        audit: AuditSink,
        join_early_minutes: int = 10,
        join_late_minutes: int = 15,
    ) -> None:
        self._db = db
        self._cipher = cipher
        self._clock = clock
        self._audit = audit
        self._join_early = timedelta(minutes=join_early_minutes)
        self._join_late = timedelta(minutes=join_late_minutes)
        # Establishment -> zone. An establishment's zone is set when it is created
        # and never changes, and ZoneInfo reads a file the first time.
        self._zones: dict[str, ZoneInfo] = {}

    def now(self) -> datetime:
        return self._clock.now()

    def with_clock(self, clock: Clock) -> Self:
        """The same service reading another clock: for seeding history (the demo)."""
        twin = copy.copy(self)
        twin._clock = clock
        return twin

    # --------------------------------------------------------------- audit

    async def _record(
        self,
        action: Action,
        actor: Principal | str,
        *,
        establishment: str | None,
        subject: str | None = None,
        appointment: str | None = None,
        **details: Any,
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor if isinstance(actor, str) else actor.account_id,
                establishment=establishment,
                subject=subject,
                appointment=appointment,
                details=details,
            )
        )

    # ------------------------------------------------------------ crypto

    def _seal(self, value: str | None, row: str, column: str) -> bytes | None:
        return None if value is None else self._cipher.encrypt(value, row=row, column=column)

    def _open(self, blob: bytes | None, row: str, column: str) -> str | None:
        return None if blob is None else self._cipher.decrypt(blob, row=row, column=column)

    # ----------------------------------------------------------- look-ups

    async def _zone_name(self, conn: AsyncConnection, establishment_id: str) -> str:
        tz: str | None = await conn.scalar(
            select(establishments.c.timezone).where(establishments.c.id == establishment_id)
        )
        if tz is None:
            raise ServiceError(Code.NOT_FOUND, "No such establishment.")
        return tz

    async def _zone(self, conn: AsyncConnection, establishment_id: str) -> ZoneInfo:
        zone = self._zones.get(establishment_id)
        if zone is None:
            name = await self._zone_name(conn, establishment_id)
            zone = self._zones[establishment_id] = await asyncio.to_thread(ZoneInfo, name)
        return zone

    async def _person(self, conn: AsyncConnection, account_id: object, role: Role) -> Any:
        if not isinstance(account_id, str) or len(account_id) > 36:
            raise ServiceError(Code.NOT_FOUND, f"No such {role.value}.")
        row = (
            await conn.execute(
                select(
                    accounts.c.id,
                    accounts.c.role,
                    accounts.c.establishment_id,
                    accounts.c.sex,
                    accounts.c.active,
                ).where(accounts.c.id == account_id)
            )
        ).first()
        if row is None or row.role != role.value:
            raise ServiceError(Code.NOT_FOUND, f"No such {role.value}.")
        return row

    async def _service(self, conn: AsyncConnection, service_id: object) -> Service:
        if not isinstance(service_id, str) or len(service_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such service.")
        row = (await conn.execute(select(services).where(services.c.id == service_id))).first()
        if row is None:
            raise ServiceError(Code.NOT_FOUND, "No such service.")
        return service_from(row._mapping)

    async def _appointment_row(
        self, conn: AsyncConnection, appointment_id: object, *, for_update: bool = False
    ) -> Any:
        if not isinstance(appointment_id, str) or len(appointment_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such appointment.")
        query = (
            select(appointments, services.c.code.label("service_code"))
            .join(services, services.c.id == appointments.c.service_id)
            .where(appointments.c.id == appointment_id)
        )
        if for_update and not self._db.is_sqlite:
            query = query.with_for_update(of=appointments)
        row = (await conn.execute(query)).first()
        if row is None:
            raise ServiceError(Code.NOT_FOUND, "No such appointment.")
        return row._mapping

    def _appointment(self, m: Any) -> Appointment:
        aid = m["id"]
        return Appointment(
            id=aid,
            establishment_id=m["establishment_id"],
            prisoner_id=m["prisoner_id"],
            clinician_id=m["clinician_id"],
            service_id=m["service_id"],
            service_code=m["service_code"],
            starts_at=m["starts_at"],
            ends_at=m["ends_at"],
            status=Status(m["status"]),
            reason=self._open(m["reason_enc"], aid, "reason"),
            notes=self._open(m["notes_enc"], aid, "notes"),
            outcome_code=self._open(m["outcome_code_enc"], aid, "outcome_code"),
            outcome_category=m["outcome_category"],
            outcome_note=self._open(m["outcome_note_enc"], aid, "outcome_note"),
            same_sex=m["same_sex"],
            chaperone=m["chaperone"],
            request_id=m["request_id"],
            rebook_of=m["rebook_of"],
            created_at=m["created_at"],
        )

    # -------------------------------------------------------------- outbox

    async def _notify(
        self,
        conn: AsyncConnection,
        recipient: str,
        kind: str,
        *,
        appointment_id: str | None = None,
        due_at: datetime | None = None,
        dedupe_key: str | None = None,
        **payload: Any,
    ) -> bool:
        """Queue a message for the signalling bus to deliver; False if already queued."""
        now = self._clock.now()
        values = {
            "id": new_id(),
            "recipient_id": recipient,
            "kind": kind,
            "appointment_id": appointment_id,
            "payload": json.dumps(payload, default=_json_default, sort_keys=True),
            "due_at": due_at or now,
            "created_at": now,
            "dedupe_key": dedupe_key,
        }
        if dedupe_key is None:
            await conn.execute(insert(notifications).values(**values))
            return True
        dialect_insert = sqlite_insert if self._db.is_sqlite else pg_insert
        result = await conn.execute(
            dialect_insert(notifications)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        return bool(result.rowcount == 1)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def service_from(m: Any) -> Service:
    return Service(
        id=m["id"],
        establishment_id=m["establishment_id"],
        code=m["code"],
        name=m["name"],
        minutes=m["minutes"],
        buffer_minutes=m["buffer_minutes"],
        target_days=m["target_days"],
        sensitive=m["sensitive"],
    )


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise ServiceError(Code.FORBIDDEN)


def require_establishment(principal: Principal, establishment_id: str) -> None:
    """Staff act only in their own establishment; admins anywhere."""
    if principal.role != Role.ADMIN and principal.establishment_id != establishment_id:
        raise ServiceError(Code.FORBIDDEN)
