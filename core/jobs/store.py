"""The jobs table's statements: scheduling, claiming with leases, finishing, and the admin's view.

Claiming is one statement. On PostgreSQL a CTE picks due rows `FOR UPDATE SKIP
LOCKED`, so concurrent claimers on any number of nodes each get different rows
without waiting on one another; on SQLite every write transaction begins
`IMMEDIATE` (core/db/engine.py), so claims are serialised by the store itself.
A claim's commit does not wait for the disk on PostgreSQL (see `claim`).

Every statement that ends an attempt is fenced on (id, lease owner, attempt
number, running): once a lease has lapsed and another runner has claimed the
job, the first runner's completion matches no row and is refused, and what it
wrote in the same transaction is rolled back. That is what makes a job done
once in effect, whatever the number of nodes and however they die.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import jobs
from core.jobs.types import OPEN, RECURRING_KEY, Job, JobStatus, LeaseLost

j = jobs.c
MAX_PAYLOAD_BYTES = 16 * 1024


def encode_payload(payload: dict[str, Any] | None) -> str:
    """JSON of plain values (ids, codes, numbers, ISO times as strings)."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValueError("a job's payload is a JSON object")
    try:
        encoded = json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("a job's payload holds only JSON values") from None
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise ValueError("a job's payload is at most 16 KiB: store ids, not documents")
    return encoded


def _job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        key=row.key,
        payload=json.loads(row.payload),
        status=JobStatus(row.status),
        due_at=row.due_at,
        available_at=row.available_at,
        attempts=row.attempts,
        lease_owner=row.lease_owner,
        last_error=row.last_error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


async def insert_job(
    conn: AsyncConnection,
    kind: str,
    payload: dict[str, Any] | None,
    *,
    due_at: datetime,
    now: datetime,
    key: str | None = None,
) -> str:
    """Add a pending job in the caller's transaction; returns its id.

    With a key, a second call for the same (kind, key) changes nothing and
    returns the first job's id, whatever state that job is in: the key names
    one piece of work, done once.
    """
    if key is not None and not 0 < len(key) <= 200:
        raise ValueError("a job key is 1 to 200 characters")
    values = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "key": key,
        "payload": encode_payload(payload),
        "status": JobStatus.PENDING.value,
        "due_at": due_at,
        "available_at": due_at,
        "attempts": 0,
        "created_at": now,
    }
    if key is None:
        await conn.execute(insert(jobs).values(**values))
        return str(values["id"])
    if conn.dialect.name == "postgresql":
        stmt: Any = pg_insert(jobs).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite_insert(jobs).values(**values).on_conflict_do_nothing()
    await conn.execute(stmt)
    found = await conn.execute(select(j.id).where(and_(j.kind == kind, j.key == key)))
    return str(found.scalar_one())


async def insert_jobs(
    conn: AsyncConnection,
    new: Iterable[tuple[str, dict[str, Any] | None, datetime]],
    *,
    now: datetime,
) -> list[str]:
    """Several pending jobs without keys, (kind, payload, due_at) each, with one
    executemany in the caller's transaction; their ids, in order."""
    rows = [
        {
            "id": str(uuid.uuid4()),
            "kind": kind,
            "key": None,
            "payload": encode_payload(payload),
            "status": JobStatus.PENDING.value,
            "due_at": due_at,
            "available_at": due_at,
            "attempts": 0,
            "created_at": now,
        }
        for kind, payload, due_at in new
    ]
    if rows:
        await conn.execute(insert(jobs), rows)
    return [str(row["id"]) for row in rows]


def _claim_statement(postgres: bool) -> Any:
    """Built once per dialect: claiming is the hot path, and building a statement
    costs more CPU than running it."""
    pick = (
        select(j.id)
        .where(
            and_(
                j.available_at <= bindparam("p_now"),
                j.status.in_([s.value for s in OPEN]),
                j.kind.in_(bindparam("p_kinds", expanding=True)),
            )
        )
        .order_by(j.available_at, j.id)
        .limit(bindparam("p_limit"))
    )
    if postgres:
        picked = pick.with_for_update(skip_locked=True).cte("picked")
        stmt = update(jobs).where(j.id == picked.c.id)
    else:
        stmt = update(jobs).where(j.id.in_(pick.scalar_subquery()))
    return stmt.values(
        status=JobStatus.RUNNING.value,
        lease_owner=bindparam("p_owner"),
        available_at=bindparam("p_until"),
        attempts=j.attempts + 1,
        started_at=bindparam("p_now"),
    ).returning(*jobs.c)


