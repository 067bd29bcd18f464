"""Answering a questionnaire, and the risk alerts a PHQ-9 item 9 answer raises.

A submission is scored first (`instruments.score`), so a bad set of answers is
refused before anything is written. Then, in one transaction: the response
(score and band in the clear, the item answers and any free text sealed under
the prisoner's key), and for a risk answer an alert on the establishment's
duty healthcare queue with its escalation job due 15 minutes later. The job
(`ESCALATE_JOB`) escalates only an alert still unacknowledged: a conditional
update claims it, so a retried or doubled job notifies the managers once.

Who reads what: a prisoner their own scores; clinicians and healthcare managers
the scores and free text of their establishment's prisoners; a keyworker the
scores (never the free text) of the people on their caseload; officers nothing.
Every staff read of a person's answers is an audit event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, caseloads, staff_establishments
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SealedField, SubjectCipher, Unreadable
from core.identity import Principal, Role
from core.jobs import insert_job
from core.permissions import Permission, allows, require_permission
from interventions.instruments import Result, instrument, score
from interventions.tables import questionnaire_plans, questionnaire_responses, risk_alerts
from scheduling.notices import queue_notice

MODULE = "interventions"
ESCALATE_JOB = "interventions.risk_escalate"
ESCALATE_AFTER = timedelta(minutes=15)
RISK_NOTICE = "risk_alert"
CHECK_DUE_JOB = "interventions.check_due"
CHECK_NOTICE = "check_due"
MIN_EVERY_DAYS, MAX_EVERY_DAYS = 7, 182
MAX_COMMENT = 2000
ANSWERS = "questionnaire_responses.answers"
COMMENT = "questionnaire_responses.comment"
TREND_LIMIT = 200

Gate = Callable[[Principal, str], Awaitable[None]]
"""`require_open(principal, module)`: refuses (423) while a lockdown suspends the module."""


@dataclass(frozen=True)
class Submission:
    id: str
    kind: str
    score: int
    band: str
    substance: str | None
    risk: bool
    alert_id: str | None
    submitted_at: datetime


@dataclass(frozen=True)
class ScorePoint:
    id: str
    kind: str
    substance: str | None
    score: int
    band: str
    submitted_at: datetime
    # None when the reader may not read free text, or there was none.
    comment: str | None = None


@dataclass(frozen=True)
class CheckPlan:
    id: str
    kind: str
    every_days: int
    next_due_at: datetime
    due: bool


@dataclass(frozen=True)
class RiskAlert:
    id: str
    prisoner_id: str
    prisoner_name: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None


def _refuse(detail: str) -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, detail)


class Questionnaires:
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
        self,
        action: Action,
        actor: Principal | str,
        establishment: str | None,
        subject: str | None,
        **details: Any,
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor if isinstance(actor, str) else actor.account_id,
                establishment=establishment,
                subject=subject,
                details=details,
            )
        )

    # ------------------------------------------------------------ answering

    async def submit(
        self,
        actor: Principal,
        kind: Any,
        answers: Any,
        *,
        substance: Any = None,
        comment: Any = None,
        client_id: Any = None,
    ) -> Submission:
        """Score and store a prisoner's own answers; a risk answer raises an alert.

        A `client_id` already used by this prisoner returns the first submission
        and changes nothing, so a device that lost the answer may send again.
        """
        require_permission(actor, Permission.QUESTIONNAIRES_ANSWER)
        if actor.role != Role.PRISONER or actor.establishment_id is None:
            raise ServiceError(Code.FORBIDDEN)
        if not isinstance(kind, str):
            raise _refuse("There is no questionnaire of that kind.")
        if substance is not None and not isinstance(substance, str):
            raise _refuse("Choose a substance the scale has a cut-off for.")
        if not isinstance(answers, Mapping):
            raise _refuse("Answers must be an object of item to value.")
        result = score(kind, answers, substance)
        if comment is not None:
            if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
                raise _refuse(
                    "Anything else you want to say must be text of 2000 characters or fewer."
                )
            comment = comment.strip() or None
        if client_id is not None:
            if not isinstance(client_id, str):
                raise _refuse("The submission id must be a UUID.")
            try:
                client_id = str(uuid.UUID(client_id))
            except ValueError:
                raise _refuse("The submission id must be a UUID.") from None
        await self._require_open(actor, MODULE)
        prisoner, est = actor.account_id, actor.establishment_id
        now = self._clock.now()
        response_id = str(uuid.uuid4())
        alert_id = str(uuid.uuid4()) if result.risk_items else None
        try:
            async with self._db.begin() as conn:
                if client_id is not None:
                    earlier = await self._by_client_id(conn, prisoner, client_id)
                    if earlier is not None:
                        return earlier
                plain = json.dumps({k: answers[k] for k in sorted(answers)}, sort_keys=True)
                await conn.execute(
                    insert(questionnaire_responses).values(
                        id=response_id,
                        establishment_id=est,
                        prisoner_id=prisoner,
                        kind=result.kind.value,
                        substance=result.substance,
                        score=result.score,
                        band=result.band,
                        answers_enc=await self._subject_keys.seal(
                            conn, prisoner, column=ANSWERS, row=response_id, text=plain
                        ),
                        comment_enc=None
                        if comment is None
                        else await self._subject_keys.seal(
                            conn, prisoner, column=COMMENT, row=response_id, text=comment
                        ),
                        client_id=client_id,
                        submitted_at=now,
                    )
                )
                await self._move_plan(conn, prisoner, result.kind.value, now)
                if alert_id is not None:
                    await conn.execute(
                        insert(risk_alerts).values(
                            id=alert_id,
                            response_id=response_id,
                            establishment_id=est,
                            prisoner_id=prisoner,
                            created_at=now,
                        )
                    )
                    await insert_job(
                        conn,
                        ESCALATE_JOB,
                        {"alert": alert_id},
                        due_at=now + ESCALATE_AFTER,
                        now=now,
                        key=alert_id,
                    )
        except IntegrityError:
            # The same client id sent twice at once: the other request stored it first.
            if client_id is None:
                raise
            async with self._db.connect() as conn:
                earlier = await self._by_client_id(conn, prisoner, client_id)
            if earlier is None:
                raise
            return earlier
        await self._record(
            Action.QUESTIONNAIRE_SUBMITTED,
            actor,
            est,
            prisoner,
            response=response_id,
            kind=result.kind.value,
            score=result.score,
            band=result.band,
        )
        if alert_id is not None:
            await self._record(
                Action.RISK_ALERT_RAISED, actor, est, prisoner, alert=alert_id, response=response_id
            )
        return _submission(response_id, result, alert_id, now)

    async def _by_client_id(
        self, conn: AsyncConnection, prisoner: str, client_id: str
    ) -> Submission | None:
        q = questionnaire_responses.c
        row = (
            await conn.execute(
                select(
                    q.id,
                    q.kind,
                    q.score,
                    q.band,
                    q.substance,
                    q.submitted_at,
                    risk_alerts.c.id.label("alert_id"),
                )
                .select_from(
                    questionnaire_responses.outerjoin(
                        risk_alerts, risk_alerts.c.response_id == q.id
                    )
                )
                .where(and_(q.prisoner_id == prisoner, q.client_id == client_id))
            )
        ).first()
        if row is None:
            return None
        return Submission(
            id=row.id,
            kind=row.kind,
            score=row.score,
            band=row.band,
            substance=row.substance,
            risk=row.alert_id is not None,
            alert_id=row.alert_id,
            submitted_at=row.submitted_at,
        )

    # --------------------------------------------------------------- reading

    async def scores(self, actor: Principal, prisoner_id: str | None = None) -> list[ScorePoint]:
        """Each score over time, oldest first: one's own, or a person one may follow."""
        if prisoner_id is None or prisoner_id == actor.account_id and actor.role == Role.PRISONER:
            require_permission(actor, Permission.QUESTIONNAIRES_ANSWER)
            return await self._points(actor.account_id, with_comments=True)
        require_permission(actor, Permission.SCORES_READ)
        async with self._db.connect() as conn:
            est, clinical = await self._follows(conn, actor, prisoner_id)
        points = await self._points(prisoner_id, with_comments=clinical)
        await self._record(
            Action.ANSWERS_VIEWED, actor, est, prisoner_id, responses=len(points), text=clinical
        )
        return points

    async def _follows(
        self, conn: AsyncConnection, actor: Principal, prisoner_id: Any
    ) -> tuple[str, bool]:
        """The person's establishment, and whether the actor reads clinical text.

        Clinical staff follow their establishment's prisoners, a keyworker only their
        own caseload; anyone else is told there is no such person (404, no oracle).
        """
        if not isinstance(prisoner_id, str) or len(prisoner_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such person.")
        est = await conn.scalar(
            select(accounts.c.establishment_id).where(
                and_(accounts.c.id == prisoner_id, accounts.c.role == Role.PRISONER.value)
            )
        )
        if est is None or est != actor.establishment_id:
            raise ServiceError(Code.NOT_FOUND, "No such person.")
        clinical = allows(actor, Permission.CLINICAL_TEXT_READ)
        if not clinical:
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
        return str(est), clinical

    async def _points(self, prisoner_id: str, *, with_comments: bool) -> list[ScorePoint]:
        q = questionnaire_responses.c
        async with self._db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(
                        q.id, q.kind, q.substance, q.score, q.band, q.submitted_at, q.comment_enc
                    )
                    .where(q.prisoner_id == prisoner_id)
                    .order_by(q.submitted_at.desc(), q.id)
                    .limit(TREND_LIMIT)
                )
            )
            rows.reverse()
            comments: dict[str, str] = {}
            if with_comments:
                sealed = [r for r in rows if r.comment_enc is not None]
                opened = await self._subject_keys.open_many(
                    conn, [SealedField(r.comment_enc, prisoner_id, COMMENT, r.id) for r in sealed]
                )
                comments = {
                    r.id: text
                    for r, text in zip(sealed, opened, strict=True)
                    if not isinstance(text, Unreadable)
                }
        return [
            ScorePoint(
                r.id, r.kind, r.substance, r.score, r.band, r.submitted_at, comments.get(r.id)
            )
            for r in rows
        ]

    # ----------------------------------------------------------- risk alerts

    async def risk_queue(self, actor: Principal) -> list[RiskAlert]:
        """The establishment's alerts: unacknowledged ones first, oldest first."""
        require_permission(actor, Permission.RISK_ALERTS_HANDLE)
        if actor.establishment_id is None:
            return []
        a = risk_alerts.c
        since = self._clock.now() - timedelta(days=2)
        async with self._db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(risk_alerts, accounts.c.display_name_enc)
                    .join(accounts, accounts.c.id == a.prisoner_id)
                    .where(
                        and_(
                            a.establishment_id == actor.establishment_id,
                            or_(a.acknowledged_at.is_(None), a.acknowledged_at >= since),
                        )
                    )
                    .order_by(a.created_at)
                )
            )
        alerts = [
            RiskAlert(
                id=r.id,
                prisoner_id=r.prisoner_id,
                prisoner_name=self._cipher.decrypt(
                    r.display_name_enc, row=r.prisoner_id, column="display_name"
                ),
                created_at=r.created_at,
                acknowledged_at=r.acknowledged_at,
                acknowledged_by=r.acknowledged_by,
                escalated_at=r.escalated_at,
            )
            for r in rows
        ]
        return sorted(alerts, key=lambda x: (x.acknowledged_at is not None, x.created_at))

    async def acknowledge(self, actor: Principal, alert_id: Any) -> RiskAlert:
        require_permission(actor, Permission.RISK_ALERTS_HANDLE)
        if not isinstance(alert_id, str) or len(alert_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such alert.")
        a = risk_alerts.c
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (await conn.execute(select(risk_alerts).where(a.id == alert_id))).first()
            if row is None or row.establishment_id != actor.establishment_id:
                raise ServiceError(Code.NOT_FOUND, "No such alert.")
            done = await conn.execute(
                update(risk_alerts)
                .where(and_(a.id == alert_id, a.acknowledged_at.is_(None)))
                .values(acknowledged_at=now, acknowledged_by=actor.account_id)
            )
            if done.rowcount != 1:
                raise ServiceError(Code.CONFLICT, "This alert was already acknowledged.")
        await self._record(
            Action.RISK_ALERT_ACKNOWLEDGED,
            actor,
            row.establishment_id,
            row.prisoner_id,
            alert=alert_id,
            minutes=int((now - row.created_at).total_seconds() // 60),
        )
        return RiskAlert(
            id=alert_id,
            prisoner_id=row.prisoner_id,
            prisoner_name="",
            created_at=row.created_at,
            acknowledged_at=now,
            acknowledged_by=actor.account_id,
            escalated_at=row.escalated_at,
        )

    async def escalate(self, alert_id: str) -> int:
        """The job: an alert still unacknowledged goes to the healthcare managers.

        Returns how many managers were told (0: acknowledged in time, or
        already escalated by an earlier run of this job).
        """
        a = risk_alerts.c
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (await conn.execute(select(risk_alerts).where(a.id == alert_id))).first()
            if row is None:
                return 0
            claimed = await conn.execute(
                update(risk_alerts)
                .where(
                    and_(a.id == alert_id, a.acknowledged_at.is_(None), a.escalated_at.is_(None))
                )
                .values(escalated_at=now)
            )
            if claimed.rowcount != 1:
                return 0
            managers = await self._managers(conn, row.establishment_id)
            for manager in managers:
                await self._notice(
                    conn, manager, RISK_NOTICE, now, dedupe=f"risk:{alert_id}:{manager}"
                )
        await self._record(
            Action.RISK_ALERT_ESCALATED,
            "system",
            row.establishment_id,
            row.prisoner_id,
            alert=alert_id,
            managers=len(managers),
        )
        return len(managers)

    async def _managers(self, conn: AsyncConnection, establishment_id: str) -> list[str]:
        c = accounts.c
        home = select(c.id).where(
            and_(
                c.role == Role.MANAGER.value,
                c.active.is_(True),
                c.establishment_id == establishment_id,
            )
        )
        serving = (
            select(c.id)
            .join(staff_establishments, staff_establishments.c.account_id == c.id)
            .where(
                and_(
                    c.role == Role.MANAGER.value,
                    c.active.is_(True),
                    staff_establishments.c.establishment_id == establishment_id,
                )
            )
        )
        found = {r.id for r in await conn.execute(home.union(serving))}
        return sorted(found)

    async def _notice(
        self, conn: AsyncConnection, recipient: str, kind: str, now: datetime, *, dedupe: str
    ) -> None:
        """A notice in the person's inbox (its email, for those who opted in, follows from
        delivery): a code and no health detail, as every notice; once per `dedupe` key."""
        await queue_notice(conn, recipient, kind, now=now, dedupe_key=dedupe)

    # ------------------------------------------- baseline and progress checks

    async def schedule_checks(
        self, actor: Principal, prisoner_id: Any, kind: Any, every_days: Any
    ) -> CheckPlan:
        """Ask a person for a questionnaire now (the baseline) and every `every_days`
        after each answer (the progress checks). Setting it again changes the interval."""
        require_permission(actor, Permission.CHECKS_SCHEDULE)
        inst = instrument(kind if isinstance(kind, str) else "")
        if (
            isinstance(every_days, bool)
            or not isinstance(every_days, int)
            or not MIN_EVERY_DAYS <= every_days <= MAX_EVERY_DAYS
        ):
            raise _refuse("Progress checks are every 7 to 182 days.")
        now = self._clock.now()
        p = questionnaire_plans.c
        async with self._db.begin() as conn:
            est, _ = await self._follows(conn, actor, prisoner_id)
            row = (
                await conn.execute(
                    select(questionnaire_plans).where(
                        and_(p.prisoner_id == prisoner_id, p.kind == inst.kind.value)
                    )
                )
            ).first()
            if row is None:
                plan_id, due = str(uuid.uuid4()), now
                await conn.execute(
                    insert(questionnaire_plans).values(
                        id=plan_id,
                        establishment_id=est,
                        prisoner_id=prisoner_id,
                        kind=inst.kind.value,
                        every_days=every_days,
                        next_due_at=due,
                        set_by=actor.account_id,
                        created_at=now,
                    )
                )
                await self._schedule_due(conn, plan_id, due, now)
            else:
                plan_id, due = row.id, row.next_due_at
                await conn.execute(
                    update(questionnaire_plans)
                    .where(p.id == plan_id)
                    .values(every_days=every_days, set_by=actor.account_id)
                )
        await self._record(
            Action.CHECKS_SCHEDULED,
            actor,
            est,
            str(prisoner_id),
            kind=inst.kind.value,
            every_days=every_days,
        )
        return CheckPlan(plan_id, inst.kind.value, every_days, due, due <= now)

    async def my_checks(self, actor: Principal) -> list[CheckPlan]:
        require_permission(actor, Permission.QUESTIONNAIRES_ANSWER)
        return await self._plans(actor.account_id)

    async def checks_of(self, actor: Principal, prisoner_id: Any) -> list[CheckPlan]:
        require_permission(actor, Permission.CHECKS_SCHEDULE)
        async with self._db.connect() as conn:
            await self._follows(conn, actor, prisoner_id)
        return await self._plans(str(prisoner_id))

    async def _plans(self, prisoner_id: str) -> list[CheckPlan]:
        p = questionnaire_plans.c
        now = self._clock.now()
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(questionnaire_plans)
                .where(p.prisoner_id == prisoner_id)
                .order_by(p.next_due_at, p.kind)
            )
            return [
                CheckPlan(r.id, r.kind, r.every_days, r.next_due_at, r.next_due_at <= now)
                for r in rows
            ]

    async def _move_plan(
        self, conn: AsyncConnection, prisoner: str, kind: str, now: datetime
    ) -> None:
        """An answer is the check it was due for: the next one is `every_days` on."""
        p = questionnaire_plans.c
        row = (
            await conn.execute(
                select(p.id, p.every_days).where(and_(p.prisoner_id == prisoner, p.kind == kind))
            )
        ).first()
        if row is None:
            return
        due = now + timedelta(days=row.every_days)
        await conn.execute(
            update(questionnaire_plans).where(p.id == row.id).values(next_due_at=due)
        )
        await self._schedule_due(conn, row.id, due, now)

    async def _schedule_due(
        self, conn: AsyncConnection, plan_id: str, due: datetime, now: datetime
    ) -> None:
        await insert_job(
            conn,
            CHECK_DUE_JOB,
            {"plan": plan_id, "due": due.isoformat()},
            due_at=due,
            now=now,
            key=f"{plan_id}:{due.isoformat()}",
        )

    async def check_due(self, plan_id: str, due: str) -> bool:
        """The job: tell the person a check is due, unless it was answered (moved) since."""
        p = questionnaire_plans.c
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (await conn.execute(select(questionnaire_plans).where(p.id == plan_id))).first()
            if row is None or row.next_due_at.isoformat() != due:
                return False
            await self._notice(
                conn, row.prisoner_id, CHECK_NOTICE, now, dedupe=f"check:{plan_id}:{due}"
            )
        return True


def _submission(response_id: str, result: Result, alert_id: str | None, at: datetime) -> Submission:
    return Submission(
        id=response_id,
        kind=result.kind.value,
        score=result.score,
        band=result.band,
        substance=result.substance,
        risk=alert_id is not None,
        alert_id=alert_id,
        submitted_at=at,
    )


async def plan_check(
    conn: AsyncConnection,
    *,
    prisoner_id: str,
    establishment_id: str,
    kind: str,
    every_days: int,
    set_by: str,
    now: datetime,
) -> bool:
    """A programme's baseline: plan `kind` due now and every `every_days` after each answer,
    unless the person already has a plan for it (theirs stands). True if one was made."""
    p = questionnaire_plans.c
    found = await conn.scalar(
        select(p.id).where(and_(p.prisoner_id == prisoner_id, p.kind == kind))
    )
    if found is not None:
        return False
    plan_id = str(uuid.uuid4())
    await conn.execute(
        insert(questionnaire_plans).values(
            id=plan_id,
            establishment_id=establishment_id,
            prisoner_id=prisoner_id,
            kind=kind,
            every_days=every_days,
            next_due_at=now,
            set_by=set_by,
            created_at=now,
        )
    )
    await _due_job(conn, plan_id, now, now)
    return True


async def bring_check_forward(
    conn: AsyncConnection, *, prisoner_id: str, kind: str, now: datetime
) -> bool:
    """A programme's progress check after N sessions: the planned check is due now."""
    p = questionnaire_plans.c
    row = (
        await conn.execute(
            select(p.id, p.next_due_at).where(and_(p.prisoner_id == prisoner_id, p.kind == kind))
        )
    ).first()
    if row is None or row.next_due_at <= now:
        return False
    await conn.execute(update(questionnaire_plans).where(p.id == row.id).values(next_due_at=now))
    await _due_job(conn, row.id, now, now)
    return True


async def _due_job(conn: AsyncConnection, plan_id: str, due: datetime, now: datetime) -> None:
    await insert_job(
        conn,
        CHECK_DUE_JOB,
        {"plan": plan_id, "due": due.isoformat()},
        due_at=due,
        now=now,
        key=f"{plan_id}:{due.isoformat()}",
    )
