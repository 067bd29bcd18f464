"""What the clinician has in front of them during a consult, and what they write down.

- The context: the appointment's reason, the text of the health request it was
  booked from, and the patient's latest pre-call test. Only the consult's own
  clinician reads it here (identity details are `core.people`'s).
- Consult notes, typed during the call and saved as they are typed. They are
  clinical free text, sealed under the prisoner's own key like an outcome note.
  Each save names the version it replaces: a save from a window that had not
  seen the latest version is refused with the current version, so two windows
  never silently overwrite each other (the page then lets the clinician choose).
  Last-write-wins would lose text typed in the other window without a word;
  merging free text is guesswork; a version check is cheap and says so.
- The outcome, recorded once and amendable for 24 hours from when it was first
  recorded; every amendment is an audit event. Bad input names the field at
  fault (`field` in the problem), so the form can mark it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity import Principal
from core.permissions import Permission, require_permission
from scheduling.base import MAX_TEXT, OUTCOME_CODE, OUTCOME_NOTE, text_status
from scheduling.readiness import Readiness
from scheduling.reasons import reason
from scheduling.tables import appointments, consult_notes, health_requests
from scheduling.triage import Triage
from scheduling.types import Appointment, HealthRequest, PrecallSummary, Status, TextStatus

NOTES_TEXT = "consult_notes.text"
MAX_NOTES = 20000
AMEND_WITHIN = timedelta(hours=24)
OUTCOMES = {"completed": Status.COMPLETED, "did_not_attend": Status.DID_NOT_ATTEND}
RECORDED = (Status.COMPLETED, Status.DID_NOT_ATTEND)


def field_error(field: str, detail: str, code: Code = Code.INVALID_REQUEST) -> ServiceError:
    """A refusal that names the form field at fault (`field` in the problem)."""
    return ServiceError(code, detail, extra={"field": field})


@dataclass(frozen=True)
class ConsultContext:
    appointment: Appointment
    request: HealthRequest | None
    test_call: PrecallSummary | None


@dataclass(frozen=True)
class ConsultNotes:
    text: str
    version: int
    updated_at: datetime | None
    text_status: TextStatus = TextStatus.SHOWN


class ConsultRecord(Readiness, Triage):
    async def _own_consult(
        self, actor: Principal, appointment_id: str, permission: Permission
    ) -> Appointment:
        """The appointment, as its own clinician sees it; anyone else's answers as missing."""
        require_permission(actor, permission)
        found = await self.appointment(actor, appointment_id)
        if found.clinician_id != actor.account_id:
            raise ServiceError(Code.NOT_FOUND, "No such appointment.")
        return found

    async def consult_context(self, actor: Principal, appointment_id: str) -> ConsultContext:
        found = await self._own_consult(actor, appointment_id, Permission.CONSULTS_CONDUCT)
        h = health_requests.c
        wanted = [h.appointment_id == found.id]
        if found.request_id is not None:
            wanted.append(h.id == found.request_id)
        requests = await self._present_requests(
            actor, self._query().where(or_(*wanted)).order_by(h.created_at)
        )
        tests = await self.test_call_summaries([found.id])
        return ConsultContext(found, requests[0] if requests else None, tests.get(found.id))

    # ---------------------------------------------------------------- notes

    async def consult_notes(self, actor: Principal, appointment_id: str) -> ConsultNotes:
        found = await self._own_consult(actor, appointment_id, Permission.CONSULT_NOTES_WRITE)
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(consult_notes).where(consult_notes.c.appointment_id == found.id)
                )
            ).first()
            if row is None:
                return ConsultNotes("", 0, None)
            [opened] = await self._subject_keys.open_many(
                conn, [SealedField(row.text_enc, found.prisoner_id, NOTES_TEXT, found.id)]
            )
        status = text_status([opened])
        body = opened if isinstance(opened, str) else ""
        return ConsultNotes(body, row.version, row.updated_at, status)

    async def save_consult_notes(
        self, actor: Principal, appointment_id: str, body: object, version: object
    ) -> ConsultNotes:
        """Replace the notes if `version` is the one stored (0: none yet); else 409 with it."""
        if not isinstance(body, str) or len(body) > MAX_NOTES:
            raise field_error("notes", f"The notes are at most {MAX_NOTES} characters.")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise field_error("version", "The version is the number the notes were read at.")
        found = await self._own_consult(actor, appointment_id, Permission.CONSULT_NOTES_WRITE)
        now = self._clock.now()
        n = consult_notes.c
        async with self._db.begin() as conn:
            sealed = await self._seal(conn, found.prisoner_id, body, found.id, NOTES_TEXT)
            if version == 0:
                stored = await conn.scalar(select(n.version).where(n.appointment_id == found.id))
                if stored is None:
                    try:
                        await conn.execute(
                            insert(consult_notes).values(
                                appointment_id=found.id,
                                prisoner_id=found.prisoner_id,
                                text_enc=sealed,
                                version=1,
                                updated_at=now,
                                updated_by=actor.account_id,
                            )
                        )
                    except IntegrityError:
                        # The other window's first save went in between: it is version 1.
                        raise _stale(1) from None
                    return ConsultNotes(body, 1, now)
                raise _stale(stored)
            done = await conn.execute(
                update(consult_notes)
                .where(and_(n.appointment_id == found.id, n.version == version))
                .values(
                    text_enc=sealed,
                    version=version + 1,
                    updated_at=now,
                    updated_by=actor.account_id,
                )
            )
            if done.rowcount != 1:
                stored = await conn.scalar(select(n.version).where(n.appointment_id == found.id))
                raise _stale(stored or 0)
        return ConsultNotes(body, version + 1, now)

    # -------------------------------------------------------------- outcome

    async def record_outcome(
        self, actor: Principal, appointment_id: str, outcome: object, code: object, note: object
    ) -> tuple[Appointment, bool]:
        """Record the outcome, or amend one recorded in the last 24 hours.

        Returns the appointment and whether anything changed: the same outcome
        sent twice (a double click, a retry) is recorded once.
        """
        require_permission(actor, Permission.APPOINTMENTS_OUTCOME)
        if outcome not in OUTCOMES:
            raise field_error("outcome", "The outcome is completed or did_not_attend.")
        target = OUTCOMES[str(outcome)]
        if target == Status.COMPLETED:
            if code not in (None, ""):
                raise field_error("reason", "A consult that took place has no reason for a miss.")
            why = None
        else:
            if code in (None, ""):
                raise field_error("reason", "Say why the consult did not take place.")
            try:
                why = reason(code).code
            except ServiceError:
                raise field_error(
                    "reason", "The reason must be a code from the list at /api/reasons."
                ) from None
        if note in ("", None):
            note = None
        elif not isinstance(note, str) or len(note.strip()) > MAX_TEXT:
            raise field_error("note", f"The note is at most {MAX_TEXT} characters.")
        async with self._db.connect() as conn:
            m = await self._appointment_row(conn, appointment_id)
        self._may_manage(actor, m)
        if Status(m["status"]) not in RECORDED:
            if target == Status.COMPLETED:
                return await self.mark_attended(actor, m["id"], note), True
            return await self.mark_did_not_attend(actor, m["id"], why, note), True
        return await self._amend(actor, m["id"], target, why, note)

    async def _opened(self, conn: Any, m: Any, *columns: tuple[str, str]) -> list[object]:
        """The appointment's sealed `columns` (stored, sealed as), opened; None where empty."""
        present = [(stored, col) for stored, col in columns if m[stored] is not None]
        opened = iter(
            await self._subject_keys.open_many(
                conn,
                [SealedField(m[stored], m["prisoner_id"], col, m["id"]) for stored, col in present],
            )
        )
        return [next(opened) if m[stored] is not None else None for stored, _ in columns]

    async def _amend(
        self, actor: Principal, appointment_id: str, target: Status, why: str | None, note: Any
    ) -> tuple[Appointment, bool]:
        now = self._clock.now()
        async with self._db.begin() as conn:
            m = await self._appointment_row(conn, appointment_id, for_update=True)
            self._may_manage(actor, m)
            previous = Status(m["status"])
            if previous not in RECORDED:
                raise field_error("outcome", "This consult has no outcome to amend.", Code.CONFLICT)
            recorded_at = m["outcome_at"] or m["updated_at"]
            if now - recorded_at > AMEND_WITHIN:
                raise ServiceError(
                    Code.CONFLICT,
                    "An outcome can be amended for 24 hours after it was recorded.",
                    extra={"field": "outcome", "reason": "amend_window_closed"},
                )
            old_code, old_note = await self._opened(
                conn, m, ("outcome_code_enc", OUTCOME_CODE), ("outcome_note_enc", OUTCOME_NOTE)
            )
            if previous == target and old_code == why and (note is None or old_note == note):
                row = m
                changed = False
            else:
                values: dict[str, Any] = {
                    "status": target.value,
                    "updated_at": now,
                    "outcome_category": reason(why).cause.value if why else None,
                    "outcome_code_enc": (
                        await self._seal(conn, m["prisoner_id"], why, m["id"], OUTCOME_CODE)
                    ),
                }
                if note is not None:
                    values["outcome_note_enc"] = await self._seal(
                        conn, m["prisoner_id"], note.strip(), m["id"], OUTCOME_NOTE
                    )
                await conn.execute(
                    update(appointments).where(appointments.c.id == m["id"]).values(**values)
                )
                row = await self._appointment_row(conn, m["id"])
                changed = True
        if changed:
            await self._record(
                Action.OUTCOME_AMENDED,
                actor,
                establishment=m["establishment_id"],
                subject=m["prisoner_id"],
                appointment=m["id"],
                previous=previous.value,
                status=target.value,
                previous_cause=m["outcome_category"],
                cause=reason(why).cause.value if why else None,
            )
        return (await self._present(actor, [row]))[0], changed


def _stale(current: int) -> ServiceError:
    return ServiceError(
        Code.CONFLICT,
        "The notes were changed in another window.",
        extra={"field": "notes", "reason": "stale_version", "version": current},
    )
