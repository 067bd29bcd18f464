"""Consult recordings: the clinician's player, playback with range requests, holds, retention.

Playback decrypts on the fly (media/recordings.py): a range request is answered
206 with at most `MAX_RANGE` bytes, every chunk under it authenticated before a
byte is sent; a request with no range is a full read, streamed, whose last
piece is sent only once the whole file's digest matches the one logged when it
was stored. A range that starts at byte 0 is a new viewing, logged before
anything is sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import Principal
from core.jobs import JobContext, JobRunner
from core.permissions import Permission
from media.recording_storage import RecordingStorage, create_storage
from media.recordings import (
    MAX_RANGE,
    RETENTION_JOB,
    SCRATCH_JOB,
    VERIFY_JOB,
    Playable,
    Recording,
    Recordings,
)
from web.auth import require
from web.openapi import DATETIME, STR, obj, op
from web.pages import page
from web.request import json_response, read_json
from web.scheduling_shared import ID, INT, path_params
from web.state import AUDIT, CLOCK, DATABASE, SETTINGS, SUBJECT_KEYS

RECORDINGS = web.AppKey("recordings", Recordings)
RECORDING_STORAGE = web.AppKey("recording_storage", RecordingStorage)

routes = web.RouteTableDef()
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def recordings_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    secret = settings.recording_s3_secret_key
    storage = await create_storage(
        kind=settings.recording_storage,
        local_dir=settings.recording_dir or Path(settings.data_dir) / "recordings",
        endpoint=settings.recording_s3_endpoint,
        bucket=settings.recording_s3_bucket,
        access_key=settings.recording_s3_access_key,
        secret_key=secret.reveal() if secret is not None else "",
    )
    app[RECORDING_STORAGE] = storage
    app[RECORDINGS] = Recordings(
        app[DATABASE],
        storage,
        subject_keys=app[SUBJECT_KEYS],
        clock=app[CLOCK],
        audit=app[AUDIT],
    )
    yield
    await storage.close()


def register_jobs(runner: JobRunner, app: web.Application) -> None:
    """`media.recordings_retention`, hourly: delete what retention allows (holds never);
    `media.recordings_scratch`, hourly: recorders' scratch objects a dead node left;
    `media.recordings_verify`, every `recording_verify_hours`: each stored digest checked."""
    if RECORDINGS not in app:
        return
    recordings = app[RECORDINGS]

    async def retention(ctx: JobContext) -> None:
        await recordings.delete_expired()

    async def verify(ctx: JobContext) -> None:
        await recordings.verify_stored()

    async def scratch(ctx: JobContext) -> None:
        await recordings.purge_scratch()

    runner.register(RETENTION_JOB, retention, every=3600, max_attempts=3, timeout=1800)
    runner.register(SCRATCH_JOB, scratch, every=3600, max_attempts=3, timeout=1800)
    runner.register(
        VERIFY_JOB,
        verify,
        every=app[SETTINGS].recording_verify_hours * 3600,
        max_attempts=3,
        timeout=3600,
    )


def _json(r: Recording) -> dict[str, Any]:
    return {
        **r.as_dict(),
        "media": f"/api/recordings/{r.id}/media",
        "poster": f"/api/recordings/{r.id}/poster",
    }


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `bytes=` range, None without one; 416 if it cannot be met.

    A malformed or multiple range is ignored, as RFC 9110 allows (a full answer follows).
    """
    if header is None:
        return None
    found = _RANGE.match(header.strip())
    if found is None or (not found.group(1) and not found.group(2)):
        return None
    first, last = found.group(1), found.group(2)
    if first:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
        if last and int(last) < start:
            return None
    else:
        start, end = max(0, size - int(last)), size
    if start >= size or end <= start:
        raise ServiceError(Code.RANGE_NOT_SATISFIABLE, extra={"size": size})
    return start, min(end, start + MAX_RANGE)


def _headers(rec: Recording) -> dict[str, str]:
    return {
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-store",
        "Content-Disposition": "inline",
        "X-Content-SHA256": rec.sha256,
    }


@routes.get("/recordings")
async def recordings_page(request: web.Request) -> web.Response:
    """A clinician's or manager's player for one appointment's recordings (`?appointment=`)."""
    return await page(request, "recordings.html", "recordings")


