"""Programmes: a person put on one (or enrolling themselves where it allows) works
through its sessions in order, answering each exercise; staff who follow them see
their progress and, each reading logged, their answers.

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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, caseloads
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SealedField, SubjectCipher, Unreadable
from core.identity import Principal, Role
from core.permissions import Permission, allows, require_permission
from interventions.instruments import instrument
from interventions.programme_content import (
    ProgrammeKind,
    SessionContent,
    check_answer,
    parse_session,
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

ANSWER = "programme_answers.answer"
DEFAULT_CHECK_DAYS = 28

Gate = Callable[[Principal, str], Awaitable[None]]


@dataclass(frozen=True)
class Programme:
    id: str
    kind: str
    title: str
    title_cy: str | None
    summary: str
    summary_cy: str | None
    self_enrol: bool
    check_kinds: tuple[str, ...]
    sessions: int


@dataclass(frozen=True)
class Progress:
    """A person's place in one programme."""

    enrolment_id: str
    programme: Programme
    enrolled_at: datetime
    completed_sessions: int
    completed_at: datetime | None


@dataclass(frozen=True)
class SessionView:
    id: str
    position: int
    content: SessionContent
    # "done", "open" (the next to do) or "locked" (an earlier one is not done).
    state: str
    completed_at: datetime | None
    # exercise key -> the answer (None where the reader may not see it).
    answers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgrammeView:
    progress: Progress
    sessions: list[SessionView]


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


@dataclass(frozen=True)
class LatestScore:
    kind: str
    score: int
    band: str
    submitted_at: datetime


@dataclass(frozen=True)
class CaseloadRow:
    prisoner_id: str
    display_name: str
    prison_number: str | None
    programmes: list[Progress]
    latest_scores: list[LatestScore]


