"""What every part of the scheduling service shares: store, ciphers, clock, audit, look-ups,
and what each reader sees of a record's clinical text.

Clinical free text (an appointment's reason, notes and outcome note, a health
request's text) and the outcome code are sealed under the prisoner's own data
key (`SubjectCipher`), each bound to its row and to the column name below; a
shred of the prisoner erases them. Who may read them is `core.clinical`'s one
rule: `_appointments_in` applies it to every appointment any method returns,
decrypts only what the reader may see, and `_log_readings` appends a
healthcare manager's reading to the audit log before the answer leaves.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.access.serving import serves
from core.clinical import ClinicalRecord, Reading, reading
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, establishments
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SealedField, SubjectCipher, Unreadable
from core.identity import Principal, Role
from core.identity.types import NoEndings, SessionEndings
from core.permissions import Permission, allows
from scheduling.notices import DELIVER_JOB as DELIVER_JOB
from scheduling.notices import queue_notice
from scheduling.release_steps import ReleaseSteps, TransferSteps
from scheduling.suspension import Suspensions
from scheduling.tables import appointments, service_readers, services
from scheduling.types import Appointment, Service, Status, TextStatus

MAX_TEXT = 2000

# The column names each sealed field is bound to (its associated data).
REASON = "appointments.reason"
NOTES = "appointments.notes"
OUTCOME_CODE = "appointments.outcome_code"
OUTCOME_NOTE = "appointments.outcome_note"
REQUEST_TEXT = "health_requests.text"
HANDOVER_BUNDLE = "handovers.bundle"
REQUEST_RESPONSE = "health_requests.response"
# Appointment fields that are clinical free text: (attribute, sealed as, stored in).
APPOINTMENT_TEXT = (
    ("reason", REASON, "reason_enc"),
    ("notes", NOTES, "notes_enc"),
    ("outcome_note", OUTCOME_NOTE, "outcome_note_enc"),
)
# What a prisoner may read of their own appointment's text.
PATIENT_TEXT = ("reason",)


def new_id() -> str:
    return str(uuid.uuid4())


def text(value: object, name: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_TEXT:
        raise ServiceError(Code.INVALID_REQUEST, f"The {name} is 1 to {MAX_TEXT} characters.")
    return value.strip()


@dataclass
class Readings:
    """Clinical text a healthcare manager was shown, per subject, to be logged."""

    shown: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)

    def add(self, kind: str, establishment: str, subject: str, record_id: str) -> None:
        entry = self.shown.setdefault((establishment, subject), {})
        entry.setdefault(kind, []).append(record_id)


def text_status(opened: Sequence[object]) -> TextStatus:
    if Unreadable.SHREDDED in opened:
        return TextStatus.SHREDDED
    if Unreadable.DAMAGED in opened:
        return TextStatus.DAMAGED
    return TextStatus.SHOWN


class ServiceBase:
    def __init__(
        self,
        db: Database,
        *,
        cipher: FieldCipher,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
        join_early_minutes: int = 10,
        join_late_minutes: int = 15,
        endings: SessionEndings | None = None,
    ) -> None:
        self._db = db
        # Told when a release ends the prisoner's sessions, so their sockets close.
        self._endings: SessionEndings = endings or NoEndings()
        # Identity fields (names, prison numbers) stay under the root field key.
        self._cipher = cipher
        # Health text is under the prisoner's own key.
        self._subject_keys = subject_keys
        self._clock = clock
        self._audit = audit
        self._join_early = timedelta(minutes=join_early_minutes)
        self._join_late = timedelta(minutes=join_late_minutes)
        # Establishment -> zone. An establishment's zone is set when it is created
        # and never changes, and ZoneInfo reads a file the first time.
        self._zones: dict[str, ZoneInfo] = {}
        self.suspensions = Suspensions()
        self.release_steps = ReleaseSteps()
        self.transfer_steps = TransferSteps()

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

    async def _seal(
        self, conn: AsyncConnection, subject: str, value: str | None, row: str, column: str
    ) -> bytes | None:
        if value is None:
            return None
        return await self._subject_keys.seal(conn, subject, column=column, row=row, text=value)

    def _open(self, blob: bytes | None, row: str, column: str) -> str | None:
        """An identity field (name, prison number) under the root field key."""
        return None if blob is None else self._cipher.decrypt(blob, row=row, column=column)

    async def _access(
        self, conn: AsyncConnection, service_ids: set[str]
    ) -> dict[str, tuple[bool, frozenset[str]]]:
        """Service id -> (sensitive, the staff it names)."""
        if not service_ids:
            return {}
        wanted = sorted(service_ids)
        found = {
            r.id: (bool(r.sensitive), frozenset[str]())
            for r in await conn.execute(
                select(services.c.id, services.c.sensitive).where(services.c.id.in_(wanted))
            )
        }
        named: dict[str, set[str]] = {}
        for r in await conn.execute(
            select(service_readers.c.service_id, service_readers.c.account_id).where(
                service_readers.c.service_id.in_(wanted)
            )
        ):
            named.setdefault(r.service_id, set()).add(r.account_id)
        return {k: (sensitive, frozenset(named.get(k, ()))) for k, (sensitive, _) in found.items()}

    async def _appointments_in(
        self,
        conn: AsyncConnection,
        reader: Principal | None,
        rows: Sequence[Mapping[Any, Any]],
        readings: Readings,
    ) -> list[Appointment]:
        """Each appointment as this reader may see it (None: no clinical text wanted).

        Only what the reader may read is decrypted; what a healthcare manager
        was shown is added to `readings`, for `_log_readings` to append before
        the answer is sent.
        """
        access = await self._access(conn, {m["service_id"] for m in rows})
        plans: list[tuple[Reading, list[tuple[str, str, str]]]] = []
        fields: list[SealedField] = []
        for m in rows:
            sensitive, named = access.get(m["service_id"], (False, frozenset[str]()))
            record = ClinicalRecord(
                m["establishment_id"], m["prisoner_id"], m["clinician_id"], sensitive, named
            )
            how = Reading.WITHHOLD if reader is None else reading(reader, record)
            # The outcome code is not free text: whoever sees the appointment sees it.
            wanted = [("outcome_code", OUTCOME_CODE, "outcome_code_enc")]
            if how != Reading.WITHHOLD:
                own = reader is not None and reader.role == Role.PRISONER
                wanted += [f for f in APPOINTMENT_TEXT if not own or f[0] in PATIENT_TEXT]
            wanted = [f for f in wanted if m[f[2]] is not None]
            plans.append((how, wanted))
            fields += [
                SealedField(m[stored], m["prisoner_id"], col, m["id"]) for _, col, stored in wanted
            ]
        opened = iter(await self._subject_keys.open_many(conn, fields))
        found = []
        for m, (how, wanted) in zip(rows, plans, strict=True):
            values: dict[str, Any] = {attribute: next(opened) for attribute, _, _ in wanted}
            code = values.pop("outcome_code", None)
            if how == Reading.WITHHOLD:
                status = TextStatus.WITHHELD
            else:
                status = text_status(list(values.values()))
            shown = status == TextStatus.SHOWN
            if shown and how == Reading.SHOW_AND_LOG and values:
                readings.add("appointments", m["establishment_id"], m["prisoner_id"], m["id"])
            found.append(
                Appointment(
                    id=m["id"],
                    establishment_id=m["establishment_id"],
                    prisoner_id=m["prisoner_id"],
                    clinician_id=m["clinician_id"],
                    service_id=m["service_id"],
                    service_code=m["service_code"],
                    starts_at=m["starts_at"],
                    ends_at=m["ends_at"],
                    status=Status(m["status"]),
                    reason=values.get("reason") if shown else None,
                    notes=values.get("notes") if shown else None,
                    outcome_code=code if isinstance(code, str) else None,
                    outcome_category=m["outcome_category"],
                    outcome_note=values.get("outcome_note") if shown else None,
                    same_sex=m["same_sex"],
                    chaperone=m["chaperone"],
                    request_id=m["request_id"],
                    rebook_of=m["rebook_of"],
                    created_at=m["created_at"],
                    clinical_text=status,
                    video_required=bool(m["video_required"]),
                    in_person=bool(m["in_person"]),
                )
            )
        return found

    async def _present(
        self, reader: Principal | None, rows: Sequence[Mapping[Any, Any]]
    ) -> list[Appointment]:
        """`_appointments_in` on a connection of its own, then the readings logged.

        Call it outside any transaction (the log is appended to after the
        connection closes: on SQLite an open connection holds the write lock).
        """
        readings = Readings()
        async with self._db.connect() as conn:
            found = await self._appointments_in(conn, reader, rows, readings)
        await self._log_readings(reader, readings)
        return found

    async def _log_readings(self, reader: Principal | None, readings: Readings) -> None:
        """One `clinical_viewed` event per subject whose text a manager was shown."""
        if reader is None:
            return
        for (establishment, subject), seen in sorted(readings.shown.items()):
            ids = seen.get("appointments", [])
            await self._record(
                Action.CLINICAL_VIEWED,
                reader,
                establishment=establishment,
                subject=subject,
                appointment=ids[0] if len(ids) == 1 else None,
                **{kind: sorted(set(v)) for kind, v in seen.items()},
            )

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

    async def _clinician_at(
        self, conn: AsyncConnection, clinician_id: object, establishment_id: str
    ) -> Any:
        """A clinician who serves this establishment (their home one, or one they also
        serve); one who does not answers as a missing one."""
        clinician = await self._person(conn, clinician_id, Role.CLINICIAN)
        if clinician.establishment_id != establishment_id and not await serves(
            conn, clinician.id, establishment_id
        ):
            raise ServiceError(Code.NOT_FOUND, "No such clinician.")
        return clinician

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
        """Queue a notice for `recipient`'s inbox; False if already queued
        (`scheduling.notices.queue_notice`)."""
        return await queue_notice(
            conn,
            recipient,
            kind,
            now=self._clock.now(),
            appointment_id=appointment_id,
            due_at=due_at,
            dedupe_key=dedupe_key,
            **payload,
        )


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
        escort_if_in_person=m["escort_if_in_person"],
    )


def require_visible(principal: Principal, establishment_id: str, missing: str) -> None:
    """Another establishment's record does not exist for this reader: 404, as if missing.

    Answering 403 would tell them that the id is real (an existence oracle).
    """
    if not allows(principal, Permission.ANY_ESTABLISHMENT) and (
        principal.establishment_id != establishment_id
    ):
        raise ServiceError(Code.NOT_FOUND, missing)


def require_establishment(principal: Principal, establishment_id: str) -> None:
    """Staff act only in the establishment they act in; admins anywhere."""
    if not allows(principal, Permission.ANY_ESTABLISHMENT) and (
        principal.establishment_id != establishment_id
    ):
        raise ServiceError(Code.FORBIDDEN)
