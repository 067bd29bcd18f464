"""Queueing a notice for someone's inbox: the one way any module tells a person something.

A notice holds codes, times and ids (rendered in the reader's language when read), never
words, so no reason or note sits in plain text in the inbox. It is written in the caller's
transaction together with the job that delivers it (`DELIVER_JOB`): the notice exists
exactly when the change that wants it commits, and its delivery survives any node's restart.
The kiosk and the programmes use this, not the table (docs/notifications.md).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.jobs import insert_job
from scheduling.tables import notifications

DELIVER_JOB = "notifications.deliver"
"""The job kind that puts a queued notice in its inbox and tells open sockets."""


async def queue_notice(
    conn: AsyncConnection,
    recipient: str,
    kind: str,
    *,
    now: datetime,
    appointment_id: str | None = None,
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    **payload: Any,
) -> bool:
    """Queue a notice of `kind` for `recipient`, delivered at `due_at` (default now).

    With a `dedupe_key`, a second notice with the same key is not queued and this
    answers False (a job that runs twice tells nobody twice).
    """
    notice_id, due = str(uuid.uuid4()), due_at or now
    values = {
        "id": notice_id,
        "recipient_id": recipient,
        "kind": kind,
        "appointment_id": appointment_id,
        "payload": json.dumps(
            {k: v for k, v in payload.items() if v is not None},
            default=_json_default,
            sort_keys=True,
        ),
        "due_at": due,
        "created_at": now,
        "dedupe_key": dedupe_key,
    }
    if dedupe_key is None:
        await conn.execute(insert(notifications).values(**values))
    else:
        dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        result = await conn.execute(
            dialect_insert(notifications)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        if result.rowcount != 1:
            return False
    await insert_job(
        conn, DELIVER_JOB, {"notification": notice_id}, due_at=due, now=now, key=notice_id
    )
    return True


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
