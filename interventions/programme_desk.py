"""The staff's side of the programmes: the catalogue offered here, the caseload with each
person's progress and latest scores, and a person's answers. Keyworkers follow their
caseload, clinical staff their establishment's prisoners (`programme_records.follows`);
officers and admins hold neither permission. Every reading of answers or scores is logged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select

from core.db.engine import Database
from core.db.schema import accounts, caseloads
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import Principal, Role
from core.permissions import Permission, allows, require_permission
from interventions.programme_records import (
    LatestScore,
    Programme,
    ProgrammeView,
    Progress,
    enrolment_of,
    follows,
    latest_scores,
    missing,
    offered,
    programme_rows,
    progress_of,
    view_of,
)
from interventions.programme_tables import programme_enrolments


@dataclass(frozen=True)
class CaseloadRow:
    prisoner_id: str
    display_name: str
    prison_number: str | None
    programmes: list[Progress]
    latest_scores: list[LatestScore]


class ProgrammeDesk:
    def __init__(
        self, db: Database, *, cipher: FieldCipher, subject_keys: SubjectCipher, audit: AuditSink
    ) -> None:
        self._db = db
        self._cipher = cipher
        self._subject_keys = subject_keys
        self._audit = audit

    async def _record(
        self, action: Action, actor: Principal, establishment: str | None, subject: str, **d: Any
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor.account_id,
                establishment=establishment,
                subject=subject,
                details=d,
            )
        )

    async def catalogue(self, actor: Principal) -> list[Programme]:
        """The programmes staff may put people on here: the establishment's and shared ones."""
        require_permission(actor, Permission.PROGRAMMES_ENROL)
        async with self._db.connect() as conn:
            found = await programme_rows(conn, offered(actor.establishment_id))
        return list(found.values())

    async def answers_of(
        self, actor: Principal, prisoner_id: Any, programme_id: Any
    ) -> ProgrammeView:
        """A followed person's programme with their answers; the reading is logged."""
        require_permission(actor, Permission.PROGRAMME_ANSWERS_READ)
        async with self._db.connect() as conn:
            est = await follows(conn, actor, prisoner_id)
            enrolment = await enrolment_of(conn, str(prisoner_id), programme_id)
            if enrolment.establishment_id != est:
                raise missing()
            view = await view_of(conn, self._subject_keys, enrolment, with_answers=True)
        await self._record(
            Action.PROGRAMME_ANSWERS_VIEWED,
            actor,
            est,
            str(prisoner_id),
            programme=enrolment.programme_id,
            answers=sum(len(s.answers) for s in view.sessions),
        )
        return view

    async def caseload(self, actor: Principal) -> list[CaseloadRow]:
        """The people one follows here with their programmes' progress and latest scores:
        a keyworker's caseload; for clinical staff, everyone here on a programme."""
        require_permission(actor, Permission.PROGRAMMES_ENROL)
        est = actor.establishment_id
        if est is None:
            return []
        c = accounts.c
        if allows(actor, Permission.CLINICAL_TEXT_READ):
            people = select(c.id, c.display_name_enc, c.prison_number_enc).where(
                c.id.in_(
                    select(programme_enrolments.c.prisoner_id).where(
                        programme_enrolments.c.establishment_id == est
                    )
                )
            )
        else:
            people = (
                select(c.id, c.display_name_enc, c.prison_number_enc)
                .join(caseloads, caseloads.c.prisoner_id == c.id)
                .where(caseloads.c.keyworker_id == actor.account_id)
            )
        people = people.where(and_(c.establishment_id == est, c.role == Role.PRISONER.value))
        async with self._db.connect() as conn:
            rows = list(await conn.execute(people))
            ids = [r.id for r in rows]
            progress = await progress_of(conn, ids, est)
            latest = await latest_scores(conn, ids)
        found = [
            CaseloadRow(
                r.id,
                self._cipher.decrypt(r.display_name_enc, row=r.id, column="display_name"),
                None
                if r.prison_number_enc is None
                else self._cipher.decrypt(r.prison_number_enc, row=r.id, column="prison_number"),
                progress.get(r.id, []),
                latest.get(r.id, []),
            )
            for r in rows
        ]
        # Scores come from a person's answers: showing them is a reading, logged per person.
        for row in found:
            if row.latest_scores:
                await self._record(
                    Action.ANSWERS_VIEWED,
                    actor,
                    est,
                    row.prisoner_id,
                    latest=len(row.latest_scores),
                    text=False,
                )
        return sorted(found, key=lambda x: (x.display_name, x.prisoner_id))
