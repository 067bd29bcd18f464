"""A person's programme records as staff and the person read them: the programmes offered,
each person's progress, a programme's sessions with their state and (opened under the
person's key) answers, who follows whom, and latest scores. Functions of a connection,
shared by the prisoner's service (`programmes.Programmes`) and the staff's desk
(`programme_desk.ProgrammeDesk`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts, caseloads
from core.errors import Code, ServiceError
from core.fields import SealedField, SubjectCipher, Unreadable
from core.identity import Principal, Role
from core.permissions import Permission, allows
from interventions.programme_content import SessionContent, parse_session
from interventions.programme_tables import (
    programme_answers,
    programme_completions,
    programme_enrolments,
    programme_sessions,
    programmes,
)
from interventions.tables import questionnaire_responses

ANSWER = "programme_answers.answer"


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
    # exercise key -> the answer's version: what an edit names as its base (offline sync).
    versions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgrammeView:
    progress: Progress
    sessions: list[SessionView]


@dataclass(frozen=True)
class LatestScore:
    kind: str
    score: int
    band: str
    submitted_at: datetime


def missing(what: str = "No such programme.") -> ServiceError:
    return ServiceError(Code.NOT_FOUND, what)


def clean_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 36 else None


async def programme_rows(
    conn: AsyncConnection, where: Any, *, ids: Sequence[str] | None = None
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


def offered(establishment_id: str | None) -> Any:
    p = programmes.c
    return or_(p.establishment_id.is_(None), p.establishment_id == establishment_id)


async def progress_of(
    conn: AsyncConnection, prisoner_ids: Sequence[str], establishment_id: Any = None
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
    known = await programme_rows(conn, None, ids=[r.programme_id for r in rows])
    found: dict[str, list[Progress]] = {}
    for r in rows:
        found.setdefault(r.prisoner_id, []).append(
            Progress(r.id, known[r.programme_id], r.enrolled_at, int(r.n or 0), r.completed_at)
        )
    return found


# ------------------------------------------------------------- enrolling


async def enrolment_of(conn: AsyncConnection, prisoner_id: str, programme_id: Any) -> Any:
    e = programme_enrolments.c
    pid = clean_id(programme_id)
    if pid is None:
        raise missing()
    row = (
        await conn.execute(
            select(programme_enrolments).where(
                and_(e.programme_id == pid, e.prisoner_id == prisoner_id)
            )
        )
    ).first()
    if row is None:
        raise missing()
    return row


async def sessions_of(
    conn: AsyncConnection, enrolment: Any
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


async def view_of(
    conn: AsyncConnection, subject_keys: SubjectCipher, enrolment: Any, *, with_answers: bool
) -> ProgrammeView:
    sessions = await sessions_of(conn, enrolment)
    answers: dict[tuple[str, str], Any] = {}
    versions: dict[tuple[str, str], int] = {}
    if with_answers:
        a = programme_answers.c
        rows = list(
            await conn.execute(
                select(a.id, a.session_id, a.exercise, a.answer_enc, a.version).where(
                    a.enrolment_id == enrolment.id
                )
            )
        )
        opened = await subject_keys.open_many(
            conn,
            [SealedField(r.answer_enc, enrolment.prisoner_id, ANSWER, r.id) for r in rows],
        )
        for r, text in zip(rows, opened, strict=True):
            versions[(r.session_id, r.exercise)] = r.version
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
                {k: v for (sid, k), v in versions.items() if sid == row.id},
            )
        )
    found = await progress_of(conn, [enrolment.prisoner_id])
    progress = next(x for x in found[enrolment.prisoner_id] if x.enrolment_id == enrolment.id)
    return ProgrammeView(progress, views)


async def follows(conn: AsyncConnection, actor: Principal, prisoner_id: Any) -> str:
    """The person's establishment, if the actor follows them: clinical staff their
    establishment's prisoners, a keyworker their own caseload. Anyone else is told
    there is no such person (404, no oracle)."""
    if clean_id(prisoner_id) is None:
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


async def latest_scores(
    conn: AsyncConnection, prisoner_ids: Sequence[str]
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