@routes.get("/api/appointments/{appointment_id}/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RECORDINGS_PLAY)
    found = await request.app[RECORDINGS].of_appointment(
        principal, request.match_info["appointment_id"]
    )
    return json_response({"recordings": [_json(r) for r in found]})


@routes.get("/api/recordings/{recording_id}")
async def one_recording(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RECORDINGS_PLAY)
    found = await request.app[RECORDINGS].recording(principal, request.match_info["recording_id"])
    return json_response(_json(found))


async def _full(
    request: web.Request, principal: Principal, playable: Playable
) -> web.StreamResponse:
    recordings = request.app[RECORDINGS]
    rec = playable.recording
    await recordings.viewed(principal, rec, start=0)
    response = web.StreamResponse(status=200, headers=_headers(rec))
    response.content_type = rec.mime
    response.content_length = rec.plain_size
    digest = hashlib.sha256()
    held: bytes | None = None
    for start in range(0, rec.plain_size, MAX_RANGE):
        piece = await recordings.read_range(playable, start, min(rec.plain_size, start + MAX_RANGE))
        digest.update(piece)
        if held is not None:
            if not response.prepared:
                await response.prepare(request)
            await response.write(held)
        held = piece
    if digest.hexdigest() != rec.sha256:
        await recordings.mark_damaged(rec, "file digest")
        if not response.prepared:
            raise ServiceError(Code.RECORDING_DAMAGED)
        # Every chunk authenticated, yet the whole differs: the last piece is never sent.
        raise ConnectionResetError("recording digest mismatch")
    if not response.prepared:
        await response.prepare(request)
    if held:
        await response.write(held)
    await response.write_eof()
    return response


@routes.get("/api/recordings/{recording_id}/media")
async def play(request: web.Request) -> web.StreamResponse:
    principal = await require(request, Permission.RECORDINGS_PLAY)
    recordings = request.app[RECORDINGS]
    playable = await recordings.open_for_play(principal, request.match_info["recording_id"])
    rec = playable.recording
    wanted = parse_range(request.headers.get("Range"), rec.plain_size)
    if wanted is None:
        return await _full(request, principal, playable)
    start, end = wanted
    if start == 0:
        await recordings.viewed(principal, rec, start=0)
    body = await recordings.read_range(playable, start, end)
    headers = _headers(rec)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{rec.plain_size}"
    return web.Response(status=206, body=body, content_type=rec.mime, headers=headers)


@routes.get("/api/recordings/{recording_id}/poster")
async def poster(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RECORDINGS_PLAY)
    image = await request.app[RECORDINGS].poster(principal, request.match_info["recording_id"])
    return web.Response(
        body=image,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
    )


@routes.post("/api/recordings/{recording_id}/hold")
async def place_hold(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RECORDINGS_HOLD)
    body = await read_json(request)
    found = await request.app[RECORDINGS].place_hold(
        principal, request.match_info["recording_id"], body.get("kind")
    )
    return json_response(_json(found), status=201)


@routes.delete("/api/recordings/{recording_id}/hold")
async def lift_hold(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RECORDINGS_HOLD)
    found = await request.app[RECORDINGS].lift_hold(principal, request.match_info["recording_id"])
    return json_response(_json(found))


@routes.put("/api/services/{service_id}/recording-retention")
async def set_retention(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RECORDINGS_RETENTION)
    body = await read_json(request)
    days = await request.app[RECORDINGS].set_retention(
        principal, request.match_info["service_id"], body.get("days")
    )
    return json_response({"service_id": request.match_info["service_id"], "days": days})


RECORDING = obj(
    ["id", "appointment_id", "mime", "size", "duration_ms", "sha256", "state", "held"],
    id=ID,
    appointment_id=ID,
    mime=STR,
    size=INT,
    duration_ms=INT,
    sha256={"type": "string", "description": "SHA-256 of the finished file, as logged."},
    created_at=DATETIME,
    expires_at=DATETIME,
    state={"enum": ["ok", "damaged"]},
    held={"type": "boolean"},
    media=STR,
    poster=STR,
)
_REC = path_params("recording_id")


def _op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="recordings", permission=permission, **kwargs)


OPENAPI: dict[str, Any] = {
    "/api/appointments/{appointment_id}/recordings": {
        "get": _op(
            "An appointment's recordings: its clinicians (those with an appointment with the "
            "patient) and the establishment's managers",
            Permission.RECORDINGS_PLAY,
            result=obj(["recordings"], recordings={"type": "array", "items": RECORDING}),
            parameters=path_params("appointment_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/recordings/{recording_id}": {
        "get": _op(
            "One recording's facts (never its content)",
            Permission.RECORDINGS_PLAY,
            result=RECORDING,
            parameters=_REC,
            errors=(401, 403, 404),
        )
    },
    "/api/recordings/{recording_id}/media": {
        "get": _op(
            "The recording, decrypted on the fly: Range requests answer 206 (at most 2 MiB), "
            "416 beyond the end; each viewing logged; a stored file that fails its check "
            "is refused (409) and logged; a shredded patient's answers 410",
            Permission.RECORDINGS_PLAY,
            parameters=_REC,
            errors=(401, 403, 404, 409, 410, 416),
        )
    },
    "/api/recordings/{recording_id}/poster": {
        "get": _op(
            "The recording's poster frame (JPEG), decrypted",
            Permission.RECORDINGS_PLAY,
            parameters=_REC,
            errors=(401, 403, 404, 409, 410),
        )
    },
    "/api/recordings/{recording_id}/hold": {
        "post": _op(
            "Put a recording on legal hold: retention never deletes it until lifted",
            Permission.RECORDINGS_HOLD,
            body=obj(["kind"], kind={"enum": ["complaint", "inquest", "claim", "other"]}),
            ok=201,
            result=RECORDING,
            parameters=_REC,
            errors=(400, 401, 403, 404, 409),
        ),
        "delete": _op(
            "Lift a recording's legal hold",
            Permission.RECORDINGS_HOLD,
            result=RECORDING,
            parameters=_REC,
            errors=(401, 403, 404, 409),
        ),
    },
    "/api/services/{service_id}/recording-retention": {
        "put": _op(
            "How many days a service keeps its recordings",
            Permission.RECORDINGS_RETENTION,
            body=obj(["days"], days=INT),
            result=obj(["service_id", "days"], service_id=ID, days=INT),
            parameters=path_params("service_id"),
            errors=(400, 401, 403, 404),
        )
    },
}
