"""Programmes: a person put on one (or enrolling themselves where it allows) works
through its sessions in order, answering each exercise. The staff's side (the caseload,
reading a person's answers) is `self.desk` (`programme_desk.ProgrammeDesk`); what both
read is `programme_records`.

Rules, each checked before anything is written:
- Sessions in order: a session opens when every earlier one is complete; answering a
  later one is refused (409) and says which to finish first. A complete session may
  still be revised (a plan changes as the person does).
- A session completes once every exercise in it has an answer; completing it again
  changes nothing. The last one completes the programme.
- Recording an answer is one idempotent call (`record_answer`) that takes the device's
  id for the write: the same id again returns what it did the first time and changes
  nothing, whether it came from the page or from an offline queue replayed later.
  Between two different writes to one exercise the later one wins (`version` counts).
- Answers are sealed under the prisoner's key. Who reads them: the prisoner their own;
  the keyworker the people on their caseload; clinical staff the programme records of
  their establishment's prisoners; officers and admins never (no permission). Staff
  reads are audit events.
- A lockdown suspends the module (`MODULE`, shared with the questionnaires): a
  prisoner's enrolment, answers and completions are refused (423), reading is not.
- A programme's checks: enrolling plans each of its questionnaires now (the baseline)
  and every `check_every_days` after each answer (the existing plans of
  `interventions.questionnaires`); every `check_every_sessions` completed sessions
  brings them forward to now.
- Records follow the person: the enrolment holds the establishment where it lives,
  which a transfer moves (`transfer_step`); staff see only their establishment's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import Principal, Role
from core.permissions import Permission, require_permission
from interventions.instruments import instrument
from interventions.programme_content import (
    ProgrammeKind,
    SessionContent,
    check_answer,
    parse_session,
)
from interventions.programme_desk import ProgrammeDesk
from interventions.programme_records import (
    ANSWER,
    Programme,
    ProgrammeView,
    Progress,
    clean_id,
    enrolment_of,
    follows,
    missing,
    offered,
    programme_rows,
    progress_of,
    sessions_of,
    view_of,
)
from interventions.programme_tables import (
    programme_answer_writes,
    programme_answers,
    programme_completions,
    programme_enrolments,
    programme_sessions,
    programmes,
)
from interventions.questionnaires import MODULE, bring_check_forward, plan_check
from interventions.tables import questionnaire_plans, questionnaire_responses
from scheduling.release_steps import TransferContext

DEFAULT_CHECK_DAYS = 28

Gate = Callable[[Principal, str], Awaitable[None]]


@dataclass(frozen=True)
class AnswerRecord:
    id: str
    session_id: str
    exercise: str
    client_id: str
    version: int
    updated_at: datetime
    # True when this client id had been seen before: nothing was changed.
    replayed: bool
    # The write said which version it changed (`base_version`) and another write had
    # landed since: the later write still wins, and the device can say so.
    conflicted: bool = False


class Programmes:
    def __init__(
        self,
        db: Database,
        *,
        cipher: FieldCipher,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
        require_open: Gate,
    ) -> None:
        self._db = db
        self._cipher = cipher
        self._subject_keys = subject_keys
        self._clock = clock
        self._audit = audit
        self._require_open = require_open
        self.desk = ProgrammeDesk(db, cipher=cipher, subject_keys=subject_keys, audit=audit)

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

    # ------------------------------------------------------------- authoring

    async def create(
        self,
        *,
        establishment_id: str | None,
        kind: str,
        title: str,
        summary: str,
        sessions: Sequence[Any],
        title_cy: str | None = None,
        summary_cy: str | None = None,
        self_enrol: bool = False,
        check_kinds: Sequence[str] = (),
        check_every_days: int | None = None,
        check_every_sessions: int | None = None,
    ) -> str:
        """A programme and its sessions, for the demo, tests and an operator's seed; the
        content is checked whole (ValueError says what is wrong) before anything is written."""
        ProgrammeKind(kind)
        contents = [parse_session(s) for s in sessions]
        if not 1 <= len(contents) <= 50:
            raise ValueError("a programme has 1 to 50 sessions")
        kinds = tuple(instrument(k).kind.value for k in check_kinds)
        programme_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            await conn.execute(
                insert(programmes).values(
                    id=programme_id,
                    establishment_id=establishment_id,
                    kind=kind,
                    title=title,
                    title_cy=title_cy,
                    summary=summary,
                    summary_cy=summary_cy,
                    self_enrol=self_enrol,
                    check_kinds=",".join(kinds),
                    check_every_days=check_every_days,
                    check_every_sessions=check_every_sessions,
                    created_at=self._clock.now(),
                )
            )
            for n, content in enumerate(contents, start=1):
                await conn.execute(
                    insert(programme_sessions).values(
                        id=str(uuid.uuid4()),
                        programme_id=programme_id,
                        position=n,
                        content=json.dumps(content.json(), ensure_ascii=False),
                    )
                )
        return programme_id

    # ------------------------------------------------------------ catalogue

    async def mine(self, actor: Principal) -> tuple[list[Progress], list[Programme]]:
        """A prisoner's programmes with their progress, and those they may enrol on.

        A former prisoner's community account carries on the programmes they were on;
        it joins no new ones (those are an establishment's to offer)."""
        self._prisoner(actor)
        async with self._db.connect() as conn:
            progress = await progress_of(conn, [actor.account_id])
            own = progress.get(actor.account_id, [])
            if actor.role == Role.COMMUNITY:
                return own, []
            taken = {x.programme.id for x in own}
            joinable = await programme_rows(
                conn, and_(offered(actor.establishment_id), programmes.c.self_enrol)
            )
        return own, [p for p in joinable.values() if p.id not in taken]

    @staticmethod
    def _prisoner(actor: Principal) -> None:
        """A prisoner in an establishment, or a former prisoner's community account
        (no establishment: core/identity/community.py)."""
        require_permission(actor, Permission.PROGRAMMES_TAKE)
        if actor.role == Role.COMMUNITY:
            return
        if actor.role != Role.PRISONER or actor.establishment_id is None:
            raise ServiceError(Code.FORBIDDEN)

    async def enrol_self(self, actor: Principal, programme_id: Any) -> Progress:
        self._prisoner(actor)
        if actor.role == Role.COMMUNITY:
            raise ServiceError(
                Code.FORBIDDEN,
                "New programmes are joined in custody; you can carry on the ones you are on.",
            )
        await self._require_open(actor, MODULE)
        try:
            async with self._db.begin() as conn:
                found = await programme_rows(
                    conn, offered(actor.establishment_id), ids=[clean_id(programme_id) or ""]
                )
                programme = found.get(str(programme_id))
                if programme is None:
                    raise missing()
                if not programme.self_enrol:
                    raise ServiceError(
                        Code.FORBIDDEN,
                        "You cannot join this programme yourself: ask your keyworker.",
                    )
                progress = await self._enrol(
                    conn, actor, actor.account_id, str(actor.establishment_id), programme
                )
        except IntegrityError:
            raise ServiceError(Code.CONFLICT, "Already on this programme.") from None
        await self._record(
            Action.PROGRAMME_ENROLLED,
            actor,
            actor.establishment_id,
            actor.account_id,
            programme=programme.id,
            enrolment=progress.enrolment_id,
            by="self",
        )
        return progress

    async def enrol(self, actor: Principal, prisoner_id: Any, programme_id: Any) -> Progress:
        """Staff put a person they follow on a programme offered here."""
        require_permission(actor, Permission.PROGRAMMES_ENROL)
        try:
            async with self._db.begin() as conn:
                est = await follows(conn, actor, prisoner_id)
                found = await programme_rows(conn, offered(est), ids=[clean_id(programme_id) or ""])
                programme = found.get(str(programme_id))
                if programme is None:
                    raise missing()
                progress = await self._enrol(conn, actor, str(prisoner_id), est, programme)
        except IntegrityError:
            raise ServiceError(Code.CONFLICT, "Already on this programme.") from None
        await self._record(
            Action.PROGRAMME_ENROLLED,
            actor,
            est,
            str(prisoner_id),
            programme=programme.id,
            enrolment=progress.enrolment_id,
            by=actor.role.value,
        )
        return progress

    async def _enrol(
        self,
        conn: AsyncConnection,
        actor: Principal,
        prisoner_id: str,
        est: str,
        programme: Programme,
    ) -> Progress:
        e = programme_enrolments.c
        taken = await conn.scalar(
            select(e.id).where(and_(e.programme_id == programme.id, e.prisoner_id == prisoner_id))
        )
        if taken is not None:
            raise ServiceError(Code.CONFLICT, "Already on this programme.")
        now = self._clock.now()
        enrolment_id = str(uuid.uuid4())
        await conn.execute(
            insert(programme_enrolments).values(
                id=enrolment_id,
                programme_id=programme.id,
                prisoner_id=prisoner_id,
                establishment_id=est,
                enrolled_by=actor.account_id,
                enrolled_at=now,
            )
        )
        every = await conn.scalar(
            select(programmes.c.check_every_days).where(programmes.c.id == programme.id)
        )
        for kind in programme.check_kinds:
            await plan_check(
                conn,
                prisoner_id=prisoner_id,
                establishment_id=est,
                kind=kind,
                every_days=int(every or DEFAULT_CHECK_DAYS),
                set_by=actor.account_id,
                now=now,
            )
        return Progress(enrolment_id, programme, now, 0, None)

    # --------------------------------------------------------------- reading

    async def my_programme(self, actor: Principal, programme_id: Any) -> ProgrammeView:
        """One's own programme: its sessions, where one is, and one's answers."""
        self._prisoner(actor)
        async with self._db.connect() as conn:
            enrolment = await enrolment_of(conn, actor.account_id, programme_id)
            return await view_of(conn, self._subject_keys, enrolment, with_answers=True)

    async def _open_session(
        self, conn: AsyncConnection, actor: Principal, session_id: Any
    ) -> tuple[Any, Any, SessionContent, bool]:
        """The session, the actor's enrolment on its programme, its content, and
        whether it is complete; refused if it is locked behind an earlier one."""
        sid = clean_id(session_id)
        if sid is None:
            raise missing("No such session.")
        row = (
            await conn.execute(select(programme_sessions).where(programme_sessions.c.id == sid))
        ).first()
        if row is None:
            raise missing("No such session.")
        try:
            enrolment = await enrolment_of(conn, actor.account_id, row.programme_id)
        except ServiceError:
            raise missing("No such session.") from None
        sessions = await sessions_of(conn, enrolment)
        for earlier, _, completed_at in sessions:
            if earlier.position >= row.position:
                break
            if completed_at is None:
                raise ServiceError(
                    Code.CONFLICT,
                    f"Finish session {earlier.position} before this one.",
                    extra={"reason": "order"},
                )
        this = next(x for x in sessions if x[0].id == sid)
        return row, enrolment, this[1], this[2] is not None

    async def record_answer(
        self,
        actor: Principal,
        session_id: Any,
        exercise: Any,
        value: Any,
        *,
        client_id: Any,
        base_version: Any = None,
    ) -> AnswerRecord:
        """Save one exercise's answer for the prisoner, idempotently by `client_id`.

        The offline sync calls this for each queued answer; the page calls it on save.
        A client id seen before (for this prisoner) returns that write's record with
        `replayed=True` and changes nothing, even if a later write has since replaced
        the answer. Otherwise the answer is checked, sealed and stored (replacing any
        earlier answer to the exercise, `version` + 1). The rule between two devices: the
        later write to arrive wins; a write that names the version it edited
        (`base_version`, 0 for none) and finds another is marked `conflicted`.
        """
        self._prisoner(actor)
        cid = _client_id(client_id)
        if base_version is not None and (
            isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 0
        ):
            raise ServiceError(Code.INVALID_REQUEST, "The base version must be a whole number.")
        prisoner = actor.account_id
        a = programme_answers.c
        await self._require_open(actor, MODULE)
        async with self._db.connect() as conn:
            seen = await self._write_of(conn, prisoner, cid)
        if seen is not None:
            return seen
        now = self._clock.now()
        try:
            async with self._db.begin() as conn:
                row, enrolment, content, _ = await self._open_session(conn, actor, session_id)
                stored = check_answer(content.exercise(exercise), value)
                key = content.exercise(exercise).key
                current = (
                    await conn.execute(
                        select(a.id, a.version).where(
                            and_(
                                a.enrolment_id == enrolment.id,
                                a.session_id == row.id,
                                a.exercise == key,
                            )
                        )
                    )
                ).first()
                answer_id = current.id if current is not None else str(uuid.uuid4())
                version = 1 if current is None else current.version + 1
                sealed = await self._subject_keys.seal(
                    conn,
                    prisoner,
                    column=ANSWER,
                    row=answer_id,
                    text=json.dumps(stored, ensure_ascii=False),
                )
                if current is None:
                    await conn.execute(
                        insert(programme_answers).values(
                            id=answer_id,
                            enrolment_id=enrolment.id,
                            session_id=row.id,
                            exercise=key,
                            prisoner_id=prisoner,
                            answer_enc=sealed,
                            client_id=cid,
                            version=version,
                            updated_at=now,
                        )
                    )
                else:
                    changed = await conn.execute(
                        update(programme_answers)
                        .where(and_(a.id == answer_id, a.version == current.version))
                        .values(answer_enc=sealed, client_id=cid, version=version, updated_at=now)
                    )
                    if changed.rowcount != 1:
                        # Another write to this exercise committed since we read it.
                        raise _changed()
                await conn.execute(
                    insert(programme_answer_writes).values(
                        prisoner_id=prisoner,
                        client_id=cid,
                        answer_id=answer_id,
                        version=version,
                        written_at=now,
                    )
                )
        except IntegrityError:
            # The same write twice at once, or two first answers to one exercise: the
            # other request stored first. A replay finds it; anything else is a conflict.
            async with self._db.connect() as conn:
                seen = await self._write_of(conn, prisoner, cid)
            if seen is not None:
                return seen
            raise _changed() from None
        conflicted = base_version is not None and base_version != version - 1
        return AnswerRecord(
            answer_id, row.id, key, cid, version, now, replayed=False, conflicted=conflicted
        )

    async def _write_of(
        self, conn: AsyncConnection, prisoner: str, client_id: str
    ) -> AnswerRecord | None:
        w, a = programme_answer_writes.c, programme_answers.c
        row = (
            await conn.execute(
                select(w.answer_id, w.version, w.written_at, a.session_id, a.exercise)
                .join(programme_answers, a.id == w.answer_id)
                .where(and_(w.prisoner_id == prisoner, w.client_id == client_id))
            )
        ).first()
        if row is None:
            return None
        return AnswerRecord(
            row.answer_id,
            row.session_id,
            row.exercise,
            client_id,
            row.version,
            row.written_at,
            replayed=True,
        )

    async def complete_session(self, actor: Principal, session_id: Any) -> Progress:
        """Mark a session done once every exercise has an answer; again changes nothing."""
        self._prisoner(actor)
        await self._require_open(actor, MODULE)
        try:
            return await self._complete(actor, session_id)
        except IntegrityError:
            # The same session completed twice at once: the other request did it.
            return await self._complete(actor, session_id)

    async def _complete(self, actor: Principal, session_id: Any) -> Progress:
        now = self._clock.now()
        finished = False
        async with self._db.begin() as conn:
            row, enrolment, content, done = await self._open_session(conn, actor, session_id)
            if not done:
                a = programme_answers.c
                answered = {
                    r.exercise
                    for r in await conn.execute(
                        select(a.exercise).where(
                            and_(a.enrolment_id == enrolment.id, a.session_id == row.id)
                        )
                    )
                }
                missing = [e.key for e in content.exercises if e.key not in answered]
                if missing:
                    raise ServiceError(
                        Code.INVALID_REQUEST,
                        "Answer every exercise in this session first.",
                        extra={"missing": missing, "reason": "unanswered"},
                    )
                await conn.execute(
                    insert(programme_completions).values(
                        enrolment_id=enrolment.id, session_id=row.id, completed_at=now
                    )
                )
                finished = await self._after_completion(conn, enrolment, now)
            found = await progress_of(conn, [actor.account_id])
        progress = next(x for x in found[actor.account_id] if x.enrolment_id == enrolment.id)
        if not done:
            await self._record(
                Action.PROGRAMME_SESSION_COMPLETED,
                actor,
                enrolment.establishment_id,
                actor.account_id,
                programme=enrolment.programme_id,
                session=row.position,
            )
            if finished:
                await self._record(
                    Action.PROGRAMME_COMPLETED,
                    actor,
                    enrolment.establishment_id,
                    actor.account_id,
                    programme=enrolment.programme_id,
                )
        return progress

    async def _after_completion(self, conn: AsyncConnection, enrolment: Any, now: datetime) -> bool:
        """Bring checks forward every N sessions; finish the programme after the last.
        True if the programme is now complete."""
        p = (
            await conn.execute(select(programmes).where(programmes.c.id == enrolment.programme_id))
        ).one()
        done = int(
            await conn.scalar(
                select(func.count())
                .select_from(programme_completions)
                .where(programme_completions.c.enrolment_id == enrolment.id)
            )
            or 0
        )
        total = int(
            await conn.scalar(
                select(func.count())
                .select_from(programme_sessions)
                .where(programme_sessions.c.programme_id == p.id)
            )
            or 0
        )
        if p.check_every_sessions and done % p.check_every_sessions == 0:
            for kind in (k for k in p.check_kinds.split(",") if k):
                await bring_check_forward(
                    conn, prisoner_id=enrolment.prisoner_id, kind=kind, now=now
                )
        if done >= total:
            await conn.execute(
                update(programme_enrolments)
                .where(programme_enrolments.c.id == enrolment.id)
                .values(completed_at=now)
            )
            return True
        return False

    # ------------------------------------------------------------- transfer

    async def transfer_step(self, ctx: TransferContext) -> None:
        """The person's programme records, scores and planned checks move with them:
        the new establishment's staff see them, the old one's no longer do."""
        e = programme_enrolments.c
        moved = await ctx.conn.execute(
            update(programme_enrolments)
            .where(e.prisoner_id == ctx.prisoner_id)
            .values(establishment_id=ctx.to_establishment_id)
        )
        await ctx.conn.execute(
            update(questionnaire_responses)
            .where(questionnaire_responses.c.prisoner_id == ctx.prisoner_id)
            .values(establishment_id=ctx.to_establishment_id)
        )
        await ctx.conn.execute(
            update(questionnaire_plans)
            .where(questionnaire_plans.c.prisoner_id == ctx.prisoner_id)
            .values(establishment_id=ctx.to_establishment_id)
        )
        ctx.summary["programmes"] = moved.rowcount


def _changed() -> ServiceError:
    return ServiceError(
        Code.CONFLICT, "This answer changed meanwhile: try again.", extra={"reason": "changed"}
    )


def _client_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ServiceError(Code.INVALID_REQUEST, "Each answer needs its id (a UUID).")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ServiceError(Code.INVALID_REQUEST, "Each answer needs its id (a UUID).") from None
