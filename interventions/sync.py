"""Questionnaire answers queued offline on a device: the `questionnaire` kind of `core.offline`.

The same rules as answering online (`Questionnaires.submit`): scored first, so
bad answers are refused before anything is written; the item answers and free
text sealed under the prisoner's key; a PHQ-9 item 9 risk answer raises an
alert on the duty healthcare queue with its escalation job, at the moment the
answer reaches the server (the device showed the help at once, from the page).
Here a whole batch is written in the sync's one transaction, with one
multi-row insert per table, so 500 devices reconnecting at once stay cheap.

A questionnaire answered for a due check carries the check as its slot
(`kind@due-time`): two devices answering the same check is a conflict, and the
first answer the server received stands.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import SubjectCipher
from core.identity import Principal, Role
from core.jobs import insert_job, insert_jobs
from core.offline import Item
from core.permissions import Permission, require_permission
from interventions.instruments import Result, score
from interventions.questionnaires import (
    ANSWERS,
    CHECK_DUE_JOB,
    COMMENT,
    ESCALATE_AFTER,
    ESCALATE_JOB,
    MAX_COMMENT,
    MODULE,
)
from interventions.tables import questionnaire_plans, questionnaire_responses, risk_alerts

KIND = "questionnaire"


@dataclass(frozen=True)
class _Checked:
    result: Result
    answers: str
    comment: str | None


def _refuse(detail: str) -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, detail)


class QueuedAnswers:
    """Registered as `questionnaire` with `core.offline.OfflineSync`."""

    module = MODULE

    def __init__(self, *, subject_keys: SubjectCipher, audit: AuditSink) -> None:
        self._subject_keys = subject_keys
        self._audit = audit

    def check(self, actor: Principal, item: Item) -> _Checked:
        require_permission(actor, Permission.QUESTIONNAIRES_ANSWER)
        if actor.role != Role.PRISONER or actor.establishment_id is None:
            raise ServiceError(Code.FORBIDDEN)
        body = item.body
        kind, answers = body.get("kind"), body.get("answers")
        substance, comment = body.get("substance"), body.get("comment")
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
        plain = json.dumps({k: answers[k] for k in sorted(answers)}, sort_keys=True)
        return _Checked(result, plain, comment)

    def summary(self, prepared: Any) -> dict[str, Any]:
        result: Result = prepared.result
        return {
            "kind": result.kind.value,
            "score": result.score,
            "band": result.band,
            "substance": result.substance,
            "risk": bool(result.risk_items),
        }

    async def store(
        self,
        conn: AsyncConnection,
        actor: Principal,
        items: Sequence[tuple[Item, Any, str]],
        now: datetime,
    ) -> None:
        await self.store_many(conn, [(actor, items)], now)

    async def store_many(
        self,
        conn: AsyncConnection,
        parts: Sequence[tuple[Principal, Sequence[tuple[Item, Any, str]]]],
        now: datetime,
    ) -> None:
        """Several people's batches in the sync's one transaction: one look-up for all
        their keys, then one multi-row insert per table for them all."""
        # One key look-up for everyone in the group: the answers, and any free text.
        fields = [
            (actor.account_id, ANSWERS, ref, checked.answers)
            for actor, items in parts
            for _, checked, ref in items
        ]
        fields += [
            (actor.account_id, COMMENT, ref, c.comment)
            for actor, items in parts
            for _, c, ref in items
            if c.comment is not None
        ]
        blobs = await self._subject_keys.seal_subjects(conn, fields) if fields else []
        sealed = {
            (column, row): blob for (_, column, row, _), blob in zip(fields, blobs, strict=True)
        }
        rows: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        for actor, items in parts:
            prisoner, est = actor.account_id, actor.establishment_id
            for item, checked, response_id in items:
                result: Result = checked.result
                rows.append(
                    {
                        "id": response_id,
                        "establishment_id": est,
                        "prisoner_id": prisoner,
                        "kind": result.kind.value,
                        "substance": result.substance,
                        "score": result.score,
                        "band": result.band,
                        "answers_enc": sealed[(ANSWERS, response_id)],
                        "comment_enc": sealed.get((COMMENT, response_id)),
                        "client_id": item.client_id,
                        "submitted_at": now,
                    }
                )
                if result.risk_items:
                    alerts.append(
                        {
                            "id": str(uuid.uuid4()),
                            "response_id": response_id,
                            "establishment_id": est,
                            "prisoner_id": prisoner,
                            "created_at": now,
                        }
                    )
        if not rows:
            return
        # executemany: one compiled statement, sent by the driver as multi-row inserts.
        await conn.execute(insert(questionnaire_responses), rows)
        if alerts:
            await conn.execute(insert(risk_alerts), alerts)
            # No dedupe keys: the alerts are new in this very transaction, so their jobs
            # cannot exist yet.
            await insert_jobs(
                conn,
                [(ESCALATE_JOB, {"alert": a["id"]}, now + ESCALATE_AFTER) for a in alerts],
                now=now,
            )
        await _move_plans(conn, {(row["prisoner_id"], row["kind"]) for row in rows}, now)

    async def after(
        self, actor: Principal, stored: Sequence[tuple[Item, str, dict[str, Any]]]
    ) -> None:
        """The same audit events as an online answer, appended together (the log batches)."""
        records = []
        for item, ref, summary in stored:
            records.append(
                AuditRecord(
                    action=Action.QUESTIONNAIRE_SUBMITTED,
                    actor=actor.account_id,
                    establishment=actor.establishment_id,
                    subject=actor.account_id,
                    details={
                        "response": ref,
                        "kind": summary["kind"],
                        "score": summary["score"],
                        "band": summary["band"],
                        "offline": item.client_id,
                    },
                )
            )
            if summary["risk"]:
                records.append(
                    AuditRecord(
                        action=Action.RISK_ALERT_RAISED,
                        actor=actor.account_id,
                        establishment=actor.establishment_id,
                        subject=actor.account_id,
                        details={"response": ref},
                    )
                )
        await asyncio.gather(*(self._audit.append(r) for r in records))


async def _move_plans(conn: AsyncConnection, answered: set[tuple[str, str]], now: datetime) -> None:
    """As `Questionnaires._move_plan`, for every (prisoner, kind) the group answered, with
    one look-up: an answer is the check it was due for, so the next is `every_days` on
    (with its job)."""
    p = questionnaire_plans.c
    rows = await conn.execute(
        select(p.id, p.every_days).where(tuple_(p.prisoner_id, p.kind).in_(sorted(answered)))
    )
    for row in list(rows):
        due = now + timedelta(days=row.every_days)
        await conn.execute(
            update(questionnaire_plans).where(p.id == row.id).values(next_due_at=due)
        )
        await insert_job(
            conn,
            CHECK_DUE_JOB,
            {"plan": row.id, "due": due.isoformat()},
            due_at=due,
            now=now,
            key=f"{row.id}:{due.isoformat()}",
        )
