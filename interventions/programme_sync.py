"""Programme sessions worked offline on a device: the `programme` kind of `core.offline`.

An item is one of two things the session screen does:

- `{"action": "answer", session_id, exercise, value, base_version}`: one exercise's
  answer (free text, a choice, a personal plan), checked as online
  (`programme_content.check_answer`) and sealed under the prisoner's key;
  `base_version` is the version of the answer the device showed when it was
  changed (0 for none);
- `{"action": "complete", session_id}`: the session is done (every exercise has an
  answer, counting those earlier in the batch); again changes nothing.

A batch is played in its order, as if each item were sent alone: a session
completed earlier in the batch opens the next, an answer saved earlier counts for
completing, and a device's own edits chain (it sends each later edit with the
version its earlier edit makes). Refused with the reason, and nothing stored for
it: a session the person is not on or that is locked behind an earlier one, an
exercise that does not exist, an answer that does not fit.

**Conflicts** (the rule in docs/offline.md): an answer changed on two devices from
the same version is the same answer changed twice. The first to reach the server
stands; the later one (its `base_version` is no longer the answer's version) is not
applied: it is kept sealed in `sync_conflicts` and comes back `conflict` with the
id of the write that stands, for the device to show. A replay is answered from its
receipt and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import SubjectCipher
from core.identity import Principal
from core.offline import Item, Superseded
from interventions.programme_content import SessionContent, check_answer
from interventions.programme_records import ANSWER, clean_id, missing, sessions_of
from interventions.programme_tables import (
    programme_answer_writes,
    programme_answers,
    programme_completions,
    programme_enrolments,
    programme_sessions,
)
from interventions.programmes import Programmes
from interventions.questionnaires import MODULE

KIND = "programme"
NO_SESSION = "No such session."


def _refuse(detail: str) -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, detail)


@dataclass
class _Work:
    action: str
    session_id: str
    exercise: str = ""
    value: Any = None
    base_version: int | None = None
    # Filled by `ready`:
    enrolment: Any = None
    position: int = 0
    answer_id: str = ""
    version: int = 0
    # The stored JSON of the answer (for `answer`); whether the session was done (`complete`).
    stored: str = ""
    already: bool = False
    finished: bool = field(default=False)


@dataclass
class _Enrolment:
    """One enrolment as the batch plays: sessions, which are done, the answers there are."""

    row: Any
    sessions: list[tuple[Any, SessionContent]]
    done: set[str]
    # (session, exercise) -> (answer id, version, client id of the write that made it)
    answers: dict[tuple[str, str], tuple[str, int, str]]


class QueuedProgrammeWork:
    """Registered as `programme` with `core.offline.OfflineSync`."""

    module = MODULE

    def __init__(
        self,
        db: Database,
        programmes: Programmes,
        *,
        subject_keys: SubjectCipher,
        audit: AuditSink,
    ) -> None:
        self._db = db
        self._programmes = programmes
        self._subject_keys = subject_keys
        self._audit = audit
        # What a stored item did, by its record id, for `after` (audit events).
        self._done: dict[str, _Work] = {}

    def check(self, actor: Principal, item: Item) -> _Work:
        Programmes._prisoner(actor)
        body = item.body
        action, session = body.get("action"), clean_id(body.get("session_id"))
        if session is None:
            raise missing(NO_SESSION)
        if action == "complete":
            return _Work("complete", session)
        if action != "answer":
            raise _refuse("A programme item is an answer or a completed session.")
        exercise, base = body.get("exercise"), body.get("base_version")
        if not isinstance(exercise, str) or not 0 < len(exercise) <= 32:
            raise ServiceError(Code.NOT_FOUND, "This session has no such exercise.")
        if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= 1_000_000:
            raise _refuse("The base version must be a whole number.")
        return _Work("answer", session, exercise, body.get("value"), base)

    async def ready(self, actor: Principal, items: Sequence[tuple[Item, Any]]) -> dict[str, Any]:
        """Play the batch in order against what is stored, without writing."""
        answer: dict[str, Any] = {}
        async with self._db.connect() as conn:
            places = await self._places(conn, actor, {w.session_id for _, w in items})
            for item, work in items:
                try:
                    answer[item.client_id] = self._play(places, item, work)
                except ServiceError as error:
                    answer[item.client_id] = error
        return answer

    async def _places(
        self, conn: AsyncConnection, actor: Principal, session_ids: set[str]
    ) -> dict[str, _Enrolment]:
        """Each wanted session's enrolment (the person's own only), loaded once."""
        s, e, a = programme_sessions.c, programme_enrolments.c, programme_answers.c
        rows = await conn.execute(
            select(s.id.label("session_key"), programme_enrolments)
            .join(programme_enrolments, e.programme_id == s.programme_id)
            .where(and_(s.id.in_(sorted(session_ids)), e.prisoner_id == actor.account_id))
        )
        places: dict[str, _Enrolment] = {}
        loaded: dict[str, _Enrolment] = {}
        for row in list(rows):
            enrolment = loaded.get(row.id)
            if enrolment is None:
                sessions = await sessions_of(conn, row)
                answers = {
                    (r.session_id, r.exercise): (r.id, r.version, r.client_id)
                    for r in await conn.execute(
                        select(a.id, a.session_id, a.exercise, a.version, a.client_id).where(
                            a.enrolment_id == row.id
                        )
                    )
                }
                enrolment = _Enrolment(
                    row,
                    [(x, content) for x, content, _ in sessions],
                    {x.id for x, _, completed in sessions if completed is not None},
                    answers,
                )
                loaded[row.id] = enrolment
            places[row.session_key] = enrolment
        return places

    @staticmethod
    def _play(places: dict[str, _Enrolment], item: Item, work: _Work) -> Any:
        place = places.get(work.session_id)
        if place is None:
            raise missing(NO_SESSION)
        row, content = next((x, c) for x, c in place.sessions if x.id == work.session_id)
        for earlier, _ in place.sessions:
            if earlier.position >= row.position:
                break
            if earlier.id not in place.done:
                raise ServiceError(
                    Code.CONFLICT,
                    f"Finish session {earlier.position} before this one.",
                    extra={"reason": "order"},
                )
        work.enrolment, work.position = place.row, row.position
        if work.action == "complete":
            work.already = row.id in place.done
            if not work.already:
                left = [x.key for x in content.exercises if (row.id, x.key) not in place.answers]
                if left:
                    raise ServiceError(
                        Code.INVALID_REQUEST,
                        "Answer every exercise in this session first.",
                        extra={"missing": left, "reason": "unanswered"},
                    )
                place.done.add(row.id)
            return work
        exercise = content.exercise(work.exercise)
        stored = check_answer(exercise, work.value)
        now = place.answers.get((row.id, exercise.key))
        version = 0 if now is None else now[1]
        if work.base_version is not None and work.base_version != version:
            return Superseded(
                now[2] if now is not None else "", f"{row.id}/{exercise.key}@{work.base_version}"
            )
        work.exercise = exercise.key
        work.stored = json.dumps(stored, ensure_ascii=False)
        work.answer_id = now[0] if now is not None else str(uuid.uuid4())
        work.version = version + 1
        place.answers[(row.id, exercise.key)] = (work.answer_id, work.version, item.client_id)
        return work

    def summary(self, prepared: Any) -> dict[str, Any]:
        work: _Work = prepared
        if work.action == "complete":
            return {"session": work.session_id, "completed": True}
        return {"session": work.session_id, "exercise": work.exercise, "version": work.version}

    async def store(
        self,
        conn: AsyncConnection,
        actor: Principal,
        items: Sequence[tuple[Item, Any, str]],
        now: datetime,
    ) -> None:
        """In the batch's order. An answer changed by another request since `ready`
        looked refuses the batch (409, nothing stored): the device sends it again."""
        prisoner = actor.account_id
        answers = [(item, w) for item, w, _ in items if w.action == "answer"]
        sealed = (
            await self._subject_keys.seal_many(
                conn, prisoner, [(ANSWER, w.answer_id, w.stored) for _, w in answers]
            )
            if answers
            else []
        )
        sealed_of = {item.client_id: s for (item, _), s in zip(answers, sealed, strict=True)}
        a = programme_answers.c
        for item, work, ref in items:
            if work.action == "answer":
                if work.version == 1:
                    await conn.execute(
                        insert(programme_answers).values(
                            id=work.answer_id,
                            enrolment_id=work.enrolment.id,
                            session_id=work.session_id,
                            exercise=work.exercise,
                            prisoner_id=prisoner,
                            answer_enc=sealed_of[item.client_id],
                            client_id=item.client_id,
                            version=1,
                            updated_at=now,
                        )
                    )
                else:
                    changed = await conn.execute(
                        update(programme_answers)
                        .where(and_(a.id == work.answer_id, a.version == work.version - 1))
                        .values(
                            answer_enc=sealed_of[item.client_id],
                            client_id=item.client_id,
                            version=work.version,
                            updated_at=now,
                        )
                    )
                    if changed.rowcount != 1:
                        raise ServiceError(
                            Code.CONFLICT,
                            "An answer changed meanwhile: try again.",
                            extra={"reason": "changed"},
                        )
                await conn.execute(
                    insert(programme_answer_writes).values(
                        prisoner_id=prisoner,
                        client_id=item.client_id,
                        answer_id=work.answer_id,
                        version=work.version,
                        written_at=now,
                    )
                )
            elif not work.already:
                await conn.execute(
                    insert(programme_completions).values(
                        enrolment_id=work.enrolment.id,
                        session_id=work.session_id,
                        completed_at=now,
                    )
                )
                # The same as online: checks brought forward, the programme finished.
                work.finished = await self._programmes._after_completion(conn, work.enrolment, now)
                self._done[ref] = work

    async def after(
        self, actor: Principal, stored: Sequence[tuple[Item, str, dict[str, Any]]]
    ) -> None:
        """A session (and a programme) completed from the queue is logged as online."""
        records = []
        for item, ref, _summary in stored:
            work = self._done.pop(ref, None)
            if work is None:
                continue
            est, who = work.enrolment.establishment_id, actor.account_id
            records.append(
                AuditRecord(
                    action=Action.PROGRAMME_SESSION_COMPLETED,
                    actor=who,
                    establishment=est,
                    subject=who,
                    details={
                        "programme": work.enrolment.programme_id,
                        "session": work.position,
                        "offline": item.client_id,
                    },
                )
            )
            if work.finished:
                records.append(
                    AuditRecord(
                        action=Action.PROGRAMME_COMPLETED,
                        actor=who,
                        establishment=est,
                        subject=who,
                        details={"programme": work.enrolment.programme_id},
                    )
                )
        await asyncio.gather(*(self._audit.append(r) for r in records))