def _missing(what: str = "No such programme.") -> ServiceError:
    return ServiceError(Code.NOT_FOUND, what)


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 36 else None


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

    async def _programme_rows(
        self, conn: AsyncConnection, where: Any, *, ids: Sequence[str] | None = None
    ) -> dict[str, Programme]:
        p = programmes.c
        counts = (
            select(programme_sessions.c.programme_id, func.count().label("n"))
            .group_by(programme_sessions.c.programme_id)
            .subquery()
        )
        query = select(programmes, counts.c.n).join(counts, counts.c.programme_id == p.id)
        if where is not None:
            query = query.where(where)
        if ids is not None:
            query = query.where(p.id.in_(list(ids)))
        rows = await conn.execute(query.order_by(p.title, p.id))
        return {
            r.id: Programme(
                r.id,
                r.kind,
                r.title,
                r.title_cy,
                r.summary,
                r.summary_cy,
                bool(r.self_enrol),
                tuple(k for k in r.check_kinds.split(",") if k),
                int(r.n),
            )
            for r in rows
        }

    @staticmethod
    def _offered(establishment_id: str | None) -> Any:
        p = programmes.c
        return or_(p.establishment_id.is_(None), p.establishment_id == establishment_id)

    async def catalogue(self, actor: Principal) -> list[Programme]:
        """The programmes staff may put people on here: the establishment's and shared ones."""
        require_permission(actor, Permission.PROGRAMMES_ENROL)
        async with self._db.connect() as conn:
            found = await self._programme_rows(conn, self._offered(actor.establishment_id))
        return list(found.values())

    async def mine(self, actor: Principal) -> tuple[list[Progress], list[Programme]]:
        """A prisoner's programmes with their progress, and those they may enrol on."""
        self._prisoner(actor)
        async with self._db.connect() as conn:
            progress = await self._progress_of(conn, [actor.account_id])
            own = progress.get(actor.account_id, [])
            taken = {x.programme.id for x in own}
            offered = await self._programme_rows(
                conn, and_(self._offered(actor.establishment_id), programmes.c.self_enrol)
            )
        return own, [p for p in offered.values() if p.id not in taken]

    @staticmethod
    def _prisoner(actor: Principal) -> None:
        require_permission(actor, Permission.PROGRAMMES_TAKE)
        if actor.role != Role.PRISONER or actor.establishment_id is None:
            raise ServiceError(Code.FORBIDDEN)

    async def _progress_of(
        self, conn: AsyncConnection, prisoner_ids: Sequence[str], establishment_id: Any = None
    ) -> dict[str, list[Progress]]:
        e = programme_enrolments.c
        done = (
            select(programme_completions.c.enrolment_id, func.count().label("n"))
            .group_by(programme_completions.c.enrolment_id)
            .subquery()
        )
        query = (
            select(programme_enrolments, done.c.n)
            .outerjoin(done, done.c.enrolment_id == e.id)
            .where(e.prisoner_id.in_(list(prisoner_ids)))
            .order_by(e.enrolled_at, e.id)
        )
        if establishment_id is not None:
            query = query.where(e.establishment_id == establishment_id)
        rows = list(await conn.execute(query))
        known = await self._programme_rows(conn, None, ids=[r.programme_id for r in rows])
        found: dict[str, list[Progress]] = {}
        for r in rows:
            found.setdefault(r.prisoner_id, []).append(
                Progress(r.id, known[r.programme_id], r.enrolled_at, int(r.n or 0), r.completed_at)
            )
        return found

    # ------------------------------------------------------------- enrolling

    async def enrol_self(self, actor: Principal, programme_id: Any) -> Progress:
        self._prisoner(actor)
        await self._require_open(actor, MODULE)
        try:
            async with self._db.begin() as conn:
                found = await self._programme_rows(
                    conn, self._offered(actor.establishment_id), ids=[_id(programme_id) or ""]
                )
                programme = found.get(str(programme_id))
                if programme is None:
                    raise _missing()
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
                est = await self._follows(conn, actor, prisoner_id)
                found = await self._programme_rows(
                    conn, self._offered(est), ids=[_id(programme_id) or ""]
                )
                programme = found.get(str(programme_id))
                if programme is None:
                    raise _missing()
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

    async def _enrolment(self, conn: AsyncConnection, prisoner_id: str, programme_id: Any) -> Any:
        e = programme_enrolments.c
        pid = _id(programme_id)
        if pid is None:
            raise _missing()
        row = (
            await conn.execute(
                select(programme_enrolments).where(
                    and_(e.programme_id == pid, e.prisoner_id == prisoner_id)
                )
            )
        ).first()
        if row is None:
            raise _missing()
        return row

    async def _sessions(
        self, conn: AsyncConnection, enrolment: Any
    ) -> list[tuple[Any, SessionContent, datetime | None]]:
        s = programme_sessions.c
        rows = list(
            await conn.execute(
                select(programme_sessions, programme_completions.c.completed_at)
                .outerjoin(
                    programme_completions,
                    and_(
                        programme_completions.c.session_id == s.id,
                        programme_completions.c.enrolment_id == enrolment.id,
                    ),
                )
                .where(s.programme_id == enrolment.programme_id)
                .order_by(s.position)
            )
        )
        return [(r, parse_session(json.loads(r.content)), r.completed_at) for r in rows]

    async def _view(
        self, conn: AsyncConnection, enrolment: Any, *, with_answers: bool
    ) -> ProgrammeView:
        sessions = await self._sessions(conn, enrolment)
        answers: dict[tuple[str, str], Any] = {}
        if with_answers:
            a = programme_answers.c
            rows = list(
                await conn.execute(
                    select(a.id, a.session_id, a.exercise, a.answer_enc).where(
                        a.enrolment_id == enrolment.id
                    )
                )
            )
            opened = await self._subject_keys.open_many(
                conn,
                [SealedField(r.answer_enc, enrolment.prisoner_id, ANSWER, r.id) for r in rows],
            )
            for r, text in zip(rows, opened, strict=True):
                if not isinstance(text, Unreadable):
                    answers[(r.session_id, r.exercise)] = json.loads(text)
        views: list[SessionView] = []
        open_found = False
        for row, content, completed_at in sessions:
            if completed_at is not None:
                state = "done"
            elif not open_found:
                state, open_found = "open", True
            else:
                state = "locked"
            views.append(
                SessionView(
                    row.id,
                    row.position,
                    content,
                    state,
                    completed_at,
                    {k: v for (sid, k), v in answers.items() if sid == row.id},
                )
            )
        found = await self._progress_of(conn, [enrolment.prisoner_id])
        progress = next(x for x in found[enrolment.prisoner_id] if x.enrolment_id == enrolment.id)
        return ProgrammeView(progress, views)

    async def my_programme(self, actor: Principal, programme_id: Any) -> ProgrammeView:
        """One's own programme: its sessions, where one is, and one's answers."""
        self._prisoner(actor)
        async with self._db.connect() as conn:
            enrolment = await self._enrolment(conn, actor.account_id, programme_id)
            return await self._view(conn, enrolment, with_answers=True)

    async def answers_of(
        self, actor: Principal, prisoner_id: Any, programme_id: Any
    ) -> ProgrammeView:
        """A followed person's programme with their answers; the reading is logged."""
        require_permission(actor, Permission.PROGRAMME_ANSWERS_READ)
        async with self._db.connect() as conn:
            est = await self._follows(conn, actor, prisoner_id)
            enrolment = await self._enrolment(conn, str(prisoner_id), programme_id)
            if enrolment.establishment_id != est:
                raise _missing()
            view = await self._view(conn, enrolment, with_answers=True)
        await self._record(
            Action.PROGRAMME_ANSWERS_VIEWED,
            actor,
            est,
            str(prisoner_id),
            programme=enrolment.programme_id,
            answers=sum(len(s.answers) for s in view.sessions),
        )
        return view

    async def _follows(self, conn: AsyncConnection, actor: Principal, prisoner_id: Any) -> str:
        """The person's establishment, if the actor follows them: clinical staff their
        establishment's prisoners, a keyworker their own caseload. Anyone else is told
        there is no such person (404, no oracle)."""
        if _id(prisoner_id) is None:
            raise ServiceError(Code.NOT_FOUND, "No such person.")
        est = await conn.scalar(
            select(accounts.c.establishment_id).where(
                and_(accounts.c.id == prisoner_id, accounts.c.role == Role.PRISONER.value)
            )
        )
        if est is None or est != actor.establishment_id:
            raise ServiceError(Code.NOT_FOUND, "No such person.")
        if not allows(actor, Permission.CLINICAL_TEXT_READ):
            on = await conn.scalar(
                select(caseloads.c.prisoner_id).where(
                    and_(
                        caseloads.c.keyworker_id == actor.account_id,
                        caseloads.c.prisoner_id == prisoner_id,
                    )
                )
            )
            if on is None:
                raise ServiceError(Code.NOT_FOUND, "No such person.")
        return str(est)

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
            progress = await self._progress_of(conn, ids, est)
            latest = await self._latest_scores(conn, ids)
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

    async def _latest_scores(
        self, conn: AsyncConnection, prisoner_ids: Sequence[str]
    ) -> dict[str, list[LatestScore]]:
        q = questionnaire_responses.c
        newest = (
            select(q.prisoner_id, q.kind, func.max(q.submitted_at).label("at"))
            .where(q.prisoner_id.in_(list(prisoner_ids)))
            .group_by(q.prisoner_id, q.kind)
            .subquery()
        )
        rows = await conn.execute(
            select(q.prisoner_id, q.kind, q.score, q.band, q.submitted_at)
            .join(
                newest,
                and_(
                    newest.c.prisoner_id == q.prisoner_id,
                    newest.c.kind == q.kind,
                    newest.c.at == q.submitted_at,
                ),
            )
            .order_by(q.prisoner_id, q.kind)
        )
        found: dict[str, list[LatestScore]] = {}
        for r in rows:
            mine = found.setdefault(r.prisoner_id, [])
            if all(x.kind != r.kind for x in mine):
                mine.append(LatestScore(r.kind, r.score, r.band, r.submitted_at))
        return found

    # -------------------------------------------------------------- working

    async def _open_session(
        self, conn: AsyncConnection, actor: Principal, session_id: Any
    ) -> tuple[Any, Any, SessionContent, bool]:
        """The session, the actor's enrolment on its programme, its content, and
        whether it is complete; refused if it is locked behind an earlier one."""
        sid = _id(session_id)
        if sid is None:
            raise _missing("No such session.")
        row = (
            await conn.execute(select(programme_sessions).where(programme_sessions.c.id == sid))
        ).first()
        if row is None:
            raise _missing("No such session.")
        try:
            enrolment = await self._enrolment(conn, actor.account_id, row.programme_id)
        except ServiceError:
            raise _missing("No such session.") from None
        sessions = await self._sessions(conn, enrolment)
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
                    await conn.execute(
                        update(programme_answers)
                        .where(and_(a.id == answer_id, a.version == current.version))
                        .values(answer_enc=sealed, client_id=cid, version=version, updated_at=now)
                    )
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
            raise ServiceError(Code.CONFLICT, "This answer changed meanwhile: try again.") from None
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
        now = self._clock.now()
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
            found = await self._progress_of(conn, [actor.account_id])
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


def _client_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ServiceError(Code.INVALID_REQUEST, "Each answer needs its id (a UUID).")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ServiceError(Code.INVALID_REQUEST, "Each answer needs its id (a UUID).") from None