_CLAIM = {True: _claim_statement(True), False: _claim_statement(False)}
# A claim need not wait for the disk: lost in a crash of the store, the job is
# simply claimable again, and a completion fenced on the lost claim finds no
# row and rolls back. Only completions are durable.
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


async def claim(
    conn: AsyncConnection,
    *,
    owner: str,
    kinds: Iterable[str],
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[Job]:
    """Take up to `limit` due jobs of these kinds (or whose lease lapsed) for `owner`."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        await conn.execute(_ASYNC_COMMIT)
    rows = await conn.execute(
        _CLAIM[postgres],
        {
            "p_now": now,
            "p_kinds": list(kinds),
            "p_limit": limit,
            "p_owner": owner,
            "p_until": now + lease,
        },
    )
    return sorted((_job(r) for r in rows), key=lambda job: (job.due_at, job.id))


def _held(job_id: str, owner: str, attempt: int) -> Any:
    return and_(
        j.id == job_id,
        j.lease_owner == owner,
        j.attempts == attempt,
        j.status == JobStatus.RUNNING.value,
    )


_DONE = (
    update(jobs)
    .where(
        and_(
            j.id == bindparam("p_id"),
            j.lease_owner == bindparam("p_owner"),
            j.attempts == bindparam("p_attempt"),
            j.status == JobStatus.RUNNING.value,
        )
    )
    .values(
        status=JobStatus.DONE.value,
        available_at=None,
        finished_at=bindparam("p_now"),
        lease_owner=None,
    )
)


async def finish(
    conn: AsyncConnection,
    job: Job,
    *,
    owner: str,
    now: datetime,
    next_due: datetime | None,
    error: str | None = None,
) -> None:
    """End this attempt well: done, or (a recurring kind) pending again at `next_due`.

    Raises `LeaseLost` if the job is no longer this runner's to finish.
    """
    if next_due is None:
        done = await conn.execute(
            _DONE,
            {"p_id": job.id, "p_owner": owner, "p_attempt": job.attempts, "p_now": now},
        )
    else:
        done = await conn.execute(
            update(jobs)
            .where(_held(job.id, owner, job.attempts))
            .values(_again(next_due, now, error))
        )
    if done.rowcount != 1:
        raise LeaseLost(job.id)


_DONE_MANY = (
    update(jobs)
    .where(
        and_(
            j.id.in_(bindparam("p_ids", expanding=True)),
            j.lease_owner == bindparam("p_owner"),
            j.attempts == bindparam("p_attempt"),
            j.status == JobStatus.RUNNING.value,
        )
    )
    .values(
        status=JobStatus.DONE.value,
        available_at=None,
        finished_at=bindparam("p_now"),
        lease_owner=None,
    )
)


async def finish_many(
    conn: AsyncConnection, batch: list[Job], *, owner: str, now: datetime
) -> None:
    """End these (non-recurring) attempts well, in one statement per attempt number
    (usually one): each fenced as `finish` is.

    Raises `LeaseLost` if any of them is no longer this runner's: the caller's
    transaction then rolls back for all of them.
    """
    by_attempt: dict[int, list[str]] = {}
    for job in batch:
        by_attempt.setdefault(job.attempts, []).append(job.id)
    for attempt, ids in by_attempt.items():
        done = await conn.execute(
            _DONE_MANY, {"p_ids": ids, "p_owner": owner, "p_attempt": attempt, "p_now": now}
        )
        if done.rowcount != len(ids):
            raise LeaseLost(",".join(ids) if len(ids) < 4 else f"{len(ids)} jobs")


def _again(next_due: datetime, now: datetime, error: str | None) -> dict[str, Any]:
    return {
        "status": JobStatus.PENDING.value,
        "due_at": next_due,
        "available_at": next_due,
        "attempts": 0,
        "finished_at": now,
        "lease_owner": None,
        "last_error": error,
    }


async def fail(
    conn: AsyncConnection,
    job: Job,
    *,
    owner: str,
    now: datetime,
    error: str,
    retry_at: datetime | None,
    next_due: datetime | None,
) -> bool:
    """End this attempt badly: retried at `retry_at`, else given up (or, for a
    recurring kind, left for its next occurrence). False if the lease was lost."""
    if retry_at is not None:
        values: dict[str, Any] = {
            "status": JobStatus.PENDING.value,
            "available_at": retry_at,
            "lease_owner": None,
            "last_error": error,
        }
    elif next_due is not None:
        values = _again(next_due, now, error)
    else:
        values = {
            "status": JobStatus.FAILED.value,
            "available_at": None,
            "finished_at": now,
            "lease_owner": None,
            "last_error": error,
        }
    result = await conn.execute(
        update(jobs).where(_held(job.id, owner, job.attempts)).values(values)
    )
    return bool(result.rowcount == 1)


async def extend_leases(conn: AsyncConnection, *, owner: str, until: datetime) -> int:
    result = await conn.execute(
        update(jobs)
        .where(and_(j.lease_owner == owner, j.status == JobStatus.RUNNING.value))
        .values(available_at=until)
    )
    return int(result.rowcount)


async def release_leases(conn: AsyncConnection, *, owner: str, now: datetime) -> int:
    """Give back what a stopping runner holds, due at once, the attempt not counted."""
    result = await conn.execute(
        update(jobs)
        .where(and_(j.lease_owner == owner, j.status == JobStatus.RUNNING.value))
        .values(
            status=JobStatus.PENDING.value,
            available_at=now,
            lease_owner=None,
            attempts=j.attempts - 1,
        )
    )
    return int(result.rowcount)


async def ensure_recurring(conn: AsyncConnection, kind: str, *, now: datetime) -> None:
    """The one row of a recurring kind exists and will run: due now if it is new
    or was over (failed or cancelled before this kind became recurring)."""
    await insert_job(conn, kind, {}, due_at=now, now=now, key=RECURRING_KEY)
    await conn.execute(
        update(jobs)
        .where(
            and_(
                j.kind == kind,
                j.key == RECURRING_KEY,
                j.status.notin_([s.value for s in OPEN]),
            )
        )
        .values(
            status=JobStatus.PENDING.value,
            due_at=now,
            available_at=now,
            attempts=0,
            lease_owner=None,
        )
    )


async def get(conn: AsyncConnection, job_id: str) -> Job | None:
    row = (await conn.execute(select(jobs).where(j.id == job_id))).first()
    return None if row is None else _job(row)


async def find(
    conn: AsyncConnection,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Job]:
    """The newest jobs first (by due time), optionally of one status or kind."""
    query = select(jobs)
    if status is not None:
        query = query.where(j.status == status.value)
    if kind is not None:
        query = query.where(j.kind == kind)
    rows = await conn.execute(query.order_by(j.due_at.desc(), j.id).limit(limit))
    return [_job(r) for r in rows]


async def counts(conn: AsyncConnection, *, now: datetime) -> tuple[dict[str, int], int, float]:
    """Jobs by status; how many are due and waiting; how long the oldest has waited (s)."""
    by_status = {s.value: 0 for s in JobStatus}
    for status, n in await conn.execute(select(j.status, func.count()).group_by(j.status)):
        by_status[status] = int(n)
    waiting = and_(j.status == JobStatus.PENDING.value, j.available_at <= now)
    due, oldest = (
        await conn.execute(select(func.count(), func.min(j.available_at)).where(waiting))
    ).one()
    lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    return by_status, int(due), lag


async def cancel(conn: AsyncConnection, job_id: str, *, now: datetime) -> bool:
    """Cancel a job that has not ended. A running attempt then finds its lease lost."""
    result = await conn.execute(
        update(jobs)
        .where(and_(j.id == job_id, j.status.in_([s.value for s in OPEN])))
        .values(
            status=JobStatus.CANCELLED.value, available_at=None, lease_owner=None, finished_at=now
        )
    )
    return bool(result.rowcount == 1)


async def reschedule(conn: AsyncConnection, job_id: str, *, due_at: datetime) -> bool:
    """Move a pending job, or give a failed one a fresh start, to `due_at`."""
    result = await conn.execute(
        update(jobs)
        .where(
            and_(
                j.id == job_id,
                or_(
                    j.status == JobStatus.PENDING.value,
                    j.status == JobStatus.FAILED.value,
                ),
            )
        )
        .values(
            status=JobStatus.PENDING.value,
            due_at=due_at,
            available_at=due_at,
            attempts=0,
            finished_at=None,
            last_error=None,
        )
    )
    return bool(result.rowcount == 1)


async def prune(conn: AsyncConnection, *, ended_before: datetime, failed_before: datetime) -> int:
    """Forget finished jobs: done and cancelled ones sooner, failed ones later."""
    result = await conn.execute(
        delete(jobs).where(
            or_(
                and_(
                    j.status.in_([JobStatus.DONE.value, JobStatus.CANCELLED.value]),
                    j.finished_at < ended_before,
                ),
                and_(j.status == JobStatus.FAILED.value, j.finished_at < failed_before),
            )
        )
    )
    return int(result.rowcount)
