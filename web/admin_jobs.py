"""The job runner, as admins see it: counts, recent and failed jobs, retry and cancel.

What is shown is the job's kind, times, attempts, the node holding it and the
type of its last error: never its payload or key (ids of people and
appointments), which admins have no need of. Retrying and cancelling are
logged.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.events import Action, AuditRecord
from core.identity import Principal
from core.jobs import Job, JobRunner, JobStatus
from core.permissions import Permission
from web.auth import require
from web.openapi import DATETIME, STR, obj, op
from web.request import json_response
from web.state import AUDIT, JOBS

routes = web.RouteTableDef()

MAX_LIMIT = 500
NO_SUCH_JOB = "No such job."


def _view(job: Job, runner: JobRunner) -> dict[str, Any]:
    kind = runner.kinds.get(job.kind)
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "recurring": bool(kind and kind.every),
        "due_at": job.due_at.isoformat(),
        "next_try_at": (
            job.available_at.isoformat()
            if job.status == JobStatus.PENDING and job.available_at
            else None
        ),
        "attempts": job.attempts,
        "max_attempts": kind.max_attempts if kind else None,
        "last_error": job.last_error,
        "node": job.lease_owner if job.status == JobStatus.RUNNING else None,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _filters(request: web.Request) -> dict[str, Any]:
    found: dict[str, Any] = {}
    status = request.query.get("status")
    if status:
        try:
            found["status"] = JobStatus(status)
        except ValueError:
            raise ServiceError(
                Code.INVALID_REQUEST,
                "status is one of pending, running, done, failed, cancelled.",
            ) from None
    kind = request.query.get("kind")
    if kind:
        if len(kind) > 64:
            raise ServiceError(Code.INVALID_REQUEST, "kind is at most 64 characters.")
        found["kind"] = kind
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ServiceError(Code.INVALID_REQUEST, f"limit is a whole number from 1 to {MAX_LIMIT}.")
    found["limit"] = int(raw)
    return found


@routes.get("/api/admin/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    await require(request, Permission.JOBS_MANAGE)
    filters = _filters(request)
    runner = request.app[JOBS]
    stats = await runner.refresh_counts()
    found = await runner.jobs(**filters)
    return json_response(
        {
            "counts": stats.by_status,
            "due": stats.due,
            "oldest_due_seconds": stats.oldest_due_s,
            "kinds": [
                {
                    "kind": k.name,
                    "every_seconds": k.every.total_seconds() if k.every else None,
                    "max_attempts": k.max_attempts,
                    "timeout_seconds": k.timeout.total_seconds(),
                }
                for k in sorted(runner.kinds.values(), key=lambda k: k.name)
            ],
            "jobs": [_view(job, runner) for job in found],
        }
    )


async def _job(request: web.Request) -> Job:
    job_id = request.match_info["job_id"]
    job = None if len(job_id) > 36 else await request.app[JOBS].status(job_id)
    if job is None:
        raise ServiceError(Code.NOT_FOUND, NO_SUCH_JOB)
    return job


async def _log(request: web.Request, admin: Principal, action: Action, job: Job) -> None:
    await request.app[AUDIT].append(
        AuditRecord(action, actor=admin.account_id, subject=job.id, details={"kind": job.kind})
    )


@routes.post("/api/admin/jobs/{job_id}/retry")
async def retry_job(request: web.Request) -> web.Response:
    admin = await require(request, Permission.JOBS_MANAGE)
    job = await _job(request)
    runner = request.app[JOBS]
    if job.status not in (JobStatus.FAILED, JobStatus.PENDING) or not await runner.reschedule(
        job.id
    ):
        raise ServiceError(Code.CONFLICT, "Only a failed or waiting job can be run now.")
    await _log(request, admin, Action.JOB_RETRIED, job)
    updated = await runner.status(job.id)
    assert updated is not None
    return json_response(_view(updated, runner))


@routes.post("/api/admin/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    admin = await require(request, Permission.JOBS_MANAGE)
    job = await _job(request)
    runner = request.app[JOBS]
    kind = runner.kinds.get(job.kind)
    if kind is not None and kind.every is not None:
        raise ServiceError(Code.CONFLICT, "A recurring job cannot be cancelled.")
    if not await runner.cancel(job.id):
        raise ServiceError(Code.CONFLICT, "This job has already ended.")
    await _log(request, admin, Action.JOB_CANCELLED, job)
    updated = await runner.status(job.id)
    assert updated is not None
    return json_response(_view(updated, runner))


_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_JOB = obj(
    id=STR,
    kind=STR,
    status={"type": "string", "enum": [s.value for s in JobStatus]},
    recurring={"type": "boolean"},
    due_at=DATETIME,
    next_try_at=_NULLABLE_TIME,
    attempts={"type": "integer"},
    max_attempts={"type": ["integer", "null"]},
    last_error={"type": ["string", "null"]},
    node={"type": ["string", "null"]},
    created_at=DATETIME,
    started_at=_NULLABLE_TIME,
    finished_at=_NULLABLE_TIME,
)
_ID = [{"name": "job_id", "in": "path", "required": True, "schema": STR}]

OPENAPI = {
    "/api/admin/jobs": {
        "get": op(
            "The job runner: counts by status, the backlog and its age, the kinds this "
            "node runs, and jobs newest first (admins only; never payloads)",
            tag="admin",
            permission=Permission.JOBS_MANAGE,
            parameters=[
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": [s.value for s in JobStatus]},
                },
                {"name": "kind", "in": "query", "required": False, "schema": STR},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                },
            ],
            result=obj(
                counts={"type": "object", "additionalProperties": {"type": "integer"}},
                due={"type": "integer"},
                oldest_due_seconds={"type": "number"},
                kinds={"type": "array", "items": {"type": "object"}},
                jobs={"type": "array", "items": _JOB},
            ),
        )
    },
    "/api/admin/jobs/{job_id}/retry": {
        "post": op(
            "Run a failed or waiting job now, from its first attempt (logged)",
            tag="admin",
            permission=Permission.JOBS_MANAGE,
            parameters=_ID,
            result=_JOB,
            errors=(401, 403, 404, 409),
        )
    },
    "/api/admin/jobs/{job_id}/cancel": {
        "post": op(
            "Cancel a job that has not ended; a running attempt's writes are then refused (logged)",
            tag="admin",
            permission=Permission.JOBS_MANAGE,
            parameters=_ID,
            result=_JOB,
            errors=(401, 403, 404, 409),
        )
    },
}
